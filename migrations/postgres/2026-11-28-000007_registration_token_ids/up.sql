-- Initial access tokens get a non-secret identifier, so that operators can list, show and
-- revoke them (the token itself is only stored as a SHA-256 hash). Existing tokens get a
-- random one; it is unrelated to the token and to its hash.
ALTER TABLE registration_tokens ADD COLUMN id TEXT;
UPDATE registration_tokens SET id = gen_random_uuid()::text WHERE id IS NULL;
ALTER TABLE registration_tokens ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX registration_tokens_id ON registration_tokens (id);
