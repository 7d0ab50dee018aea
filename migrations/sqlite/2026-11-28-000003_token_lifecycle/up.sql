-- A grant with offline access: the family of refresh tokens (and the access tokens issued
-- with them) that one authorization started. Revoking the family ends all of them.
CREATE TABLE token_families (
    id                  TEXT PRIMARY KEY,
    client_id           TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope               TEXT NOT NULL,
    sid                 TEXT,
    auth_time           BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    revoked_at          BIGINT
);
CREATE INDEX token_families_user ON token_families (user_id);
CREATE INDEX token_families_client ON token_families (client_id);

-- Refresh tokens, by hash. `rotated` tokens stay to detect reuse; the successor is kept sealed
-- (under the KEK) only for the optional retry window.
CREATE TABLE refresh_tokens (
    token_hash       TEXT PRIMARY KEY,
    family_id        TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    state            TEXT NOT NULL CHECK (state IN ('active', 'rotated', 'revoked')),
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    rotated_at       BIGINT,
    successor_sealed BLOB
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
-- Never two live refresh tokens in one family.
CREATE UNIQUE INDEX refresh_tokens_one_active ON refresh_tokens (family_id) WHERE state = 'active';

-- Access tokens issued from a family (so that revoking the family revokes them).
CREATE TABLE family_access_tokens (
    jti        TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX family_access_tokens_family ON family_access_tokens (family_id);

-- The registry of signed-in browser sessions (the session data itself lives in the session
-- store under `store_key`), for listing and revoking them, and the clients each one signed into.
CREATE TABLE browser_sessions (
    sid        TEXT PRIMARY KEY,
    store_key  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);

CREATE TABLE session_clients (
    sid       TEXT NOT NULL REFERENCES browser_sessions (sid) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    PRIMARY KEY (sid, client_id)
);

ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
