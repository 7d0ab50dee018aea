//! `/admin/v1/clients`: the same operations as `tessera client …`, through [`flows::clients`].

use actix_web::HttpResponse;
use actix_web::web::{Data, Json, Path, Query};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiError, ErrorBody, PageQuery, Read, Write, blocking, list_page, no_store, page_type, respond,
};
use crate::config::Settings;
use crate::flows::Core;
use crate::flows::clients::{self as flows, ClientChanges, ClientView};
use crate::protocol::client_auth::AuthMethod;

/// A registered client (never the secret hash; `client_secret` only when just generated or set).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientResource {
    pub client_id: String,
    pub client_name: String,
    /// `client_secret_basic`, `client_secret_post`, `client_secret_jwt`, `private_key_jwt` or
    /// `none` (public).
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Allowed scopes, space-separated.
    pub scope: String,
    pub audiences: Vec<String>,
    pub skip_consent: bool,
    pub web_origins: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub id_token_signed_response_alg: String,
    /// Partner metadata (RFC 7591 §2), as registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// The client's public keys (`private_key_jwt`), by value.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Where the client's public keys are fetched (`private_key_jwt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The one algorithm the client's assertions may use, if pinned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// Registered through dynamic client registration (RFC 7591).
    pub dynamically_registered: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Shown exactly once: on creation, secret rotation, or when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<ClientView> for ClientResource {
    fn from(v: ClientView) -> Self {
        ClientResource {
            client_id: v.client_id,
            client_name: v.client_name,
            token_endpoint_auth_method: v.token_endpoint_auth_method.to_string(),
            redirect_uris: v.redirect_uris,
            post_logout_redirect_uris: v.post_logout_redirect_uris,
            grant_types: v.grant_types.iter().map(|g| g.to_string()).collect(),
            scope: v.scope,
            audiences: v.audiences,
            skip_consent: v.skip_consent,
            web_origins: v.web_origins,
            backchannel_logout_uri: v.backchannel_logout_uri,
            id_token_signed_response_alg: v.id_token_signed_response_alg.to_string(),
            logo_uri: v.logo_uri,
            policy_uri: v.policy_uri,
            tos_uri: v.tos_uri,
            contacts: v.contacts,
            jwks: v.jwks,
            jwks_uri: v.jwks_uri,
            token_endpoint_auth_signing_alg: v.token_endpoint_auth_signing_alg.map(str::to_string),
            dynamically_registered: v.dynamically_registered,
            created_at: v.created_at,
            updated_at: v.updated_at,
            client_secret: v.client_secret,
        }
    }
}

page_type!(ClientPage, ClientResource);

/// The fields of a client to set; on update, absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    /// Only on create: a chosen id (letters, digits, `- . _ ~`, never a UUID); generated otherwise.
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    /// A public client (no secret, PKCE).
    pub public: Option<bool>,
    /// `client_secret_basic`, `client_secret_post`, `client_secret_jwt` or `none`
    /// (`private_key_jwt` clients are made by dynamic registration, with their keys).
    pub token_endpoint_auth_method: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `authorization_code`, `client_credentials`, `refresh_token`.
    pub grant_types: Option<Vec<String>>,
    /// Allowed scopes, space-separated.
    pub scope: Option<String>,
    pub audiences: Option<Vec<String>>,
    pub skip_consent: Option<bool>,
    pub web_origins: Option<Vec<String>>,
    /// `""` removes it (on update).
    pub backchannel_logout_uri: Option<String>,
    /// RS256, PS256, ES256 or EdDSA; `""` resets to RS256.
    pub id_token_signed_response_alg: Option<String>,
    /// A secret chosen by hand (at least 32 characters); generated otherwise.
    pub client_secret: Option<String>,
}

