//! The in-memory directory of clients and signing keys each node serves from, so the token
//! endpoint's hot path never waits on the database.
//!
//! Every write to clients or keys bumps a change counter in the same transaction. Each node
//! polls the counters every `database.reload_interval_ms` (default 1 s) — one tiny query — and
//! reloads what changed. So a client created, changed or deleted by the CLI or another node is
//! seen within one interval plus the reload, and a key rotation likewise.
//!
//! The same poll keeps two more views, so that userinfo and introspection do no SQL:
//!
//! * **revoked access tokens**: the `jti` of every unexpired access token revoked by itself or
//!   through its refresh-token family, reloaded when the `revocations` counter moves;
//! * **active users**: filled on demand (a miss reads SQL), emptied when the `users` counter
//!   moves (disable, enable, delete, new password).
//!
//! * **verified access tokens**: the claims of access tokens whose signature this node has
//!   checked, keyed by the exact token text and tied to the key ring they were checked with (a
//!   new ring — rotation, revocation of a key — starts an empty cache). Expiry, issuer,
//!   revocation and the user are still checked on every request; only the signature check of a
//!   token seen before is skipped.
//!
//! A revocation or user change made through this process is seen by it at once: the storage
//! layer counts such writes after their commit ([`Store::local_view_writes`]) and every lookup
//! compares that count with the one its view was built at, reloading first when they differ.
//! Other nodes see it within one reload interval, like clients.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Mutex;

use super::keys::KeyRing;
use crate::crypto::kek::Kek;
use crate::protocol::client::Client;
use crate::protocol::user::User;
use crate::storage::{Revisions, StorageError, Store};

/// At most this many users are cached; a full cache starts again empty.
const MAX_CACHED_USERS: usize = 50_000;
/// At most this many verified access tokens are cached; a full cache starts again empty.
const MAX_CACHED_TOKENS: usize = 4_096;
/// Longer tokens are verified every time rather than cached.
const MAX_CACHED_TOKEN_LEN: usize = 4096;

/// The claims of a verified access token.
pub type Claims = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Default)]
struct VerifiedCache {
    /// The ring the entries were verified with (kept alive, so never confused with a new one).
    ring: Option<Arc<KeyRing>>,
    tokens: HashMap<Box<str>, Arc<Claims>>,
}

#[derive(Debug)]
pub struct Directory {
    clients: ArcSwap<HashMap<String, Arc<Client>>>,
    /// Every client's browser origins (for CORS preflight).
    origins: ArcSwap<std::collections::HashSet<String>>,
    keys: ArcSwap<KeyRing>,
    seen: Mutex<Option<Seen>>,
    revoked: ArcSwap<RevokedView>,
    /// Serialises reloads of `revoked`, so an older copy never replaces a newer one.
    revoked_reload: Mutex<()>,
    users: std::sync::Mutex<UserCache>,
    verified: std::sync::Mutex<VerifiedCache>,
}

/// The change counters a node last acted on.
#[derive(Debug, Clone, Copy)]
struct Seen {
    base: Revisions,
    revocations: i64,
    users: i64,
}

#[derive(Debug, Default)]
struct RevokedView {
    jtis: HashSet<String>,
    /// [`Store::local_view_writes`] read before this view was loaded.
    local: u64,
}

#[derive(Debug, Default)]
struct UserCache {
    users: HashMap<String, Arc<User>>,
    /// Bumped whenever the cache is emptied: a load that started before does not insert.
    generation: u64,
    /// [`Store::local_view_writes`] the cache is in step with.
    local: u64,
}

impl UserCache {
    /// Empties the cache if this process wrote users or revocations since it was last in step.
    fn sync_local(&mut self) {
        let local = Store::local_view_writes();
        if local != self.local {
            self.clear();
            self.local = local;
        }
    }

    fn clear(&mut self) {
        self.users.clear();
        self.generation += 1;
    }
}

impl Directory {
    /// Loads everything once (start-up).
    pub fn load(store: &Store, kek: &Kek) -> anyhow::Result<Directory> {
        let v = store.view_revisions()?;
        let local = Store::local_view_writes();
        let clients = load_clients(store)?;
        let revoked = store.revoked_access_tokens()?;
        let d = Directory {
            origins: ArcSwap::from_pointee(origins_of(&clients)),
            clients: ArcSwap::from_pointee(clients),
            keys: ArcSwap::from_pointee(KeyRing::build(&store.list_keys()?, kek)?),
            seen: Mutex::new(Some(Seen {
                base: v.base,
                revocations: v.revocations,
                users: v.users,
            })),
            revoked: ArcSwap::from_pointee(RevokedView {
                jtis: revoked.into_iter().collect(),
                local,
            }),
            revoked_reload: Mutex::new(()),
            users: std::sync::Mutex::new(UserCache {
                local,
                ..UserCache::default()
            }),
            verified: std::sync::Mutex::new(VerifiedCache::default()),
        };
        Ok(d)
    }

    /// The claims of access token `token`: from the cache when this exact token was verified
    /// with the current key ring, else `verify(ring)` (and cached when it succeeds). The caller
    /// checks everything but the signature itself on every call.
    pub fn verified_access_token<E>(
        &self,
        token: &str,
        verify: impl FnOnce(&KeyRing) -> Result<Claims, E>,
    ) -> Result<Arc<Claims>, E> {
        let ring = self.keys.load_full();
        if token.len() <= MAX_CACHED_TOKEN_LEN
            && let Ok(cache) = self.verified.lock()
            && cache.ring.as_ref().is_some_and(|r| Arc::ptr_eq(r, &ring))
            && let Some(claims) = cache.tokens.get(token)
        {
            return Ok(claims.clone());
        }
        let claims = Arc::new(verify(&ring)?);
        if token.len() <= MAX_CACHED_TOKEN_LEN
            && let Ok(mut cache) = self.verified.lock()
        {
            if !cache.ring.as_ref().is_some_and(|r| Arc::ptr_eq(r, &ring)) {
                *cache = VerifiedCache {
                    ring: Some(ring),
                    tokens: HashMap::new(),
                };
            }
            if cache.tokens.len() >= MAX_CACHED_TOKENS {
                cache.tokens.clear();
            }
            cache.tokens.insert(token.into(), claims.clone());
        }
        Ok(claims)
    }

