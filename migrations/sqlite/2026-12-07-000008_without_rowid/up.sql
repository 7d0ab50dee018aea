-- The tables a sign-in, a code exchange and a refresh write become WITHOUT ROWID tables: their
-- rows are stored in the primary key's own b-tree instead of a rowid b-tree plus an automatic
-- index on the (text) primary key, so each row written touches one b-tree fewer — one page
-- fewer in the write-ahead log per table per transaction (docs/BENCHMARKS.md, change 35).
-- Same columns, constraints and indexes. SQLite cannot change this in place: each table is
-- renamed, made again, copied and the old one dropped. Renaming a parent first rewrites its
-- children's foreign keys to the old name, so dropping the old tables (children first) cascades
-- into nothing that is kept.

ALTER TABLE session_entries RENAME TO session_entries_old;
ALTER TABLE consents RENAME TO consents_old;
ALTER TABLE redeemed_codes RENAME TO redeemed_codes_old;
ALTER TABLE revoked_tokens RENAME TO revoked_tokens_old;
ALTER TABLE counters RENAME TO counters_old;
ALTER TABLE token_families RENAME TO token_families_old;
ALTER TABLE refresh_tokens RENAME TO refresh_tokens_old;
ALTER TABLE family_access_tokens RENAME TO family_access_tokens_old;
ALTER TABLE browser_sessions RENAME TO browser_sessions_old;
ALTER TABLE session_clients RENAME TO session_clients_old;

CREATE TABLE session_entries (
    key        TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed   BOOLEAN NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
) WITHOUT ROWID;

CREATE TABLE redeemed_codes (
    code_hash        TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    access_token_jti TEXT NOT NULL,
    redeemed_at      BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
) WITHOUT ROWID;

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;

CREATE TABLE counters (
    key        TEXT PRIMARY KEY,
    count      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;

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
) WITHOUT ROWID;

CREATE TABLE refresh_tokens (
    token_hash       TEXT PRIMARY KEY,
    family_id        TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    state            TEXT NOT NULL CHECK (state IN ('active', 'rotated', 'revoked')),
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    rotated_at       BIGINT,
    successor_sealed BLOB
) WITHOUT ROWID;

CREATE TABLE family_access_tokens (
    jti        TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;

CREATE TABLE browser_sessions (
    sid        TEXT PRIMARY KEY,
    store_key  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT
) WITHOUT ROWID;

CREATE TABLE session_clients (
    sid       TEXT NOT NULL REFERENCES browser_sessions (sid) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    PRIMARY KEY (sid, client_id)
) WITHOUT ROWID;

-- Parents before children (the foreign keys are checked row by row).
INSERT INTO session_entries SELECT key, value, expires_at, consumed FROM session_entries_old;
INSERT INTO consents SELECT user_id, client_id, scopes, granted_at FROM consents_old;
INSERT INTO redeemed_codes
    SELECT code_hash, client_id, user_id, access_token_jti, redeemed_at, expires_at FROM redeemed_codes_old;
INSERT INTO revoked_tokens SELECT jti, revoked_at, expires_at FROM revoked_tokens_old;
INSERT INTO counters SELECT key, count, expires_at FROM counters_old;
INSERT INTO token_families
    SELECT id, client_id, user_id, scope, sid, auth_time, created_at, absolute_expires_at, revoked_at
    FROM token_families_old;
INSERT INTO refresh_tokens
    SELECT token_hash, family_id, state, created_at, expires_at, rotated_at, successor_sealed
    FROM refresh_tokens_old;
INSERT INTO family_access_tokens SELECT jti, family_id, expires_at FROM family_access_tokens_old;
INSERT INTO browser_sessions
    SELECT sid, store_key, user_id, auth_time, created_at, expires_at, ended_at FROM browser_sessions_old;
INSERT INTO session_clients SELECT sid, client_id FROM session_clients_old;

-- Children before parents: nothing kept refers to an old table.
DROP TABLE session_clients_old;
DROP TABLE browser_sessions_old;
DROP TABLE family_access_tokens_old;
DROP TABLE refresh_tokens_old;
DROP TABLE token_families_old;
DROP TABLE counters_old;
DROP TABLE revoked_tokens_old;
DROP TABLE redeemed_codes_old;
DROP TABLE consents_old;
DROP TABLE session_entries_old;

CREATE INDEX session_entries_expiry ON session_entries (expires_at);
CREATE INDEX redeemed_codes_expiry ON redeemed_codes (expires_at);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
CREATE INDEX token_families_user ON token_families (user_id);
CREATE INDEX token_families_client ON token_families (client_id);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
-- Never two live refresh tokens in one family.
CREATE UNIQUE INDEX refresh_tokens_one_active ON refresh_tokens (family_id) WHERE state = 'active';
CREATE INDEX family_access_tokens_family ON family_access_tokens (family_id);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);
