//! Durable storage: clients, signing keys, server secrets and change counters in SQL (PostgreSQL
//! or SQLite through one diesel code base), plus an in-memory directory of clients and keys that
//! every node keeps fresh by polling the change counters.
//!
//! Only `storage::sql` imports diesel. Its operations are synchronous; async callers go through
//! [`Store::run`], which moves them onto the blocking thread pool.

pub mod sql;

use std::sync::Arc;

use crate::protocol::jose::Alg;

pub use sql::RegisterOutcome;
pub use sql::Store;

/// A storage failure, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached: answer 503 and retry later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// A uniqueness rule would be broken (the message says which).
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error("storage error: {0}")]
    Other(#[source] anyhow::Error),
}

pub type StorageResult<T> = Result<T, StorageError>;

pub use crate::protocol::keys::KeyState;

/// A signing key as stored: the private part sealed under the KEK.
#[derive(Clone)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: Alg,
    pub state: KeyState,
    pub public_jwk: serde_json::Value,
    pub sealed_private_key: Vec<u8>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// When a staged (`next`) key becomes active.
    pub activates_at: Option<i64>,
    /// When a retired key leaves the JWKS.
    pub remove_after: Option<i64>,
    pub removed_at: Option<i64>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Associated data binding a sealed private key to its row.
pub fn key_aad(kid: &str) -> Vec<u8> {
    format!("signing_key:{kid}").into_bytes()
}

/// Associated data binding a sealed server secret to its row.
pub fn secret_aad(name: &str) -> Vec<u8> {
    format!("server_secret:{name}").into_bytes()
}

/// Current values of the change counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Revisions {
    pub clients: i64,
    pub keys: i64,
}

pub type SharedStore = Arc<Store>;
