//! Use-cases, one per endpoint or operator action: load through storage, apply a protocol rule,
//! persist, sign. No actix here.

pub mod admin;
pub mod authorize;
pub mod bootstrap;
pub mod browser;
pub mod client_auth;
pub mod clients;
pub mod consent;
pub mod directory;
pub mod introspect;
pub mod keys;
pub mod login;
pub mod logout;
pub mod refresh;
pub mod registration;
pub mod revoke;
pub mod sessions;
pub mod token;
pub mod userinfo;
pub mod users;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Settings;
use crate::crypto::kek::Kek;
use crate::crypto::secrets::SecretHasher;
use crate::session::SessionStore;
use crate::storage::Store;
use directory::Directory;

/// Everything the flows need, built once at start-up and shared by every worker.
#[derive(Debug)]
pub struct Core {
    pub settings: Settings,
    pub store: Arc<Store>,
    pub sessions: SessionStore,
    pub directory: Directory,
    pub hasher: SecretHasher,
    pub passwords: crate::crypto::passwords::PasswordHasher,
    pub kek: Kek,
    pub clock: Arc<dyn Clock>,
    /// JWK Sets fetched from clients' `jwks_uri` (`private_key_jwt`).
    pub client_keys: client_auth::JwksCache,
    /// Pre-rendered discovery documents (they change only with configuration).
    pub openid_configuration: Vec<u8>,
    pub oauth_metadata: Vec<u8>,
}

/// A storage failure as the protocol sees it: unreachable → 503, anything else → 500.
pub fn storage_error(e: crate::storage::StorageError) -> crate::protocol::OAuthError {
    use crate::protocol::OAuthError;
    use crate::storage::StorageError;
    match e {
        StorageError::Unavailable(e) => OAuthError::Unavailable(e),
        other => OAuthError::Server(other.into()),
    }
}
