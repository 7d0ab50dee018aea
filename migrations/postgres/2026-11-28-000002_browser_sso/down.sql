ALTER TABLE clients DROP COLUMN web_origins;
ALTER TABLE clients DROP COLUMN skip_consent;
DROP TABLE counters;
DROP TABLE revoked_tokens;
DROP TABLE redeemed_codes;
DROP TABLE consents;
DROP TABLE users;
