//! Client authentication at the token, revocation and introspection endpoints: finds the client
//! in the directory and checks the credentials with the one method it registered.
//!
//! * `client_secret_basic` / `client_secret_post`: the keyed hash of the secret.
//! * `client_secret_jwt`: an HS256 assertion keyed by the secret, which Tessera keeps sealed
//!   under the key-encryption key for these clients only.
//! * `private_key_jwt`: an assertion signed by a key of the client's registered `jwks`, or of
//!   the JWK Set at its registered `jwks_uri` — fetched only from there, through [`outbound`]
//!   (timeouts, size limit, no redirects, no private addresses unless allowed), and cached
//!   ([`JWKS_TTL`]; refetched early, at most every [`JWKS_MIN_REFETCH`], when an assertion
//!   names a key the cached set lacks, so a client can rotate its keys).
//!
//! An assertion's `jti` is single-use until the assertion expires on every node: it is recorded
//! with an atomic insert-if-absent in the session store (Redis, or the SQL database on the
//! embedded default), which all nodes share.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Core;
use super::browser::unavailable;
use crate::crypto::assertion::{self, SignatureError};
use crate::crypto::secrets::{SecretHasher, open_client_secret};
use crate::outbound;
use crate::protocol::OAuthError;
use crate::protocol::client::Client;
use crate::protocol::client_auth::{
    ASSERTION_LEEWAY, AssertionAlg, AuthMethod, PresentedCredentials, check_assertion_claims,
};
use crate::protocol::discovery::paths;
use crate::protocol::jose::Alg;
use crate::session::Kind;

/// How long a fetched JWK Set is used before it is fetched again.
pub const JWKS_TTL: Duration = Duration::from_secs(300);
/// A set is refetched early (a `kid` it lacks) at most this often per client.
pub const JWKS_MIN_REFETCH: Duration = Duration::from_secs(5);
/// Clients whose fetched sets are cached at most; the cache starts over beyond.
const MAX_CACHED: usize = 10_000;

/// The endpoint a client authenticates at: its URL is an accepted assertion audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Revocation,
    Introspection,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Token => paths::TOKEN,
            Endpoint::Revocation => paths::REVOKE,
            Endpoint::Introspection => paths::INTROSPECT,
        }
    }
}

/// Finds the client and checks the credentials with the method it registered. Every failure of
/// the credentials themselves is the same `invalid_client`, so the answer does not tell which
/// part was wrong; a malformed or replayed assertion says why.
pub async fn authenticate(
    core: &Core,
    presented: &PresentedCredentials,
    endpoint: Endpoint,
) -> Result<Arc<Client>, OAuthError> {
    let client = core
        .directory
        .client(&presented.client_id)
        .ok_or_else(|| presented.failed())?;
    if client.metadata.auth_method != presented.method {
        return Err(presented.failed());
    }
    match presented.method {
        AuthMethod::None => Ok(client),
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            let ok = match (&presented.secret, &client.secret_hash) {
                (Some(secret), Some(hash)) => core.hasher.verify(secret, hash),
                _ => false,
            };
            if ok {
                Ok(client)
            } else {
                Err(presented.failed())
            }
        }
        AuthMethod::ClientSecretJwt | AuthMethod::PrivateKeyJwt => {
            verify_assertion(core, &client, presented, endpoint).await?;
            Ok(client)
        }
    }
}

fn failed() -> OAuthError {
    OAuthError::invalid_client("client authentication failed", false)
}

async fn verify_assertion(
    core: &Core,
    client: &Client,
    presented: &PresentedCredentials,
    endpoint: Endpoint,
) -> Result<(), OAuthError> {
    let Some(a) = &presented.assertion else {
        return Err(failed());
    };
    if client
        .metadata
        .partner
        .token_endpoint_auth_signing_alg
        .is_some_and(|required| required != a.alg)
    {
        return Err(failed());
    }
    match a.alg {
        AssertionAlg::HS256 => {
            let Some(sealed) = &client.secret_sealed else {
                return Err(failed());
            };
            let secret = open_client_secret(&core.kek, &client.id, sealed).map_err(|_| {
                tracing::error!(client_id = %client.id, "the sealed client secret cannot be opened with the KEK");
                failed()
            })?;
            assertion::verify_hs256(&a.jwt, &secret).map_err(|_| failed())?;
        }
        AssertionAlg::Key(alg) => {
            verify_with_client_keys(core, client, &a.jwt, alg, a.kid.as_deref()).await?
        }
    }
    // The signature is the client's: now the claims, then the one-time use.
    let issuer = core.settings.issuer();
    let token_endpoint = format!("{issuer}{}", paths::TOKEN);
    let this_endpoint = format!("{issuer}{}", endpoint.path());
    let now = core.clock.now();
    let used = check_assertion_claims(&a.claims, &[issuer, &token_endpoint, &this_endpoint], now)?;
    let key = jti_key(&client.id, &used.jti);
    let ttl = u64::try_from(used.exp + ASSERTION_LEEWAY - now)
        .unwrap_or(1)
        .max(1);
    let fresh = core
        .sessions
        .insert(Kind::Assertion, &key, b"", Duration::from_secs(ttl))
        .await
        .map_err(unavailable)?;
    if !fresh {
        tracing::warn!(target: "tessera::security", event = "assertion_replay", client_id = %client.id, "a client assertion was presented again");
        return Err(OAuthError::invalid_client(
            "invalid client assertion: this jti was already used",
            false,
        ));
    }
    Ok(())
}

