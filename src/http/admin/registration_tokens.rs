//! `/admin/v1/registration-tokens`: initial access tokens for dynamic client registration, as
//! `tessera client registration-token create` ([`crate::flows::registration`]).

use actix_web::HttpResponse;
use actix_web::web::{Data, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, ErrorBody, Write, blocking, no_store};
use crate::flows::Core;
use crate::storage::StorageError;

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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegistrationTokenCreated {
    pub initial_access_token: String,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
}

/// Create an initial access token for `POST /oauth2/register`.
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
    let limit = i64::MAX as u64 / 2;
    if expires_in.is_some_and(|n| n == 0 || n > limit) {
        return Err(ApiError::invalid(
            "expires_in must be a positive number of seconds",
        ));
    }
    if max_uses.is_some_and(|n| n == 0 || n > limit) {
        return Err(ApiError::invalid("max_uses must be at least 1"));
    }
    let now = core.clock.now();
    let created = blocking(&core, move |s| {
        crate::flows::registration::create_initial_token(s, now, expires_in, max_uses).map_err(
            |e| match e.downcast::<StorageError>() {
                Ok(s) => ApiError::from(s),
                Err(e) => ApiError::Internal(e),
            },
        )
    })
    .await?;
    let created: RegistrationTokenCreated =
        serde_json::from_value(created).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(no_store(HttpResponse::Created()).json(created))
}