    /// Is the access token `jti` revoked (by itself or through its family)? From memory; after
    /// a revocation through this process, reloads once first.
    pub async fn is_access_token_revoked(
        &self,
        store: &Arc<Store>,
        jti: &str,
    ) -> Result<bool, StorageError> {
        if self.revoked.load().local != Store::local_view_writes() {
            self.reload_revoked(store, true).await?;
        }
        Ok(self.revoked.load().jtis.contains(jti))
    }

    /// Reloads the revoked `jti`s; `only_if_local` skips it when another caller already caught
    /// up with this process's writes.
    async fn reload_revoked(
        &self,
        store: &Arc<Store>,
        only_if_local: bool,
    ) -> Result<(), StorageError> {
        let _one_at_a_time = self.revoked_reload.lock().await;
        let local = Store::local_view_writes();
        if only_if_local && self.revoked.load().local == local {
            return Ok(());
        }
        let jtis = store.run_read(|s| s.revoked_access_tokens()).await?;
        self.revoked.store(Arc::new(RevokedView {
            jtis: jtis.into_iter().collect(),
            local,
        }));
        Ok(())
    }

    /// The user `id` if it exists and is not disabled: from the cache, else from SQL (and then
    /// cached).
    pub async fn active_user(
        &self,
        store: &Arc<Store>,
        id: &str,
    ) -> Result<Option<Arc<User>>, StorageError> {
        let generation = {
            let mut cache = self.users.lock().map_err(|_| poisoned())?;
            cache.sync_local();
            if let Some(u) = cache.users.get(id) {
                return Ok(Some(u.clone()));
            }
            cache.generation
        };
        let key = id.to_string();
        let user = store
            .run_read(move |s| s.get_active_user(&key))
            .await?
            .map(Arc::new);
        if let Some(u) = &user {
            let mut cache = self.users.lock().map_err(|_| poisoned())?;
            cache.sync_local();
            // Emptied meanwhile: what was read may be stale, so do not keep it.
            if cache.generation == generation {
                if cache.users.len() >= MAX_CACHED_USERS {
                    cache.clear();
                } else {
                    cache.users.insert(id.to_string(), u.clone());
                }
            }
        }
        Ok(user)
    }

    pub fn client(&self, id: &str) -> Option<Arc<Client>> {
        self.clients.load().get(id).cloned()
    }

    /// Is `origin` a browser origin of some registered client?
    pub fn is_web_origin(&self, origin: &str) -> bool {
        self.origins.load().contains(origin)
    }

    pub fn keys(&self) -> arc_swap::Guard<Arc<KeyRing>> {
        self.keys.load()
    }

    /// Reloads whatever changed since the last call. Errors leave the previous copy in place
    /// (serving continues from memory) and are returned for logging.
    pub async fn refresh(&self, store: &Arc<Store>, kek: &Kek) -> anyhow::Result<()> {
        let mut seen = self.seen.lock().await;
        let v = store.run_read(|s| s.view_revisions()).await?;
        let current = v.base;
        let before = seen.map(|s| s.base).unwrap_or(Revisions {
            clients: -1,
            keys: -1,
        });
        // Read the counters before the data: a write that lands in between bumps the counter
        // again, so the next poll reloads once more rather than missing it.
        if current.clients != before.clients {
            let clients = store
                .run_read(|s| load_clients(s).map_err(crate::storage::StorageError::Other))
                .await?;
            self.origins.store(Arc::new(origins_of(&clients)));
            self.clients.store(Arc::new(clients));
            tracing::debug!(revision = current.clients, "clients reloaded");
        }
        if current.keys != before.keys {
            let records = store.run_read(|s| s.list_keys()).await?;
            let ring = KeyRing::build(&records, kek)?;
            self.keys.store(Arc::new(ring));
            // Tokens verified with the old ring are checked again.
            if let Ok(mut cache) = self.verified.lock() {
                *cache = VerifiedCache::default();
            }
            tracing::info!(revision = current.keys, "signing keys reloaded");
        }
        // Users first: a user disabled together with the revocation of their tokens is then
        // never seen active with the tokens revoked but the user still cached, or vice versa
        // for longer than this poll.
        if seen.is_none_or(|s| s.users != v.users) {
            self.users.lock().map_err(|_| poisoned())?.clear();
            tracing::debug!(revision = v.users, "user cache emptied");
        }
        if seen.is_none_or(|s| s.revocations != v.revocations) {
            self.reload_revoked(store, false).await?;
            tracing::debug!(revision = v.revocations, "revoked access tokens reloaded");
        }
        *seen = Some(Seen {
            base: current,
            revocations: v.revocations,
            users: v.users,
        });
        Ok(())
    }
}

fn poisoned() -> StorageError {
    StorageError::Other(anyhow::anyhow!("the user cache lock is poisoned"))
}

fn load_clients(store: &Store) -> anyhow::Result<HashMap<String, Arc<Client>>> {
    Ok(store
        .list_clients()?
        .into_iter()
        .map(|c| (c.id.clone(), Arc::new(c)))
        .collect())
}

fn origins_of(clients: &HashMap<String, Arc<Client>>) -> std::collections::HashSet<String> {
    clients.values().flat_map(|c| c.origins()).collect()
}
