//! Session-store conformance: the same behaviour from the SQL and the Redis implementation.

use std::sync::Arc;
use std::time::Duration;

use tessera::session::{Batch, Kind, RedisSessionStore, SessionStore, SqlSessionStore, Then};
use tessera::storage::{StorageError, Store};

use crate::helpers::{Backend, Deployment, redis_url};

tiers!(session_store_conformance);

/// The stores of a tier: SQL on SQLite; on the PostgreSQL tier both Redis and SQL on PostgreSQL
/// (the Redis-less production setup).
fn stores_for(d: &Deployment) -> (Vec<SessionStore>, Arc<Store>) {
    let target = d.settings().database_target().unwrap();
    tessera::storage::sql::migrate(&target).unwrap();
    let db = Arc::new(Store::connect(&target, 8).unwrap());
    let sql = SessionStore::Sql(SqlSessionStore::new(db.clone()));
    let stores = match d.backend {
        Backend::Sqlite => vec![sql],
        Backend::PgRedis => vec![
            SessionStore::Redis(Box::new(
                RedisSessionStore::new(&redis_url(), &d.redis_prefix).unwrap(),
            )),
            sql,
        ],
    };
    (stores, db)
}

async fn session_store_conformance(backend: Backend) {
    let d = Deployment::new(backend);
    let (stores, db) = stores_for(&d);
    for store in stores {
        eprintln!("session store: {}", store.backend_name());
        around(&store, &db).await;
        read_with(&store, &db).await;
        take_with(&store, &db).await;
        conformance(Arc::new(store)).await;
    }
}

