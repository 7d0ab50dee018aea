//! `/admin/v1/users`: the same operations as `tessera user …`, through [`flows::users`] and
//! [`crate::flows::sessions`]. A user is named by username (any case) or subject.

use actix_web::HttpResponse;
use actix_web::web::{Data, Json, Path, Query};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::sessions::EndedResource;
use super::{ApiError, ErrorBody, PageQuery, Read, Write, blocking, list_page, page_type, respond};
use crate::flows::Core;
use crate::flows::users::{self as flows, ProfileChanges, UserSpec, UserView};

/// An end-user (never the password or its hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResource {
    /// The subject: a UUID assigned at creation.
    pub sub: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<UserView> for UserResource {
    fn from(v: UserView) -> Self {
        UserResource {
            sub: v.sub,
            username: v.username,
            email: v.email,
            email_verified: v.email_verified,
            name: v.name,
            given_name: v.given_name,
            family_name: v.family_name,
            disabled: v.disabled,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

page_type!(UserPage, UserResource);

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// 1–64 of ASCII letters, digits and `. _ - @ +`; stored lower-cased.
    pub username: String,
    pub email: String,
    #[serde(default)]
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// 8–1024 characters, no control characters; stored as an argon2id hash only.
    pub password: String,
}

/// The profile fields to change; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdateInput {
    /// A new address is unverified unless `email_verified` is given too.
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    /// `""` removes it.
    pub name: Option<String>,
    /// `""` removes it.
    pub given_name: Option<String>,
    /// `""` removes it.
    pub family_name: Option<String>,
}

/// A new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordInput {
    pub password: String,
}

/// The sessions a logout ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutResult {
    pub user: UserResource,
    pub ended: Vec<EndedResource>,
}

/// List users, by username.
#[utoipa::path(
    get, path = "/admin/v1/users", tag = "users", params(PageQuery),
    responses(
        (status = 200, body = UserPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
pub async fn list(
    _: Read,
    core: Data<Core>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    list_page::<UserPage, _, _>(&core, &*q, flows::list).await
}

/// Create a user with a password.
#[utoipa::path(
    post, path = "/admin/v1/users", tag = "users", request_body = UserInput,
    responses(
        (status = 201, body = UserResource),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn create(
    _: Write,
    core: Data<Core>,
    body: Json<UserInput>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let spec = UserSpec {
        username: b.username,
        email: b.email,
        email_verified: b.email_verified,
        name: b.name,
        given_name: b.given_name,
        family_name: b.family_name,
    };
    let (password, now) = (b.password, core.clock.now());
    let view = blocking(&core, move |s| flows::create(s, spec, &password, now)).await?;
    Ok(HttpResponse::Created().json(UserResource::from(view)))
}

/// Show a user.
#[utoipa::path(
    get, path = "/admin/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "username or subject")),
    responses(
        (status = 200, body = UserResource),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
pub async fn show(_: Read, core: Data<Core>, user: Path<String>) -> Result<HttpResponse, ApiError> {
    let user = user.into_inner();
    respond::<UserResource, _, _>(&core, move |s| flows::show(s, &user)).await
}

/// Change a user's profile (as `tessera user update`): only the fields given change, with the
/// rules of creation. The username, subject and password do not change here.
#[utoipa::path(
    patch, path = "/admin/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "username or subject")), request_body = UserUpdateInput,
    responses(
        (status = 200, body = UserResource),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn update(
    _: Write,
    core: Data<Core>,
    user: Path<String>,
    body: Json<UserUpdateInput>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let changes = ProfileChanges {
        email: b.email,
        email_verified: b.email_verified,
        name: b.name,
        given_name: b.given_name,
        family_name: b.family_name,
    };
    let (user, now) = (user.into_inner(), core.clock.now());
    respond::<UserResource, _, _>(&core, move |s| flows::update(s, &user, changes, now)).await
}

/// Delete a user, ending their sessions first (with back-channel logout).
#[utoipa::path(
    delete, path = "/admin/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "username or subject")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn delete(
    _: Write,
    core: Data<Core>,
    user: Path<String>,
) -> Result<HttpResponse, ApiError> {
    flows::delete(&core.session_env(), &user, core.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Disable a user: no more sign-ins; their sessions end and their refresh tokens are revoked.
#[utoipa::path(
    post, path = "/admin/v1/users/{user}/disable", tag = "users",
    params(("user" = String, Path, description = "username or subject")),
    responses(
        (status = 200, body = UserResource),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn disable(
    _: Write,
    core: Data<Core>,
    user: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = flows::disable(&core.session_env(), &user, core.clock.now()).await?;
    Ok(HttpResponse::Ok().json(UserResource::from(view)))
}

/// Enable a disabled user.
#[utoipa::path(
    post, path = "/admin/v1/users/{user}/enable", tag = "users",
    params(("user" = String, Path, description = "username or subject")),
    responses(
        (status = 200, body = UserResource),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn enable(
    _: Write,
    core: Data<Core>,
    user: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (user, now) = (user.into_inner(), core.clock.now());
    respond::<UserResource, _, _>(&core, move |s| flows::enable(s, &user, now)).await
}

/// End every session of a user (with back-channel logout).
#[utoipa::path(
    post, path = "/admin/v1/users/{user}/logout", tag = "users",
    params(("user" = String, Path, description = "username or subject")),
    responses(
        (status = 200, body = LogoutResult),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn logout(
    _: Write,
    core: Data<Core>,
    user: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (who, ended) =
        crate::flows::sessions::logout_user(&core.session_env(), &user, core.clock.now()).await?;
    Ok(HttpResponse::Ok().json(LogoutResult {
        user: who.into(),
        ended: ended.into_iter().map(EndedResource::from).collect(),
    }))
}

/// Replace a user's password.
#[utoipa::path(
    post, path = "/admin/v1/users/{user}/password", tag = "users",
    params(("user" = String, Path, description = "username or subject")), request_body = PasswordInput,
    responses(
        (status = 200, body = UserResource),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn set_password(
    _: Write,
    core: Data<Core>,
    user: Path<String>,
    body: Json<PasswordInput>,
) -> Result<HttpResponse, ApiError> {
    let (user, password, now) = (
        user.into_inner(),
        body.into_inner().password,
        core.clock.now(),
    );
    respond::<UserResource, _, _>(&core, move |s| {
        flows::set_password(s, &user, &password, now)
    })
    .await
}
