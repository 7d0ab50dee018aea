//! `POST /oauth2/token` (RFC 6749 §3.2).

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::flows::{Core, token};
use crate::http::extract::form_body;
use crate::protocol::OAuthError;

pub async fn token(req: HttpRequest, payload: Payload, core: Data<Core>) -> HttpResponse {
    let origin = crate::http::cors::allowed_origin(&core, &req);
    let result = match form_body(&req, payload, core.settings.http.max_form_bytes).await {
        Ok(body) => {
            let authorization = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes());
            token::token(&core, authorization, &body).await
        }
        Err(e) => Err(e),
    };
    let (mut resp, origin) = match result {
        Ok((response, client)) => {
            // A browser may read the answer only from this client's own origins.
            let origin = origin.filter(|o| {
                o.to_str()
                    .is_ok_and(|o| client.origins().iter().any(|c| c == o))
            });
            let resp = match response.to_json() {
                Ok(body) => HttpResponse::Ok()
                    .insert_header((
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    ))
                    .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                    .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
                    .body(body),
                Err(e) => OAuthError::Server(e.into()).error_response(),
            };
            (resp, origin)
        }
        Err(e) => (e.error_response(), origin),
    };
    crate::http::cors::apply(&mut resp, origin);
    resp
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
