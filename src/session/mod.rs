//! Short-lived shared state: browser sessions, in-flight authorization requests, CSRF tokens,
//! throttling counters and authorization codes. One interface, two implementations:
//! Redis (when `redis_url` is set) and the SQL database (the embedded default, and PostgreSQL
//! deployments without Redis). It is never private to one process, so every node and the CLI
//! see the same state, and it survives restarts (Redis permitting).
//!
//! Keys are namespaced by [`Kind`], so a value of one kind can never be read or consumed as
//! another.

pub mod redis;

use std::time::Duration;

pub use self::redis::RedisSessionStore;
pub use crate::storage::sql::SqlSessionStore;

/// The kinds of value kept, each under its own key prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Session,
    AuthRequest,
    Csrf,
    Throttle,
    Code,
    /// Used `jti`s of client assertions (single use until they expire).
    Assertion,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Session => "session:",
            Kind::AuthRequest => "authreq:",
            Kind::Csrf => "csrf:",
            Kind::Throttle => "throttle:",
            Kind::Code => "code:",
            Kind::Assertion => "assertion:",
        }
    }
}

/// Writes sent to the store together, in one round trip: each is atomic, the batch as a whole
/// is not (on Redis it is a pipeline; on SQL one transaction).
#[derive(Debug, Default)]
pub struct Batch {
    pub(crate) ops: Vec<Op>,
}

#[derive(Debug)]
pub(crate) struct Op {
    pub kind: Kind,
    pub key: String,
    pub write: Write,
}

#[derive(Debug)]
pub(crate) enum Write {
    /// As [`SessionStore::delete`].
    Delete,
    /// As [`SessionStore::reset`].
    Reset,
    /// As [`SessionStore::set`].
    Set(Vec<u8>, Duration),
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    fn push(mut self, kind: Kind, key: &str, write: Write) -> Batch {
        self.ops.push(Op {
            kind,
            key: key.to_string(),
            write,
        });
        self
    }

    /// Are there no writes?
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Removes the value under `key`.
    pub fn delete(self, kind: Kind, key: &str) -> Batch {
        self.push(kind, key, Write::Delete)
    }

    /// Removes the counter `key`.
    pub fn reset(self, kind: Kind, key: &str) -> Batch {
        self.push(kind, key, Write::Reset)
    }

    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    pub fn set(self, kind: Kind, key: &str, value: &[u8], ttl: Duration) -> Batch {
        self.push(kind, key, Write::Set(value.to_vec(), ttl))
    }
}

/// The one session-store write that ends a [`SessionStore::around`] call, chosen by its storage
/// call; its outcome is reported as [`SessionStore::take_and_insert`] reports its own.
#[derive(Debug)]
pub enum Then {
    /// As [`SessionStore::set`]: reported as `Some(true)`.
    Set(Kind, String, Vec<u8>, Duration),
    /// As [`SessionStore::insert`]: `Some(stored)`.
    Insert(Kind, String, Vec<u8>, Duration),
    /// As [`SessionStore::take_and_insert`] (taken, inserted, value, ttl).
    TakeAndInsert((Kind, String), (Kind, String), Vec<u8>, Duration),
}

impl Then {
    pub(crate) fn check(&self) -> SessionResult<()> {
        match self {
            Then::Set(_, k, _, _) | Then::Insert(_, k, _, _) => check_key(k),
            Then::TakeAndInsert((_, a), (_, b), _, _) => check_key(a).and_then(|_| check_key(b)),
        }
    }
}

/// What [`SessionStore::read_with`] read.
#[derive(Debug)]
pub struct Reads<T> {
    /// The live values under the two keys.
    pub values: (Option<Vec<u8>>, Option<Vec<u8>>),
    /// The largest live counter (0 when none is live).
    pub count: i64,
    /// What the database read returned.
    pub read: T,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The backing store cannot be reached: fail closed (503).
    #[error("session store unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
}

pub type SessionResult<T> = Result<T, SessionError>;

/// A session-store failure as a storage error (both mean: unavailable, answer 503).
pub(crate) fn into_storage(e: SessionError) -> crate::storage::StorageError {
    match e {
        SessionError::Unavailable(e) => crate::storage::StorageError::Unavailable(e),
    }
}

/// Longest key accepted, to bound memory and storage.
pub const MAX_KEY: usize = 256;

#[derive(Debug)]
pub enum SessionStore {
    Sql(SqlSessionStore),
    Redis(Box<RedisSessionStore>),
}

impl SessionStore {
    /// The store the settings select: Redis when `redis_url` is set, the SQL database otherwise.
    /// Servers and CLI commands build it the same way, so both see the same sessions.
    pub fn from_settings(
        settings: &crate::config::Settings,
        store: std::sync::Arc<crate::storage::Store>,
    ) -> anyhow::Result<SessionStore> {
        Ok(if settings.redis_url.is_empty() {
            SessionStore::Sql(SqlSessionStore::new(store))
        } else {
            SessionStore::Redis(Box::new(RedisSessionStore::new(
                &settings.redis_url,
                &settings.redis_key_prefix,
            )?))
        })
    }

