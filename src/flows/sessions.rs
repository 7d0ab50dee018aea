//! Signed-in browser sessions: the registry (who is signed in where, and which clients took
//! part), and **the one path that ends a session** — RP-initiated logout, `tessera session
//! revoke`, `tessera user logout`, and disabling or deleting a user all go through [`end`]:
//!
//! 1. delete the session from the session store: from now on its cookie signs no one in;
//! 2. mark it ended in SQL, which hands back the clients that took part — once: a session
//!    already ended (or never registered) is not announced again;
//! 3. back-channel logout (OpenID Connect Back-Channel Logout 1.0): for each of those clients
//!    that registered a `backchannel_logout_uri`, POST a signed logout token, through
//!    [`crate::outbound`] only. A server does this in the background (the browser's response
//!    never waits); a CLI command waits for it, so the process does not exit mid-delivery.
//!
//! Steps 1–2 in that order: if the SQL write fails after the delete, the session is already
//! dead and a retry finds it still listed; the other order could report as ended a session that
//! still works.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::Core;
use super::browser::BrowserSession;
use super::directory::Directory;
use super::users::{UserError, UserView};
use crate::config::Settings;
use crate::outbound::{self, OutboundError, Policy};
use crate::protocol::OAuthError;
use crate::protocol::logout::LogoutTokenClaims;
use crate::session::{Kind, SessionError, SessionStore};
use crate::storage::sql::{BrowserSessionRecord, SessionListing};
use crate::storage::{StorageError, Store};

/// Delivery attempts per client, and the pause before each retry.
const ATTEMPTS: u32 = 3;
const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];

/// What ending sessions needs. The server builds it from its [`Core`]; the CLI from the same
/// settings, database and session store.
pub struct Env<'a> {
    pub settings: &'a Settings,
    pub store: &'a Arc<Store>,
    pub sessions: &'a SessionStore,
    pub directory: &'a Directory,
    /// Wait for back-channel deliveries (the CLI) instead of leaving them in the background.
    pub wait_for_delivery: bool,
}

