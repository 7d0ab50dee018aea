//! The stylesheet and the form_post script, compiled into the binary.

use actix_web::HttpResponse;
use actix_web::http::header;

const CSS: &str = include_str!("../../../static/tessera.css");
const FORM_POST_JS: &str = include_str!("../../../static/form_post.js");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

pub async fn css() -> HttpResponse {
    asset("text/css; charset=utf-8", CSS)
}

pub async fn form_post_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", FORM_POST_JS)
}
