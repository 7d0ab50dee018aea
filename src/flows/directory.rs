//! The in-memory directory of clients and signing keys each node serves from, so the token
//! endpoint's hot path never waits on the database.
//!
//! Every write to clients or keys bumps a change counter in the same transaction. Each node
//! polls the counters every `database.reload_interval_ms` (default 1 s) — one tiny query — and
//! reloads what changed. So a client created, changed or deleted by the CLI or another node is
//! seen within one interval plus the reload, and a key rotation likewise.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Mutex;

use super::keys::KeyRing;
use crate::crypto::kek::Kek;
use crate::protocol::client::Client;
use crate::storage::{Revisions, Store};

#[derive(Debug)]
pub struct Directory {
    clients: ArcSwap<HashMap<String, Arc<Client>>>,
    /// Every client's browser origins (for CORS preflight).
    origins: ArcSwap<std::collections::HashSet<String>>,
    keys: ArcSwap<KeyRing>,
    seen: Mutex<Option<Revisions>>,
}

impl Directory {
    /// Loads everything once (start-up).
    pub fn load(store: &Store, kek: &Kek) -> anyhow::Result<Directory> {
        let revisions = store.revisions()?;
        let clients = load_clients(store)?;
        let d = Directory {
            origins: ArcSwap::from_pointee(origins_of(&clients)),
            clients: ArcSwap::from_pointee(clients),
            keys: ArcSwap::from_pointee(KeyRing::build(&store.list_keys()?, kek)?),
            seen: Mutex::new(Some(revisions)),
        };
        Ok(d)
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
        let current = store.run(|s| s.revisions()).await?;
        let before = seen.unwrap_or(Revisions {
            clients: -1,
            keys: -1,
        });
        // Read the counters before the data: a write that lands in between bumps the counter
        // again, so the next poll reloads once more rather than missing it.
        if current.clients != before.clients {
            let clients = store
                .run(|s| load_clients(s).map_err(crate::storage::StorageError::Other))
                .await?;
            self.origins.store(Arc::new(origins_of(&clients)));
            self.clients.store(Arc::new(clients));
            tracing::debug!(revision = current.clients, "clients reloaded");
        }
        if current.keys != before.keys {
            let records = store.run(|s| s.list_keys()).await?;
            let ring = KeyRing::build(&records, kek)?;
            self.keys.store(Arc::new(ring));
            tracing::info!(revision = current.keys, "signing keys reloaded");
        }
        *seen = Some(current);
        Ok(())
    }
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
