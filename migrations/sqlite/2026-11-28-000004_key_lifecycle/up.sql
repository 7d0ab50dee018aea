-- The key lifecycle: next → active → retired → removed, with the time of each transition.
-- SQLite cannot change a CHECK constraint in place: rebuild the table.
CREATE TABLE signing_keys_new (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired', 'removed')),
    public_jwk   TEXT NOT NULL,
    private_key  BLOB NOT NULL,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at   BIGINT,
    activates_at BIGINT,
    remove_after BIGINT,
    removed_at   BIGINT
);
INSERT INTO signing_keys_new (kid, alg, state, public_jwk, private_key, created_at, activated_at, retired_at)
    SELECT kid, alg, state, public_jwk, private_key, created_at, activated_at, retired_at FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_new RENAME TO signing_keys;
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';
INSERT INTO revisions (name, value) VALUES ('key_schedule', 0);

ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT;
