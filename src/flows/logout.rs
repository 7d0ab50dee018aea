//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at the end-session endpoint.
//!
//! ```text
//!  GET or POST /oauth2/logout  id_token_hint, client_id, post_logout_redirect_uri, state, ui_locales
//!    │  malformed; hint not an ID token of ours (signature, kid, typ, iss); client_id not
//!    │  its audience; unknown client; post_logout_redirect_uri without a known client or not
//!    │  registered for it ────────────────────────────────► error page, nobody signed out
//!    ▼
//!  signed in with this browser? ── no ───────────────────► done (nothing to end)
//!    │ yes
//!  the hint's sid is this session's sid? ── yes ─────────► end the session, done
//!    │ no (no hint, or another session's)
//!    ▼
//!  confirmation page: POST form (CSRF token, the request, button logout=yes)
//!    │ POST logout=yes, same origin, CSRF ok ────────────► end the session, done
//!
//!  done: 302 (303 after a POST) to post_logout_redirect_uri with state, or the
//!        "You are signed out" page
//! ```
//!
//! Ending the session is [`super::sessions::end`]: the server-side session goes, the registry
//! marks it ended, back-channel logout starts in the background; the cookie is cleared.

use super::Core;
use super::authorize::Outcome;
use super::authorize::failure_page;
use super::browser::{self, BrowserSession};
use crate::crypto::jws;
use crate::protocol::logout::{
    EndSessionRequest, LogoutError, check_hint, is_registered_return, return_url,
};
use crate::protocol::params::Params;

/// How the request arrived. Only a POST of Tessera's own confirmation form can confirm.
#[derive(Debug, Clone, Copy)]
pub enum Via {
    Get,
    /// `same_origin`: the `Origin` / `Sec-Fetch-Site` check of Tessera's own forms passed.
    Post {
        same_origin: bool,
    },
}

/// The confirmation page.
#[derive(Debug)]
pub struct LogoutForm {
    pub csrf: String,
    /// The client asking, when known.
    pub client_name: Option<String>,
    /// The request, carried through the form (validated again when it comes back).
    pub fields: Vec<(&'static str, String)>,
}

#[derive(Debug)]
pub enum LogoutOutcome {
    Confirm(LogoutForm),
    /// Finished: go to `redirect`, or show the signed-out page. `ended`: a session was ended
    /// (clear the cookie).
    Done {
        redirect: Option<String>,
        ended: bool,
    },
    /// Tessera's error page; nobody was signed out.
    Page {
        status: u16,
        message: String,
    },
}

fn page(status: u16, e: LogoutError) -> LogoutOutcome {
    LogoutOutcome::Page {
        status,
        message: e.message().to_string(),
    }
}

fn failure(e: crate::protocol::OAuthError) -> LogoutOutcome {
    match failure_page(e) {
        Outcome::Page { status, message } => LogoutOutcome::Page { status, message },
        _ => LogoutOutcome::Page {
            status: 500,
            message: "Something went wrong on our side.".into(),
        },
    }
}

/// `GET` / `POST /oauth2/logout`: `raw` is the query string or form body.
pub async fn end_session(core: &Core, raw: &[u8], cookie: Option<&str>, via: Via) -> LogoutOutcome {
    let Ok(params) = Params::parse(raw, &[]) else {
        return page(400, LogoutError::Malformed);
    };
    let request = match EndSessionRequest::from_params(&params) {
        Ok(r) => r,
        Err(e) => return page(400, e),
    };
    let confirming = match (via, params.get("logout")) {
        (_, None) => false,
        (Via::Post { same_origin: false }, Some(_)) => {
            return LogoutOutcome::Page {
                status: 403,
                message: super::login::session_expired().into(),
            };
        }
        (Via::Post { same_origin: true }, Some("yes")) => true,
        (_, Some(_)) => return page(400, LogoutError::Malformed),
    };

    // Who is asking, and where the browser may go afterwards.
    let hint = match &request.id_token_hint {
        None => None,
        Some(token) => {
            let keys = core.directory.keys();
            let Ok(claims) = jws::verify_compact(token, "JWT", |kid| keys.verifier(kid)) else {
                return page(400, LogoutError::InvalidHint);
            };
            match check_hint(
                &claims,
                core.settings.issuer(),
                request.client_id.as_deref(),
            ) {
                Ok(h) => Some(h),
                Err(e) => return page(400, e),
            }
        }
    };
    let client_id = hint
        .as_ref()
        .map(|h| h.client_id.clone())
        .or_else(|| request.client_id.clone());
    let client = match &client_id {
        None => None,
        Some(id) => match core.directory.client(id) {
            Some(c) => Some(c),
            None => return page(400, LogoutError::UnknownClient),
        },
    };
    let redirect = match (&request.post_logout_redirect_uri, &client) {
        (None, _) => None,
        (Some(_), None) => return page(400, LogoutError::RedirectWithoutClient),
        (Some(uri), Some(c)) => {
            if !is_registered_return(uri, &c.metadata.post_logout_redirect_uris) {
                return page(400, LogoutError::UnregisteredRedirect);
            }
            Some(return_url(uri, request.state.as_deref()))
        }
    };

    let session = match browser::load(core, cookie).await {
        Ok(Some(s)) if s.data.user_id.is_some() => s,
        Ok(_) => {
            return LogoutOutcome::Done {
                redirect,
                ended: false,
            };
        }
        Err(e) => return failure(e),
    };
    let hinted_here = hint
        .as_ref()
        .and_then(|h| h.sid.as_deref())
        .is_some_and(|sid| sid == session.data.sid);
    if confirming {
        if !browser::csrf_ok(&session, params.get("csrf")) {
            return LogoutOutcome::Page {
                status: 403,
                message: super::login::session_expired().into(),
            };
        }
    } else if !hinted_here {
        return LogoutOutcome::Confirm(LogoutForm {
            csrf: session.data.csrf.clone(),
            client_name: client.map(|c| c.metadata.name.clone()),
            fields: carried_fields(&request),
        });
    }
    match end(core, &session).await {
        Ok(()) => LogoutOutcome::Done {
            redirect,
            ended: true,
        },
        Err(e) => failure(e),
    }
}

async fn end(core: &Core, session: &BrowserSession) -> Result<(), crate::protocol::OAuthError> {
    let user_id = session.data.user_id.clone().unwrap_or_default();
    super::sessions::end(
        &core.session_env(),
        &session.data.sid,
        &session.key,
        &user_id,
        core.clock.now(),
    )
    .await?;
    tracing::info!(target: "tessera::security", event = "logout", sub = %user_id, "user signed out");
    Ok(())
}

/// The request's parameters, as hidden fields of the confirmation form.
fn carried_fields(r: &EndSessionRequest) -> Vec<(&'static str, String)> {
    [
        ("id_token_hint", &r.id_token_hint),
        ("client_id", &r.client_id),
        ("post_logout_redirect_uri", &r.post_logout_redirect_uri),
        ("state", &r.state),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
    .collect()
}
