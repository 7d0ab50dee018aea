//! `/admin/v1/sessions`: the same operations as `tessera session …`, through
//! [`flows::sessions`] — ending a session takes THE one path (store, registry, back-channel).

use actix_web::HttpResponse;
use actix_web::web::{Data, Path, Query};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, ErrorBody, Read, UserPageQuery, Write, page_of, page_type};
use crate::flows::Core;
use crate::flows::sessions::{self as flows, Ended, SessionView};

/// A live browser session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResource {
    /// The `sid` claim of the ID tokens issued in it.
    pub sid: String,
    pub sub: String,
    pub username: String,
    pub created_at: i64,
    pub auth_time: i64,
    pub expires_at: i64,
    /// Clients that received a code in it.
    pub clients: Vec<String>,
}

impl From<SessionView> for SessionResource {
    fn from(v: SessionView) -> Self {
        SessionResource {
            sid: v.sid,
            sub: v.sub,
            username: v.username,
            created_at: v.created_at,
            auth_time: v.auth_time,
            expires_at: v.expires_at,
            clients: v.clients,
        }
    }
}

page_type!(SessionPage, SessionResource);

/// A session that was ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndedResource {
    pub sid: String,
    /// Clients told through back-channel logout (delivered in the background).
    pub notified: Vec<String>,
}

impl From<Ended> for EndedResource {
    fn from(e: Ended) -> Self {
        EndedResource {
            sid: e.sid,
            notified: e.notified,
        }
    }
}

/// List live sessions, newest first.
#[utoipa::path(
    get, path = "/admin/v1/sessions", tag = "sessions", params(UserPageQuery),
    responses(
        (status = 200, body = SessionPage),
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
    let all = flows::list(&core.session_env(), q.user.as_deref(), core.clock.now()).await?;
    page_of::<SessionPage, _>(all, &*q)
}

/// Show a live session.
#[utoipa::path(
    get, path = "/admin/v1/sessions/{sid}", tag = "sessions",
    params(("sid" = String, Path)),
    responses(
        (status = 200, body = SessionResource),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
pub async fn show(_: Read, core: Data<Core>, sid: Path<String>) -> Result<HttpResponse, ApiError> {
    let all = flows::list(&core.session_env(), None, core.clock.now()).await?;
    let s = all
        .into_iter()
        .find(|s| s.sid == *sid)
        .ok_or_else(|| ApiError::NotFound(format!("no active session `{sid}`")))?;
    Ok(HttpResponse::Ok().json(SessionResource::from(s)))
}

/// End a session: its cookie signs no one in from now on, on every node, and the clients that
/// took part get a back-channel logout.
#[utoipa::path(
    post, path = "/admin/v1/sessions/{sid}/revoke", tag = "sessions",
    params(("sid" = String, Path)),
    responses(
        (status = 200, body = EndedResource),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn revoke(
    _: Write,
    core: Data<Core>,
    sid: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ended = flows::revoke(&core.session_env(), &sid, core.clock.now()).await?;
    Ok(HttpResponse::Ok().json(EndedResource::from(ended)))
}
