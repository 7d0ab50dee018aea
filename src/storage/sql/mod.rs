//! diesel over PostgreSQL and SQLite from one code base (`#[derive(MultiConnection)]`), an r2d2
//! pool, and migrations embedded per backend.

mod browser_sessions;
mod clients;
mod executor;
mod grants;
mod keys;
mod refresh;
mod registration;
pub mod schema;
mod secrets;
mod sessions;
mod users;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{StorageError, StorageResult};
use crate::config::DatabaseTarget;

pub use browser_sessions::{BrowserSessionRecord, SessionListing};
pub use grants::{Redeemed, Redemption};
pub use refresh::{Family, NewRefreshToken, RefreshInfo, Rotation};
pub use registration::RegisterOutcome;
pub use sessions::SqlSessionStore;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Held while migrating PostgreSQL, so that nodes starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x0074_6573_7365_7261; // "tessera"

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Opens connections of the backend chosen from the URL scheme (never by trial and error).
struct Manager {
    target: DatabaseTarget,
    /// The connection [`Store::migrate`] opened and migrated on, which the pool's first
    /// connect hands out instead of opening another.
    seed: Seed,
}

/// Where [`Store::migrate`] leaves its connection for the pool.
type Seed = Arc<Mutex<Option<DbConn>>>;

/// A pooled connection, and whether its SQLite commits wait for the disk
/// (`synchronous = FULL`) or not (`NORMAL`, see [`Store::run_unsynced`]).
struct Pooled {
    conn: DbConn,
    synced: bool,
}

fn establish(target: &DatabaseTarget) -> ConnectionResult<DbConn> {
    match target {
        DatabaseTarget::Postgres(url) => {
            PgConnection::establish(&with_connect_timeout(url)).map(DbConn::Pg)
        }
        DatabaseTarget::Sqlite(path) => {
            // Connections opening a new database together race to switch it to WAL, and SQLite
            // answers "database is locked" to the losers at once: that lock is not one its busy
            // handler waits for. Retry for as long as the busy timeout would have waited.
            let deadline = std::time::Instant::now() + SQLITE_BUSY_TIMEOUT;
            let mut pause = Duration::from_millis(2);
            loop {
                match open_sqlite(path) {
                    Err(ConnectionError::BadConnection(m))
                        if is_busy(&m) && std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(pause);
                        pause = (pause * 2).min(Duration::from_millis(100));
                    }
                    other => return other.map(DbConn::Sqlite),
                }
            }
        }
    }
}

/// The turns of one SQLite database's writers in this process: first come, first served.
///
/// SQLite lets one connection write at a time; another that wants to write waits in SQLite's
/// busy handler, which sleeps 1, 2, 5, 10 … 100 ms between tries, so under concurrent writes a
/// writer that lost a few rounds waited hundreds of milliseconds while later ones went through
/// (refresh grants at 16 connections: p99 0.6–0.8 s; docs/BENCHMARKS.md, change 31). Taking
/// turns here first, the next writer is woken the moment the one before is done, and the busy
/// handler is left for other processes on the file (the CLI). Reads do not take a turn.
#[derive(Default)]
struct WriteGate {
    /// The next ticket to hand out, and the ticket whose turn it is.
    tickets: Mutex<(u64, u64)>,
    turn: std::sync::Condvar,
    /// Writes since the last checkpoint (see [`CHECKPOINT_EVERY`]).
    since_checkpoint: std::sync::atomic::AtomicU32,
}

/// A writer's turn; the next one's starts when it is dropped (also when its job panics).
struct Turn<'a>(&'a WriteGate);

impl Turn<'_> {
    /// Whether a checkpoint is due: the next write should run on a storage thread.
    fn checkpoint_due(&self) -> bool {
        self.0.since_checkpoint.load(Ordering::Relaxed) >= CHECKPOINT_EVERY
    }

    /// Counts a write made in this turn; on a storage thread (`may_checkpoint`), checkpoints
    /// when one is due.
    fn wrote(&self, store: &Store, may_checkpoint: bool) {
        let n = self.0.since_checkpoint.fetch_add(1, Ordering::Relaxed) + 1;
        if may_checkpoint && n >= CHECKPOINT_EVERY {
            self.0.since_checkpoint.store(0, Ordering::Relaxed);
            let done = store.with_conn(|c| {
                c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);")
                    .map_err(map_err)
            });
            if let Err(e) = done {
                tracing::warn!("SQLite checkpoint failed: {e}");
            }
        }
    }
}

impl WriteGate {
    /// A turn at once, or `None` when another writer has one or waits for one.
    fn try_enter(&self) -> Option<Turn<'_>> {
        let mut t = self.tickets.lock().unwrap_or_else(PoisonError::into_inner);
        if t.0 != t.1 {
            return None;
        }
        t.0 += 1;
        Some(Turn(self))
    }

    fn enter(&self) -> Turn<'_> {
        let mut t = self.tickets.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = t.0;
        t.0 += 1;
        while t.1 != mine {
            t = self.turn.wait(t).unwrap_or_else(PoisonError::into_inner);
        }
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0
            .tickets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1 += 1;
        self.0.turn.notify_all();
    }
}

