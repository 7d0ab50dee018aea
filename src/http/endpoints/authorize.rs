//! `GET` and `POST /oauth2/authorize` (the request in the query, or in a form body).

use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse};

use crate::flows::{Core, authorize};
use crate::http::extract::form_body;
use crate::http::pages::{error_page, respond, session_cookie_value};

pub async fn get(req: HttpRequest, core: Data<Core>) -> HttpResponse {
    let cookie = session_cookie_value(&core, &req);
    let step = authorize::authorize(&core, req.query_string().as_bytes(), cookie.as_deref()).await;
    respond(&core, step, false)
}

pub async fn post(req: HttpRequest, payload: Payload, core: Data<Core>) -> HttpResponse {
    let Ok(body) = form_body(&req, payload, core.settings.http.max_form_bytes).await else {
        return error_page(400, "The sign-in request could not be read.");
    };
    let cookie = session_cookie_value(&core, &req);
    let step = authorize::authorize(&core, &body, cookie.as_deref()).await;
    respond(&core, step, true)
}
