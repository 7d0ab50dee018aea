//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).
//!
//! * Registering needs an initial access token that an operator created
//!   (`tessera client registration-token create`), unless `registration.open` is on. Initial
//!   access tokens are stored as SHA-256 hashes with an optional expiry and number of uses; a
//!   use is taken in the same transaction that inserts the client.
//! * Each registered client gets a registration access token (stored as a SHA-256 hash, compared
//!   in constant time) for GET / PUT / DELETE at its `registration_client_uri`. Every PUT
//!   rotates it.
//! * Registered clients are never first-party (`skip_consent` off), have no audiences of their
//!   own and no CORS origins beyond their redirect URIs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::admin::AdminError;
use super::client_auth::set_secret;
use super::{Core, storage_error};
use crate::crypto::random;
use crate::crypto::secrets::{generate_client_id, generate_client_secret};
use crate::protocol::OAuthError;
use crate::protocol::client::Client;
use crate::protocol::client_auth::AuthMethod;
use crate::protocol::discovery::paths;
use crate::protocol::registration::{self, RegistrationError};
use crate::storage::{RegisterOutcome, Store};

/// A refusal: a registration error (400) or an OAuth error (401 `invalid_token`, 5xx).
#[derive(Debug)]
pub enum RegError {
    Metadata(RegistrationError),
    OAuth(OAuthError),
}

impl From<RegistrationError> for RegError {
    fn from(e: RegistrationError) -> Self {
        RegError::Metadata(e)
    }
}
impl From<OAuthError> for RegError {
    fn from(e: OAuthError) -> Self {
        RegError::OAuth(e)
    }
}
impl From<crate::storage::StorageError> for RegError {
    fn from(e: crate::storage::StorageError) -> Self {
        RegError::OAuth(storage_error(e))
    }
}

/// The `token_endpoint_auth_method` values a registered client may choose: the ones the token,
/// revocation and introspection endpoints verify ([`super::client_auth`]).
pub const AUTH_METHODS: [AuthMethod; 5] = AuthMethod::ALL;

/// Refuses URIs the server would call (`jwks_uri`, `backchannel_logout_uri`) that point at a
/// loopback or private address while `outbound.allow_private` is off.
fn check_outbound(
    core: &Core,
    m: &crate::protocol::client::ClientMetadata,
) -> Result<(), RegError> {
    let policy = crate::outbound::Policy::from_settings(&core.settings);
    for (field, uri) in [
        ("jwks_uri", &m.partner.jwks_uri),
        ("backchannel_logout_uri", &m.backchannel_logout_uri),
    ] {
        if let Some(u) = uri
            && let Err(e) = crate::outbound::registrable(&policy, u)
        {
            return Err(RegistrationError::Metadata(format!("{field}: {e}")).into());
        }
    }
    Ok(())
}

/// SHA-256, base64url: how initial and registration access tokens are stored.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// An initial access token as operators see it: never the token or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitialTokenView {
    /// The non-secret identifier to show and revoke it by (a random UUID).
    pub id: String,
    pub created_at: i64,
    /// `None`: it does not expire.
    pub expires_at: Option<i64>,
    /// `None`: unlimited.
    pub remaining_uses: Option<i64>,
    /// `usable`, `expired` or `used_up`.
    pub state: &'static str,
    /// Whether it can register a client now.
    pub usable: bool,
}

impl InitialTokenView {
    /// From a stored row `(id, created_at, expires_at, remaining_uses)`.
    fn of(row: (String, i64, Option<i64>, Option<i64>), now: i64) -> Self {
        let (id, created_at, expires_at, remaining_uses) = row;
        let state = if expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else if remaining_uses.is_some_and(|n| n <= 0) {
            "used_up"
        } else {
            "usable"
        };
        InitialTokenView {
            id,
            created_at,
            expires_at,
            remaining_uses,
            state,
            usable: state == "usable",
        }
    }
}

