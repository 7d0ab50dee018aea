//! The admin REST API under `/admin/v1`: the route table, the bearer-token guard, the error
//! mapping and the OpenAPI 3.1 document (generated from the handlers by `utoipa`).
//!
//! **Who may call it.** A Tessera access token from the client-credentials grant (`sub` =
//! `client_id`) that verifies against our own keys, is unexpired and unrevoked, whose `aud`
//! includes the issuer or `<issuer>/admin/v1`, whose client still exists and is still allowed
//! the scope, and which carries [`SCOPE_READ`] (every `GET`) or [`SCOPE_WRITE`] (everything
//! else). A token issued to a user (authorization code) is never an admin token, whatever its
//! scope.
//!
//! Handlers are thin: they parse, call the same `flows` functions as the CLI, and shape JSON.

mod clients;
mod consents;
mod keys;
mod registration_tokens;
mod sessions;
mod users;

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Data};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::flows::Core;
use crate::flows::admin::AdminError as FlowError;
use crate::flows::clients::ClientError;
use crate::flows::sessions::SessionsError;
use crate::flows::users::UserError;
use crate::protocol::OAuthError;
use crate::protocol::scope::Scopes;
use crate::storage::StorageError;

/// Where the admin API lives.
pub const PREFIX: &str = "/admin/v1";
/// Lets a client-credentials token read through the admin API (every `GET`).
pub const SCOPE_READ: &str = "admin:read";
/// Lets a client-credentials token change anything through the admin API.
pub const SCOPE_WRITE: &str = "admin:write";
/// The largest JSON body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// Page sizes of the list endpoints.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// Declares every admin route once: the actix registration and [`ROUTES`] (method, full path in
/// OpenAPI form) come from the same list, and a test checks the OpenAPI document against it.
macro_rules! admin_routes {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// Every admin route: (HTTP method in lower case, path under [`PREFIX`]).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn register(scope: actix_web::Scope) -> actix_web::Scope {
            scope$(.route($path, web::$method().to($handler)))*
        }
    };
}

admin_routes! {
    get "/openapi.json" => openapi_json,
    get "/clients" => clients::list,
    post "/clients" => clients::create,
    get "/clients/{client_id}" => clients::show,
    patch "/clients/{client_id}" => clients::update,
    delete "/clients/{client_id}" => clients::delete,
    post "/clients/{client_id}/rotate-secret" => clients::rotate_secret,
    get "/users" => users::list,
    post "/users" => users::create,
    get "/users/{user}" => users::show,
    patch "/users/{user}" => users::update,
    delete "/users/{user}" => users::delete,
    post "/users/{user}/disable" => users::disable,
    post "/users/{user}/enable" => users::enable,
    post "/users/{user}/logout" => users::logout,
    post "/users/{user}/password" => users::set_password,
    get "/consents" => consents::list,
    get "/consents/{user}/{client_id}" => consents::show,
    delete "/consents/{user}/{client_id}" => consents::revoke,
    get "/sessions" => sessions::list,
    get "/sessions/{sid}" => sessions::show,
    post "/sessions/{sid}/revoke" => sessions::revoke,
    get "/keys" => keys::list,
    get "/keys/{kid}" => keys::show,
    post "/keys/rotate" => keys::rotate,
    post "/keys/{kid}/revoke" => keys::revoke,
    get "/registration-tokens" => registration_tokens::list,
    post "/registration-tokens" => registration_tokens::create,
    get "/registration-tokens/{id}" => registration_tokens::show,
    delete "/registration-tokens/{id}" => registration_tokens::revoke,
}

/// Mounts the admin API (one line in [`crate::http::routes`]).
pub fn scope() -> actix_web::Scope {
    let json = web::JsonConfig::default()
        .limit(MAX_BODY)
        .error_handler(|e, _| {
            let status = match &e {
                actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
                | actix_web::error::JsonPayloadError::Overflow { .. } => {
                    StatusCode::PAYLOAD_TOO_LARGE
                }
                actix_web::error::JsonPayloadError::ContentType => {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE
                }
                _ => StatusCode::BAD_REQUEST,
            };
            let msg = match &e {
                actix_web::error::JsonPayloadError::ContentType => {
                    "the body must be application/json".to_string()
                }
                actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
                | actix_web::error::JsonPayloadError::Overflow { .. } => {
                    format!("the body is larger than {MAX_BODY} bytes")
                }
                other => format!("the body is not valid JSON for this request: {other}"),
            };
            ApiError::InvalidRequest(status, msg).into()
        });
    let query = web::QueryConfig::default().error_handler(|e, _| {
        ApiError::InvalidRequest(StatusCode::BAD_REQUEST, format!("query: {e}")).into()
    });
    let path = web::PathConfig::default().error_handler(|e, _| {
        ApiError::InvalidRequest(StatusCode::BAD_REQUEST, format!("path: {e}")).into()
    });
    register(web::scope(PREFIX))
        .app_data(json)
        .app_data(query)
        .app_data(path)
        .default_service(web::to(|| async {
            ApiError::NotFound("no such admin resource or method".into()).error_response()
        }))
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The body of every admin error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// One of `not_found`, `invalid_request`, `conflict`, `unauthorized`, `forbidden`,
    /// `unavailable`, `internal`.
    #[schema(example = "not_found")]
    pub error: String,
    pub error_description: String,
}