    /// Stores `value` under `key`, replacing any previous value, for `ttl`.
    pub async fn set(
        &self,
        kind: Kind,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> SessionResult<()> {
        check_key(key)?;
        match self {
            SessionStore::Sql(s) => s.set(kind, key, value, ttl, false).await.map(|_| ()),
            SessionStore::Redis(r) => r.set(kind, key, value, ttl, false).await.map(|_| ()),
        }
    }

    /// Stores `value` only if `key` holds no live value; returns whether it was stored.
    pub async fn insert(
        &self,
        kind: Kind,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> SessionResult<bool> {
        check_key(key)?;
        match self {
            SessionStore::Sql(s) => s.set(kind, key, value, ttl, true).await,
            SessionStore::Redis(r) => r.set(kind, key, value, ttl, true).await,
        }
    }

    /// The live value under `key`.
    pub async fn get(&self, kind: Kind, key: &str) -> SessionResult<Option<Vec<u8>>> {
        check_key(key)?;
        match self {
            SessionStore::Sql(s) => s.get(kind, key).await,
            SessionStore::Redis(r) => r.get(kind, key).await,
        }
    }

    /// The live values under two keys, in one round trip to the store.
    pub async fn get_both(
        &self,
        a: (Kind, &str),
        b: (Kind, &str),
    ) -> SessionResult<(Option<Vec<u8>>, Option<Vec<u8>>)> {
        check_key(a.1)?;
        check_key(b.1)?;
        match self {
            SessionStore::Sql(s) => s.get_both(a, b).await,
            SessionStore::Redis(r) => r.get_both(a, b).await,
        }
    }

    /// Atomically reads and removes the live value under `key`: among concurrent callers, at
    /// most one gets it.
    pub async fn take(&self, kind: Kind, key: &str) -> SessionResult<Option<Vec<u8>>> {
        check_key(key)?;
        match self {
            SessionStore::Sql(s) => s.take(kind, key).await,
            SessionStore::Redis(r) => r.take(kind, key).await,
        }
    }

    /// [`SessionStore::take`], then `f` on the database with what was taken (`None`: nothing
    /// live under `key`), durable as [`Store::run`]: for a value whose use is recorded in the
    /// database (the code exchange). On the SQL session store — the same database as `store` —
    /// one trip to the storage thread; on Redis, the take and then `f`. Once taken the value is
    /// gone, whatever `f` returns.
    ///
    /// [`Store::run`]: crate::storage::Store::run
    pub async fn take_with<T: Send + 'static>(
        &self,
        store: &std::sync::Arc<crate::storage::Store>,
        kind: Kind,
        key: &str,
        f: impl FnOnce(&crate::storage::Store, Option<Vec<u8>>) -> crate::storage::StorageResult<T>
        + Send
        + 'static,
    ) -> crate::storage::StorageResult<T> {
        check_key(key).map_err(into_storage)?;
        match self {
            SessionStore::Sql(s) => s.take_with(kind, key, f).await,
            SessionStore::Redis(r) => {
                let taken = r.take(kind, key).await.map_err(into_storage)?;
                store.run(move |s| f(s, taken)).await
            }
        }
    }

    /// Takes the live value under `taken` (as [`SessionStore::take`]) and, only when there was
    /// one, stores `value` under `inserted` for `ttl` unless a live value is there (as
    /// [`SessionStore::insert`]) — in one round trip to the store, atomically: no caller sees
    /// one step without the other, and a crash cannot take without storing. `None`: nothing to
    /// take, nothing stored; `Some(true)`: taken and stored; `Some(false)`: taken, and the live
    /// value under `inserted` left as it was. The taken value is dropped.
    pub async fn take_and_insert(
        &self,
        taken: (Kind, &str),
        inserted: (Kind, &str),
        value: &[u8],
        ttl: Duration,
    ) -> SessionResult<Option<bool>> {
        check_key(taken.1)?;
        check_key(inserted.1)?;
        match self {
            SessionStore::Sql(s) => s.take_and_insert(taken, inserted, value, ttl).await,
            SessionStore::Redis(r) => r.take_and_insert(taken, inserted, value, ttl).await,
        }
    }

    /// Removes `key`; returns whether a live value was there.
    pub async fn delete(&self, kind: Kind, key: &str) -> SessionResult<bool> {
        check_key(key)?;
        match self {
            SessionStore::Sql(s) => s.delete(kind, key).await,
            SessionStore::Redis(r) => r.delete(kind, key).await,
        }
    }

    /// Adds one to the counter `key` and returns the new value. A new counter lives for `ttl`
    /// from its first increment (a fixed window).
    pub async fn incr(&self, kind: Kind, key: &str, ttl: Duration) -> SessionResult<i64> {
        check_key(key)?;
        match self {
            SessionStore::Sql(s) => s.incr(kind, key, ttl).await,
            SessionStore::Redis(r) => r.incr(kind, key, ttl).await,
        }
    }

    /// The largest live value among the counters `keys` (0 when none is live), in one round
    /// trip to the store.
    pub async fn count_max(&self, kind: Kind, keys: &[&str]) -> SessionResult<i64> {
        for k in keys {
            check_key(k)?;
        }
        match self {
            SessionStore::Sql(s) => s.count_max(kind, keys).await,
            SessionStore::Redis(r) => r.count_max(kind, keys).await,
        }
    }

    /// [`SessionStore::get_both`] of `a` and `b` and [`SessionStore::count_max`] of the
    /// counters `keys` (of `kind`), together with a read `f` on the database (unsynced, as
    /// [`Store::run_unsynced`]), for a step that needs all of them before it can go on: on the
    /// SQL session store — the same database as `store` — one trip to the storage thread; on
    /// Redis, the three at once.
    ///
    /// [`Store::run_unsynced`]: crate::storage::Store::run_unsynced
    pub async fn read_with<T: Send + 'static>(
        &self,
        store: &std::sync::Arc<crate::storage::Store>,
        (a, b): ((Kind, &str), (Kind, &str)),
        (kind, keys): (Kind, &[&str]),
        f: impl FnOnce(&crate::storage::Store) -> crate::storage::StorageResult<T> + Send + 'static,
    ) -> crate::storage::StorageResult<Reads<T>> {
        for k in [a.1, b.1].iter().chain(keys) {
            check_key(k).map_err(into_storage)?;
        }
        match self {
            SessionStore::Sql(s) => s.read_with(a, b, kind, keys, f).await,
            SessionStore::Redis(r) => {
                let (values, count, read) = tokio::join!(
                    r.get_both(a, b),
                    r.count_max(kind, keys),
                    store.run_unsynced(f)
                );
                Ok(Reads {
                    values: values.map_err(into_storage)?,
                    count: count.map_err(into_storage)?,
                    read: read?,
                })
            }
        }
    }

