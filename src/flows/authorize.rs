//! The authorization endpoint and the interaction it starts (OIDC Core §3.1.2, RFC 6749 §4.1).
//!
//! `/authorize` verifies the client and redirect URI, parses the request, makes sure the
//! browser has a session, and asks `protocol::interaction::next_step` what is needed. When the
//! person must sign in or consent, the request is stored as an *interaction* (in the session
//! store, bound to this browser's session) and the endpoint answers with the login form (no
//! redirect: one request fewer) or sends the browser to the consent page; those pages call
//! [`advance`] when done. When nothing is needed, a code is issued at once.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Core;
use super::browser::{self, BrowserSession, unavailable};
use crate::crypto::random;
use crate::protocol::OAuthError;
use crate::protocol::authorize::{AuthorizationRequest, PageError, RedirectTarget};
use crate::protocol::interaction::{Authenticated, Next, Progress, next_step};
use crate::protocol::params::Params;
use crate::protocol::scope::Scopes;
use crate::protocol::user::User;
use crate::session::{Batch, Kind, Then};
use crate::storage::sql::BrowserSessionRecord;

/// A stored interaction: the verified request, the browser session it belongs to, and what has
/// happened so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interaction {
    pub request: AuthorizationRequest,
    /// Key of the browser session this interaction belongs to.
    pub browser: String,
    pub logged_in: bool,
    pub consented: bool,
    pub created_at: i64,
}

/// What an authorization code stands for, stored under the hash of the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub sid: String,
    pub auth_time: i64,
    pub issued_at: i64,
}

