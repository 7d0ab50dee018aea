-- End-users. `id` is the stable `sub` (a UUID). Usernames are stored lower-cased.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT 0,
    name           TEXT,
    given_name     TEXT,
    family_name    TEXT,
    password_hash  TEXT,
    disabled       BOOLEAN NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- Consent remembered per user and client: the scopes granted and when.
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Every redeemed authorization code (by hash), kept until the tokens issued from it expire, so a
-- second redemption fails and revokes them even if the session store lost or restored data.
CREATE TABLE redeemed_codes (
    code_hash        TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    access_token_jti TEXT NOT NULL,
    redeemed_at      BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX redeemed_codes_expiry ON redeemed_codes (expires_at);

-- Revoked access tokens (by jti) until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

-- Atomic counters with expiry (login throttling) for the SQL session store.
CREATE TABLE counters (
    key        TEXT PRIMARY KEY,
    count      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

ALTER TABLE clients ADD COLUMN skip_consent BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN web_origins TEXT NOT NULL DEFAULT '[]';
