//! `POST /oauth2/token` (RFC 6749 §3.2).

use actix_web::http::header;
use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse};

use crate::flows::{Core, token};
use crate::http::extract::form_body;
use crate::protocol::OAuthError;

pub async fn token(
    req: HttpRequest,
    payload: Payload,
    core: Data<Core>,
) -> Result<HttpResponse, OAuthError> {
    let body = form_body(&req, payload, core.settings.http.max_form_bytes).await?;
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let response = token::token(&core, authorization, &body)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}

/// Anything but POST at the token endpoint.
pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "POST"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "error": "invalid_request",
            "error_description": "the token endpoint accepts only POST"
        }))
}
