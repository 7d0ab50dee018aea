//! `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662).

use actix_web::http::header;
use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::flows::{Core, introspect, revoke};
use crate::http::cors;
use crate::http::extract::form_body;

pub async fn revoke(req: HttpRequest, payload: Payload, core: Data<Core>) -> HttpResponse {
    let origin = cors::allowed_origin(&core, &req);
    let result = match form_body(&req, payload, core.settings.http.max_form_bytes).await {
        Ok(body) => {
            let authorization = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes());
            revoke::revoke(&core, authorization, &body).await
        }
        Err(e) => Err(e),
    };
    let (mut resp, origin) = match result {
        Ok(client) => {
            let origin = origin.filter(|o| {
                o.to_str()
                    .is_ok_and(|o| client.origins().iter().any(|c| c == o))
            });
            (
                HttpResponse::Ok()
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .finish(),
                origin,
            )
        }
        Err(e) => (e.error_response(), origin),
    };
    cors::apply(&mut resp, origin);
    resp
}

pub async fn introspect(req: HttpRequest, payload: Payload, core: Data<Core>) -> HttpResponse {
    let result = match form_body(&req, payload, core.settings.http.max_form_bytes).await {
        Ok(body) => {
            let authorization = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes());
            introspect::introspect(&core, authorization, &body).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((answer, _)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(answer),
        Err(e) => e.error_response(),
    }
}
