-- Dynamic client registration (RFC 7591 / RFC 7592).
-- Initial access tokens handed out by operators: only a SHA-256 hash is stored.
CREATE TABLE registration_tokens (
    token_hash     TEXT PRIMARY KEY,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    remaining_uses BIGINT
);

ALTER TABLE clients ADD COLUMN logo_uri TEXT;
ALTER TABLE clients ADD COLUMN policy_uri TEXT;
ALTER TABLE clients ADD COLUMN tos_uri TEXT;
ALTER TABLE clients ADD COLUMN contacts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
-- SHA-256 of the RFC 7592 registration access token; NULL for clients created by an operator.
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
