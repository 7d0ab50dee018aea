//! The token endpoint use-case (RFC 6749 §3.2): parse once, authenticate the client, dispatch on
//! the grant, sign. The client-credentials path touches no database and no slow hash: clients
//! come from the in-memory directory, secrets are checked with a keyed hash, and the cost is
//! dominated by the signature.

use std::sync::Arc;

use serde::Serialize;

use super::Core;
use crate::protocol::OAuthError;
use crate::protocol::claims::AccessTokenClaims;
use crate::protocol::client::Client;
use crate::protocol::client_auth::{self, AuthMethod, PresentedCredentials};
use crate::protocol::grants::client_credentials;
use crate::protocol::params::Params;
use crate::protocol::token_request::{REPEATABLE, TokenRequest};

/// RFC 6749 §5.1 successful response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Handles one token request: `authorization` is the raw `Authorization` header, `body` the
/// form body (already checked to be `application/x-www-form-urlencoded`).
pub fn token(
    core: &Core,
    authorization: Option<&[u8]>,
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    let params = Params::parse(body, REPEATABLE)?;
    let presented = client_auth::presented(authorization, &params)?;
    let client = authenticate(core, &presented)?;
    match TokenRequest::parse(&params)? {
        TokenRequest::ClientCredentials { scope, resources } => {
            let decision = client_credentials::decide(
                &client,
                scope.as_ref(),
                &resources,
                core.settings.default_audience(),
            )?;
            let ttl = core.settings.tokens.access_token_ttl;
            let claims = AccessTokenClaims::for_client(
                core.settings.issuer(),
                &client.id,
                &decision.scopes,
                decision.audience,
                core.clock.now(),
                ttl as i64,
                uuid::Uuid::new_v4().to_string(),
            );
            let access_token = sign_access_token(core, &claims)?;
            Ok(TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: ttl,
                scope: claims.scope,
            })
        }
    }
}

/// Finds the client and checks the credentials with the method it registered. Every failure is
/// the same `invalid_client`, so the answer does not tell which part was wrong.
fn authenticate(core: &Core, presented: &PresentedCredentials) -> Result<Arc<Client>, OAuthError> {
    let client = core
        .directory
        .client(&presented.client_id)
        .ok_or_else(|| presented.failed())?;
    if client.metadata.auth_method != presented.method {
        return Err(presented.failed());
    }
    match presented.method {
        AuthMethod::None => Ok(client),
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            let ok = match (&presented.secret, &client.secret_hash) {
                (Some(secret), Some(hash)) => core.hasher.verify(secret, hash),
                _ => false,
            };
            if ok {
                Ok(client)
            } else {
                Err(presented.failed())
            }
        }
    }
}

fn sign_access_token(core: &Core, claims: &AccessTokenClaims) -> Result<String, OAuthError> {
    let keys = core.directory.keys();
    let alg = core.settings.access_token_alg();
    let signer = keys
        .signer(alg)
        .ok_or_else(|| OAuthError::Server(anyhow::anyhow!("no active {alg} signing key")))?;
    signer.sign_access_token(claims).map_err(OAuthError::Server)
}
