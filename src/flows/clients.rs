//! Client management, the one path for every operator surface (the CLI today, the admin API
//! later). Each operation validates first and then writes in one transaction, so a failed or
//! interrupted command leaves no half-created client.

use serde::Serialize;

use super::client_auth::set_secret;

use crate::config::Settings;
use crate::crypto::secrets::{SecretHasher, generate_client_id, generate_client_secret};
use crate::protocol::client::{
    Client, ClientMetadata, GrantType, default_grant_types, validate_client_id,
    validate_manual_secret, validate_metadata,
};
use crate::protocol::client_auth::AuthMethod;
use crate::protocol::scope::Scopes;
use crate::storage::{StorageError, Store};

/// A change requested by an operator; `None` leaves a field as it is (on update) or takes the
/// default (on create).
#[derive(Debug, Default, Clone)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub id: Option<String>,
    pub public: Option<bool>,
    pub auth_method: Option<AuthMethod>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scope: Option<String>,
    pub audiences: Option<Vec<String>>,
    pub skip_consent: Option<bool>,
    pub web_origins: Option<Vec<String>>,
    /// Back-channel logout URI; `Some("")` removes it (on update).
    pub backchannel_logout_uri: Option<String>,
    /// `id_token_signed_response_alg` (RS256, PS256, ES256, EdDSA); `Some("")` resets to RS256.
    pub id_token_alg: Option<String>,
    /// A secret chosen by hand (≥ 32 characters); otherwise one is generated.
    pub secret: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Invalid(String),
    #[error("no client with id `{0}`")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Storage(StorageError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<StorageError> for ClientError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Conflict(m) => ClientError::Conflict(m),
            other => ClientError::Storage(other),
        }
    }
}

/// A client as operators see it (never the secret hash).
#[derive(Debug, Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub client_name: String,
    pub token_endpoint_auth_method: &'static str,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<&'static str>,
    pub scope: String,
    pub audiences: Vec<String>,
    pub skip_consent: bool,
    pub web_origins: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub id_token_signed_response_alg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The one algorithm the client's assertions may use, if pinned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<&'static str>,
    /// Registered through RFC 7591 (it has a registration access token).
    pub dynamically_registered: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Shown exactly once, when generated or set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl ClientView {
    pub fn of(c: &Client, secret: Option<String>) -> Self {
        let m = &c.metadata;
        ClientView {
            client_id: c.id.clone(),
            client_name: m.name.clone(),
            token_endpoint_auth_method: m.auth_method.as_str(),
            redirect_uris: m.redirect_uris.clone(),
            post_logout_redirect_uris: m.post_logout_redirect_uris.clone(),
            grant_types: m.grant_types.iter().map(|g| g.as_str()).collect(),
            scope: m.scopes.to_string(),
            audiences: m.audiences.clone(),
            skip_consent: m.skip_consent,
            web_origins: m.web_origins.clone(),
            backchannel_logout_uri: m.backchannel_logout_uri.clone(),
            id_token_signed_response_alg: m
                .id_token_alg
                .unwrap_or(crate::protocol::jose::Alg::RS256)
                .as_str(),
            logo_uri: m.partner.logo_uri.clone(),
            policy_uri: m.partner.policy_uri.clone(),
            tos_uri: m.partner.tos_uri.clone(),
            contacts: m.partner.contacts.clone(),
            jwks: m
                .partner
                .jwks
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok()),
            jwks_uri: m.partner.jwks_uri.clone(),
            token_endpoint_auth_signing_alg: m
                .partner
                .token_endpoint_auth_signing_alg
                .map(|a| a.as_str()),
            dynamically_registered: c.registration_token_hash.is_some(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            client_secret: secret,
        }
    }
}

fn parse_id_token_alg(v: Option<&str>) -> Result<Option<crate::protocol::jose::Alg>, ClientError> {
    match v {
        None | Some("") => Ok(None),
        Some(a) => crate::protocol::jose::Alg::parse(a)
            .map(Some)
            .ok_or_else(|| {
                ClientError::Invalid(format!(
                    "id_token_signed_response_alg `{a}` is not one of RS256, PS256, ES256, EdDSA"
                ))
            }),
    }
}