/// A new initial access token: the token itself is in here, once.
#[derive(Debug, Serialize)]
pub struct InitialTokenCreated {
    pub id: String,
    pub initial_access_token: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
}

/// Creates an initial access token (operator command); the token is shown once, only its
/// SHA-256 hash is stored, under a new random identifier.
pub fn create_initial_token(
    store: &Store,
    now: i64,
    expires_in: Option<u64>,
    max_uses: Option<u64>,
) -> Result<InitialTokenCreated, AdminError> {
    let invalid = |m: &str| AdminError::Invalid(m.to_string());
    let expires_at = match expires_in {
        Some(0) => return Err(invalid("expires_in must be at least 1 second")),
        Some(s) => Some(
            i64::try_from(s)
                .ok()
                .and_then(|s| now.checked_add(s))
                .ok_or_else(|| invalid("expires_in is too large"))?,
        ),
        None => None,
    };
    let max_uses = match max_uses {
        Some(0) => return Err(invalid("max_uses must be at least 1")),
        Some(n) => Some(i64::try_from(n).map_err(|_| invalid("max_uses is too large"))?),
        None => None,
    };
    let token = format!("tri_{}", random::token::<32>()?);
    let id = uuid::Uuid::new_v4().to_string();
    store.insert_registration_token(&id, &token_hash(&token), now, expires_at, max_uses)?;
    Ok(InitialTokenCreated {
        id,
        initial_access_token: token,
        created_at: now,
        expires_at,
        max_uses,
    })
}

/// Every initial access token, newest first, with whether it is still usable at `now`.
pub fn list_initial_tokens(store: &Store, now: i64) -> Result<Vec<InitialTokenView>, AdminError> {
    Ok(store
        .list_registration_tokens()?
        .into_iter()
        .map(|r| InitialTokenView::of(r, now))
        .collect())
}

fn no_token(id: &str) -> AdminError {
    AdminError::NotFound(format!("no registration token with id `{id}`"))
}

/// One initial access token by its identifier.
pub fn show_initial_token(
    store: &Store,
    id: &str,
    now: i64,
) -> Result<InitialTokenView, AdminError> {
    store
        .get_registration_token(id)?
        .map(|r| InitialTokenView::of(r, now))
        .ok_or_else(|| no_token(id))
}

/// Revokes (deletes) an initial access token: it registers no client from now on, on every
/// node (the token is checked in SQL on each registration). Returns what it was.
pub fn revoke_initial_token(
    store: &Store,
    id: &str,
    now: i64,
) -> Result<InitialTokenView, AdminError> {
    let view = show_initial_token(store, id, now)?;
    store.delete_registration_token(id).map_err(|e| match e {
        crate::storage::StorageError::NotFound => no_token(id),
        other => other.into(),
    })?;
    Ok(view)
}

fn registration_client_uri(core: &Core, client_id: &str) -> String {
    format!("{}{}/{}", core.settings.issuer, paths::REGISTER, client_id)
}

