//! Session state in the SQL database (the embedded default, and PostgreSQL without Redis).
//! Atomic consume: one `DELETE … RETURNING`, which exactly one of concurrent callers wins.
//! Writes are upserts. Expired rows are invisible and purged in the background.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;

use super::schema::session_entries as se;
use super::{Store, map_err, unix_now};
use crate::session::{Batch, Kind, Op, Reads, SessionError, SessionResult, Then, Write};
use crate::storage::{StorageError, StorageResult};

#[derive(Debug, Clone)]
pub struct SqlSessionStore {
    store: Arc<Store>,
}

fn to_session(e: StorageError) -> SessionError {
    SessionError::Unavailable(anyhow::Error::new(e))
}

/// A failure of the session-store part of a combined call, as the session store reports its
/// own: unavailable (503), whatever the database said.
fn session_part(e: StorageError) -> StorageError {
    match e {
        StorageError::Unavailable(e) => StorageError::Unavailable(e),
        other => StorageError::Unavailable(anyhow::Error::new(other)),
    }
}

fn full_key(kind: Kind, key: &str) -> String {
    format!("{}{}", kind.prefix(), key)
}

impl SqlSessionStore {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    pub async fn set(
        &self,
        kind: Kind,
        key: &str,
        value: &[u8],
        ttl: Duration,
        nx: bool,
    ) -> SessionResult<bool> {
        let k = full_key(kind, key);
        let v = value.to_vec();
        self.store
            .run_unsynced(move |s| set_now(s, &k, &v, ttl, nx))
            .await
            .map_err(to_session)
    }

    /// The writes of `batch`, in one transaction.
    pub async fn apply(&self, batch: Batch) -> SessionResult<()> {
        let ops = full_keys(batch);
        self.store
            .run_unsynced(move |s| apply_now(s, &ops))
            .await
            .map_err(to_session)
    }

