//! `GET` / `POST /oauth2/userinfo` (OIDC Core §5.3) with a bearer token (RFC 6750 §2.1 header,
//! or §2.2 form body).

use actix_web::http::header;
use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::flows::{Core, userinfo};
use crate::http::cors;
use crate::http::extract::form_body;
use crate::protocol::OAuthError;
use crate::protocol::params::Params;

fn header_token(req: &HttpRequest) -> Result<Option<String>, OAuthError> {
    let Some(v) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| OAuthError::invalid_token("malformed Authorization header"))?;
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(OAuthError::InvalidToken(None)),
    }
}

async fn answer(
    req: &HttpRequest,
    core: &Core,
    token: Result<Option<String>, OAuthError>,
) -> HttpResponse {
    let result = match token {
        Ok(t) => userinfo::userinfo(core, t.as_deref()).await,
        Err(e) => Err(e),
    };
    let mut resp = match result {
        Ok(claims) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(claims),
        Err(e) => e.error_response(),
    };
    cors::apply(&mut resp, cors::allowed_origin(core, req));
    resp
}

pub async fn get(req: HttpRequest, core: Data<Core>) -> HttpResponse {
    let token = header_token(&req);
    answer(&req, &core, token).await
}

pub async fn post(req: HttpRequest, payload: Payload, core: Data<Core>) -> HttpResponse {
    let from_header = header_token(&req);
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let token = match (from_header, is_form) {
        (Err(e), _) => Err(e),
        (Ok(h), false) => Ok(h),
        (Ok(h), true) => match form_body(&req, payload, core.settings.http.max_form_bytes).await {
            Err(e) => Err(e),
            Ok(body) => match Params::parse(&body, &[]) {
                Err(e) => Err(e),
                Ok(p) => match (h, p.get("access_token")) {
                    (Some(_), Some(_)) => Err(OAuthError::invalid_request(
                        "the token was sent in more than one way",
                    )),
                    (Some(h), None) => Ok(Some(h)),
                    (None, b) => Ok(b.map(str::to_string)),
                },
            },
        },
    };
    answer(&req, &core, token).await
}
