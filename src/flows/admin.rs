//! Use cases of the admin API that the CLI has no command for yet (consents: list, show,
//! withdraw), the key operations with their failures sorted for an API (not found, conflict,
//! unavailable), and [`AdminError`], which the registration-token operations of
//! [`super::registration`] share. Clients, users and sessions go through [`super::clients`],
//! [`super::users`] and [`super::sessions`], exactly as the CLI does.

use serde::Serialize;

use crate::config::Settings;
use crate::crypto::kek::Kek;
use crate::protocol::jose::Alg;
use crate::storage::{KeyRecord, KeyState, StorageError, Store};

/// What an admin operation can fail with, beyond the per-resource errors of the other flows.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Storage(StorageError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<StorageError> for AdminError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Conflict(m) => AdminError::Conflict(m),
            other => AdminError::Storage(other),
        }
    }
}

/// A user's standing consent to a client.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentView {
    pub sub: String,
    pub client_id: String,
    pub scope: String,
    pub granted_at: i64,
}

/// Consents, by user then client; one user's (username or subject) when given.
pub fn list_consents(store: &Store, user: Option<&str>) -> Result<Vec<ConsentView>, AdminError> {
    let user_id = match user {
        Some(u) => Some(find_user(store, u)?),
        None => None,
    };
    Ok(store
        .list_consents(user_id.as_deref())?
        .into_iter()
        .map(|r| ConsentView {
            sub: r.user_id,
            client_id: r.client_id,
            scope: r.scopes,
            granted_at: r.granted_at,
        })
        .collect())
}

/// One user's (username or subject) consent to a client.
pub fn show_consent(store: &Store, user: &str, client_id: &str) -> Result<ConsentView, AdminError> {
    list_consents(store, Some(user))?
        .into_iter()
        .find(|c| c.client_id == client_id)
        .ok_or_else(|| AdminError::NotFound(format!("no consent of `{user}` to `{client_id}`")))
}

fn find_user(store: &Store, user: &str) -> Result<String, AdminError> {
    use super::users::UserError;
    match super::users::find(store, user) {
        Ok(u) => Ok(u.id),
        Err(UserError::NotFound(m)) => Err(AdminError::NotFound(format!("no user `{m}`"))),
        Err(UserError::Storage(e)) => Err(AdminError::Storage(e)),
        Err(e) => Err(AdminError::Other(e.into())),
    }
}

/// Withdraws a user's consent to a client: the consent page shows again, and every refresh
/// token the user granted that client (with its access tokens) is revoked in the same
/// transaction. Returns how many refresh-token families ended.
pub fn revoke_consent(
    store: &Store,
    user: &str,
    client_id: &str,
    now: i64,
) -> Result<usize, AdminError> {
    let user_id = find_user(store, user)?;
    store
        .delete_consent(&user_id, client_id, now)
        .map_err(|e| match e {
            StorageError::NotFound => {
                AdminError::NotFound(format!("no consent of `{user}` to `{client_id}`"))
            }
            other => other.into(),
        })
}

/// A signing key as operators see it (the public JWK, never the private key).
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub kid: String,
    pub alg: &'static str,
    pub state: &'static str,
    pub public_jwk: serde_json::Value,
    pub created_at: i64,
    pub activates_at: Option<i64>,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    pub remove_after: Option<i64>,
    pub removed_at: Option<i64>,
}

impl KeyView {
    pub fn of(k: &KeyRecord) -> Self {
        KeyView {
            kid: k.kid.clone(),
            alg: k.alg.as_str(),
            state: k.state.as_str(),
            public_jwk: k.public_jwk.clone(),
            created_at: k.created_at,
            activates_at: k.activates_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
            remove_after: k.remove_after,
            removed_at: k.removed_at,
        }
    }
}

/// Every key, as `tessera keys list` shows them.
pub fn list_keys(store: &Store) -> Result<Vec<KeyView>, AdminError> {
    Ok(store.list_keys()?.iter().map(KeyView::of).collect())
}

pub fn show_key(store: &Store, kid: &str) -> Result<KeyView, AdminError> {
    list_keys(store)?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| AdminError::NotFound(format!("no key with kid `{kid}`")))
}

fn parse_alg(alg: &str) -> Result<Alg, AdminError> {
    Alg::parse(alg).ok_or_else(|| {
        AdminError::Invalid(format!(
            "alg `{alg}` is not one of RS256, PS256, ES256, EdDSA"
        ))
    })
}

fn sorted(e: anyhow::Error) -> AdminError {
    match e.downcast::<StorageError>() {
        Ok(s) => s.into(),
        Err(e) => AdminError::Other(e),
    }
}

/// `tessera keys rotate [--now]`: stage a next key on the published-ahead timeline, or (with
/// `immediate`) activate a new one at once.
pub fn rotate_key(
    store: &Store,
    kek: &Kek,
    settings: &Settings,
    alg: &str,
    immediate: bool,
    now: i64,
) -> Result<KeyView, AdminError> {
    let alg = parse_alg(alg)?;
    let record = if immediate {
        super::keys::rotate_now(store, kek, settings, alg, now)
    } else {
        super::keys::stage(store, kek, settings, alg, now)
    }
    .map_err(sorted)?;
    Ok(KeyView::of(&record))
}

/// `tessera keys revoke KID`: the key leaves the JWKS at once. Returns its algorithm and the
/// state it had.
pub fn revoke_key(
    store: &Store,
    kek: &Kek,
    settings: &Settings,
    kid: &str,
    now: i64,
) -> Result<(Alg, KeyState), AdminError> {
    if !store.list_keys()?.iter().any(|k| k.kid == kid) {
        return Err(AdminError::NotFound(format!("no key with kid `{kid}`")));
    }
    super::keys::revoke(store, kek, settings, kid, now).map_err(sorted)
}
