//! Use-cases, one per endpoint or operator action: load through storage, apply a protocol rule,
//! persist, sign. No actix here.

pub mod bootstrap;
pub mod clients;
pub mod directory;
pub mod keys;
pub mod token;
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
    pub kek: Kek,
    pub clock: Arc<dyn Clock>,
    /// Pre-rendered discovery documents (they change only with configuration).
    pub openid_configuration: Vec<u8>,
    pub oauth_metadata: Vec<u8>,
}