/// The client's metadata as RFC 7591 §3.2.1 returns it.
fn response(
    core: &Core,
    c: &Client,
    secret: Option<&str>,
    registration_access_token: Option<&str>,
) -> Value {
    let m = &c.metadata;
    let mut out = Map::new();
    out.insert("client_id".into(), json!(c.id));
    if let Some(s) = secret {
        out.insert("client_secret".into(), json!(s));
        // RFC 7591 §3.2.1: 0 = the secret does not expire.
        out.insert("client_secret_expires_at".into(), json!(0));
    }
    out.insert("client_id_issued_at".into(), json!(c.created_at));
    if let Some(t) = registration_access_token {
        out.insert("registration_access_token".into(), json!(t));
    }
    out.insert(
        "registration_client_uri".into(),
        json!(registration_client_uri(core, &c.id)),
    );
    out.insert("client_name".into(), json!(m.name));
    out.insert("redirect_uris".into(), json!(m.redirect_uris));
    out.insert(
        "grant_types".into(),
        json!(m.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>()),
    );
    let response_types: Vec<&str> =
        if c.allows_grant(crate::protocol::client::GrantType::AuthorizationCode) {
            vec!["code"]
        } else {
            vec![]
        };
    out.insert("response_types".into(), json!(response_types));
    out.insert(
        "token_endpoint_auth_method".into(),
        json!(m.auth_method.as_str()),
    );
    if let Some(a) = m.partner.token_endpoint_auth_signing_alg {
        out.insert("token_endpoint_auth_signing_alg".into(), json!(a.as_str()));
    }
    out.insert("scope".into(), json!(m.scopes.to_string()));
    if !m.post_logout_redirect_uris.is_empty() {
        out.insert(
            "post_logout_redirect_uris".into(),
            json!(m.post_logout_redirect_uris),
        );
    }
    if let Some(u) = &m.backchannel_logout_uri {
        out.insert("backchannel_logout_uri".into(), json!(u));
    }
    out.insert(
        "id_token_signed_response_alg".into(),
        json!(
            m.id_token_alg
                .unwrap_or(crate::protocol::jose::Alg::RS256)
                .as_str()
        ),
    );
    let p = &m.partner;
    for (k, v) in [
        ("logo_uri", &p.logo_uri),
        ("policy_uri", &p.policy_uri),
        ("tos_uri", &p.tos_uri),
        ("jwks_uri", &p.jwks_uri),
    ] {
        if let Some(v) = v {
            out.insert(k.into(), json!(v));
        }
    }
    if !p.contacts.is_empty() {
        out.insert("contacts".into(), json!(p.contacts));
    }
    if let Some(j) = p
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
    {
        out.insert("jwks".into(), j);
    }
    Value::Object(out)
}

/// `POST /oauth2/register`: returns the 201 body.
pub async fn register(core: &Core, bearer: Option<&str>, body: &[u8]) -> Result<Value, RegError> {
    let now = core.clock.now();
    let initial = match bearer {
        Some(t) => {
            let hash = token_hash(t);
            let h = hash.clone();
            if !core
                .store
                .run_read(move |s| s.registration_token_usable(&h, now))
                .await?
            {
                return Err(
                    OAuthError::invalid_token("the initial access token is not valid").into(),
                );
            }
            Some(hash)
        }
        None if core.settings.registration.open => None,
        None => return Err(OAuthError::InvalidToken(None).into()),
    };
    let map = registration::parse_body(body)?;
    let id = generate_client_id().map_err(OAuthError::Server)?;
    let reg = registration::parse(&map, &core.settings.key_algorithms(), &AUTH_METHODS, &id)?;
    if reg.client_id.is_some() || reg.client_secret.is_some() {
        return Err(RegistrationError::Metadata(
            "client_id and client_secret are assigned by the server".into(),
        )
        .into());
    }
    check_outbound(core, &reg.metadata)?;
    let secret = if reg.metadata.auth_method.uses_secret() {
        Some(generate_client_secret().map_err(OAuthError::Server)?)
    } else {
        None
    };
    let rat = random::token::<32>().map_err(OAuthError::Server)?;
    let mut client = Client {
        id,
        secret_hash: None,
        secret_sealed: None,
        registration_token_hash: Some(token_hash(&rat)),
        metadata: reg.metadata,
        created_at: now,
        updated_at: now,
    };
    set_secret(&core.hasher, &mut client, secret.as_deref()).map_err(OAuthError::Server)?;
    let stored = client.clone();
    match core
        .store
        .run(move |s| s.register_client(&stored, initial.as_deref(), now))
        .await?
    {
        RegisterOutcome::Registered => {}
        RegisterOutcome::TokenRefused => {
            return Err(OAuthError::invalid_token("the initial access token is not valid").into());
        }
    }
    tracing::info!(client_id = %client.id, "client registered dynamically");
    Ok(response(core, &client, secret.as_deref(), Some(&rat)))
}