thread_local! {
    /// The pooled connection of the operation running inline on this thread, with its pool.
    static HELD: std::cell::RefCell<Option<(usize, r2d2::PooledConnection<Manager>)>> =
        const { std::cell::RefCell::new(None) };
}

/// SQLite writes between two checkpoints of the WAL into the database file. The writes that run
/// inline count too but never checkpoint: the write that finds one due runs on a storage thread
/// and checkpoints after it, so the checkpoint's syncs never hold up an async worker. SQLite's
/// own automatic checkpoint (at [`WAL_AUTOCHECKPOINT`] pages) is only the backstop.
const CHECKPOINT_EVERY: u32 = 256;

/// The WAL size, in pages, at which SQLite checkpoints on its own at the end of a commit.
const WAL_AUTOCHECKPOINT: u32 = 4000;

/// How long a storage call waits for a storage thread, and then for a pooled connection, before
/// it fails as unavailable.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// How long a SQLite connection waits for another one's lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a SQLite connection whose commits wait for the disk (`synchronous = FULL`).
fn open_sqlite(path: &std::path::Path) -> ConnectionResult<SqliteConnection> {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
         PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT};",
        SQLITE_BUSY_TIMEOUT.as_millis()
    ))
    .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
    Ok(conn)
}

/// SQLITE_BUSY / SQLITE_LOCKED, as SQLite words them.
fn is_busy(message: &str) -> bool {
    message.contains("database is locked")
        || message.contains("database table is locked")
        || message.contains("database is busy")
}

fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&connect_timeout=5")
    } else {
        format!("{url}?connect_timeout=5")
    }
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let seed = self
            .seed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let conn = match seed {
            Some(conn) => conn,
            None => establish(&self.target).map_err(r2d2::Error::ConnectionError)?,
        };
        // Both commit with `synchronous = FULL` (`open_sqlite`).
        Ok(Pooled { conn, synced: true })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), r2d2::Error> {
        pooled.conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.conn.is_broken()
    }
}

/// The SQL store shared by every request handler, background task and CLI command.
pub struct Store {
    pool: r2d2::Pool<Manager>,
    target: DatabaseTarget,
    /// Whether SQLite commits through this view wait for the disk.
    synced: bool,
    /// The view of the same pool whose SQLite commits do not wait for the disk, made on first
    /// use (see [`Store::run_unsynced`]).
    unsynced: OnceLock<Box<Store>>,
    /// The threads [`Store::run`] runs on, as many as the pool has connections; shared with
    /// the unsynced view.
    executor: Arc<executor::Executor>,
    /// The turns of this process's SQLite writers; shared with the unsynced view.
    writers: Arc<WriteGate>,
    /// Shared with the pool's manager (see [`Store::migrate`]).
    seed: Seed,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("postgres", &self.target.is_postgres())
            .finish()
    }
}

/// Runs the embedded migrations on a connection of its own; safe when several processes start
/// at once (an advisory lock on PostgreSQL, an immediate write transaction on SQLite).
pub fn migrate(target: &DatabaseTarget) -> anyhow::Result<Vec<String>> {
    migrated_connection(target).map(|(applied, _)| applied)
}

/// Opens a connection, at once and with the driver's own error when it fails, and migrates on
/// it.
fn migrated_connection(target: &DatabaseTarget) -> anyhow::Result<(Vec<String>, DbConn)> {
    create_data_dir(target)?;
    let mut conn =
        establish(target).map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
    let applied = migrate_on(&mut conn)?;
    Ok((applied, conn))
}

/// Creates the directory a SQLite file goes in.
fn create_data_dir(target: &DatabaseTarget) -> anyhow::Result<()> {
    if let DatabaseTarget::Sqlite(path) = target
        && let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display())
        })?;
    }
    Ok(())
}

fn migrate_on(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        DbConn::Pg(pg) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(pg)?;
            let result = pg
                .run_pending_migrations(PG_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>())
                .map_err(|e| anyhow::anyhow!("migration failed: {e}"));
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(pg)?;
            result?
        }
        DbConn::Sqlite(lite) => lite.immediate_transaction(|c| {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>())
                .map_err(|e| anyhow::anyhow!("migration failed: {e}"))
        })?,
    };
    Ok(applied)
}

impl Store {
    /// Makes a pool. Does not connect or migrate: call [`Store::migrate`] before use.
    ///
    /// Connections open when a call first needs one (none before this returns, so a process
    /// that exits at once leaves no thread connecting) and close after ten idle minutes. No
    /// `min_idle`: r2d2 tops idle connections up at every check-out that leaves fewer, without
    /// counting those still connecting, so the burst of calls of a start-up opened five where
    /// one serves them all — on PostgreSQL, five TLS handshakes on the server's CPU before the
    /// first response (docs/BENCHMARKS.md, change 28).
    pub fn connect(target: &DatabaseTarget, pool_size: u32) -> anyhow::Result<Store> {
        let helpers = Arc::new(
            scheduled_thread_pool::ScheduledThreadPool::builder()
                .num_threads(3)
                .thread_name_pattern("r2d2-worker-{}")
                .build(),
        );
        let seed = Seed::default();
        let pool = r2d2::Pool::builder()
            .thread_pool(helpers)
            .max_size(pool_size)
            .min_idle(Some(0))
            .connection_timeout(POOL_WAIT)
            .test_on_check_out(false)
            .build(Manager {
                target: target.clone(),
                seed: seed.clone(),
            })
            .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
        Ok(Store {
            pool,
            target: target.clone(),
            synced: true,
            unsynced: OnceLock::new(),
            executor: Arc::new(executor::Executor::new(pool_size as usize, POOL_WAIT)),
            writers: Arc::default(),
            seed,
        })
    }

