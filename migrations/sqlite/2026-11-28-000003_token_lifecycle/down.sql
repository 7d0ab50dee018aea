ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
DROP TABLE session_clients;
DROP TABLE browser_sessions;
DROP TABLE family_access_tokens;
DROP TABLE refresh_tokens;
DROP TABLE token_families;
