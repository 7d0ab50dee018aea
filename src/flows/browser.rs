//! Browser sessions: a random cookie value whose SHA-256 is the key of the session record in
//! the session store (so a leaked store does not leak usable cookies). Anonymous sessions exist
//! only to carry a CSRF token and bind an interaction to one browser; signing in replaces the
//! session with a new one (new cookie value, new `sid`, new CSRF token).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Core;
use super::authorize::Interaction;
use crate::crypto::random;
use crate::protocol::OAuthError;
use crate::session::{Batch, Kind, SessionError};
use crate::storage::{StorageResult, Store};

/// How long an anonymous session (no one signed in yet) lives.
const ANONYMOUS_LIFETIME: Duration = Duration::from_secs(1800);
/// Longest cookie value accepted.
const MAX_COOKIE: usize = 128;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionData {
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    /// Session id for ID tokens and logout (never the cookie value).
    pub sid: String,
    pub csrf: String,
    pub created_at: i64,
}

/// A loaded or new browser session.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    /// The cookie value (secret).
    pub cookie: String,
    /// The store key: SHA-256 of the cookie value.
    pub key: String,
    pub data: SessionData,
}

pub fn unavailable(e: SessionError) -> OAuthError {
    match e {
        SessionError::Unavailable(e) => OAuthError::Unavailable(e),
    }
}

fn key_of(cookie: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(cookie.as_bytes()))
}

/// Loads the session named by the cookie; `None` for a missing, malformed, unknown or expired one.
pub async fn load(core: &Core, cookie: Option<&str>) -> Result<Option<BrowserSession>, OAuthError> {
    let Some((cookie, key)) = session_key(cookie) else {
        return Ok(None);
    };
    let raw = core
        .sessions
        .get(Kind::Session, &key)
        .await
        .map_err(unavailable)?;
    Ok(parse(cookie, key, raw))
}

/// Loads the session named by the cookie and the interaction `id` in one round trip to the
/// session store; the interaction only if it belongs to this session (see
/// [`authorize::parse_interaction`](super::authorize::parse_interaction)).
pub async fn load_with_interaction(
    core: &Core,
    cookie: Option<&str>,
    id: &str,
) -> Result<(Option<BrowserSession>, Option<Interaction>), OAuthError> {
    let Some((cookie, key)) = session_key(cookie) else {
        return Ok((None, None));
    };
    if !super::authorize::interaction_id_ok(id) {
        return Ok((load(core, Some(cookie)).await?, None));
    }
    let (raw_session, raw_interaction) = core
        .sessions
        .get_both((Kind::Session, &key), (Kind::AuthRequest, id))
        .await
        .map_err(unavailable)?;
    Ok(with_interaction(cookie, key, raw_session, raw_interaction))
}

/// [`load_with_interaction`] and, in the same round trip, the largest live counter among
/// `counters` and the database read `f` — those two only when the cookie can name a session
/// and `id` an interaction (`None` otherwise: the step cannot go on anyway).
pub async fn load_with_interaction_and<T: Send + 'static>(
    core: &Core,
    cookie: Option<&str>,
    id: &str,
    counters: (Kind, &[&str]),
    f: impl FnOnce(&Store) -> StorageResult<T> + Send + 'static,
) -> Result<Loaded<T>, OAuthError> {
    let Some((cookie, key)) = session_key(cookie) else {
        return Ok((None, None, None));
    };
    if !super::authorize::interaction_id_ok(id) {
        return Ok((load(core, Some(cookie)).await?, None, None));
    }
    let reads = core
        .sessions
        .read_with(
            &core.store,
            ((Kind::Session, &key), (Kind::AuthRequest, id)),
            counters,
            f,
        )
        .await
        .map_err(super::storage_error)?;
    let (raw_session, raw_interaction) = reads.values;
    let (session, interaction) = with_interaction(cookie, key, raw_session, raw_interaction);
    Ok((session, interaction, Some((reads.count, reads.read))))
}

