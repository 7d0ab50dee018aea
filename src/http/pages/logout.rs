//! `GET` and `POST /oauth2/logout`: the end-session endpoint (OpenID Connect RP-Initiated
//! Logout 1.0), its confirmation page and the signed-out page.
//!
//! Relying parties reach it cross-site by design, so a plain logout request is not checked for
//! origin; only the POST of Tessera's own confirmation form (`logout=yes`) must pass the
//! `Origin` / `Sec-Fetch-Site` check and carry the session's CSRF token.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Data, Payload};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::{ErrorView, error_page, html, render, same_origin_post, session_cookie_name};
use crate::flows::Core;
use crate::flows::logout::{self, LogoutOutcome, Via};
use crate::http::extract::form_body;

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutView<'a> {
    pub csrf: &'a str,
    pub client_name: Option<&'a str>,
    pub fields: Vec<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
pub struct LoggedOutView;

pub async fn get(req: HttpRequest, core: Data<Core>) -> HttpResponse {
    let cookie = super::session_cookie_value(&core, &req);
    let outcome = logout::end_session(
        &core,
        req.query_string().as_bytes(),
        cookie.as_deref(),
        Via::Get,
    )
    .await;
    respond(&core, outcome, false)
}

pub async fn post(req: HttpRequest, payload: Payload, core: Data<Core>) -> HttpResponse {
    let Ok(body) = form_body(&req, payload, core.settings.http.max_form_bytes).await else {
        return error_page(400, "The sign-out request could not be read.");
    };
    let cookie = super::session_cookie_value(&core, &req);
    let via = Via::Post {
        same_origin: same_origin_post(&core, &req),
    };
    let outcome = logout::end_session(&core, &body, cookie.as_deref(), via).await;
    respond(&core, outcome, true)
}

fn respond(core: &Core, outcome: LogoutOutcome, after_post: bool) -> HttpResponse {
    match outcome {
        LogoutOutcome::Confirm(f) => render(
            StatusCode::OK,
            &LogoutView {
                csrf: &f.csrf,
                client_name: f.client_name.as_deref(),
                fields: f.fields.iter().map(|(k, v)| (*k, v.as_str())).collect(),
            },
        ),
        LogoutOutcome::Page { status, message } if status < 500 => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            render(
                status,
                &ErrorView {
                    title: "This sign-out request cannot be completed",
                    message: &message,
                },
            )
        }
        LogoutOutcome::Page { status, message } => error_page(status, &message),
        LogoutOutcome::Done { redirect, ended } => {
            let mut resp = match redirect {
                Some(url) => {
                    let status = if after_post {
                        StatusCode::SEE_OTHER
                    } else {
                        StatusCode::FOUND
                    };
                    match HeaderValue::from_str(&url) {
                        Ok(v) => html(status).insert_header((header::LOCATION, v)).finish(),
                        Err(_) => render(StatusCode::OK, &LoggedOutView),
                    }
                }
                None => render(StatusCode::OK, &LoggedOutView),
            };
            if ended && let Err(e) = resp.add_cookie(&removal_cookie(core)) {
                tracing::error!(error = %e, "cannot clear the session cookie");
            }
            resp
        }
    }
}

/// Clears the session cookie (same name, path and flags, expired).
fn removal_cookie(core: &Core) -> Cookie<'static> {
    let mut c = Cookie::new(session_cookie_name(core), "");
    c.set_path("/");
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(core.settings.secure_cookies());
    c.set_max_age(CookieDuration::ZERO);
    c
}