    /// Runs the embedded migrations ([`migrate`]) on a connection that then becomes the pool's
    /// first: a start-up opens one connection, not one to migrate and another to serve. A
    /// database that cannot be reached fails here at once, with the driver's error (the pool
    /// would retry for [`POOL_WAIT`] first).
    pub fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let (applied, conn) = migrated_connection(&self.target)?;
        *self.seed.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn);
        Ok(applied)
    }

    /// This database for [`Store::run_unsynced`]: on SQLite a view of the same pool whose
    /// connections commit with `synchronous = NORMAL` while it holds them; on PostgreSQL this
    /// store itself.
    ///
    /// One pool, not a second one on the same file: each SQLite connection keeps its own page
    /// cache, which every commit through another connection invalidates, so two pools taking
    /// turns re-read the pages they had (docs/BENCHMARKS.md, change 14).
    fn unsynced(&self) -> &Store {
        if self.target.is_postgres() || !self.synced {
            return self;
        }
        self.unsynced.get_or_init(|| {
            Box::new(Store {
                pool: self.pool.clone(),
                target: self.target.clone(),
                synced: false,
                unsynced: OnceLock::new(),
                executor: self.executor.clone(),
                writers: self.writers.clone(),
                seed: self.seed.clone(),
            })
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.target.is_postgres()
    }

    /// On PostgreSQL, runs `f` with a pooled connection on the current thread (for statements
    /// written for PostgreSQL alone); `None` on SQLite.
    pub(super) fn with_pg<T>(
        &self,
        f: impl FnOnce(&mut PgConnection) -> StorageResult<T>,
    ) -> Option<StorageResult<T>> {
        if !self.is_postgres() {
            return None;
        }
        Some(self.with_conn(|conn| match conn {
            DbConn::Pg(pg) => f(pg),
            DbConn::Sqlite(_) => Err(StorageError::Unavailable(anyhow::anyhow!(
                "a PostgreSQL store without a PostgreSQL connection"
            ))),
        }))
    }

    /// Runs `f` with a pooled connection on the current thread: the one an operation running
    /// inline holds ([`Store::try_inline`]), or one from the pool.
    pub fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut DbConn) -> StorageResult<T>,
    ) -> StorageResult<T> {
        let id = self.pool_id();
        let held = HELD.with_borrow_mut(|h| match h.take() {
            Some((owner, conn)) if owner == id => Some(conn),
            other => {
                *h = other;
                None
            }
        });
        let Some(mut pooled) = held else {
            let mut pooled = self.pool.get().map_err(|e| {
                StorageError::Unavailable(anyhow::anyhow!("no database connection: {e}"))
            })?;
            return self.use_conn(&mut pooled, f);
        };
        let out = self.use_conn(&mut pooled, f);
        HELD.with_borrow_mut(|h| *h = Some((id, pooled)));
        out
    }

    /// Which pool a held connection belongs to: the write gate is shared by a store and its
    /// unsynced view, as the pool is.
    fn pool_id(&self) -> usize {
        Arc::as_ptr(&self.writers) as usize
    }

    /// Runs `f` here and now, when that cannot wait: on SQLite, with a pooled connection free
    /// at once and, for an operation that may write, no other writer's turn taken or awaited.
    /// `Err(f)`, not run, otherwise.
    fn try_inline<T, F: FnOnce(&Store) -> StorageResult<T>>(
        &self,
        write: bool,
        f: F,
    ) -> Result<StorageResult<T>, F> {
        if self.is_postgres() {
            return Err(f);
        }
        let turn = if write {
            match self.writers.try_enter() {
                Some(turn) if !turn.checkpoint_due() => Some(turn),
                _ => return Err(f),
            }
        } else {
            None
        };
        let Some(conn) = self.pool.try_get() else {
            return Err(f);
        };
        let previous = HELD.with_borrow_mut(|h| h.replace((self.pool_id(), conn)));
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        HELD.with_borrow_mut(|h| *h = previous);
        if let Some(turn) = turn {
            turn.wrote(self, false);
        }
        Ok(out.unwrap_or_else(|_| task_failed()))
    }

    /// `f` on `pooled`, switched to this view's `synchronous` level first if need be.
    fn use_conn<T>(
        &self,
        pooled: &mut Pooled,
        f: impl FnOnce(&mut DbConn) -> StorageResult<T>,
    ) -> StorageResult<T> {
        if pooled.synced != self.synced
            && let DbConn::Sqlite(lite) = &mut pooled.conn
        {
            // Outside any transaction (each use ends its own), so the switch takes effect at
            // once; a connection that failed to switch is not used.
            lite.batch_execute(if self.synced {
                "PRAGMA synchronous = FULL;"
            } else {
                "PRAGMA synchronous = NORMAL;"
            })
            .map_err(map_err)?;
            pooled.synced = self.synced;
        }
        f(&mut pooled.conn)
    }

    /// Like [`Store::run`], for writes that need not wait for the disk: on SQLite they commit
    /// without syncing (`synchronous = NORMAL` in WAL mode), so a crash of the process loses
    /// nothing and a power failure may lose the last of them, never corrupt the file — Redis's
    /// guarantee. The next synced commit makes them durable too, as it makes every earlier
    /// commit. For session state (`SqlSessionStore`) and for what a sign-in writes before a
    /// token exists (the session registry, consents), which the code exchange's synced commit
    /// makes durable before any token is returned. Every other write goes through
    /// [`Store::run`] and is durable when it returns. On SQLite it runs inline when nothing
    /// makes it wait ([`Store::try_inline`]: a short, unsynced write costs less than the
    /// hand-off to a storage thread). On PostgreSQL, the same as `run`.
    pub async fn run_unsynced<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Store) -> StorageResult<T> + Send + 'static,
    ) -> StorageResult<T> {
        match self.try_inline(true, move |s: &Store| f(s.unsynced())) {
            Ok(done) => done,
            Err(f) => self.run(f).await,
        }
    }

    /// Runs a blocking storage operation off the async workers, on one of the store's storage
    /// threads (at most one per pooled connection, see [`executor`]). On SQLite the operations
    /// that may write take turns in the order they came ([`WriteGate`]); reads that never write
    /// go through [`Store::run_read`] and run beside them.
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Store) -> StorageResult<T> + Send + 'static,
    ) -> StorageResult<T> {
        let gate = (!self.is_postgres()).then(|| self.writers.clone());
        self.run_job(move |store| {
            let turn = gate.as_deref().map(WriteGate::enter);
            let out = f(store);
            if let Some(turn) = &turn {
                turn.wrote(store, true);
            }
            out
        })
        .await
    }

    /// Like [`Store::run`], for an operation that only reads: on SQLite it does not wait for
    /// the writers' turns (in WAL mode readers never wait for a writer). An operation that
    /// writes through here is still correct, only back to SQLite's busy handler. On SQLite it
    /// runs inline when a connection is idle ([`Store::try_inline`]).
    pub async fn run_read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Store) -> StorageResult<T> + Send + 'static,
    ) -> StorageResult<T> {
        match self.try_inline(false, f) {
            Ok(done) => done,
            Err(f) => self.run_job(f).await,
        }
    }

    async fn run_job<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Store) -> StorageResult<T> + Send + 'static,
    ) -> StorageResult<T> {
        let store = self.clone();
        match self.executor.run(move || f(&store)).await {
            Ok(result) => result,
            Err(executor::Lost::Expired) => Err(StorageError::Unavailable(anyhow::anyhow!(
                "every storage thread stayed busy for {POOL_WAIT:?}"
            ))),
            Err(executor::Lost::Failed) => task_failed(),
        }
    }

    /// `SELECT 1`: is the database reachable?
    pub fn ping(&self) -> StorageResult<()> {
        self.with_conn(|c| c.ping().map_err(map_err))
    }
}