/// Every way an admin request fails; [`ResponseError`] is the single mapping to a response.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{1}")]
    InvalidRequest(StatusCode, String),
    #[error("{0}")]
    Conflict(String),
    /// No token, or one that is not a valid admin token.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid admin token without the scope this request needs (the scope).
    #[error("the access token lacks the `{0}` scope")]
    Forbidden(&'static str),
    #[error("a backing service is unavailable")]
    Unavailable(anyhow::Error),
    #[error("internal error")]
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        ApiError::InvalidRequest(StatusCode::BAD_REQUEST, msg.into())
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::InvalidRequest(..) => "invalid_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidRequest(s, _) => *s,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "admin API: internal error")
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %format!("{cause:#}"), "admin API: backing service unavailable")
            }
            other => tracing::debug!(error = other.code(), "admin API: request refused"),
        }
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self {
            ApiError::Unauthorized(_) => {
                resp.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"tessera-admin\", error=\"invalid_token\"",
                    ),
                ));
            }
            ApiError::Forbidden(scope) => {
                let v = format!(
                    "Bearer realm=\"tessera-admin\", error=\"insufficient_scope\", scope=\"{scope}\""
                );
                if let Ok(v) = HeaderValue::from_str(&v) {
                    resp.insert_header((header::WWW_AUTHENTICATE, v));
                }
            }
            ApiError::Unavailable(_) => {
                resp.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            _ => {}
        }
        resp.json(ErrorBody {
            error: self.code().into(),
            error_description: self.to_string(),
        })
    }
}

fn storage(e: StorageError) -> ApiError {
    match e {
        StorageError::Unavailable(e) => ApiError::Unavailable(e),
        StorageError::Conflict(m) => ApiError::Conflict(m),
        StorageError::NotFound => ApiError::NotFound("not found".into()),
        StorageError::Other(e) => ApiError::Internal(e),
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        storage(e)
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Invalid(m) => ApiError::invalid(m),
            ClientError::NotFound(id) => ApiError::NotFound(format!("no client with id `{id}`")),
            ClientError::Conflict(m) => ApiError::Conflict(m),
            ClientError::Storage(e) => storage(e),
            ClientError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Invalid(m) => ApiError::invalid(m),
            UserError::NotFound(u) => ApiError::NotFound(format!("no user `{u}`")),
            UserError::Conflict(m) => ApiError::Conflict(m),
            UserError::Storage(e) => storage(e),
            UserError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl From<SessionsError> for ApiError {
    fn from(e: SessionsError) -> Self {
        match e {
            SessionsError::NotFound(sid) => {
                ApiError::NotFound(format!("no active session `{sid}`"))
            }
            SessionsError::Storage(e) => storage(e),
            SessionsError::Store(e) => ApiError::Unavailable(e.into()),
        }
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::Invalid(m) => ApiError::invalid(m),
            FlowError::NotFound(m) => ApiError::NotFound(m),
            FlowError::Conflict(m) => ApiError::Conflict(m),
            FlowError::Storage(e) => storage(e),
            FlowError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::Unavailable(e) => ApiError::Unavailable(e),
            OAuthError::Server(e) => ApiError::Internal(e),
            other => ApiError::invalid(other.description()),
        }
    }
}

/// Runs blocking storage work off the async workers ([`crate::storage::Store::run`]).
async fn blocking<T, E>(
    core: &Core,
    f: impl FnOnce(&crate::storage::Store) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    core.store
        .run(move |s| Ok(f(s)))
        .await
        .map_err(storage)?
        .map_err(Into::into)
}

/// Marks a response that may carry a secret as not cacheable.
fn no_store(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    b
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// A request authenticated with an admin token; `WRITE` selects the scope needed.
#[derive(Debug)]
pub struct Admin<const WRITE: bool> {
    /// The admin client (the token's `client_id`).
    pub client_id: String,
}

/// Needs [`SCOPE_READ`].
pub type Read = Admin<false>;
/// Needs [`SCOPE_WRITE`].
pub type Write = Admin<true>;

impl<const WRITE: bool> FromRequest for Admin<WRITE> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let core = req.app_data::<Data<Core>>().cloned();
        let bearer = bearer(req);
        Box::pin(async move {
            let core = core.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no Core")))?;
            let scope = if WRITE { SCOPE_WRITE } else { SCOPE_READ };
            let client_id = authenticate(&core, bearer?, scope).await?;
            Ok(Admin { client_id })
        })
    }
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let missing = || ApiError::Unauthorized("a bearer access token is required".into());
    let v = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_string())
        }
        _ => Err(missing()),
    }
}