/// A client's ID-token algorithm must be one this server holds keys for (`keys.algorithms`,
/// see [`Settings::key_algorithms`]): the same rule for `tessera client create|update
/// --id-token-alg` and the admin API. An empty value (reset to RS256) always passes.
pub fn check_id_token_alg(c: &ClientChanges, settings: &Settings) -> Result<(), ClientError> {
    let Some(a) = c.id_token_alg.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(());
    };
    let enabled = settings.key_algorithms();
    if crate::protocol::jose::Alg::parse(a).is_some_and(|alg| enabled.contains(&alg)) {
        return Ok(());
    }
    let names: Vec<&str> = enabled.iter().map(|a| a.as_str()).collect();
    Err(ClientError::Invalid(format!(
        "id_token_signed_response_alg {a} is not one of this server's key algorithms ({}); see keys.algorithms",
        names.join(", ")
    )))
}

fn parse_grants(list: &[String]) -> Result<Vec<GrantType>, ClientError> {
    let mut out = Vec::new();
    for g in list {
        let gt = GrantType::parse(g).ok_or_else(|| {
            ClientError::Invalid(format!(
                "grant type `{g}` is not supported (authorization_code, client_credentials, refresh_token)"
            ))
        })?;
        if !out.contains(&gt) {
            out.push(gt);
        }
    }
    Ok(out)
}

