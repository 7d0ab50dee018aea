//! `/admin/v1/registration-tokens`: initial access tokens for dynamic client registration, as
//! `tessera client registration-token create|list|show|revoke`
//! ([`crate::flows::registration`]). A token is shown once, on creation; afterwards it is known
//! only by its identifier (a random UUID, unrelated to the token and to its stored hash).

use actix_web::HttpResponse;
use actix_web::web::{Data, Json, Path, Query};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiError, ErrorBody, PageQuery, Read, Write, blocking, list_page, no_store, page_type, respond,
};
use crate::flows::Core;
use crate::flows::registration::{self as flows, InitialTokenCreated, InitialTokenView};

/// A new initial access token's limits.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationTokenInput {
    /// Lifetime in seconds (at least 1); no expiry when absent.
    pub expires_in: Option<u64>,
    /// How many clients it may register (at least 1); unlimited when absent.
    pub max_uses: Option<u64>,
}

/// An initial access token, shown once (only its hash is stored).
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationTokenCreated {
    /// The identifier to list, show and revoke it by.
    pub id: String,
    /// The token for `Authorization: Bearer` at `POST /oauth2/register`; never shown again.
    pub initial_access_token: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
}

impl From<InitialTokenCreated> for RegistrationTokenCreated {
    fn from(c: InitialTokenCreated) -> Self {
        RegistrationTokenCreated {
            id: c.id,
            initial_access_token: c.initial_access_token,
            created_at: c.created_at,
            expires_at: c.expires_at,
            max_uses: c.max_uses,
        }
    }
}

/// An initial access token as stored (never the token or its hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationTokenResource {
    pub id: String,
    pub created_at: i64,
    /// Absent (`null`): it does not expire.
    pub expires_at: Option<i64>,
    /// How many more clients it may register; `null`: unlimited.
    pub remaining_uses: Option<i64>,
    /// `usable`, `expired` or `used_up`.
    #[schema(example = "usable")]
    pub state: String,
    /// Whether it can register a client now.
    pub usable: bool,
}

impl From<InitialTokenView> for RegistrationTokenResource {
    fn from(v: InitialTokenView) -> Self {
        RegistrationTokenResource {
            id: v.id,
            created_at: v.created_at,
            expires_at: v.expires_at,
            remaining_uses: v.remaining_uses,
            state: v.state.into(),
            usable: v.usable,
        }
    }
}

page_type!(RegistrationTokenPage, RegistrationTokenResource);

/// List initial access tokens, newest first (expired and used-up ones too, until revoked).
#[utoipa::path(
    get, path = "/admin/v1/registration-tokens", tag = "registration", params(PageQuery),
    responses(
        (status = 200, body = RegistrationTokenPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
pub async fn list(
    _: Read,
    core: Data<Core>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = core.clock.now();
    list_page::<RegistrationTokenPage, _, _>(&core, &*q, move |s| {
        flows::list_initial_tokens(s, now)
    })
    .await
}

/// Create an initial access token for `POST /oauth2/register`; the response carries it, once.
#[utoipa::path(
    post, path = "/admin/v1/registration-tokens", tag = "registration",
    request_body = RegistrationTokenInput,
    responses(
        (status = 201, body = RegistrationTokenCreated),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn create(
    _: Write,
    core: Data<Core>,
    body: Json<RegistrationTokenInput>,
) -> Result<HttpResponse, ApiError> {
    let RegistrationTokenInput {
        expires_in,
        max_uses,
    } = body.into_inner();
    let now = core.clock.now();
    let created = blocking(&core, move |s| {
        flows::create_initial_token(s, now, expires_in, max_uses)
    })
    .await?;
    Ok(no_store(HttpResponse::Created()).json(RegistrationTokenCreated::from(created)))
}

/// Show an initial access token by its identifier.
#[utoipa::path(
    get, path = "/admin/v1/registration-tokens/{id}", tag = "registration",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = RegistrationTokenResource),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
pub async fn show(_: Read, core: Data<Core>, id: Path<String>) -> Result<HttpResponse, ApiError> {
    let (id, now) = (id.into_inner(), core.clock.now());
    respond::<RegistrationTokenResource, _, _>(&core, move |s| {
        flows::show_initial_token(s, &id, now)
    })
    .await
}

/// Revoke (delete) an initial access token: it registers no client from now on. Clients it
/// registered stay.
#[utoipa::path(
    delete, path = "/admin/v1/registration-tokens/{id}", tag = "registration",
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn revoke(
    _: Write,
    core: Data<Core>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, now) = (id.into_inner(), core.clock.now());
    blocking(&core, move |s| flows::revoke_initial_token(s, &id, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}