    /// Removes counter `key`.
    pub async fn reset(&self, kind: Kind, key: &str) -> SessionResult<()> {
        check_key(key)?;
        match self {
            SessionStore::Sql(s) => s.reset(kind, key).await,
            SessionStore::Redis(r) => r.delete(kind, key).await.map(|_| ()),
        }
    }

    /// The writes of `batch`, in one round trip to the store.
    pub async fn apply(&self, batch: Batch) -> SessionResult<()> {
        for op in &batch.ops {
            check_key(&op.key)?;
        }
        if batch.ops.is_empty() {
            return Ok(());
        }
        match self {
            SessionStore::Sql(s) => s.apply(batch).await,
            SessionStore::Redis(r) => r.apply(batch).await,
        }
    }

    /// A storage call between session-store writes: the writes of `before`, then `f` on the
    /// database (unsynced, as [`Store::run_unsynced`]), then the write `f` asks for; returns
    /// what `f` returned and the outcome of that write (`None` also when it asked for none).
    /// Each write is atomic on its own, the sequence is not, as when made one by one; a failure
    /// stops the sequence. On the SQL session store — the same database as `store` — all of it
    /// is one trip to the storage thread; on Redis, `before` and the last write take a round
    /// trip each.
    ///
    /// [`Store::run_unsynced`]: crate::storage::Store::run_unsynced
    pub async fn around<T: Send + 'static>(
        &self,
        store: &std::sync::Arc<crate::storage::Store>,
        before: Batch,
        f: impl FnOnce(&crate::storage::Store) -> crate::storage::StorageResult<(T, Option<Then>)>
        + Send
        + 'static,
    ) -> crate::storage::StorageResult<(T, Option<bool>)> {
        for op in &before.ops {
            check_key(&op.key).map_err(into_storage)?;
        }
        match self {
            SessionStore::Sql(s) => s.around(before, f).await,
            SessionStore::Redis(r) => {
                if !before.ops.is_empty() {
                    r.apply(before).await.map_err(into_storage)?;
                }
                let (t, then) = store.run_unsynced(f).await?;
                let Some(then) = then else {
                    return Ok((t, None));
                };
                then.check().map_err(into_storage)?;
                let done = match then {
                    Then::Set(kind, key, v, ttl) => {
                        r.set(kind, &key, &v, ttl, false).await.map(Some)
                    }
                    Then::Insert(kind, key, v, ttl) => {
                        r.set(kind, &key, &v, ttl, true).await.map(Some)
                    }
                    Then::TakeAndInsert(taken, inserted, v, ttl) => {
                        r.take_and_insert((taken.0, &taken.1), (inserted.0, &inserted.1), &v, ttl)
                            .await
                    }
                };
                Ok((t, done.map_err(into_storage)?))
            }
        }
    }

    /// Is the backing store reachable?
    pub async fn ping(&self) -> SessionResult<()> {
        match self {
            SessionStore::Sql(s) => s.ping().await,
            SessionStore::Redis(r) => r.ping().await,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            SessionStore::Sql(_) => "sql",
            SessionStore::Redis(_) => "redis",
        }
    }
}

fn check_key(key: &str) -> SessionResult<()> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(SessionError::Unavailable(anyhow::anyhow!(
            "invalid session key length"
        )));
    }
    Ok(())
}