/// A storage call that panicked (inline or on a storage thread), or found no thread to run on.
fn task_failed<T>() -> StorageResult<T> {
    Err(StorageError::Other(anyhow::anyhow!("storage task failed")))
}

/// Bumps a change counter. Call it first in a write transaction: on SQLite it takes the write
/// lock at once, on PostgreSQL it serialises writers of the same kind.
fn bump(conn: &mut DbConn, kind: &str) -> Result<(), DieselError> {
    use schema::revisions::dsl::*;
    diesel::update(revisions.filter(name.eq(kind)))
        .set(value.eq(value + 1))
        .execute(conn)?;
    Ok(())
}

/// Sorts a diesel error into a [`StorageError`].
pub(crate) fn map_err(e: DieselError) -> StorageError {
    match e {
        DieselError::NotFound => StorageError::NotFound,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            StorageError::Conflict(info.message().to_string())
        }
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info)
        | DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, info) => {
            StorageError::Unavailable(anyhow::anyhow!("{}", info.message()))
        }
        other => StorageError::Other(other.into()),
    }
}

/// A migrated SQLite store in a new temporary directory, for unit tests (keep the directory
/// alive as long as the store).
#[cfg(test)]
pub(crate) fn test_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let target = DatabaseTarget::Sqlite(dir.path().join("t.db"));
    migrate(&target).unwrap();
    let store = Store::connect(&target, 2).unwrap();
    (dir, store)
}

/// Inserts a user without a password, for unit tests.
#[cfg(test)]
pub(crate) fn test_user(store: &Store, id: &str, username: &str) {
    store
        .insert_user(&crate::protocol::user::User {
            id: id.into(),
            username: username.into(),
            email: format!("{username}@example.com"),
            email_verified: false,
            name: None,
            given_name: None,
            family_name: None,
            password_hash: None,
            disabled: false,
            created_at: 1,
            updated_at: 1,
        })
        .unwrap();
}

/// Registers a web client `id` (redirect URI `https://app.example/cb`), for unit tests.
#[cfg(test)]
pub(crate) fn test_client(store: &Store, id: &str, now: i64) {
    let hasher = crate::crypto::secrets::SecretHasher::new([3; 32]);
    let changes = crate::flows::clients::ClientChanges {
        id: Some(id.into()),
        name: Some("Web".into()),
        redirect_uris: Some(vec!["https://app.example/cb".into()]),
        ..Default::default()
    };
    crate::flows::clients::create(store, &hasher, changes, now).unwrap();
}

