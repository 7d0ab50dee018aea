//! UserInfo (OIDC Core §5.3) with RFC 6750 bearer tokens: only Tessera's own access tokens
//! (`typ: at+jwt`, verified with the key named by `kid`) that carry `openid`, are unexpired, not
//! revoked, and whose user is active. An ID token is not an access token.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Core;
use crate::crypto::jws;
use crate::protocol::OAuthError;
use crate::protocol::claims::user_claims;
use crate::protocol::scope::Scopes;

/// Clock-skew leeway for `exp` and `iat`, in seconds.
pub const LEEWAY: i64 = 30;

/// The claims of the verified access token `token`.
pub fn verify_access_token(core: &Core, token: &str) -> Result<Map<String, Value>, OAuthError> {
    let claims = verified_claims(core, token)?;
    Ok(Map::clone(&claims))
}

/// The claims of `token` after the checks of [`verify_access_token`], shared with the cache of
/// verified tokens.
pub fn verified_claims(core: &Core, token: &str) -> Result<Arc<Map<String, Value>>, OAuthError> {
    let claims = core
        .directory
        .verified_access_token(token, |keys| {
            jws::verify_compact(token, "at+jwt", |kid| keys.verifier(kid))
        })
        .map_err(|e| OAuthError::invalid_token(format!("the access token is invalid: {e}")))?;
    let now = core.clock.now();
    let num = |k: &str| claims.get(k).and_then(Value::as_i64);
    if claims.get("iss").and_then(Value::as_str) != Some(core.settings.issuer()) {
        return Err(OAuthError::invalid_token(
            "the access token was not issued here",
        ));
    }
    match num("exp") {
        Some(exp) if exp + LEEWAY > now => {}
        _ => return Err(OAuthError::invalid_token("the access token has expired")),
    }
    if num("iat").is_none_or(|iat| iat > now + LEEWAY) {
        return Err(OAuthError::invalid_token("the access token is invalid"));
    }
    Ok(claims)
}

pub async fn userinfo(core: &Core, bearer: Option<&str>) -> Result<Map<String, Value>, OAuthError> {
    let token = bearer.ok_or(OAuthError::InvalidToken(None))?;
    let claims = verified_claims(core, token)?;
    let scopes = Scopes::parse(claims.get("scope").and_then(Value::as_str).unwrap_or(""))
        .unwrap_or_default();
    if !scopes.contains("openid") {
        return Err(OAuthError::InsufficientScope(
            "the access token lacks the openid scope".into(),
        ));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Revocations and users come from the node's in-memory views (see `directory`).
    let revoked = core
        .directory
        .is_access_token_revoked(&core.store, jti)
        .await
        .map_err(super::storage_error)?;
    if revoked {
        return Err(OAuthError::invalid_token("the access token was revoked"));
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = core
        .directory
        .active_user(&core.store, sub)
        .await
        .map_err(super::storage_error)?
        .ok_or_else(|| OAuthError::invalid_token("the access token's user is not active"))?;
    Ok(user_claims(&user, &scopes))
}
