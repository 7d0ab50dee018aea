//! Token revocation (RFC 7009). An authenticated client revokes its own tokens: an access token
//! by `jti` (recorded durably until it expires), a refresh token with its whole family. Unknown
//! and foreign tokens get the same 200 (§2.2); a storage failure is a 5xx, never a false 200.

use std::sync::Arc;

use serde_json::Value;

use super::Core;
use super::authorize::code_key;
use super::client_auth::{Endpoint, authenticate};
use crate::crypto::jws;
use crate::protocol::OAuthError;
use crate::protocol::client::Client;
use crate::protocol::client_auth;
use crate::protocol::params::Params;

/// `POST /oauth2/revoke`. Returns the authenticated client (for CORS).
pub async fn revoke(
    core: &Core,
    authorization: Option<&[u8]>,
    body: &[u8],
) -> Result<Arc<Client>, OAuthError> {
    let params = Params::parse(body, &[])?;
    let presented = client_auth::presented(authorization, &params)?;
    let client = authenticate(core, &presented, Endpoint::Revocation).await?;
    let token = params.require("token")?;
    // token_type_hint only says where to look first; both kinds are tried (§2.1), so a wrong
    // hint changes nothing.
    if let Some(claims) = own_access_token(core, token) {
        if claims.get("client_id").and_then(Value::as_str) == Some(client.id.as_str()) {
            let jti = claims
                .get("jti")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
            let now = core.clock.now();
            if !jti.is_empty() && exp > now - super::userinfo::LEEWAY {
                core.store
                    .run(move |s| s.revoke_token(&jti, exp + super::userinfo::LEEWAY, now))
                    .await
                    .map_err(super::storage_error)?;
                tracing::info!(target: "tessera::security", event = "access_token_revoked", client_id = %client.id, "access token revoked");
            }
        }
        return Ok(client);
    }
    if token.len() <= 128 {
        let hash = code_key(token);
        let found = core
            .store
            .run_read(move |s| s.find_refresh_token(&hash))
            .await
            .map_err(super::storage_error)?;
        if let Some(info) = found.filter(|i| i.family.client_id == client.id) {
            let (fid, now) = (info.family.id.clone(), core.clock.now());
            core.store
                .run(move |s| s.revoke_family(&fid, now))
                .await
                .map_err(super::storage_error)?;
            tracing::info!(target: "tessera::security", event = "refresh_family_revoked", client_id = %client.id, family = %info.family.id, "refresh token revoked");
        }
    }
    Ok(client)
}

/// The claims of `token` if it is an access token signed by one of our keys (expired or not).
pub fn own_access_token(core: &Core, token: &str) -> Option<serde_json::Map<String, Value>> {
    if token.matches('.').count() != 2 {
        return None;
    }
    // The signature check is skipped for a token this node verified before (see `directory`).
    let claims = core
        .directory
        .verified_access_token(token, |keys| {
            jws::verify_compact(token, "at+jwt", |kid| keys.verifier(kid))
        })
        .ok()?;
    (claims.get("iss").and_then(Value::as_str) == Some(core.settings.issuer()))
        .then(|| serde_json::Map::clone(&claims))
}