    /// `before`, then `f`, then the write `f` asks for, in one trip to the storage thread
    /// (unsynced, as session state always is): see [`SessionStore::around`].
    ///
    /// [`SessionStore::around`]: crate::session::SessionStore::around
    pub async fn around<T: Send + 'static>(
        &self,
        before: Batch,
        f: impl FnOnce(&Store) -> StorageResult<(T, Option<Then>)> + Send + 'static,
    ) -> StorageResult<(T, Option<bool>)> {
        let ops = full_keys(before);
        self.store
            .run_unsynced(move |s| {
                if !ops.is_empty() {
                    apply_now(s, &ops).map_err(session_part)?;
                }
                let (t, then) = f(s)?;
                let done = match then {
                    None => None,
                    Some(then) => {
                        then.check().map_err(crate::session::into_storage)?;
                        then_now(s, then).map_err(session_part)?
                    }
                };
                Ok((t, done))
            })
            .await
    }

    pub async fn get(&self, kind: Kind, key: &str) -> SessionResult<Option<Vec<u8>>> {
        let k = full_key(kind, key);
        self.store
            .run_read(move |s| s.with_conn(|c| live_value(c, &k)))
            .await
            .map_err(to_session)
    }

    /// Two values in one trip to the database.
    pub async fn get_both(
        &self,
        a: (Kind, &str),
        b: (Kind, &str),
    ) -> SessionResult<(Option<Vec<u8>>, Option<Vec<u8>>)> {
        let (ka, kb) = (full_key(a.0, a.1), full_key(b.0, b.1));
        self.store
            .run_read(move |s| s.with_conn(|c| Ok((live_value(c, &ka)?, live_value(c, &kb)?))))
            .await
            .map_err(to_session)
    }

    pub async fn take(&self, kind: Kind, key: &str) -> SessionResult<Option<Vec<u8>>> {
        let k = full_key(kind, key);
        self.store
            .run_unsynced(move |s| s.with_conn(|c| take_live(c, &k, unix_now()).map_err(map_err)))
            .await
            .map_err(to_session)
    }

    /// The take (unsynced, as session state always is), then `f` with what it took, durable
    /// (as [`Store::run`]), in one trip to the storage thread: see [`SessionStore::take_with`].
    ///
    /// [`SessionStore::take_with`]: crate::session::SessionStore::take_with
    pub async fn take_with<T: Send + 'static>(
        &self,
        kind: Kind,
        key: &str,
        f: impl FnOnce(&Store, Option<Vec<u8>>) -> StorageResult<T> + Send + 'static,
    ) -> StorageResult<T> {
        let k = full_key(kind, key);
        self.store
            .run(move |s| {
                let taken = s
                    .unsynced()
                    .with_conn(|c| take_live(c, &k, unix_now()).map_err(map_err))
                    .map_err(session_part)?;
                f(s, taken)
            })
            .await
    }

    /// The take and the insert in one transaction.
    pub async fn take_and_insert(
        &self,
        taken: (Kind, &str),
        inserted: (Kind, &str),
        value: &[u8],
        ttl: Duration,
    ) -> SessionResult<Option<bool>> {
        let (kt, ki) = (full_key(taken.0, taken.1), full_key(inserted.0, inserted.1));
        let v = value.to_vec();
        self.store
            .run_unsynced(move |s| take_and_insert_now(s, &kt, &ki, &v, ttl))
            .await
            .map_err(to_session)
    }

    pub async fn delete(&self, kind: Kind, key: &str) -> SessionResult<bool> {
        let k = full_key(kind, key);
        self.store
            .run_unsynced(move |s| {
                s.with_conn(|c| {
                    let now = unix_now();
                    let live: i64 = se::table
                        .filter(se::key.eq(&k))
                        .filter(se::expires_at.gt(now))
                        .filter(se::consumed.eq(false))
                        .count()
                        .get_result(c)
                        .map_err(map_err)?;
                    diesel::delete(se::table.filter(se::key.eq(&k)))
                        .execute(c)
                        .map_err(map_err)?;
                    Ok(live > 0)
                })
            })
            .await
            .map_err(to_session)
    }

    pub async fn incr(&self, kind: Kind, key: &str, ttl: Duration) -> SessionResult<i64> {
        use super::schema::counters as ct;
        let k = full_key(kind, key);
        let ttl = ttl.as_secs().max(1) as i64;
        self.store
            .run_unsynced(move |s| {
                // Two first increments racing on PostgreSQL: one insert loses on the primary
                // key and retries, and then finds the winner's live counter.
                let mut attempt = 0;
                loop {
                    let result = s.with_conn(|conn| {
                        let now = unix_now();
                        conn.transaction(|c| {
                            // An atomic increment of a live counter (takes the write lock first).
                            let n = diesel::update(
                                ct::table
                                    .filter(ct::key.eq(&k))
                                    .filter(ct::expires_at.gt(now)),
                            )
                            .set(ct::count.eq(ct::count + 1))
                            .execute(c)?;
                            if n == 0 {
                                diesel::delete(ct::table.filter(ct::key.eq(&k))).execute(c)?;
                                diesel::insert_into(ct::table)
                                    .values((
                                        ct::key.eq(&k),
                                        ct::count.eq(1i64),
                                        ct::expires_at.eq(now + ttl),
                                    ))
                                    .execute(c)?;
                                return Ok(1);
                            }
                            ct::table.filter(ct::key.eq(&k)).select(ct::count).first(c)
                        })
                        .map_err(map_err)
                    });
                    match result {
                        Err(StorageError::Conflict(_)) if attempt < 3 => attempt += 1,
                        other => return other,
                    }
                }
            })
            .await
            .map_err(to_session)
    }

    /// The largest live value among the counters `keys` (0 when none is live).
    pub async fn count_max(&self, kind: Kind, keys: &[&str]) -> SessionResult<i64> {
        let keys: Vec<String> = keys.iter().map(|k| full_key(kind, k)).collect();
        self.store
            .run_read(move |s| count_max_now(s, &keys))
            .await
            .map_err(to_session)
    }

    /// The values under `a` and `b`, the largest live counter among `keys`, then `f`, in one
    /// trip to the storage thread: see [`SessionStore::read_with`].
    ///
    /// [`SessionStore::read_with`]: crate::session::SessionStore::read_with
    pub async fn read_with<T: Send + 'static>(
        &self,
        a: (Kind, &str),
        b: (Kind, &str),
        kind: Kind,
        keys: &[&str],
        f: impl FnOnce(&Store) -> StorageResult<T> + Send + 'static,
    ) -> StorageResult<Reads<T>> {
        let (ka, kb) = (full_key(a.0, a.1), full_key(b.0, b.1));
        let keys: Vec<String> = keys.iter().map(|k| full_key(kind, k)).collect();
        self.store
            .run_unsynced(move |s| {
                let values = s
                    .with_conn(|c| Ok((live_value(c, &ka)?, live_value(c, &kb)?)))
                    .map_err(session_part)?;
                let count = count_max_now(s, &keys).map_err(session_part)?;
                Ok(Reads {
                    values,
                    count,
                    read: f(s)?,
                })
            })
            .await
    }

    pub async fn reset(&self, kind: Kind, key: &str) -> SessionResult<()> {
        use super::schema::counters as ct;
        let k = full_key(kind, key);
        self.store
            .run_unsynced(move |s| {
                s.with_conn(|c| {
                    diesel::delete(ct::table.filter(ct::key.eq(&k)))
                        .execute(c)
                        .map(|_| ())
                        .map_err(map_err)
                })
            })
            .await
            .map_err(to_session)
    }

    pub async fn ping(&self) -> SessionResult<()> {
        self.store.run_read(|s| s.ping()).await.map_err(to_session)
    }
}

