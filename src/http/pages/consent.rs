//! `GET /consent` and `POST /consent`.

use actix_web::http::StatusCode;
use actix_web::web::{Data, Payload, Query};
use actix_web::{HttpRequest, HttpResponse};

use super::login::IrQuery;
use super::{
    ConsentView, describe_scope, error_page, render, respond, same_origin_post,
    session_cookie_value,
};
use crate::flows::consent::{self, ConsentForm, ConsentPage};
use crate::flows::{Core, authorize};
use crate::http::extract::form_body;
use crate::protocol::params::Params;

pub(super) fn form_view(f: &ConsentForm) -> HttpResponse {
    render(
        StatusCode::OK,
        &ConsentView {
            interaction: &f.interaction,
            csrf: &f.csrf,
            client_name: &f.client_name,
            scopes: f.scopes.iter().map(|s| describe_scope(s)).collect(),
            logo_uri: f.logo_uri.as_deref(),
            policy_uri: f.policy_uri.as_deref(),
            tos_uri: f.tos_uri.as_deref(),
        },
    )
}

pub async fn show(req: HttpRequest, q: Option<Query<IrQuery>>, core: Data<Core>) -> HttpResponse {
    let ir = q.and_then(|q| q.into_inner().ir).unwrap_or_default();
    match consent::show(&core, &ir, session_cookie_value(&core, &req).as_deref()).await {
        ConsentPage::Form(f) => form_view(&f),
        ConsentPage::Other(outcome) => respond(
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
        return error_page(403, crate::flows::login::session_expired());
    }
    let Ok(body) = form_body(&req, payload, core.settings.http.max_form_bytes).await else {
        return error_page(400, "The form could not be read.");
    };
    let Ok(params) = Params::parse(&body, &[]) else {
        return error_page(400, "The form could not be read.");
    };
    let step = consent::submit(
        &core,
        params.get("ir").unwrap_or_default(),
        params.get("csrf"),
        params.get("decision"),
        session_cookie_value(&core, &req).as_deref(),
    )
    .await;
    respond(&core, step, true)
}