/// The session-store key of a used `jti`: a hash, so any client id and jti fit the key limit.
fn jti_key(client_id: &str, jti: &str) -> String {
    let mut h = Sha256::new();
    h.update(client_id.as_bytes());
    h.update([0]);
    h.update(jti.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

async fn verify_with_client_keys(
    core: &Core,
    client: &Client,
    jwt: &str,
    alg: Alg,
    kid: Option<&str>,
) -> Result<(), OAuthError> {
    let partner = &client.metadata.partner;
    if let Some(text) = &partner.jwks {
        let set: Value = serde_json::from_str(text).map_err(|_| failed())?;
        return assertion::verify_with_jwks(jwt, alg, kid, &set).map_err(|_| failed());
    }
    let Some(uri) = &partner.jwks_uri else {
        return Err(failed());
    };
    let (set, fetched_now) = core.client_keys.get(core, &client.id, uri, false).await?;
    match assertion::verify_with_jwks(jwt, alg, kid, &set) {
        Ok(()) => Ok(()),
        Err(SignatureError::NoKey) if !fetched_now => {
            // The client may have rotated its keys: look again (rate-limited per client).
            let (set, _) = core.client_keys.get(core, &client.id, uri, true).await?;
            assertion::verify_with_jwks(jwt, alg, kid, &set).map_err(|_| failed())
        }
        Err(_) => Err(failed()),
    }
}

/// JWK Sets fetched from clients' `jwks_uri`, per client.
#[derive(Debug, Default)]
pub struct JwksCache {
    entries: std::sync::Mutex<HashMap<String, Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    uri: String,
    set: Arc<Value>,
    fetched: Instant,
}

impl JwksCache {
    /// The client's set: from the cache while younger than [`JWKS_TTL`] — or, with `refresh`
    /// (the cached set lacks the key an assertion names), younger than [`JWKS_MIN_REFETCH`] —
    /// else fetched from `uri`. Returns whether this call fetched it.
    async fn get(
        &self,
        core: &Core,
        client_id: &str,
        uri: &str,
        refresh: bool,
    ) -> Result<(Arc<Value>, bool), OAuthError> {
        let cached = self
            .entries
            .lock()
            .ok()
            .and_then(|m| m.get(client_id).cloned())
            .filter(|c| c.uri == uri);
        if let Some(c) = &cached {
            let age = c.fetched.elapsed();
            let usable = if refresh {
                age < JWKS_MIN_REFETCH
            } else {
                age < JWKS_TTL
            };
            if usable {
                return Ok((c.set.clone(), false));
            }
        }
        let set = Arc::new(fetch(core, client_id, uri).await?);
        if let Ok(mut m) = self.entries.lock() {
            if m.len() >= MAX_CACHED {
                m.clear();
            }
            m.insert(
                client_id.to_string(),
                Cached {
                    uri: uri.to_string(),
                    set: set.clone(),
                    fetched: Instant::now(),
                },
            );
        }
        Ok((set, true))
    }
}

async fn fetch(core: &Core, client_id: &str, uri: &str) -> Result<Value, OAuthError> {
    let policy = outbound::Policy::from_settings(&core.settings);
    let body = outbound::get(&policy, uri).await.map_err(|e| {
        tracing::warn!(client_id, error = %e, "fetching the client's jwks_uri failed");
        OAuthError::invalid_client("the client's jwks_uri could not be fetched", false)
    })?;
    let text = std::str::from_utf8(&body).map_err(|_| bad_set(client_id))?;
    crate::protocol::client::validate_jwks(text).map_err(|e| {
        tracing::warn!(client_id, error = %e, "the client's jwks_uri serves an unusable JWK Set");
        bad_set(client_id)
    })?;
    serde_json::from_str(text).map_err(|_| bad_set(client_id))
}

fn bad_set(_client_id: &str) -> OAuthError {
    OAuthError::invalid_client(
        "the client's jwks_uri does not serve a usable JWK Set",
        false,
    )
}

/// Sets a client's secret (or none) for its method: the keyed hash always, the sealed copy only
/// for `client_secret_jwt`. Call it after the client's method is set.
pub fn set_secret(
    hasher: &SecretHasher,
    client: &mut Client,
    secret: Option<&str>,
) -> anyhow::Result<()> {
    client.secret_hash = secret.map(|s| hasher.hash(s));
    client.secret_sealed = match secret {
        Some(s) if client.metadata.auth_method.needs_sealed_secret() => {
            Some(hasher.seal_client_secret(&client.id, s)?)
        }
        _ => None,
    };
    Ok(())
}
