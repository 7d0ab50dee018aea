//! `/admin/v1/keys`: the same operations as `tessera keys list|rotate|revoke`, through
//! [`crate::flows::keys`] (via [`crate::flows::admin`]).

use actix_web::HttpResponse;
use actix_web::web::{Data, Json, Path, Query};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ErrorBody, PageQuery, Read, Write, blocking, list_page, page_type, respond};
use crate::flows::Core;
use crate::flows::admin::{self as flows, KeyView};

/// A signing key (its public JWK; never the private key).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResource {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// RS256, PS256, ES256 or EdDSA.
    pub alg: String,
    /// `next`, `active`, `retired` (or `removed`).
    pub state: String,
    #[schema(value_type = Object)]
    pub public_jwk: serde_json::Value,
    pub created_at: i64,
    /// When a `next` key starts signing.
    pub activates_at: Option<i64>,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// When a retired key leaves the JWKS.
    pub remove_after: Option<i64>,
    pub removed_at: Option<i64>,
}

impl From<KeyView> for KeyResource {
    fn from(v: KeyView) -> Self {
        KeyResource {
            kid: v.kid,
            alg: v.alg.to_string(),
            state: v.state.to_string(),
            public_jwk: v.public_jwk,
            created_at: v.created_at,
            activates_at: v.activates_at,
            activated_at: v.activated_at,
            retired_at: v.retired_at,
            remove_after: v.remove_after,
            removed_at: v.removed_at,
        }
    }
}

page_type!(KeyPage, KeyResource);

/// A rotation request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateInput {
    /// RS256 (default), PS256, ES256 or EdDSA.
    #[serde(default = "rs256")]
    pub alg: String,
    /// `false` (default): stage a next key, published now, signing after publish-ahead.
    /// `true`: emergency — the new key signs as soon as the nodes reload.
    #[serde(default)]
    pub now: bool,
}

fn rs256() -> String {
    "RS256".into()
}

/// A revoked key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRevoked {
    pub kid: String,
    pub alg: String,
    pub previous_state: String,
    /// Always `removed`: the key left the JWKS, and tokens it signed no longer verify.
    pub state: String,
}

/// List keys (every state, as `tessera keys list`).
#[utoipa::path(
    get, path = "/admin/v1/keys", tag = "keys", params(PageQuery),
    responses(
        (status = 200, body = KeyPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
pub async fn list(
    _: Read,
    core: Data<Core>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    list_page::<KeyPage, _, _>(&core, &*q, flows::list_keys).await
}

/// Show a key.
#[utoipa::path(
    get, path = "/admin/v1/keys/{kid}", tag = "keys",
    params(("kid" = String, Path)),
    responses(
        (status = 200, body = KeyResource),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
pub async fn show(_: Read, core: Data<Core>, kid: Path<String>) -> Result<HttpResponse, ApiError> {
    let kid = kid.into_inner();
    respond::<KeyResource, _, _>(&core, move |s| flows::show_key(s, &kid)).await
}

/// Rotate: stage a next key on the published-ahead timeline (`now: false`), or activate a new
/// key at once (`now: true`, an emergency measure). 409 when a next key is already staged.
#[utoipa::path(
    post, path = "/admin/v1/keys/rotate", tag = "keys", request_body = RotateInput,
    responses(
        (status = 201, body = KeyResource),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn rotate(
    _: Write,
    core: Data<Core>,
    body: Json<RotateInput>,
) -> Result<HttpResponse, ApiError> {
    let RotateInput {
        alg,
        now: immediate,
    } = body.into_inner();
    let (now, c) = (core.clock.now(), core.clone());
    let k = blocking(&core, move |s| {
        flows::rotate_key(s, &c.kek, &c.settings, &alg, immediate, now)
    })
    .await?;
    if immediate {
        tracing::warn!(target: "tessera::keys", kid = %k.kid, "immediate key rotation through the admin API");
    }
    Ok(HttpResponse::Created().json(KeyResource::from(k)))
}

/// Revoke a key (emergency): it leaves the JWKS at once and tokens it signed stop verifying;
/// an active key is replaced in the same transaction.
#[utoipa::path(
    post, path = "/admin/v1/keys/{kid}/revoke", tag = "keys",
    params(("kid" = String, Path)),
    responses(
        (status = 200, body = KeyRevoked),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn revoke(
    _: Write,
    core: Data<Core>,
    kid: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (kid, now, c) = (kid.into_inner(), core.clock.now(), core.clone());
    let k = kid.clone();
    let (alg, previous) = blocking(&core, move |s| {
        flows::revoke_key(s, &c.kek, &c.settings, &k, now)
    })
    .await?;
    tracing::warn!(target: "tessera::keys", kid = %kid, "key revoked through the admin API");
    Ok(HttpResponse::Ok().json(KeyRevoked {
        kid,
        alg: alg.as_str().into(),
        previous_state: previous.as_str().into(),
        state: "removed".into(),
    }))
}