/// The largest live value among the counters `keys` (full keys), 0 when none is live.
fn count_max_now(s: &Store, keys: &[String]) -> StorageResult<i64> {
    use super::schema::counters as ct;
    let now = unix_now();
    s.with_conn(|c| {
        // One lookup per key, a statement diesel keeps prepared (an `IN` list it would parse
        // again on every call); the login throttle reads two keys.
        let mut max = 0;
        for key in keys {
            let count = ct::table
                .filter(ct::key.eq(key))
                .filter(ct::expires_at.gt(now))
                .select(ct::count)
                .first::<i64>(c)
                .optional()
                .map_err(map_err)?;
            max = max.max(count.unwrap_or(0));
        }
        Ok(max)
    })
}

impl Store {
    /// Deletes expired session entries and counters; returns how many.
    pub fn purge_expired_sessions(&self) -> crate::storage::StorageResult<usize> {
        use super::schema::counters as ct;
        self.with_conn(|c| {
            let now = unix_now();
            let a = diesel::delete(se::table.filter(se::expires_at.le(now)))
                .execute(c)
                .map_err(map_err)?;
            let b = diesel::delete(ct::table.filter(ct::expires_at.le(now)))
                .execute(c)
                .map_err(map_err)?;
            Ok(a + b)
        })
    }
}

fn full_keys(batch: Batch) -> Vec<(String, Op)> {
    batch
        .ops
        .into_iter()
        .map(|op| (full_key(op.kind, &op.key), op))
        .collect()
}

fn set_now(s: &Store, k: &str, v: &[u8], ttl: Duration, nx: bool) -> StorageResult<bool> {
    s.with_conn(|conn| {
        if nx {
            conn.transaction(|c| put(c, k, v, ttl, nx))
        } else {
            put(conn, k, v, ttl, nx)
        }
        .map_err(map_err)
    })
}

/// The writes `ops` (under full keys), in one transaction.
fn apply_now(s: &Store, ops: &[(String, Op)]) -> StorageResult<()> {
    use super::schema::counters as ct;
    s.with_conn(|conn| {
        conn.transaction(|c| {
            for (k, op) in ops {
                match &op.write {
                    Write::Delete => {
                        diesel::delete(se::table.filter(se::key.eq(k))).execute(c)?;
                    }
                    Write::Reset => {
                        diesel::delete(ct::table.filter(ct::key.eq(k))).execute(c)?;
                    }
                    Write::Set(v, ttl) => {
                        put(c, k, v, *ttl, false)?;
                    }
                }
            }
            Ok(())
        })
        .map_err(map_err)
    })
}

fn take_and_insert_now(
    s: &Store,
    kt: &str,
    ki: &str,
    v: &[u8],
    ttl: Duration,
) -> StorageResult<Option<bool>> {
    s.with_conn(|conn| {
        let now = unix_now();
        conn.transaction(|c| {
            if take_live(c, kt, now)?.is_none() {
                return Ok(None);
            }
            // A live value is left alone (`ON CONFLICT DO NOTHING`, which never aborts the
            // transaction) and the take stands, as on Redis.
            put(c, ki, v, ttl, true).map(Some)
        })
        .map_err(map_err)
    })
}

/// The write `then`, reported as [`Then`] says.
fn then_now(s: &Store, then: Then) -> StorageResult<Option<bool>> {
    match then {
        Then::Set(kind, key, v, ttl) => set_now(s, &full_key(kind, &key), &v, ttl, false).map(Some),
        Then::Insert(kind, key, v, ttl) => {
            set_now(s, &full_key(kind, &key), &v, ttl, true).map(Some)
        }
        Then::TakeAndInsert(taken, inserted, v, ttl) => take_and_insert_now(
            s,
            &full_key(taken.0, &taken.1),
            &full_key(inserted.0, &inserted.1),
            &v,
            ttl,
        ),
    }
}

