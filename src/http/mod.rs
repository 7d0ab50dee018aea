//! actix only: routes, extraction, and turning flow results into responses.

pub mod endpoints;
pub mod error;
pub mod extract;
pub mod headers;

use actix_web::{HttpResponse, web};

use crate::protocol::discovery::paths;
use endpoints::{discovery, health, token};

/// Every route, one line per endpoint.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        paths::OPENID_CONFIGURATION,
        web::get().to(discovery::openid_configuration),
    )
    .route(
        paths::OAUTH_METADATA,
        web::get().to(discovery::oauth_metadata),
    )
    .route(paths::JWKS, web::get().to(discovery::jwks))
    .service(
        web::resource(paths::TOKEN)
            .route(web::post().to(token::token))
            .default_service(web::to(token::method_not_allowed)),
    )
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz));
}

/// 404 for everything else, as JSON.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({"error": "not_found"}))
}
