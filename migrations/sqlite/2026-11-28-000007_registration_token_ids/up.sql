-- Initial access tokens get a non-secret identifier, so that operators can list, show and
-- revoke them (the token itself is only stored as a SHA-256 hash). Existing tokens get a
-- random one (a version-4 UUID); it is unrelated to the token and to its hash.
ALTER TABLE registration_tokens ADD COLUMN id TEXT NOT NULL DEFAULT '';
UPDATE registration_tokens SET id = lower(
    hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
    || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-'
    || hex(randomblob(6))
) WHERE id = '';
CREATE UNIQUE INDEX registration_tokens_id ON registration_tokens (id);