async fn conformance(s: Arc<SessionStore>) {
    s.ping().await.unwrap();
    let ttl = Duration::from_secs(60);
    s.ping().await.unwrap();

    // set / get / overwrite
    assert_eq!(s.get(Kind::Session, "a").await.unwrap(), None);
    s.set(Kind::Session, "a", b"one", ttl).await.unwrap();
    assert_eq!(
        s.get(Kind::Session, "a").await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
    s.set(Kind::Session, "a", b"two", ttl).await.unwrap();
    assert_eq!(
        s.get(Kind::Session, "a").await.unwrap().as_deref(),
        Some(&b"two"[..])
    );

    // kinds are separate namespaces
    assert_eq!(s.get(Kind::Code, "a").await.unwrap(), None);
    assert_eq!(s.take(Kind::Csrf, "a").await.unwrap(), None);

    // insert only when absent
    assert!(s.insert(Kind::Code, "c", b"x", ttl).await.unwrap());
    assert!(!s.insert(Kind::Code, "c", b"y", ttl).await.unwrap());
    assert_eq!(
        s.get(Kind::Code, "c").await.unwrap().as_deref(),
        Some(&b"x"[..])
    );

    // take is an atomic consume: one winner among 50
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.take(Kind::Code, "c").await.unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap().is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(s.get(Kind::Code, "c").await.unwrap(), None);

    // take_and_insert: nothing to take, nothing stored
    assert_eq!(
        s.take_and_insert((Kind::AuthRequest, "t"), (Kind::Code, "t"), b"code", ttl)
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.get(Kind::Code, "t").await.unwrap(), None);
    // the take and the insert together
    s.set(Kind::AuthRequest, "t", b"req", ttl).await.unwrap();
    assert_eq!(
        s.take_and_insert((Kind::AuthRequest, "t"), (Kind::Code, "t"), b"code", ttl)
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(s.get(Kind::AuthRequest, "t").await.unwrap(), None);
    assert_eq!(
        s.get(Kind::Code, "t").await.unwrap().as_deref(),
        Some(&b"code"[..])
    );
    // a live value under the insert's key stays; the take stands
    s.set(Kind::AuthRequest, "t", b"req", ttl).await.unwrap();
    assert_eq!(
        s.take_and_insert((Kind::AuthRequest, "t"), (Kind::Code, "t"), b"other", ttl)
            .await
            .unwrap(),
        Some(false)
    );
    assert_eq!(s.get(Kind::AuthRequest, "t").await.unwrap(), None);
    assert_eq!(
        s.get(Kind::Code, "t").await.unwrap().as_deref(),
        Some(&b"code"[..])
    );
    // one winner among 20: one insert made, under the winner's key only
    s.set(Kind::AuthRequest, "race", b"req", ttl).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("race{i}");
            let r = s
                .take_and_insert((Kind::AuthRequest, "race"), (Kind::Code, &key), b"c", ttl)
                .await
                .unwrap();
            (r, s.get(Kind::Code, &key).await.unwrap().is_some())
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == (Some(true), true))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| *o == (Some(true), true) || *o == (None, false)),
        "{outcomes:?}"
    );

    // two values in one round trip: each under its own kind, consumed ones invisible
    assert_eq!(
        s.get_both((Kind::Session, "a"), (Kind::Code, "c"))
            .await
            .unwrap(),
        (Some(b"two".to_vec()), None)
    );
    s.set(Kind::AuthRequest, "a", b"req", ttl).await.unwrap();
    assert_eq!(
        s.get_both((Kind::Session, "a"), (Kind::AuthRequest, "a"))
            .await
            .unwrap(),
        (Some(b"two".to_vec()), Some(b"req".to_vec()))
    );
    assert_eq!(
        s.get_both((Kind::Csrf, "a"), (Kind::AuthRequest, "a"))
            .await
            .unwrap(),
        (None, Some(b"req".to_vec()))
    );
    assert!(
        s.get_both((Kind::Session, "a"), (Kind::Code, ""))
            .await
            .is_err()
    );

    // counters: the largest of several, absent ones count 0, reset removes one
    assert_eq!(s.count_max(Kind::Throttle, &["n1", "n2"]).await.unwrap(), 0);
    for _ in 0..3 {
        s.incr(Kind::Throttle, "n1", ttl).await.unwrap();
    }
    assert_eq!(s.incr(Kind::Throttle, "n2", ttl).await.unwrap(), 1);
    assert_eq!(s.count_max(Kind::Throttle, &["n1", "n2"]).await.unwrap(), 3);
    assert_eq!(s.count_max(Kind::Throttle, &["n2", "n3"]).await.unwrap(), 1);
    s.reset(Kind::Throttle, "n1").await.unwrap();
    assert_eq!(s.count_max(Kind::Throttle, &["n1", "n2"]).await.unwrap(), 1);
    // a consumed key can be inserted again
    assert!(s.insert(Kind::Code, "c", b"z", ttl).await.unwrap());

    // a batch: a counter reset, a value deleted and one stored, in one round trip
    s.incr(Kind::Throttle, "n2", ttl).await.unwrap();
    s.set(Kind::Session, "old", b"o", ttl).await.unwrap();
    s.set(Kind::Session, "new", b"stale", ttl).await.unwrap();
    s.apply(
        Batch::new()
            .reset(Kind::Throttle, "n2")
            .delete(Kind::Session, "old")
            .set(Kind::Session, "new", b"fresh", ttl),
    )
    .await
    .unwrap();
    assert_eq!(s.count_max(Kind::Throttle, &["n2"]).await.unwrap(), 0);
    assert_eq!(s.get(Kind::Session, "old").await.unwrap(), None);
    assert_eq!(
        s.get(Kind::Session, "new").await.unwrap(),
        Some(b"fresh".to_vec())
    );
    assert_eq!(s.get(Kind::Code, "c").await.unwrap(), Some(b"z".to_vec()));
    assert!(
        s.apply(Batch::new().delete(Kind::Session, ""))
            .await
            .is_err(),
        "keys are checked"
    );
    s.apply(Batch::new()).await.unwrap();

    // delete
    assert!(s.delete(Kind::Session, "a").await.unwrap());
    assert!(!s.delete(Kind::Session, "a").await.unwrap());
    assert_eq!(s.get(Kind::Session, "a").await.unwrap(), None);

    // expiry
    s.set(Kind::Throttle, "t", b"1", Duration::from_secs(1))
        .await
        .unwrap();
    assert!(s.get(Kind::Throttle, "t").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(s.get(Kind::Throttle, "t").await.unwrap(), None);
    assert_eq!(s.take(Kind::Throttle, "t").await.unwrap(), None);
    assert!(
        s.insert(Kind::Throttle, "t", b"2", ttl).await.unwrap(),
        "an expired key is free again"
    );

    // bounded keys
    assert!(s.get(Kind::Session, "").await.is_err());
    assert!(s.get(Kind::Session, &"k".repeat(300)).await.is_err());
}

