//! `GET /login` and `POST /login`.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Payload, Query};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{
    LoginView, client_ip, error_page, render, respond, same_origin_post, session_cookie_value,
};
use crate::flows::login::{self, LoginForm, LoginPage, LoginResult, LoginSubmission};
use crate::flows::{Core, authorize};
use crate::http::extract::form_body;
use crate::protocol::params::Params;

#[derive(Deserialize)]
pub struct IrQuery {
    pub ir: Option<String>,
}

pub(super) fn form_view(f: &LoginForm) -> HttpResponse {
    render(
        StatusCode::OK,
        &LoginView {
            interaction: &f.interaction,
            csrf: &f.csrf,
            client_name: &f.client_name,
            username: &f.username,
            failed: f.failed,
        },
    )
}

pub async fn show(req: HttpRequest, q: Option<Query<IrQuery>>, core: Data<Core>) -> HttpResponse {
    let ir = q.and_then(|q| q.into_inner().ir).unwrap_or_default();
    match login::show(&core, &ir, session_cookie_value(&core, &req).as_deref()).await {
        LoginPage::Form(f) => form_view(&f),
        LoginPage::Other(outcome) => respond(
            &core,
            authorize::Step {
                outcome,
                set_session: None,
            },
            false,
        ),
    }
}

pub async fn submit(req: HttpRequest, payload: Payload, core: Data<Core>) -> HttpResponse {
    if !same_origin_post(&core, &req) {
        return error_page(403, login::session_expired());
    }
    let Ok(body) = form_body(&req, payload, core.settings.http.max_form_bytes).await else {
        return error_page(400, "The sign-in form could not be read.");
    };
    let Ok(params) = Params::parse(&body, &[]) else {
        return error_page(400, "The sign-in form could not be read.");
    };
    let form = LoginSubmission {
        interaction: params.get("ir").unwrap_or_default().to_string(),
        csrf: params.get("csrf").map(str::to_string),
        username: params.get("username").unwrap_or_default().to_string(),
        password: params.get("password").unwrap_or_default().to_string(),
        client_ip: client_ip(&core, &req),
    };
    match login::submit(&core, form, session_cookie_value(&core, &req).as_deref()).await {
        LoginResult::Retry(f) => form_view(&f),
        LoginResult::Done(step) => respond(&core, step, true),
    }
}