/// Checks an admin token; returns its client id.
async fn authenticate(core: &Core, token: String, scope: &'static str) -> Result<String, ApiError> {
    let invalid = |m: &str| ApiError::Unauthorized(m.to_string());
    let claims =
        crate::flows::userinfo::verify_access_token(core, &token).map_err(|e| match e {
            OAuthError::Unavailable(e) => ApiError::Unavailable(e),
            other => ApiError::Unauthorized(other.description().into_owned()),
        })?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default();
    let client_id = text("client_id").to_string();
    if client_id.is_empty() || text("sub") != client_id {
        return Err(invalid(
            "only a client's own (client-credentials) token is an admin token",
        ));
    }
    let issuer = core.settings.issuer();
    let admin_aud = format!("{issuer}{PREFIX}");
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == issuer || *a == admin_aud,
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| a == issuer || a == admin_aud),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid(
            "the access token is not meant for the admin API (aud)",
        ));
    }
    let jti = text("jti").to_string();
    let revoked = core
        .store
        .run_read(move |s| s.is_access_token_revoked(&jti))
        .await
        .map_err(storage)?;
    if revoked {
        return Err(invalid("the access token was revoked"));
    }
    // The client must still exist and still be allowed the scope: taking `admin:*` away from a
    // client (or deleting it) ends its tokens' admin rights at the next reload.
    let Some(client) = core.directory.client(&client_id) else {
        return Err(invalid("the access token's client no longer exists"));
    };
    let granted = Scopes::parse(text("scope")).unwrap_or_default();
    if !granted.contains(scope) || !client.metadata.scopes.contains(scope) {
        return Err(ApiError::Forbidden(scope));
    }
    Ok(client_id)
}

// ---------------------------------------------------------------------------------------------
// Pagination

/// `?limit=` (default 50, at most 200) and `?cursor=` (opaque, from `next_cursor`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page: 1 to 200, default 50.
    pub limit: Option<usize>,
    /// Where to continue: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `?user=` (username or subject), `?limit=`, `?cursor=`: the lists that can be narrowed to
/// one user (consents, sessions).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserPageQuery {
    /// Only this user's items (username or subject).
    pub user: Option<String>,
    /// Items per page: 1 to 200, default 50.
    pub limit: Option<usize>,
    /// Where to continue: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The `?limit=` and `?cursor=` of a list query.
pub(crate) trait Paging {
    fn limit(&self) -> Option<usize>;
    fn cursor(&self) -> Option<&str>;
}

macro_rules! paging {
    ($($t:ty),*) => {$(
        impl Paging for $t {
            fn limit(&self) -> Option<usize> {
                self.limit
            }
            fn cursor(&self) -> Option<&str> {
                self.cursor.as_deref()
            }
        }
    )*};
}
paging!(PageQuery, UserPageQuery);

/// One page of a list answer (declared per resource by [`page_type!`]).
pub(crate) trait Page: Serialize {
    type Item;
    fn new(items: Vec<Self::Item>, next_cursor: Option<String>) -> Self;
}

/// Cuts one page out of `items`; returns it and the cursor of the next page.
fn paginate<T>(
    items: Vec<T>,
    limit: Option<usize>,
    cursor: Option<&str>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(ApiError::invalid(format!("limit must be 1 to {MAX_LIMIT}"))),
    };
    let start = match cursor {
        None => 0,
        Some(c) => decode_cursor(c)
            .ok_or_else(|| ApiError::invalid("cursor is not one this API issued"))?,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = (start + limit < total).then(|| encode_cursor(start + limit));
    Ok((page, next))
}

/// THE list answer: the page of `all` that `q` asks for, each item as its resource.
fn page_of<P, V>(all: Vec<V>, q: &impl Paging) -> Result<HttpResponse, ApiError>
where
    P: Page,
    P::Item: From<V>,
{
    let (items, next_cursor) = paginate(all, q.limit(), q.cursor())?;
    Ok(HttpResponse::Ok().json(P::new(
        items.into_iter().map(P::Item::from).collect(),
        next_cursor,
    )))
}

