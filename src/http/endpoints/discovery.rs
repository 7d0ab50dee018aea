//! Discovery documents and the JWKS, served from pre-rendered bytes.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::flows::Core;

fn cached_json(core: &Core, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", core.settings.http.jwks_max_age),
        ))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(body)
}

pub async fn openid_configuration(core: web::Data<Core>) -> HttpResponse {
    cached_json(&core, core.openid_configuration.clone())
}

pub async fn oauth_metadata(core: web::Data<Core>) -> HttpResponse {
    cached_json(&core, core.oauth_metadata.clone())
}

pub async fn jwks(core: web::Data<Core>) -> HttpResponse {
    let body = core.directory.keys().jwks().to_vec();
    cached_json(&core, body)
}