/// A refresh-token family `id` of `user_id` and `client_id` and its first token (hash
/// `hash-{id}`, access token `jti-{id}`), for unit tests.
#[cfg(test)]
pub(crate) fn test_family(id: &str, client_id: &str, user_id: &str) -> (Family, NewRefreshToken) {
    let family = Family {
        id: id.into(),
        client_id: client_id.into(),
        user_id: user_id.into(),
        scope: "openid offline_access".into(),
        sid: None,
        auth_time: 100,
        created_at: 100,
        absolute_expires_at: 10_000,
        revoked_at: None,
    };
    let first = NewRefreshToken {
        hash: format!("hash-{id}"),
        sealed: None,
        expires_at: 5_000,
        access_jti: format!("jti-{id}"),
        access_expires_at: 1_000,
    };
    (family, first)
}

/// Unix seconds now (storage timestamps are unix seconds).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(QueryableByName)]
    struct Synchronous {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }

    #[derive(QueryableByName)]
    struct JournalMode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }

    fn synchronous(s: &Store) -> i32 {
        s.with_conn(|c| match c {
            DbConn::Sqlite(lite) => diesel::sql_query("PRAGMA synchronous")
                .get_result::<Synchronous>(lite)
                .map(|r| r.synchronous)
                .map_err(map_err),
            DbConn::Pg(_) => unreachable!("a SQLite test"),
        })
        .unwrap()
    }

    /// Only what `run_unsynced` runs (and the session store's own writes) skips the sync at
    /// commit; every other write is durable when it returns (SQLite: 2 = FULL, 1 = NORMAL) —
    /// also on a connection that served `run_unsynced` before (one pool: the level is switched
    /// at check-out).
    #[tokio::test]
    async fn only_unsynced_writes_skip_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let target = DatabaseTarget::Sqlite(dir.path().join("t.db"));
        migrate(&target).unwrap();
        let store = Arc::new(Store::connect(&target, 1).unwrap());
        assert_eq!(store.run(|s| Ok(synchronous(s))).await.unwrap(), 2);
        assert_eq!(store.run_unsynced(|s| Ok(synchronous(s))).await.unwrap(), 1);
        assert_eq!(store.run(|s| Ok(synchronous(s))).await.unwrap(), 2);
        // The code exchange's call: the take unsynced, what follows it durable.
        let sessions = SqlSessionStore::new(store.clone());
        let level = sessions
            .take_with(crate::session::Kind::Code, "k", |s, _| Ok(synchronous(s)))
            .await
            .unwrap();
        assert_eq!(level, 2, "take_with's call is durable");
        assert_eq!(
            store.pool.state().connections,
            1,
            "one connection served them all"
        );
    }

    /// A start-up's calls, one after another, all run on the one connection that migrated:
    /// the pool opens nothing before the first call, hands out the migration's connection
    /// first, and no idle top-up opens more while that one is busy (five connections at
    /// start-up with `min_idle(1)` and a connection of the migration's own, change 28). The
    /// data directory is created on the way.
    #[tokio::test]
    async fn a_start_up_opens_one_connection() {
        let dir = tempfile::tempdir().unwrap();
        let target = DatabaseTarget::Sqlite(dir.path().join("new").join("t.db"));
        let store = Arc::new(Store::connect(&target, 8).unwrap());
        assert_eq!(store.pool.state().connections, 0);
        assert!(!store.migrate().unwrap().is_empty(), "a new database");
        // A temporary table is seen only by the connection that made it.
        match store.seed.lock().unwrap().as_mut() {
            Some(DbConn::Sqlite(lite)) => lite.batch_execute("CREATE TEMP TABLE mark (x)").unwrap(),
            _ => panic!("the migration's connection is left for the pool"),
        }
        for _ in 0..20 {
            store.get_secret("absent").unwrap();
            store
                .run(|s| {
                    s.with_conn(|c| match c {
                        DbConn::Sqlite(lite) => lite
                            .batch_execute("SELECT x FROM temp.mark")
                            .map_err(map_err),
                        DbConn::Pg(_) => unreachable!("a SQLite test"),
                    })
                })
                .await
                .expect("the migration's connection serves");
        }
        // Give a top-up, had one been asked for, time to connect.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.pool.state().connections, 1);
        assert!(store.migrate().unwrap().is_empty(), "nothing left to apply");
    }

    /// A database that cannot be opened fails the start-up at once with the driver's error, not
    /// after the pool's retries with "timed out waiting for connection".
    #[test]
    fn an_unreachable_database_fails_with_its_own_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the database file should be.
        let target = DatabaseTarget::Sqlite(dir.path().to_path_buf());
        let store = Store::connect(&target, 8).unwrap();
        let err = format!("{:#}", store.migrate().unwrap_err());
        assert!(err.starts_with("cannot connect to the database: "), "{err}");
        assert!(err.contains("unable to open database file"), "{err}");
        assert!(!err.contains("timed out"), "{err}");
    }

    #[tokio::test]
    async fn calls_waiting_too_long_for_a_storage_thread_fail_as_unavailable() {
        let (_dir, mut store) = test_store();
        // One storage thread, and a short wait.
        store.executor = Arc::new(executor::Executor::new(1, Duration::from_millis(50)));
        let store = Arc::new(store);
        let busy = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .run(|s| {
                        std::thread::sleep(Duration::from_millis(300));
                        s.ping()
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waited = store.run(|s| s.ping()).await;
        assert!(
            matches!(waited, Err(StorageError::Unavailable(_))),
            "{waited:?}"
        );
        busy.await.unwrap().unwrap();
        store.run(|s| s.ping()).await.unwrap();
        // A panicking call is an internal error, and the thread goes on.
        let panicked = store.run(|_| -> StorageResult<()> { panic!("bug") }).await;
        assert!(
            matches!(panicked, Err(StorageError::Other(_))),
            "{panicked:?}"
        );
        store.run(|s| s.ping()).await.unwrap();
    }

    fn lite(c: &mut DbConn) -> &mut SqliteConnection {
        match c {
            DbConn::Sqlite(l) => l,
            DbConn::Pg(_) => unreachable!("a SQLite test"),
        }
    }

    /// Runs the statement `sql` on a storage thread (a test table).
    async fn create(store: &Arc<Store>, sql: &'static str) {
        store
            .run(move |s| s.with_conn(|c| lite(c).batch_execute(sql).map_err(map_err)))
            .await
            .unwrap();
    }

    /// On SQLite, reads and unsynced writes run on the calling thread when nothing makes them
    /// wait: a connection free and, for a write, no writer's turn taken or awaited. Synced
    /// writes, and a write that would wait for another's turn, run on a storage thread.
    #[tokio::test]
    async fn short_calls_run_inline_when_nothing_waits() {
        let (_dir, store) = test_store();
        let store = Arc::new(store);
        let here = std::thread::current().id();
        let on = |s: &Store| s.with_conn(|_| Ok(std::thread::current().id()));
        // The pool opens its connections when first asked for one; none is idle before.
        assert_ne!(store.run_read(on).await.unwrap(), here);
        assert_eq!(store.run_read(on).await.unwrap(), here);
        assert_eq!(store.run_unsynced(on).await.unwrap(), here);
        assert_eq!(
            store.run_unsynced(|s| Ok(synchronous(s))).await.unwrap(),
            1,
            "inline, an unsynced write still skips the sync"
        );
        assert_ne!(store.run(on).await.unwrap(), here, "a synced write");
        assert_eq!(store.run(|s| Ok(synchronous(s))).await.unwrap(), 2);

        // Another writer's turn: the write waits for it on a storage thread, not here.
        let (taken, turn_taken) = std::sync::mpsc::channel::<()>();
        let holder = {
            let store = store.clone();
            std::thread::spawn(move || {
                let _turn = store.writers.enter();
                taken.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
            })
        };
        turn_taken.recv().unwrap();
        let started = std::time::Instant::now();
        assert_ne!(store.run_unsynced(on).await.unwrap(), here);
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "it waited its turn"
        );
        holder.join().unwrap();

        // Every connection in use: the read waits for one on a storage thread.
        let held: Vec<_> = (0..2).map(|_| store.pool.get().unwrap()).collect();
        let read = {
            let store = store.clone();
            tokio::spawn(async move { store.run_read(on).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        assert_ne!(read.await.unwrap().unwrap(), here);

        // A panic inline is an internal error; the connection goes back to the pool.
        let panicked = store
            .run_read(|_| -> StorageResult<()> { panic!("bug") })
            .await;
        assert!(
            matches!(panicked, Err(StorageError::Other(_))),
            "{panicked:?}"
        );
        assert!(HELD.with_borrow(|h| h.is_none()));
        assert_eq!(store.run_read(on).await.unwrap(), here);
        let state = store.pool.state();
        assert_eq!(
            state.idle_connections, state.connections,
            "none left checked out"
        );
    }

    /// The WAL is checkpointed every [`CHECKPOINT_EVERY`] writes, on a storage thread: the
    /// write that finds one due leaves the caller's thread, and the pages reach the database
    /// file only then.
    #[tokio::test]
    async fn checkpoints_run_on_storage_threads() {
        let (dir, store) = test_store();
        let store = Arc::new(store);
        let here = std::thread::current().id();
        create(&store, "CREATE TABLE scratch (v BLOB NOT NULL)").await;
        let file_len = || std::fs::metadata(dir.path().join("t.db")).unwrap().len();
        let insert = |s: &Store| {
            s.with_conn(|c| {
                lite(c)
                    .batch_execute("INSERT INTO scratch (v) VALUES (randomblob(3000))")
                    .map_err(map_err)
            })?;
            Ok(std::thread::current().id())
        };
        let mut ran_here = 0;
        let mut moved = None;
        for i in 0..CHECKPOINT_EVERY * 2 {
            let before = file_len();
            if store.run_unsynced(insert).await.unwrap() == here {
                ran_here += 1;
                assert_eq!(file_len(), before, "write {i}: no checkpoint inline");
            } else {
                assert!(
                    moved.is_none(),
                    "only the write that finds a checkpoint due moves"
                );
                assert!(file_len() > before, "write {i} checkpointed the WAL");
                moved = Some(i);
            }
        }
        assert_eq!(ran_here, CHECKPOINT_EVERY * 2 - 1);
        let moved = moved.expect("a checkpoint ran");
        assert!(moved <= CHECKPOINT_EVERY, "after {moved} writes");
    }

    /// Writers take their turns in the order they came, and a turn ends when it is dropped,
    /// also by a panic.
    #[test]
    fn write_turns_are_first_come_first_served() {
        let gate = Arc::new(WriteGate::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = gate.enter();
        let mut waiting = Vec::new();
        for i in 0..4u64 {
            let (g, order) = (gate.clone(), order.clone());
            waiting.push(std::thread::spawn(move || {
                let _turn = g.enter();
                order.lock().unwrap().push(i);
            }));
            // Each has drawn its ticket before the next one starts.
            while gate.tickets.lock().unwrap().0 < i + 2 {
                std::thread::yield_now();
            }
        }
        assert!(order.lock().unwrap().is_empty(), "all wait for the first");
        drop(first);
        for t in waiting {
            t.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
        let g = gate.clone();
        assert!(
            std::thread::spawn(move || {
                let _turn = g.enter();
                panic!("a job that panics in its turn");
            })
            .join()
            .is_err()
        );
        drop(gate.enter());
    }

    /// Eight storage threads writing to SQLite at once, each holding the write lock for a
    /// while, with SQLite's busy handler off on every connection ("database is locked" at
    /// once): all succeed, as they take turns in the process. A read runs while a writer holds
    /// its turn.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_take_turns_and_readers_pass_them() {
        let dir = tempfile::tempdir().unwrap();
        let target = DatabaseTarget::Sqlite(dir.path().join("t.db"));
        migrate(&target).unwrap();
        let store = Arc::new(Store::connect(&target, 8).unwrap());
        create(&store, "CREATE TABLE t (n INTEGER NOT NULL)").await;
        let mut writers = Vec::new();
        for i in 0..32 {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                store
                    .run(move |s| {
                        s.with_conn(|c| {
                            let l = lite(c);
                            l.batch_execute("PRAGMA busy_timeout = 0")
                                .map_err(map_err)?;
                            l.transaction(|t| {
                                t.batch_execute(&format!("INSERT INTO t (n) VALUES ({i})"))?;
                                std::thread::sleep(Duration::from_millis(2));
                                t.batch_execute("UPDATE t SET n = n + 1 WHERE n < 0")
                            })
                            .map_err(map_err)
                        })
                    })
                    .await
            }));
        }
        for w in writers {
            w.await.unwrap().unwrap();
        }
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let count = |s: &Store| {
            s.with_conn(|c| {
                diesel::sql_query("SELECT count(*) AS n FROM t")
                    .get_result::<N>(lite(c))
                    .map(|r| r.n)
                    .map_err(map_err)
            })
        };
        assert_eq!(store.run_read(count).await.unwrap(), 32);

        // A writer holding its turn until told to stop, and a read meanwhile.
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let drawn = store.writers.tickets.lock().unwrap().0;
        let holder = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .run(move |s| {
                        let _ = stopped.recv_timeout(Duration::from_secs(10));
                        s.ping()
                    })
                    .await
            })
        };
        while store.writers.tickets.lock().unwrap().0 == drawn {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let read = tokio::time::timeout(Duration::from_secs(5), store.run_read(count)).await;
        assert_eq!(read.expect("the read waited for the writer").unwrap(), 32);
        stop.send(()).unwrap();
        holder.await.unwrap().unwrap();
    }

    /// Many connections opening one new database at once: every one of them comes up in WAL
    /// mode (SQLite answers "database is locked" to some of them without waiting).
    #[test]
    fn concurrent_first_opens_all_succeed() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let target = DatabaseTarget::Sqlite(dir.path().join("t.db"));
            let barrier = Arc::new(std::sync::Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (target, barrier) = (target.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        match establish(&target).map_err(|e| e.to_string())? {
                            DbConn::Sqlite(mut lite) => diesel::sql_query("PRAGMA journal_mode")
                                .get_result::<JournalMode>(&mut lite)
                                .map(|r| r.journal_mode)
                                .map_err(|e| e.to_string()),
                            DbConn::Pg(_) => unreachable!("a SQLite test"),
                        }
                    })
                })
                .collect();
            for t in threads {
                let mode = t
                    .join()
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}"));
                assert_eq!(mode, "wal", "round {round}");
            }
        }
    }

    fn count(c: &mut SqliteConnection, sql: &str) -> i64 {
        diesel::sql_query(sql)
            .get_result::<browser_sessions::Count>(c)
            .unwrap()
            .n
    }

    /// Migration 8 rebuilds the tables a sign-in writes as WITHOUT ROWID tables on a database
    /// that already holds rows: every row is kept, the constraints and cascades still hold, and
    /// no table is left behind.
    #[test]
    fn without_rowid_migration_keeps_rows_and_constraints() {
        use diesel::migration::{MigrationConnection, MigrationSource};
        let dir = tempfile::tempdir().unwrap();
        let mut c = open_sqlite(&dir.path().join("t.db")).unwrap();
        let migrations: Vec<_> =
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS).unwrap();
        c.setup().unwrap();
        for m in migrations
            .iter()
            .filter(|m| m.name().version().to_string().as_str() < "20261207")
        {
            c.run_migration(&**m).unwrap();
        }
        c.batch_execute(
            "INSERT INTO clients (id, name, auth_method, redirect_uris, post_logout_redirect_uris,
                 grant_types, scopes, audiences, created_at, updated_at)
                 VALUES ('c1', 'C', 'none', '[]', '[]', '[]', '', '[]', 1, 1);
             INSERT INTO users (id, username, email, created_at, updated_at)
                 VALUES ('u1', 'alice', 'a@example.com', 1, 1), ('u2', 'bob', 'b@example.com', 1, 1);
             INSERT INTO session_entries VALUES ('s:1', x'01', 9999999999, 0), ('c:2', x'02', 9999999999, 1);
             INSERT INTO consents VALUES ('u1', 'c1', 'openid', 1), ('u2', 'c1', 'openid', 1);
             INSERT INTO redeemed_codes VALUES ('h1', 'c1', 'u1', 'j1', 1, 9999999999);
             INSERT INTO revoked_tokens VALUES ('j0', 1, 9999999999);
             INSERT INTO counters VALUES ('k1', 3, 9999999999);
             INSERT INTO token_families VALUES ('f1', 'c1', 'u1', 'openid', 'sid1', 1, 1, 9999999999, NULL),
                 ('f2', 'c1', 'u2', 'openid', NULL, 1, 1, 9999999999, NULL);
             INSERT INTO refresh_tokens VALUES ('r1', 'f1', 'rotated', 1, 9999999999, 2, x'00'),
                 ('r2', 'f1', 'active', 2, 9999999999, NULL, NULL), ('r3', 'f2', 'active', 2, 9999999999, NULL, NULL);
             INSERT INTO family_access_tokens VALUES ('j1', 'f1', 9999999999), ('j2', 'f2', 9999999999);
             INSERT INTO browser_sessions VALUES ('sid1', 's:1', 'u1', 1, 1, 9999999999, NULL),
                 ('sid2', 's:3', 'u2', 1, 1, 9999999999, NULL);
             INSERT INTO session_clients VALUES ('sid1', 'c1'), ('sid2', 'c1');",
        )
        .unwrap();
        let mut lite = DbConn::Sqlite(c);
        assert_eq!(
            migrate_on(&mut lite).unwrap(),
            vec!["20261207000008".to_string()]
        );
        let DbConn::Sqlite(mut c) = lite else {
            unreachable!()
        };

        let tables = [
            ("session_entries", 2),
            ("consents", 2),
            ("redeemed_codes", 1),
            ("revoked_tokens", 1),
            ("counters", 1),
            ("token_families", 2),
            ("refresh_tokens", 3),
            ("family_access_tokens", 2),
            ("browser_sessions", 2),
            ("session_clients", 2),
        ];
        for (table, rows) in tables {
            assert_eq!(
                count(&mut c, &format!("SELECT count(*) AS n FROM {table}")),
                rows,
                "{table}"
            );
            assert_eq!(
                count(
                    &mut c,
                    &format!(
                        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' \
                         AND name = '{table}' AND sql LIKE '%WITHOUT ROWID%'"
                    )
                ),
                1,
                "{table} is a WITHOUT ROWID table"
            );
        }
        assert_eq!(
            count(
                &mut c,
                "SELECT count(*) AS n FROM sqlite_master WHERE name LIKE '%_old'"
            ),
            0
        );
        // Every index is back (9 of them), and none of the old automatic ones.
        assert_eq!(
            count(
                &mut c,
                "SELECT count(*) AS n FROM sqlite_master WHERE type = 'index' AND tbl_name IN \
                 ('session_entries', 'consents', 'redeemed_codes', 'revoked_tokens', 'counters', \
                  'token_families', 'refresh_tokens', 'family_access_tokens', 'browser_sessions', \
                  'session_clients')"
            ),
            9
        );
        // Never two live refresh tokens in one family.
        assert!(
            c.batch_execute(
                "INSERT INTO refresh_tokens VALUES ('r4', 'f1', 'active', 3, 9999999999, NULL, NULL)"
            )
            .is_err()
        );
        // Foreign keys: none dangling, none creatable, and the cascades reach the new tables.
        assert_eq!(
            count(&mut c, "SELECT count(*) AS n FROM pragma_foreign_key_check"),
            0
        );
        assert!(
            c.batch_execute("INSERT INTO family_access_tokens VALUES ('j9', 'nope', 1)")
                .is_err()
        );
        c.batch_execute("DELETE FROM users WHERE id = 'u1'")
            .unwrap();
        for (table, rows) in [
            ("consents", 1),
            ("token_families", 1),
            ("refresh_tokens", 1),
            ("family_access_tokens", 1),
            ("browser_sessions", 1),
            ("session_clients", 1),
        ] {
            assert_eq!(
                count(&mut c, &format!("SELECT count(*) AS n FROM {table}")),
                rows,
                "{table} after the user's deletion"
            );
        }
        c.batch_execute("DELETE FROM clients WHERE id = 'c1'")
            .unwrap();
        assert_eq!(count(&mut c, "SELECT count(*) AS n FROM token_families"), 0);
        assert_eq!(count(&mut c, "SELECT count(*) AS n FROM refresh_tokens"), 0);
        assert_eq!(count(&mut c, "SELECT count(*) AS n FROM consents"), 0);
    }
}