/// A list endpoint: runs the blocking `list` flow and answers [`page_of`] its result.
async fn list_page<P, V, E>(
    core: &Core,
    q: &impl Paging,
    list: impl FnOnce(&crate::storage::Store) -> Result<Vec<V>, E> + Send + 'static,
) -> Result<HttpResponse, ApiError>
where
    P: Page,
    P::Item: From<V>,
    V: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    let all = blocking(core, list).await?;
    page_of::<P, V>(all, q)
}

/// Runs the blocking flow `f` and answers 200 with its result as resource `R` (reads, and the
/// changes that answer with the changed resource).
async fn respond<R, V, E>(
    core: &Core,
    f: impl FnOnce(&crate::storage::Store) -> Result<V, E> + Send + 'static,
) -> Result<HttpResponse, ApiError>
where
    R: From<V> + Serialize,
    V: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    let v = blocking(core, f).await?;
    Ok(HttpResponse::Ok().json(R::from(v)))
}

fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_cursor(c: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(c).ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("o:")?
        .parse()
        .ok()
}

/// Declares a page type per resource (concrete types keep the OpenAPI document plain).
macro_rules! page_type {
    ($name:ident, $item:ty) => {
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `?cursor=` for the next page; absent on the last page.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub next_cursor: Option<String>,
        }

        impl super::Page for $name {
            type Item = $item;
            fn new(items: Vec<$item>, next_cursor: Option<String>) -> Self {
                $name { items, next_cursor }
            }
        }
    };
}
pub(crate) use page_type;

// ---------------------------------------------------------------------------------------------
// OpenAPI

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The admin API's OpenAPI 3.1 document, generated from the `#[utoipa::path]` of every handler.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera admin API",
        description = "Manage clients, users, consents, sessions, signing keys and registration tokens. Authenticate with a Tessera client-credentials access token carrying `admin:read` (GET) or `admin:write` (everything else)."
    ),
    paths(
        openapi_json,
        clients::list, clients::create, clients::show, clients::update, clients::delete,
        clients::rotate_secret,
        users::list, users::create, users::show, users::update, users::delete, users::disable,
        users::enable, users::logout, users::set_password,
        consents::list, consents::show, consents::revoke,
        sessions::list, sessions::show, sessions::revoke,
        keys::list, keys::show, keys::rotate, keys::revoke,
        registration_tokens::list, registration_tokens::create, registration_tokens::show,
        registration_tokens::revoke,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// The document, rendered once.
pub fn openapi_document() -> String {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|_| "{}".to_string())
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get, path = "/admin/v1/openapi.json", tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
async fn openapi_json(_: Read) -> HttpResponse {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOC.get_or_init(openapi_document).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route is in the document with its method, and the document has nothing else.
    #[test]
    fn openapi_covers_every_route() {
        let doc: Value = serde_json::from_str(&openapi_document()).unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1."),
            "{}",
            doc["openapi"]
        );
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), format!("{PREFIX}{p}")))
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
    }

    /// The document holds together: every `$ref` names a component, every `{param}` of a path
    /// is declared by each of its operations, and every operation documents 401 and 403 and
    /// asks for the scope the guard enforces (`admin:read` for GET, `admin:write` otherwise).
    #[test]
    fn openapi_document_is_consistent() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc: Value = serde_json::from_str(&openapi_document()).unwrap();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r}"));
            assert!(doc["components"]["schemas"][name].is_object(), "{r}");
        }
        for (path, item) in doc["paths"].as_object().unwrap() {
            let wanted: Vec<&str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            for (method, op) in item.as_object().unwrap() {
                let declared: Vec<&str> = op["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter(|p| p["in"] == "path")
                            .filter_map(|p| p["name"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(declared, wanted, "{method} {path}");
                for status in ["401", "403"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{method} {path} {status}"
                    );
                }
                let scope = if method == "get" {
                    SCOPE_READ
                } else {
                    SCOPE_WRITE
                };
                assert_eq!(
                    op["security"],
                    serde_json::json!([{"bearer": [scope]}]),
                    "{method} {path}"
                );
            }
        }
    }

    #[test]
    fn cursors_round_trip_and_pages_cut() {
        let items: Vec<u32> = (0..5).collect();
        let (p, next) = paginate(items.clone(), Some(2), None).unwrap();
        assert_eq!(p, [0, 1]);
        let (p, next) = paginate(items.clone(), Some(2), next.as_deref()).unwrap();
        assert_eq!(p, [2, 3]);
        let (p, next) = paginate(items.clone(), Some(2), next.as_deref()).unwrap();
        assert_eq!((p, next), (vec![4], None));
        assert!(paginate(items.clone(), Some(0), None).is_err());
        assert!(paginate(items.clone(), Some(201), None).is_err());
        assert!(paginate(items, None, Some("garbage!")).is_err());
    }
}