/// Loads the client and checks its registration access token; every failure is the same 401.
async fn authorized(
    core: &Core,
    client_id: &str,
    bearer: Option<&str>,
) -> Result<Client, RegError> {
    let Some(token) = bearer else {
        return Err(OAuthError::InvalidToken(None).into());
    };
    let refused = || {
        RegError::OAuth(OAuthError::invalid_token(
            "the registration access token is not valid",
        ))
    };
    if client_id.len() > crate::protocol::client_auth::MAX_CLIENT_ID {
        return Err(refused());
    }
    let id = client_id.to_string();
    let client = core.store.run_read(move |s| s.get_client(&id)).await?;
    let presented = token_hash(token);
    match client {
        Some(c)
            if c.registration_token_hash.as_deref().is_some_and(|h| {
                crate::protocol::pkce::constant_time_eq(h.as_bytes(), presented.as_bytes())
            }) =>
        {
            Ok(c)
        }
        _ => Err(refused()),
    }
}

/// `GET /oauth2/register/{client_id}` (RFC 7592 §2.1).
pub async fn read(core: &Core, client_id: &str, bearer: Option<&str>) -> Result<Value, RegError> {
    let c = authorized(core, client_id, bearer).await?;
    Ok(response(core, &c, None, None))
}

/// `PUT /oauth2/register/{client_id}` (RFC 7592 §2.2): replaces the metadata; the secret stays
/// (a client that becomes confidential gets one); the registration access token is rotated.
pub async fn update(
    core: &Core,
    client_id: &str,
    bearer: Option<&str>,
    body: &[u8],
) -> Result<Value, RegError> {
    let mut client = authorized(core, client_id, bearer).await?;
    let map = registration::parse_body(body)?;
    let reg = registration::parse(
        &map,
        &core.settings.key_algorithms(),
        &AUTH_METHODS,
        &client.id,
    )?;
    if reg.client_id.as_deref() != Some(client.id.as_str()) {
        return Err(RegistrationError::Metadata(
            "client_id must be present and equal to the client's id".into(),
        )
        .into());
    }
    if let Some(s) = &reg.client_secret
        && !client
            .secret_hash
            .as_deref()
            .is_some_and(|h| core.hasher.verify(s, h))
    {
        return Err(RegistrationError::Metadata("client_secret does not match".into()).into());
    }
    check_outbound(core, &reg.metadata)?;
    let mut shown = None;
    let method = reg.metadata.auth_method;
    // The secret stays when the new method uses one and Tessera holds it in the form the method
    // needs; otherwise it is dropped, or replaced by a new one shown once (a keyed hash cannot
    // be turned into the sealed secret client_secret_jwt needs).
    let keep = method.uses_secret()
        && client.secret_hash.is_some()
        && (!method.needs_sealed_secret() || client.secret_sealed.is_some());
    client.metadata = reg.metadata;
    if !method.uses_secret() {
        set_secret(&core.hasher, &mut client, None).map_err(OAuthError::Server)?;
    } else if !keep {
        let s = generate_client_secret().map_err(OAuthError::Server)?;
        set_secret(&core.hasher, &mut client, Some(&s)).map_err(OAuthError::Server)?;
        shown = Some(s);
    } else if !method.needs_sealed_secret() {
        client.secret_sealed = None;
    }
    let rat = random::token::<32>().map_err(OAuthError::Server)?;
    client.registration_token_hash = Some(token_hash(&rat));
    client.updated_at = core.clock.now();
    let stored = client.clone();
    core.store.run(move |s| s.update_client(&stored)).await?;
    Ok(response(core, &client, shown.as_deref(), Some(&rat)))
}

/// `DELETE /oauth2/register/{client_id}` (RFC 7592 §2.3).
pub async fn delete(core: &Core, client_id: &str, bearer: Option<&str>) -> Result<(), RegError> {
    let c = authorized(core, client_id, bearer).await?;
    core.store.run(move |s| s.delete_client(&c.id)).await?;
    Ok(())
}
