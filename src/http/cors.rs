//! CORS for browser apps on the token and userinfo endpoints: an `Origin` is answered only when
//! it is one of a registered client's web origins (explicit, or those of its redirect URIs).
//! The authorization endpoint and the pages never answer CORS.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use crate::flows::Core;

/// The request's `Origin`, if any registered client has it.
pub fn allowed_origin(core: &Core, req: &HttpRequest) -> Option<HeaderValue> {
    let origin = req.headers().get(header::ORIGIN)?;
    let s = origin.to_str().ok()?;
    core.directory.is_web_origin(s).then(|| origin.clone())
}

/// Adds the CORS headers for an allowed origin.
pub fn apply(resp: &mut HttpResponse, origin: Option<HeaderValue>) {
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(o) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
    }
}

/// `OPTIONS` preflight.
pub async fn preflight(req: HttpRequest, core: actix_web::web::Data<Core>) -> HttpResponse {
    let mut resp = HttpResponse::NoContent().finish();
    if let Some(o) = allowed_origin(&core, &req) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
    resp
}
