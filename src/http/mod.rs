//! actix only: routes, extraction, and turning flow results into responses.

pub mod admin;
pub mod coalesce;
pub mod cors;
pub mod endpoints;
pub mod error;
pub mod extract;
pub mod headers;
pub mod pages;

use actix_web::guard::{self, GuardContext};
use actix_web::http::Method;
use actix_web::{HttpResponse, web};

use crate::protocol::discovery::paths;
use endpoints::{assets, authorize, discovery, health, register, revoke, token, userinfo};

/// POST only, without the bookkeeping of actix's method guards (each records its method in the
/// request's extensions for the `Allow` header of a default 405: three allocations per request).
/// For resources that answer 405 themselves.
fn post_only(ctx: &GuardContext<'_>) -> bool {
    ctx.head().method == Method::POST
}

/// Every route, one line per endpoint.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let options = || web::method(actix_web::http::Method::OPTIONS);
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
            .route(
                web::route()
                    .guard(guard::fn_guard(post_only))
                    .to(token::token),
            )
            .route(options().to(cors::preflight))
            .default_service(web::to(token::method_not_allowed)),
    )
    .route(paths::REVOKE, web::post().to(revoke::revoke))
    .route(paths::REVOKE, options().to(cors::preflight))
    .route(paths::INTROSPECT, web::post().to(revoke::introspect))
    .route(paths::REGISTER, web::post().to(register::register))
    .route(
        &format!("{}/{{client_id}}", paths::REGISTER),
        web::get().to(register::read),
    )
    .route(
        &format!("{}/{{client_id}}", paths::REGISTER),
        web::put().to(register::update),
    )
    .route(
        &format!("{}/{{client_id}}", paths::REGISTER),
        web::delete().to(register::delete),
    )
    .route(paths::AUTHORIZE, web::get().to(authorize::get))
    .route(paths::AUTHORIZE, web::post().to(authorize::post))
    .route(paths::USERINFO, web::get().to(userinfo::get))
    .route(paths::USERINFO, web::post().to(userinfo::post))
    .route(paths::USERINFO, options().to(cors::preflight))
    .route(paths::LOGIN, web::get().to(pages::login::show))
    .route(paths::LOGIN, web::post().to(pages::login::submit))
    .route(paths::CONSENT, web::get().to(pages::consent::show))
    .route(paths::CONSENT, web::post().to(pages::consent::submit))
    .route(paths::END_SESSION, web::get().to(pages::logout::get))
    .route(paths::END_SESSION, web::post().to(pages::logout::post))
    .route("/static/tessera.css", web::get().to(assets::css))
    .route("/static/form_post.js", web::get().to(assets::form_post_js))
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .service(admin::scope());
}

/// 404 for everything else, as JSON.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({"error": "not_found"}))
}