/// `read_with`: two values, the counters and the database read together; a failing read fails
/// the call.
async fn read_with(s: &SessionStore, db: &Arc<Store>) {
    let ttl = Duration::from_secs(60);
    for _ in 0..2 {
        s.incr(Kind::Throttle, "cw1", ttl).await.unwrap();
    }
    s.incr(Kind::Throttle, "cw2", ttl).await.unwrap();
    s.set(Kind::Session, "rw-s", b"s", ttl).await.unwrap();
    let both = ((Kind::Session, "rw-s"), (Kind::AuthRequest, "rw-none"));
    let r = s
        .read_with(
            db,
            both,
            (Kind::Throttle, &["cw1", "cw2", "cw3"]),
            |store| store.get_user_by_username("nobody-cw"),
        )
        .await
        .unwrap();
    assert_eq!(r.values, (Some(b"s".to_vec()), None));
    assert_eq!((r.count, r.read.is_none()), (2, true));
    // Namespaced: the session's key is not an interaction's.
    let swapped = ((Kind::AuthRequest, "rw-s"), (Kind::Session, "rw-s"));
    let r = s
        .read_with(db, swapped, (Kind::Throttle, &["cw3"]), |_| Ok(7))
        .await
        .unwrap();
    assert_eq!(
        (r.values, r.count, r.read),
        ((None, Some(b"s".to_vec())), 0, 7)
    );
    let failed = s
        .read_with(db, both, (Kind::Throttle, &["cw1"]), |_| {
            Err::<(), _>(StorageError::Unavailable(anyhow::anyhow!("down")))
        })
        .await;
    assert!(matches!(failed, Err(StorageError::Unavailable(_))));
    let long = "k".repeat(tessera::session::MAX_KEY + 1);
    for (values, counters) in [
        (((Kind::Session, long.as_str()), both.1), ["cw1"]),
        (both, [long.as_str()]),
    ] {
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r = ran.clone();
        let refused = s
            .read_with(db, values, (Kind::Throttle, &counters), move |_| {
                r.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert!(refused.is_err());
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }
    s.reset(Kind::Throttle, "cw1").await.unwrap();
    s.reset(Kind::Throttle, "cw2").await.unwrap();
    s.delete(Kind::Session, "rw-s").await.unwrap();
}

/// `take_with`: the take, then the database call with what was taken — at most one of
/// concurrent callers gets the value, and it is gone whatever the call returns.
async fn take_with(s: &SessionStore, db: &Arc<Store>) {
    let ttl = Duration::from_secs(60);
    s.set(Kind::Code, "tw1", b"v1", ttl).await.unwrap();
    let got = s
        .take_with(db, Kind::Code, "tw1", |store, taken| {
            store.ping()?;
            Ok(taken)
        })
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"v1"[..]));
    assert_eq!(s.get(Kind::Code, "tw1").await.unwrap(), None, "taken");
    let again = s
        .take_with(db, Kind::Code, "tw1", |_, taken| Ok(taken))
        .await
        .unwrap();
    assert_eq!(again, None, "nothing live: f gets None");
    // A failing call: its error comes back, and the value stays used up.
    s.set(Kind::Code, "tw2", b"v2", ttl).await.unwrap();
    let failed = s
        .take_with(db, Kind::Code, "tw2", |_, taken| {
            assert!(taken.is_some());
            Err::<(), _>(StorageError::Unavailable(anyhow::anyhow!("down")))
        })
        .await;
    assert!(matches!(failed, Err(StorageError::Unavailable(_))));
    assert_eq!(s.get(Kind::Code, "tw2").await.unwrap(), None);
    // Concurrent callers: one winner.
    s.set(Kind::Code, "tw3", b"v3", ttl).await.unwrap();
    let tries = (0..20).map(|_| s.take_with(db, Kind::Code, "tw3", |_, taken| Ok(taken)));
    let results = futures_util::future::join_all(tries).await;
    let winners = results
        .into_iter()
        .map(|r| r.unwrap())
        .filter(|t| t.as_deref() == Some(&b"v3"[..]))
        .count();
    assert_eq!(winners, 1);
    // An over-long key is refused before anything runs.
    let long = "k".repeat(tessera::session::MAX_KEY + 1);
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r = ran.clone();
    let refused = s
        .take_with(db, Kind::Code, &long, move |_, _| {
            r.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
        .await;
    assert!(refused.is_err());
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
}

/// `around`: the writes of `before`, then the storage call, then the one write it asks for,
/// reported as `take_and_insert` reports its own.
async fn around(s: &SessionStore, db: &Arc<Store>) {
    let ttl = Duration::from_secs(60);
    let value = |kind, key: &'static str| async move { s.get(kind, key).await.unwrap() };
    let before = Batch::new().set(Kind::Csrf, "ar-before", b"b", ttl);
    let (n, done) = s
        .around(db, before, move |store| {
            store.ping()?;
            let kept = Then::Set(Kind::AuthRequest, "ar-kept".into(), b"k".to_vec(), ttl);
            Ok((7, Some(kept)))
        })
        .await
        .unwrap();
    assert_eq!((n, done), (7, Some(true)));
    assert_eq!(
        value(Kind::Csrf, "ar-before").await.as_deref(),
        Some(&b"b"[..])
    );
    assert_eq!(
        value(Kind::AuthRequest, "ar-kept").await.as_deref(),
        Some(&b"k"[..])
    );

    // Take and insert: the kept value goes, the code comes; a second time nothing is taken and
    // nothing stored.
    let take = move |code: &str| {
        Then::TakeAndInsert(
            (Kind::AuthRequest, "ar-kept".into()),
            (Kind::Code, code.into()),
            b"c".to_vec(),
            ttl,
        )
    };
    let (_, done) = s
        .around(db, Batch::new(), move |_| Ok(((), Some(take("ar-code")))))
        .await
        .unwrap();
    assert_eq!(done, Some(true));
    assert_eq!(value(Kind::AuthRequest, "ar-kept").await, None);
    assert_eq!(
        value(Kind::Code, "ar-code").await.as_deref(),
        Some(&b"c"[..])
    );
    let (_, done) = s
        .around(db, Batch::new(), move |_| Ok(((), Some(take("ar-code-2")))))
        .await
        .unwrap();
    assert_eq!(done, None);
    assert_eq!(value(Kind::Code, "ar-code-2").await, None);

    // Insert over a live value: not stored, the value stays.
    let insert = Then::Insert(Kind::Code, "ar-code".into(), b"x".to_vec(), ttl);
    let (_, done) = s
        .around(db, Batch::new(), move |_| Ok(((), Some(insert))))
        .await
        .unwrap();
    assert_eq!(done, Some(false));
    assert_eq!(
        value(Kind::Code, "ar-code").await.as_deref(),
        Some(&b"c"[..])
    );

    // No write asked for.
    let (_, done) = s
        .around(db, Batch::new(), |_| Ok(((), None)))
        .await
        .unwrap();
    assert_eq!(done, None);

    // A failing storage call: `before` stands, nothing after it is written.
    let before = Batch::new().delete(Kind::Csrf, "ar-before");
    let failed = s
        .around(
            db,
            before,
            |_| -> Result<((), Option<Then>), StorageError> {
                Err(StorageError::Conflict("refused".into()))
            },
        )
        .await;
    assert!(matches!(failed, Err(StorageError::Conflict(_))));
    assert_eq!(value(Kind::Csrf, "ar-before").await, None);

    // A key that is too long is refused before anything is written.
    let long = "k".repeat(300);
    let bad = Then::Set(Kind::AuthRequest, long.clone(), b"v".to_vec(), ttl);
    assert!(
        s.around(db, Batch::new(), move |_| Ok(((), Some(bad))))
            .await
            .is_err()
    );
    let bad_before = Batch::new()
        .set(Kind::Csrf, "ar-not-written", b"n", ttl)
        .set(Kind::Csrf, &long, b"n", ttl);
    assert!(s.around(db, bad_before, |_| Ok(((), None))).await.is_err());
    assert_eq!(value(Kind::Csrf, "ar-not-written").await, None);
}
