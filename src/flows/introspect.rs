//! Token introspection (RFC 7662) for authenticated confidential clients. Access tokens may be
//! introspected by any such client (resource servers); refresh tokens only by the client they
//! were issued to. Anything revoked, expired, of a revoked family, of a disabled or deleted user,
//! or of a deleted client is `{"active": false}`.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Core;
use super::authorize::{code_key, load_active_user};
use super::client_auth::{Endpoint, authenticate};
use super::revoke::own_access_token;
use crate::protocol::OAuthError;
use crate::protocol::client::Client;
use crate::protocol::client_auth::{self, AuthMethod};
use crate::protocol::params::Params;

pub async fn introspect(
    core: &Core,
    authorization: Option<&[u8]>,
    body: &[u8],
) -> Result<(Value, Arc<Client>), OAuthError> {
    let params = Params::parse(body, &[])?;
    let presented = client_auth::presented(authorization, &params)?;
    if presented.method == AuthMethod::None {
        return Err(OAuthError::invalid_client(
            "introspection requires client authentication",
            false,
        ));
    }
    let client = authenticate(core, &presented, Endpoint::Introspection).await?;
    let token = params.require("token")?;
    let answer = match own_access_token(core, token) {
        Some(claims) => access_token(core, claims).await?,
        None => refresh_token(core, &client, token).await?,
    };
    Ok((answer.unwrap_or_else(|| json!({"active": false})), client))
}

async fn access_token(
    core: &Core,
    claims: Map<String, Value>,
) -> Result<Option<Value>, OAuthError> {
    let now = core.clock.now();
    let str_claim = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    if claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|exp| exp <= now)
    {
        return Ok(None);
    }
    let (client_id, sub, jti) = (str_claim("client_id"), str_claim("sub"), str_claim("jti"));
    if core.directory.client(&client_id).is_none() {
        return Ok(None);
    }
    // Both from the node's in-memory views (see `directory`): no SQL on this path.
    if core
        .directory
        .is_access_token_revoked(&core.store, &jti)
        .await
        .map_err(super::storage_error)?
    {
        return Ok(None);
    }
    if sub != client_id
        && core
            .directory
            .active_user(&core.store, &sub)
            .await
            .map_err(super::storage_error)?
            .is_none()
    {
        return Ok(None);
    }
    let mut out = Map::new();
    out.insert("active".into(), Value::Bool(true));
    for k in [
        "scope",
        "client_id",
        "sub",
        "aud",
        "iss",
        "exp",
        "iat",
        "jti",
    ] {
        if let Some(v) = claims.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    out.insert("token_type".into(), Value::String("Bearer".into()));
    Ok(Some(Value::Object(out)))
}

async fn refresh_token(
    core: &Core,
    client: &Client,
    token: &str,
) -> Result<Option<Value>, OAuthError> {
    if token.len() > 128 {
        return Ok(None);
    }
    let hash = code_key(token);
    let Some(info) = core
        .store
        .run_read(move |s| s.find_refresh_token(&hash))
        .await
        .map_err(super::storage_error)?
    else {
        return Ok(None);
    };
    let now = core.clock.now();
    let f = &info.family;
    if f.client_id != client.id || info.state != "active" || f.revoked_at.is_some() {
        return Ok(None);
    }
    let exp = info.expires_at.min(f.absolute_expires_at);
    if exp <= now || load_active_user(core, &f.user_id).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(json!({
        "active": true,
        "scope": f.scope,
        "client_id": f.client_id,
        "sub": f.user_id,
        "iss": core.settings.issuer(),
        "exp": exp,
        "iat": info.created_at,
        "token_type": "refresh_token",
    })))
}