/// What [`load_with_interaction_and`] loads: the session, the interaction, and the counter and
/// the database read.
pub type Loaded<T> = (
    Option<BrowserSession>,
    Option<Interaction>,
    Option<(i64, T)>,
);

/// The session and, if it belongs to it, the interaction.
fn with_interaction(
    cookie: &str,
    key: String,
    raw_session: Option<Vec<u8>>,
    raw_interaction: Option<Vec<u8>>,
) -> (Option<BrowserSession>, Option<Interaction>) {
    let session = parse(cookie, key, raw_session);
    let interaction = match &session {
        Some(s) => super::authorize::parse_interaction(raw_interaction, s),
        None => None,
    };
    (session, interaction)
}

/// The cookie, if it can name a session, and the store key it names.
fn session_key(cookie: Option<&str>) -> Option<(&str, String)> {
    let cookie = cookie.filter(|c| !c.is_empty() && c.len() <= MAX_COOKIE)?;
    Some((cookie, key_of(cookie)))
}

fn parse(cookie: &str, key: String, raw: Option<Vec<u8>>) -> Option<BrowserSession> {
    let data = serde_json::from_slice::<SessionData>(&raw?).ok()?;
    Some(BrowserSession {
        cookie: cookie.to_string(),
        key,
        data,
    })
}

/// A new session (anonymous when `user` is `None`), not stored yet: with the value and the
/// lifetime to store it with.
fn new_session(
    core: &Core,
    user: Option<(&str, i64)>,
) -> Result<(BrowserSession, Vec<u8>, Duration), OAuthError> {
    let cookie = random::token::<32>().map_err(OAuthError::Server)?;
    let data = SessionData {
        user_id: user.map(|(u, _)| u.to_string()),
        auth_time: user.map(|(_, t)| t),
        sid: random::token::<16>().map_err(OAuthError::Server)?,
        csrf: random::token::<32>().map_err(OAuthError::Server)?,
        created_at: core.clock.now(),
    };
    let lifetime = if user.is_some() {
        Duration::from_secs(core.settings.sessions.lifetime)
    } else {
        ANONYMOUS_LIFETIME
    };
    let key = key_of(&cookie);
    let bytes = serde_json::to_vec(&data).map_err(|e| OAuthError::Server(e.into()))?;
    Ok((BrowserSession { cookie, key, data }, bytes, lifetime))
}

/// Signs `user` in (signed in at `auth_time`): a new session to replace `old`, and the writes
/// that make the switch — `also`'s, then `old`'s removal (its cookie stops working at once) and
/// the new session's storage — for the caller to send in the same round trip as its own.
pub fn sign_in(
    core: &Core,
    old: &BrowserSession,
    user: &str,
    auth_time: i64,
    also: Batch,
) -> Result<(BrowserSession, Batch), OAuthError> {
    let (session, bytes, lifetime) = new_session(core, Some((user, auth_time)))?;
    let batch =
        also.delete(Kind::Session, &old.key)
            .set(Kind::Session, &session.key, &bytes, lifetime);
    Ok((session, batch))
}

/// The session named by the cookie, or a new anonymous one with the write that stores it (an
/// empty batch for a loaded one), for the caller to send with its own.
pub async fn load_or_new(
    core: &Core,
    cookie: Option<&str>,
) -> Result<(BrowserSession, Batch), OAuthError> {
    if let Some(s) = load(core, cookie).await? {
        return Ok((s, Batch::new()));
    }
    let (session, bytes, lifetime) = new_session(core, None)?;
    let store = Batch::new().set(Kind::Session, &session.key, &bytes, lifetime);
    Ok((session, store))
}

/// Constant-time CSRF token check.
pub fn csrf_ok(session: &BrowserSession, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| {
        crate::protocol::pkce::constant_time_eq(p.as_bytes(), session.data.csrf.as_bytes())
    })
}