/// Stores `v` under the full key `k` for `ttl` (replacing a live value unless `nx`); whether it
/// was stored. Without `nx` one upsert, atomic on its own; with `nx` the dead value's removal
/// and an insert that leaves a live value alone — call it in a transaction.
fn put(
    c: &mut super::DbConn,
    k: &str,
    v: &[u8],
    ttl: Duration,
    nx: bool,
) -> diesel::QueryResult<bool> {
    use diesel::upsert::excluded;
    let now = unix_now();
    let ttl = ttl.as_secs().max(1) as i64;
    if nx {
        // A dead value (expired or consumed) does not count: it goes first.
        diesel::delete(
            se::table
                .filter(se::key.eq(k))
                .filter(se::expires_at.le(now).or(se::consumed.eq(true))),
        )
        .execute(c)?;
    }
    let row = (
        se::key.eq(k),
        se::value.eq(v),
        se::expires_at.eq(now + ttl),
        se::consumed.eq(false),
    );
    // Upserts per backend: diesel's multi-backend connection has none.
    let written = match c {
        super::DbConn::Pg(pg) => {
            let insert = diesel::insert_into(se::table)
                .values(row)
                .on_conflict(se::key);
            if nx {
                insert.do_nothing().execute(pg)?
            } else {
                insert
                    .do_update()
                    .set((
                        se::value.eq(excluded(se::value)),
                        se::expires_at.eq(excluded(se::expires_at)),
                        se::consumed.eq(false),
                    ))
                    .execute(pg)?
            }
        }
        // The same writes in forms diesel keeps prepared: it never caches a statement with an
        // `ON CONFLICT` clause, so SQLite would parse the upsert again on every call (four
        // times per sign-in). The table's only constraint is its key, so `INSERT OR IGNORE` is
        // `ON CONFLICT (key) DO NOTHING`, and `REPLACE` (the old row deleted, the new one
        // inserted) the upsert.
        super::DbConn::Sqlite(lite) if nx => diesel::insert_or_ignore_into(se::table)
            .values(row)
            .execute(lite)?,
        super::DbConn::Sqlite(lite) => diesel::replace_into(se::table).values(row).execute(lite)?,
    };
    Ok(written > 0)
}

/// Consumes the live value under the full key `k`: one `DELETE … RETURNING`, so among
/// concurrent callers exactly one gets the row (SQLite's write lock; on PostgreSQL the others
/// wait for its row lock and then find it gone).
fn take_live(c: &mut super::DbConn, k: &str, now: i64) -> diesel::QueryResult<Option<Vec<u8>>> {
    let live = se::table
        .filter(se::key.eq(k))
        .filter(se::consumed.eq(false))
        .filter(se::expires_at.gt(now));
    match c {
        super::DbConn::Pg(pg) => diesel::delete(live)
            .returning(se::value)
            .get_result::<Vec<u8>>(pg)
            .optional(),
        super::DbConn::Sqlite(lite) => diesel::delete(live)
            .returning(se::value)
            .get_result::<Vec<u8>>(lite)
            .optional(),
    }
}

/// The live (unexpired, unconsumed) value under the full key `k`.
fn live(c: &mut super::DbConn, k: &str) -> diesel::QueryResult<Option<Vec<u8>>> {
    se::table
        .filter(se::key.eq(k))
        .filter(se::expires_at.gt(unix_now()))
        .filter(se::consumed.eq(false))
        .select(se::value)
        .first::<Vec<u8>>(c)
        .optional()
}

fn live_value(c: &mut super::DbConn, k: &str) -> Result<Option<Vec<u8>>, StorageError> {
    live(c, k).map_err(map_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The session-store part of a combined call fails as the session store does: 503, never a
    /// 500 for what the database said.
    #[test]
    fn session_part_failures_are_unavailable() {
        for e in [
            StorageError::Conflict("locked".into()),
            StorageError::NotFound,
            StorageError::Other(anyhow::anyhow!("database is locked")),
            StorageError::Unavailable(anyhow::anyhow!("down")),
        ] {
            assert!(matches!(session_part(e), StorageError::Unavailable(_)));
        }
    }
}
