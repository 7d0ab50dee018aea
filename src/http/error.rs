//! THE mapping from [`OAuthError`] to an HTTP response (RFC 6749 §5.2): status, JSON body,
//! `WWW-Authenticate`, `Cache-Control: no-store`. Internal causes are logged here, never shown.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::protocol::OAuthError;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient { .. } | OAuthError::InvalidToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            OAuthError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            OAuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            OAuthError::Server(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "server error")
            }
            OAuthError::Unavailable(cause) => {
                tracing::warn!(error = %format!("{cause:#}"), "backing service unavailable")
            }
            other => tracing::debug!(error = other.code(), "request refused"),
        }
        let description = self.description();
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        if let OAuthError::InvalidClient { .. } = self {
            // 401 must name a scheme (RFC 9110 §15.5.2); Basic is the one we accept.
            resp.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""),
            ));
        }
        match self {
            // RFC 6750 §3: no error code when no token was presented at all.
            OAuthError::InvalidToken(None) => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"tessera\""));
            }
            OAuthError::InvalidToken(Some(_)) | OAuthError::InsufficientScope(_) => {
                let value = format!(
                    "Bearer realm=\"tessera\", error=\"{}\", error_description=\"{}\"",
                    self.code(),
                    description.replace(['"', '\\'], "")
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    resp.insert_header((header::WWW_AUTHENTICATE, v));
                }
            }
            _ => {}
        }
        if let OAuthError::Unavailable(_) = self {
            resp.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        resp.json(ErrorBody {
            error: self.code(),
            error_description: &description,
        })
    }
}