impl ClientInput {
    // The struct update keeps this compiling when ClientChanges grows a field the API does not
    // set yet.
    #[allow(clippy::needless_update)]
    fn changes(self, settings: &Settings) -> Result<ClientChanges, ApiError> {
        let auth_method = match self.token_endpoint_auth_method.as_deref() {
            None => None,
            Some(m) => Some(AuthMethod::parse(m).ok_or_else(|| {
                ApiError::invalid(format!("token_endpoint_auth_method `{m}` is not supported"))
            })?),
        };
        let changes = ClientChanges {
            name: self.client_name,
            id: self.client_id,
            public: self.public,
            auth_method,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            grant_types: self.grant_types,
            scope: self.scope,
            audiences: self.audiences,
            skip_consent: self.skip_consent,
            web_origins: self.web_origins,
            backchannel_logout_uri: self.backchannel_logout_uri,
            id_token_alg: self.id_token_signed_response_alg,
            secret: self.client_secret,
            ..ClientChanges::default()
        };
        // As `tessera client create|update --id-token-alg`: only an algorithm that has keys.
        flows::check_id_token_alg(&changes, settings)?;
        Ok(changes)
    }
}

/// List clients.
#[utoipa::path(
    get, path = "/admin/v1/clients", tag = "clients", params(PageQuery),
    responses(
        (status = 200, body = ClientPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
pub async fn list(
    _: Read,
    core: Data<Core>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    list_page::<ClientPage, _, _>(&core, &*q, flows::list).await
}

/// Register a client. The response carries the secret, once.
#[utoipa::path(
    post, path = "/admin/v1/clients", tag = "clients", request_body = ClientInput,
    responses(
        (status = 201, body = ClientResource),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn create(
    _: Write,
    core: Data<Core>,
    body: Json<ClientInput>,
) -> Result<HttpResponse, ApiError> {
    let changes = body.into_inner().changes(&core.settings)?;
    let now = core.clock.now();
    let c = core.clone();
    let view = blocking(&core, move |s| flows::create(s, &c.hasher, changes, now)).await?;
    Ok(no_store(HttpResponse::Created()).json(ClientResource::from(view)))
}

/// Show a client.
#[utoipa::path(
    get, path = "/admin/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path)),
    responses(
        (status = 200, body = ClientResource),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:read"])),
)]
pub async fn show(_: Read, core: Data<Core>, id: Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    respond::<ClientResource, _, _>(&core, move |s| flows::show(s, &id)).await
}

/// Change a client: only the fields given change. A client made confidential gets a new secret
/// (in the response, once).
#[utoipa::path(
    patch, path = "/admin/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path)), request_body = ClientInput,
    responses(
        (status = 200, body = ClientResource),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn update(
    _: Write,
    core: Data<Core>,
    id: Path<String>,
    body: Json<ClientInput>,
) -> Result<HttpResponse, ApiError> {
    let changes = body.into_inner().changes(&core.settings)?;
    let (id, now, c) = (id.into_inner(), core.clock.now(), core.clone());
    let view = blocking(&core, move |s| {
        flows::update(s, &c.hasher, &id, changes, now)
    })
    .await?;
    Ok(no_store(HttpResponse::Ok()).json(ClientResource::from(view)))
}

/// Delete a client (its tokens stop working at the next reload).
#[utoipa::path(
    delete, path = "/admin/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn delete(
    _: Write,
    core: Data<Core>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    blocking(&core, move |s| flows::delete(s, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replace a confidential client's secret with a generated one (in the response, once).
#[utoipa::path(
    post, path = "/admin/v1/clients/{client_id}/rotate-secret", tag = "clients",
    params(("client_id" = String, Path)),
    responses(
        (status = 200, body = ClientResource),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = ["admin:write"])),
)]
pub async fn rotate_secret(
    _: Write,
    core: Data<Core>,
    id: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (id, now, c) = (id.into_inner(), core.clock.now(), core.clone());
    let view = blocking(&core, move |s| flows::rotate_secret(s, &c.hasher, &id, now)).await?;
    Ok(no_store(HttpResponse::Ok()).json(ClientResource::from(view)))
}