fn resolve_auth_method(
    c: &ClientChanges,
    current: Option<AuthMethod>,
) -> Result<AuthMethod, ClientError> {
    if c.auth_method == Some(AuthMethod::PrivateKeyJwt) {
        return Err(ClientError::Invalid(
            "private_key_jwt clients are registered through dynamic client registration \
             (RFC 7591), where their public keys (jwks or jwks_uri) are given"
                .into(),
        ));
    }
    match (c.public, c.auth_method) {
        (Some(true), Some(m)) if m != AuthMethod::None => Err(ClientError::Invalid(
            "--public conflicts with --auth-method".into(),
        )),
        (Some(true), _) => Ok(AuthMethod::None),
        (_, Some(m)) => Ok(m),
        (Some(false), None) if current == Some(AuthMethod::None) => {
            Ok(AuthMethod::ClientSecretBasic)
        }
        _ => Ok(current.unwrap_or(AuthMethod::ClientSecretBasic)),
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Registers a client. Returns its view with the secret (generated or given) shown once.
pub fn create(
    store: &Store,
    hasher: &SecretHasher,
    c: ClientChanges,
    now: i64,
) -> Result<ClientView, ClientError> {
    let id = match &c.id {
        Some(id) => {
            validate_client_id(id).map_err(ClientError::Invalid)?;
            id.clone()
        }
        None => generate_client_id()?,
    };
    let auth_method = resolve_auth_method(&c, None)?;
    let redirect_uris = dedup(c.redirect_uris.clone().unwrap_or_default());
    let grant_types = match &c.grant_types {
        Some(g) if !g.is_empty() => parse_grants(g)?,
        _ => default_grant_types(auth_method, &redirect_uris),
    };
    let metadata = ClientMetadata {
        name: c.name.clone().unwrap_or_default(),
        auth_method,
        redirect_uris,
        post_logout_redirect_uris: dedup(c.post_logout_redirect_uris.clone().unwrap_or_default()),
        grant_types,
        scopes: Scopes::parse(c.scope.as_deref().unwrap_or(""))
            .map_err(|e| ClientError::Invalid(format!("scope: {e}")))?,
        audiences: dedup(c.audiences.clone().unwrap_or_default()),
        skip_consent: c.skip_consent.unwrap_or(false),
        web_origins: dedup(c.web_origins.clone().unwrap_or_default()),
        backchannel_logout_uri: c.backchannel_logout_uri.clone().filter(|u| !u.is_empty()),
        id_token_alg: parse_id_token_alg(c.id_token_alg.as_deref())?,
        partner: Default::default(),
    };
    validate_metadata(&metadata).map_err(ClientError::Invalid)?;
    let secret = secret_for(auth_method, c.secret.as_deref())?;
    let mut client = Client {
        id,
        secret_hash: None,
        secret_sealed: None,
        registration_token_hash: None,
        metadata,
        created_at: now,
        updated_at: now,
    };
    set_secret(hasher, &mut client, secret.as_deref())?;
    store.insert_client(&client)?;
    Ok(ClientView::of(&client, secret))
}

fn no_secret(m: AuthMethod) -> ClientError {
    if m == AuthMethod::None {
        ClientError::Invalid("a public client has no secret".into())
    } else {
        ClientError::Invalid(format!("a {} client has no secret", m.as_str()))
    }
}

fn secret_for(auth_method: AuthMethod, given: Option<&str>) -> Result<Option<String>, ClientError> {
    match (auth_method, given) {
        (m, Some(_)) if !m.uses_secret() => Err(no_secret(m)),
        (m, None) if !m.uses_secret() => Ok(None),
        (_, Some(s)) => {
            validate_manual_secret(s).map_err(ClientError::Invalid)?;
            Ok(Some(s.to_string()))
        }
        (_, None) => Ok(Some(generate_client_secret()?)),
    }
}

fn load(store: &Store, id: &str) -> Result<Client, ClientError> {
    store
        .get_client(id)?
        .ok_or_else(|| ClientError::NotFound(id.to_string()))
}

/// Changes the fields named in `c`. A client that needs a new secret gets one (shown once); one
/// whose method has no secret loses it.
pub fn update(
    store: &Store,
    hasher: &SecretHasher,
    id: &str,
    c: ClientChanges,
    now: i64,
) -> Result<ClientView, ClientError> {
    let mut client = load(store, id)?;
    if c.id.as_deref().is_some_and(|new| new != id) {
        return Err(ClientError::Invalid("a client id cannot be changed".into()));
    }
    let m = &mut client.metadata;
    m.auth_method = resolve_auth_method(&c, Some(m.auth_method))?;
    if let Some(n) = c.name {
        m.name = n;
    }
    if let Some(v) = c.redirect_uris {
        m.redirect_uris = dedup(v);
    }
    if let Some(v) = c.post_logout_redirect_uris {
        m.post_logout_redirect_uris = dedup(v);
    }
    if let Some(g) = c.grant_types {
        m.grant_types = parse_grants(&g)?;
    }
    if let Some(s) = c.scope {
        m.scopes = Scopes::parse(&s).map_err(|e| ClientError::Invalid(format!("scope: {e}")))?;
    }
    if let Some(a) = c.audiences {
        m.audiences = dedup(a);
    }
    if let Some(v) = c.skip_consent {
        m.skip_consent = v;
    }
    if let Some(v) = c.web_origins {
        m.web_origins = dedup(v);
    }
    if let Some(v) = c.id_token_alg.as_deref() {
        m.id_token_alg = parse_id_token_alg(Some(v))?;
    }
    if let Some(v) = c.backchannel_logout_uri {
        m.backchannel_logout_uri = (!v.is_empty()).then_some(v);
    }
    validate_metadata(m).map_err(ClientError::Invalid)?;
    let method = m.auth_method;
    // A client gets a new secret (shown once) when it is given one, or when its method needs a
    // secret Tessera does not hold in the form the method needs (a keyed hash cannot become
    // the sealed secret client_secret_jwt checks HMACs with).
    let shown = if !method.uses_secret() {
        if c.secret.is_some() {
            return Err(no_secret(method));
        }
        set_secret(hasher, &mut client, None)?;
        None
    } else if c.secret.is_some()
        || client.secret_hash.is_none()
        || (method.needs_sealed_secret() && client.secret_sealed.is_none())
    {
        let s = secret_for(method, c.secret.as_deref())?;
        set_secret(hasher, &mut client, s.as_deref())?;
        s
    } else {
        if !method.needs_sealed_secret() {
            client.secret_sealed = None;
        }
        None
    };
    client.updated_at = now;
    store.update_client(&client).map_err(|e| match e {
        StorageError::NotFound => ClientError::NotFound(id.to_string()),
        other => other.into(),
    })?;
    Ok(ClientView::of(&client, shown))
}

/// Replaces a confidential client's secret with a new generated one, shown once. The old secret
/// stops working as soon as the servers reload (see [`super::directory`]).
pub fn rotate_secret(
    store: &Store,
    hasher: &SecretHasher,
    id: &str,
    now: i64,
) -> Result<ClientView, ClientError> {
    let mut client = load(store, id)?;
    if !client.metadata.auth_method.uses_secret() {
        return Err(no_secret(client.metadata.auth_method));
    }
    let secret = generate_client_secret()?;
    set_secret(hasher, &mut client, Some(&secret))?;
    client.updated_at = now;
    store.update_client(&client)?;
    Ok(ClientView::of(&client, Some(secret)))
}

pub fn delete(store: &Store, id: &str) -> Result<(), ClientError> {
    store.delete_client(id).map_err(|e| match e {
        StorageError::NotFound => ClientError::NotFound(id.to_string()),
        other => other.into(),
    })
}

pub fn show(store: &Store, id: &str) -> Result<ClientView, ClientError> {
    Ok(ClientView::of(&load(store, id)?, None))
}

pub fn list(store: &Store) -> Result<Vec<ClientView>, ClientError> {
    Ok(store
        .list_clients()?
        .iter()
        .map(|c| ClientView::of(c, None))
        .collect())
}
