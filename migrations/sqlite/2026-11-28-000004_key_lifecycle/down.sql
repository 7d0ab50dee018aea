ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
DELETE FROM revisions WHERE name = 'key_schedule';
DELETE FROM signing_keys WHERE state = 'removed';
CREATE TABLE signing_keys_old (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    public_jwk   TEXT NOT NULL,
    private_key  BLOB NOT NULL,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at   BIGINT
);
INSERT INTO signing_keys_old SELECT kid, alg, state, public_jwk, private_key, created_at, activated_at, retired_at FROM signing_keys;
DROP TABLE signing_keys;
ALTER TABLE signing_keys_old RENAME TO signing_keys;
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';