/// What the browser should be shown next.
#[derive(Debug)]
pub enum Outcome {
    /// Send the response (code or error) to the client's verified redirect URI.
    Redirect {
        target: RedirectTarget,
        params: Vec<(&'static str, String)>,
    },
    /// Go to the login page for this interaction.
    Login(String),
    /// Show the login form for a just-started interaction (`/authorize` answers with it: one
    /// redirect and one request fewer than going to the login page).
    LoginForm(super::login::LoginForm),
    /// Show the consent page for this interaction (`/authorize`, and the login form's POST,
    /// answer with it, as they do with the login form: a redirect and a request fewer).
    Consent(super::consent::ConsentForm),
    /// Show Tessera's error page: nothing may be sent to the client.
    Page { status: u16, message: String },
}

/// An outcome plus the session cookie to set, if the session changed.
#[derive(Debug)]
pub struct Step {
    pub outcome: Outcome,
    pub set_session: Option<String>,
}

impl Step {
    pub fn page(status: u16, message: impl Into<String>) -> Step {
        Step {
            outcome: Outcome::Page {
                status,
                message: message.into(),
            },
            set_session: None,
        }
    }
}

/// An error for the verified redirect URI; internal failures become a local page instead
/// (`server_error` is never sent to a client).
pub fn redirect_error(core: &Core, target: RedirectTarget, e: OAuthError) -> Outcome {
    match e {
        OAuthError::Server(_) | OAuthError::Unavailable(_) => failure_page(e),
        e => {
            let params = target.response_params(core.settings.issuer(), Err(&e));
            Outcome::Redirect { target, params }
        }
    }
}

/// The local page for an internal failure (logged, never described).
pub fn failure_page(e: OAuthError) -> Outcome {
    let status = match &e {
        OAuthError::Unavailable(cause) => {
            tracing::warn!(error = %format!("{cause:#}"), "backing service unavailable");
            503
        }
        OAuthError::Server(cause) => {
            tracing::error!(error = %format!("{cause:#}"), "server error");
            500
        }
        _ => 400,
    };
    let message = if status == 503 {
        "The sign-in service is temporarily unavailable. Please try again in a moment."
    } else {
        "Something went wrong on our side. Please go back to the application and try again."
    };
    Outcome::Page {
        status,
        message: message.into(),
    }
}

/// `GET/POST /oauth2/authorize`: `raw` is the query string or form body.
pub async fn authorize(core: &Core, raw: &[u8], session_cookie: Option<&str>) -> Step {
    let (params, duplicates) = match Params::parse_keeping_duplicates(raw) {
        Ok(p) => p,
        Err(e) => {
            return Step::page(
                400,
                PageError::Malformed(e.description().into_owned()).message(),
            );
        }
    };
    let (target, client) =
        match RedirectTarget::verify(&params, &duplicates, |id| core.directory.client(id)) {
            Ok(v) => v,
            Err(page) => return Step::page(400, page.message()),
        };
    let request = match AuthorizationRequest::parse(target, &client, &params, &duplicates) {
        Ok(r) => r,
        Err((target, e)) => {
            return Step {
                outcome: redirect_error(core, target, e),
                set_session: None,
            };
        }
    };
    let (session, create) = match browser::load_or_new(core, session_cookie).await {
        Ok(s) => s,
        Err(e) => {
            return Step {
                outcome: failure_page(e),
                set_session: None,
            };
        }
    };
    let created = !create.is_empty();
    let (client_id, login_hint) = (
        request.target.client_id().to_string(),
        request.login_hint.clone(),
    );
    let interaction = Interaction {
        request,
        browser: session.key.clone(),
        logged_in: false,
        consented: false,
        created_at: core.clock.now(),
    };
    let outcome = match advance(core, interaction, &session, None, Record::Nothing, create).await {
        Outcome::Login(ir) => Outcome::LoginForm(super::login::LoginForm {
            interaction: ir,
            csrf: session.data.csrf.clone(),
            client_name: super::login::client_name(core, &client_id),
            username: login_hint.unwrap_or_default(),
            failed: false,
        }),
        other => other,
    };
    // A new session is stored with the interaction it carries: only then is its cookie set.
    let stored = matches!(outcome, Outcome::LoginForm(_) | Outcome::Consent(_));
    Step {
        outcome,
        set_session: (created && stored).then_some(session.cookie),
    }
}

/// What the storage call that decides the next step writes first, in the same trip.
pub enum Record {
    /// Nothing (`/authorize`).
    Nothing,
    /// The just signed-in session, in the registry (`flows::login`).
    SignIn(BrowserSessionRecord),
    /// The user's approval of the request's scopes, added to their consent (`flows::consent`).
    Approval,
}

/// Continues an interaction after the login or consent page (or right away from `/authorize`
/// when `id` is `None`): decides the next step and stores or consumes the interaction. The
/// session-store writes of `before` (a new or rotated browser session) are made first, in the
/// same trip to the store where it can (see [`SessionStore::around`]).
///
/// [`SessionStore::around`]: crate::session::SessionStore::around
pub async fn advance(
    core: &Core,
    interaction: Interaction,
    session: &BrowserSession,
    id: Option<&str>,
    record: Record,
    before: Batch,
) -> Outcome {
    match try_advance(core, &interaction, session, id, record, before).await {
        Ok(o) => o,
        Err(e) => redirect_error(core, interaction.request.target.clone(), e),
    }
}

async fn try_advance(
    core: &Core,
    interaction: &Interaction,
    session: &BrowserSession,
    id: Option<&str>,
    record: Record,
    before: Batch,
) -> Result<Outcome, OAuthError> {
    let req = &interaction.request;
    let client_id = req.target.client_id().to_string();
    let Some(client) = core.directory.client(&client_id) else {
        if let Record::SignIn(r) = record {
            // The sign-in stands (its cookie is set): its session must be stored and in the
            // registry all the same.
            core.sessions.apply(before).await.map_err(unavailable)?;
            core.store
                .run(move |s| s.register_browser_session(&r))
                .await
                .map_err(super::storage_error)?;
        }
        return Err(OAuthError::AccessDenied(
            "the client is no longer registered".into(),
        ));
    };
    let progress = Progress {
        logged_in: interaction.logged_in,
        consented: interaction.consented,
    };
    let skip_consent = client.metadata.skip_consent;
    let now = core.clock.now();
    // The interaction as it is kept when the person is not done: under its id, or a new one.
    let keep_id = match id {
        Some(id) => id.to_string(),
        None => random::token::<32>().map_err(OAuthError::Server)?,
    };
    let (kept, kept_ttl) = interaction_entry(core, interaction)?;
    let keep = |next: Next| {
        if next == Next::Consent {
            Outcome::Consent(super::consent::form(
                core,
                &keep_id,
                &session.data.csrf,
                req,
            ))
        } else {
            Outcome::Login(keep_id.clone())
        }
    };
    let Some(uid) = session.data.user_id.clone() else {
        // No one is signed in: nothing to read from the database.
        let next = next_step(req, None, progress, None, skip_consent, now)?;
        let batch = before.set(Kind::AuthRequest, &keep_id, &kept, kept_ttl);
        core.sessions.apply(batch).await.map_err(unavailable)?;
        return Ok(keep(next));
    };
    // The code that is issued if the step is done, made ready before the storage call decides.
    let code = random::token::<32>().map_err(OAuthError::Server)?;
    let grant = code_grant(core, req, &uid, session)?;
    let code_ttl = Duration::from_secs(core.settings.tokens.code_ttl);
    let code_write = match id {
        // Consume the interaction (it completes exactly once) and store the code in one atomic
        // step: a crash cannot use up the interaction without its code.
        Some(id) => Then::TakeAndInsert(
            (Kind::AuthRequest, id.to_string()),
            (Kind::Code, code_key(&code)),
            grant,
            code_ttl,
        ),
        None => Then::Insert(Kind::Code, code_key(&code), grant, code_ttl),
    };
    let keep_write = Then::Set(Kind::AuthRequest, keep_id.clone(), kept, kept_ttl);
    let sid = session.data.sid.clone();
    let authenticated = session
        .data
        .auth_time
        .map(|auth_time| Authenticated { auth_time });
    let req2 = req.clone();
    // One trip to the storage thread on the embedded default (the session store's writes go
    // with it, see `SessionStore::around`): `before`; a new session's registry entry; the
    // signed-in user (fresh from SQL: a disabled user gets no code) and what they granted this
    // client; the decision; an approval's consent and, when a code is to be issued, the
    // client's name in the session's registry entry — before the code exists, so that the
    // client hears of the session's end (back-channel logout) — and then the code, or else the
    // interaction kept. On PostgreSQL the registry entry and the read are one statement, and so
    // are the consent and the client's name. (When two requests race to
    // complete one interaction, the loser may have recorded the client too: the session is the
    // same person's, signing in to it.) Unsynced: nothing here is a token yet; the code
    // exchange's synced commit makes these writes durable before any token is returned.
    let (next, stored) = core
        .sessions
        .around(&core.store, before, move |s| {
            let signed_in = match &record {
                Record::SignIn(r) => Some(r),
                _ => None,
            };
            let Some((user, granted)) =
                s.get_active_user_with_consent(&uid, &client_id, signed_in)?
            else {
                let next = next_step(&req2, None, progress, None, skip_consent, now);
                let then = next.is_ok().then_some(keep_write);
                return Ok((next.map(|n| (n, false)), then));
            };
            let mut granted = granted.map(|g| Scopes::parse(&g).unwrap_or_default());
            let mut consent = None;
            if let Record::Approval = record {
                let merged = req2.scopes().union(&granted.unwrap_or_default());
                consent = Some(merged.to_string());
                granted = Some(merged);
            }
            let next = next_step(
                &req2,
                authenticated,
                progress,
                granted.as_ref(),
                skip_consent,
                now,
            );
            let issue = matches!(next, Ok(Next::Issue));
            s.save_consent_and_session_client(
                &user.id,
                &client_id,
                consent.as_deref(),
                issue.then_some(sid.as_str()),
                now,
            )?;
            let then = match next {
                Ok(Next::Issue) => Some(code_write),
                Ok(_) => Some(keep_write),
                Err(_) => None,
            };
            Ok((next.map(|n| (n, true)), then))
        })
        .await
        .map_err(super::storage_error)?;
    match next? {
        (Next::Issue, true) => match stored {
            None => Ok(expired_page()),
            Some(false) => Err(OAuthError::Server(anyhow::anyhow!(
                "authorization code collision"
            ))),
            Some(true) => {
                let params = req
                    .target
                    .response_params(core.settings.issuer(), Ok(&code));
                Ok(Outcome::Redirect {
                    target: req.target.clone(),
                    params,
                })
            }
        },
        (next, _) => Ok(keep(next)),
    }
}

/// The page shown when an interaction is unknown, expired or already used.
pub fn expired_page() -> Outcome {
    Outcome::Page {
        status: 400,
        message: "This sign-in request has expired or was already completed. Please go back to the application and sign in again."
            .into(),
    }
}

/// A user who exists and is not disabled.
pub async fn load_active_user(core: &Core, id: &str) -> Result<Option<User>, OAuthError> {
    let id = id.to_string();
    core.store
        .run_read(move |s| s.get_active_user(&id))
        .await
        .map_err(super::storage_error)
}

/// The stored form of `interaction` and how long it has left to live.
fn interaction_entry(
    core: &Core,
    interaction: &Interaction,
) -> Result<(Vec<u8>, Duration), OAuthError> {
    let remaining = (interaction.created_at + core.settings.sessions.interaction_lifetime as i64
        - core.clock.now())
    .max(1);
    let bytes = serde_json::to_vec(interaction).map_err(|e| OAuthError::Server(e.into()))?;
    Ok((bytes, Duration::from_secs(remaining as u64)))
}

/// Could `id` name an interaction? (Anything else is not looked up.)
pub fn interaction_id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64
}

/// The stored interaction, if it parses and belongs to this browser session.
pub fn parse_interaction(raw: Option<Vec<u8>>, session: &BrowserSession) -> Option<Interaction> {
    let interaction = serde_json::from_slice::<Interaction>(&raw?).ok()?;
    crate::protocol::pkce::constant_time_eq(interaction.browser.as_bytes(), session.key.as_bytes())
        .then_some(interaction)
}

/// The hash under which a code is stored (codes themselves are never stored).
pub fn code_key(code: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code.as_bytes()))
}

/// What a code for user `user_id` stands for, serialised for the session store.
fn code_grant(
    core: &Core,
    req: &AuthorizationRequest,
    user_id: &str,
    session: &BrowserSession,
) -> Result<Vec<u8>, OAuthError> {
    let grant = CodeGrant {
        client_id: req.target.client_id().to_string(),
        redirect_uri: req.target.redirect_uri().to_string(),
        user_id: user_id.to_string(),
        scope: req.scope.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        sid: session.data.sid.clone(),
        auth_time: session.data.auth_time.unwrap_or_else(|| core.clock.now()),
        issued_at: core.clock.now(),
    };
    serde_json::to_vec(&grant).map_err(|e| OAuthError::Server(e.into()))
}
