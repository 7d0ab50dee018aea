-- Client authentication with JWT assertions (RFC 7523, OpenID Connect Core §9).
-- client_secret_jwt needs the secret itself to check the HMAC: for those clients only, the
-- secret is also kept sealed under the key-encryption key (AES-256-GCM, bound to the client id).
ALTER TABLE clients ADD COLUMN secret_sealed BYTEA;
-- token_endpoint_auth_signing_alg: the only JWS algorithm the client's assertions may use.
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT;