impl Core {
    /// The server's [`Env`]: back-channel deliveries run in the background.
    pub fn session_env(&self) -> Env<'_> {
        Env {
            settings: &self.settings,
            store: &self.store,
            sessions: &self.sessions,
            directory: &self.directory,
            wait_for_delivery: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Store(#[from] SessionError),
    #[error("no active session `{0}`")]
    NotFound(String),
}

impl From<SessionsError> for OAuthError {
    fn from(e: SessionsError) -> Self {
        match e {
            SessionsError::Storage(e) => super::storage_error(e),
            SessionsError::Store(e) => super::browser::unavailable(e),
            SessionsError::NotFound(s) => OAuthError::Server(anyhow::anyhow!("no session {s}")),
        }
    }
}

impl From<SessionsError> for UserError {
    fn from(e: SessionsError) -> Self {
        match e {
            SessionsError::Storage(e) => UserError::Storage(e),
            other => UserError::Other(other.into()),
        }
    }
}

/// The result of one back-channel delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub client_id: String,
    pub delivered: bool,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A session that [`end`] ended.
#[derive(Debug, Serialize)]
pub struct Ended {
    pub sid: String,
    /// Clients that took part and are told through back-channel logout.
    pub notified: Vec<String>,
    /// Delivery results, when the [`Env`] waits for them (the CLI).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<Delivery>,
}

/// A live session as operators see it.
#[derive(Debug, Serialize)]
pub struct SessionView {
    pub sid: String,
    pub sub: String,
    pub username: String,
    pub created_at: i64,
    pub auth_time: i64,
    pub expires_at: i64,
    pub clients: Vec<String>,
}

impl From<SessionListing> for SessionView {
    fn from(l: SessionListing) -> Self {
        let s = l.session;
        SessionView {
            sid: s.sid,
            sub: s.user_id,
            username: l.username,
            created_at: s.created_at,
            auth_time: s.auth_time,
            expires_at: s.expires_at,
            clients: l.clients,
        }
    }
}

/// The registry entry of a just signed-in session (`flows::login`, which writes it in the
/// storage call that decides the interaction's next step); `None` for an anonymous one.
pub fn registry_record(core: &Core, session: &BrowserSession) -> Option<BrowserSessionRecord> {
    let user_id = session.data.user_id.clone()?;
    let created_at = session.data.created_at;
    Some(BrowserSessionRecord {
        sid: session.data.sid.clone(),
        store_key: session.key.clone(),
        user_id,
        auth_time: session.data.auth_time.unwrap_or(created_at),
        created_at,
        expires_at: created_at + core.settings.sessions.lifetime as i64,
        ended_at: None,
    })
}

/// Ends one session: the one path (see the module docs). `store_key` names the session in the
/// session store, `user_id` is the `sub` of the logout tokens.
pub async fn end(
    env: &Env<'_>,
    sid: &str,
    store_key: &str,
    user_id: &str,
    now: i64,
) -> Result<Ended, SessionsError> {
    env.sessions.delete(Kind::Session, store_key).await?;
    let s = sid.to_string();
    let clients = env
        .store
        .run(move |st| st.end_browser_session(&s, now))
        .await?
        .unwrap_or_default();
    tracing::info!(target: "tessera::security", event = "session_ended", sub = %user_id, clients = clients.len(), "browser session ended");
    let (notified, tasks) = notify(env, sid, user_id, &clients, now);
    let mut deliveries = Vec::new();
    if env.wait_for_delivery {
        for t in tasks {
            if let Ok(d) = t.await {
                deliveries.push(d);
            }
        }
    }
    Ok(Ended {
        sid: sid.to_string(),
        notified,
        deliveries,
    })
}

/// Ends the live session `sid` of the registry (`tessera session revoke`).
pub async fn revoke(env: &Env<'_>, sid: &str, now: i64) -> Result<Ended, SessionsError> {
    let s = sid.to_string();
    let record = env
        .store
        .run_read(move |st| st.get_browser_session(&s))
        .await?
        .filter(|r| r.ended_at.is_none() && r.expires_at > now)
        .ok_or_else(|| SessionsError::NotFound(sid.to_string()))?;
    end(env, &record.sid, &record.store_key, &record.user_id, now).await
}

/// Ends every live session of `user_id` (user logout, disable, delete). Call it before deleting
/// a user: the deletion removes the registry rows this needs.
pub async fn end_all_for_user(
    env: &Env<'_>,
    user_id: &str,
    now: i64,
) -> Result<Vec<Ended>, SessionsError> {
    let u = user_id.to_string();
    let live = env
        .store
        .run_read(move |s| s.list_browser_sessions(Some(&u), now))
        .await?;
    let mut ended = Vec::with_capacity(live.len());
    for l in live {
        let r = l.session;
        ended.push(end(env, &r.sid, &r.store_key, &r.user_id, now).await?);
    }
    Ok(ended)
}

/// `tessera user logout USER`: ends all of a user's sessions.
pub async fn logout_user(
    env: &Env<'_>,
    username_or_id: &str,
    now: i64,
) -> Result<(UserView, Vec<Ended>), UserError> {
    let who = username_or_id.to_string();
    let user = env
        .store
        .run_read(move |s| Ok(super::users::find(s, &who)))
        .await??;
    let ended = end_all_for_user(env, &user.id, now).await?;
    Ok((UserView::of(&user), ended))
}

/// Live sessions, newest first; only one user's when `username_or_id` is given.
pub async fn list(
    env: &Env<'_>,
    username_or_id: Option<&str>,
    now: i64,
) -> Result<Vec<SessionView>, UserError> {
    let who = username_or_id.map(str::to_string);
    let listing = env
        .store
        .run(move |s| {
            let user_id = match who {
                Some(w) => match super::users::find(s, &w) {
                    Ok(u) => Some(u.id),
                    Err(e) => return Ok(Err(e)),
                },
                None => None,
            };
            Ok(s.list_browser_sessions(user_id.as_deref(), now)
                .map_err(UserError::from))
        })
        .await??;
    Ok(listing.into_iter().map(SessionView::from).collect())
}

/// Signs a logout token for each client that registered a back-channel URI and starts its
/// delivery. Returns the clients told and the delivery tasks.
fn notify(
    env: &Env<'_>,
    sid: &str,
    user_id: &str,
    clients: &[String],
    now: i64,
) -> (Vec<String>, Vec<tokio::task::JoinHandle<Delivery>>) {
    let mut notified = Vec::new();
    let mut tasks = Vec::new();
    if clients.is_empty() {
        return (notified, tasks);
    }
    let keys = env.directory.keys();
    let policy = Policy::from_settings(env.settings);
    for client_id in clients {
        let Some(client) = env.directory.client(client_id) else {
            continue;
        };
        let Some(uri) = client.metadata.backchannel_logout_uri.clone() else {
            continue;
        };
        // Logout tokens are signed like the client's ID tokens.
        let alg = client
            .metadata
            .id_token_alg
            .unwrap_or(super::token::ID_TOKEN_ALG);
        let Some(signer) = keys.signer(alg) else {
            tracing::error!(client_id = %client_id, "no active {alg} key: back-channel logout skipped");
            continue;
        };
        let claims = LogoutTokenClaims::new(
            env.settings.issuer(),
            client_id,
            user_id,
            sid,
            now,
            uuid::Uuid::new_v4().to_string(),
        );
        let token = match signer.sign_logout_token(&claims) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), client_id = %client_id, "cannot sign a logout token");
                continue;
            }
        };
        notified.push(client_id.clone());
        tasks.push(tokio::spawn(deliver(
            policy.clone(),
            client_id.clone(),
            uri,
            token,
        )));
    }
    (notified, tasks)
}

/// POSTs `logout_token` to the client's registered URI: up to [`ATTEMPTS`] tries with backoff,
/// retrying network failures, 5xx and 429 only. Never fails the caller; the outcome is logged.
async fn deliver(policy: Policy, client_id: String, uri: String, token: String) -> Delivery {
    let mut last_error = None;
    let mut attempts = 0;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(BACKOFF[(attempt as usize - 1).min(BACKOFF.len() - 1)]).await;
        }
        attempts += 1;
        let (retry, error) = match outbound::post_form(&policy, &uri, &[("logout_token", &token)])
            .await
        {
            Ok(status) if (200..300).contains(&status) => {
                tracing::info!(target: "tessera::security", event = "backchannel_logout", client_id = %client_id, status, "back-channel logout delivered");
                return Delivery {
                    client_id,
                    delivered: true,
                    attempts,
                    error: None,
                };
            }
            Ok(status) => (
                status >= 500 || status == 429,
                format!("the client answered {status}"),
            ),
            Err(e @ OutboundError::Refused(_)) => (false, e.to_string()),
            Err(e) => (true, e.to_string()),
        };
        tracing::warn!(client_id = %client_id, attempt = attempts, error = %error, "back-channel logout not delivered");
        last_error = Some(error);
        if !retry {
            break;
        }
    }
    Delivery {
        client_id,
        delivered: false,
        attempts,
        error: last_error,
    }
}
