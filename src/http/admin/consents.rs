//! `/admin/v1/consents`: what users allowed which clients, and withdrawing it
//! ([`crate::flows::admin`]).

use actix_web::HttpResponse;
use actix_web::web::{Data, Path, Query};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    ApiError, ErrorBody, Read, UserPageQuery, Write, blocking, list_page, page_type, respond,
};
use crate::flows::Core;
use crate::flows::admin::{self as flows, ConsentView};

/// A user's standing consent to a client.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentResource {
    pub sub: String,
    pub client_id: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    pub granted_at: i64,
}

impl From<ConsentView> for ConsentResource {
    fn from(v: ConsentView) -> Self {
        ConsentResource {
            sub: v.sub,
            client_id: v.client_id,
            scope: v.scope,
            granted_at: v.granted_at,
        }
    }
}

page_type!(ConsentPage, ConsentResource);

/// What withdrawing a consent did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentRevoked {
    /// Refresh-token families (with their access tokens) revoked with it.
    pub revoked_grants: usize,
}

/// List consents, by user then client.
#[utoipa::path(
    get, path = "/admin/v1/consents", tag = "consents", params(UserPageQuery),
    responses(
        (status = 200, body = ConsentPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
pub async fn list(
    _: Read,
    core: Data<Core>,
    q: Query<UserPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = q.user.clone();
    list_page::<ConsentPage, _, _>(&core, &*q, move |s| {
        flows::list_consents(s, user.as_deref())
    })
    .await
}

/// Show a user's consent to a client.
#[utoipa::path(
    get, path = "/admin/v1/consents/{user}/{client_id}", tag = "consents",
    params(("user" = String, Path, description = "username or subject"), ("client_id" = String, Path)),
    responses(
        (status = 200, body = ConsentResource),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
pub async fn show(
    _: Read,
    core: Data<Core>,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, client_id) = path.into_inner();
    respond::<ConsentResource, _, _>(&core, move |s| flows::show_consent(s, &user, &client_id))
        .await
}

/// Withdraw a user's consent to a client: the consent page shows again, and every refresh token
/// the user granted that client (with its access tokens) is revoked.
#[utoipa::path(
    delete, path = "/admin/v1/consents/{user}/{client_id}", tag = "consents",
    params(("user" = String, Path, description = "username or subject"), ("client_id" = String, Path)),
    responses(
        (status = 200, body = ConsentRevoked),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn revoke(
    _: Write,
    core: Data<Core>,
    path: Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let ((user, client_id), now) = (path.into_inner(), core.clock.now());
    let n = blocking(&core, move |s| {
        flows::revoke_consent(s, &user, &client_id, now)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ConsentRevoked { revoked_grants: n }))
}
