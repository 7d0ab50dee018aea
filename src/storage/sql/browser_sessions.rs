//! The registry of signed-in browser sessions. The session itself lives in the session store
//! (SQL or Redis) under `store_key`; this durable record exists so that operators can list and
//! end sessions, and so that ending one can tell every client that took part
//! (`session_clients`, filled when a code is issued) through back-channel logout.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::{browser_sessions as bs, session_clients as sc, users};
use super::{DbConn, Store, map_err};
use crate::storage::StorageResult;

/// One registered browser session.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = bs, treat_none_as_default_value = false)]
pub struct BrowserSessionRecord {
    /// The session id put in ID and logout tokens (never the cookie value).
    pub sid: String,
    /// Key of the session in the session store (a hash of the cookie value).
    pub store_key: String,
    pub user_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
}

/// A live session as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionListing {
    pub session: BrowserSessionRecord,
    pub username: String,
    /// Clients that received a code in this session, by id.
    pub clients: Vec<String>,
}

/// A `count(*) AS n` row of a raw query.
#[derive(QueryableByName)]
pub(super) struct Count {
    #[diesel(sql_type = BigInt)]
    pub(super) n: i64,
}

/// The common table expressions that record client `client` in session `sid` on PostgreSQL
/// (their parameters' placeholders): `s`, the session's row if registered, locked by a no-op
/// update, so that an `end_browser_session` running at the same time either finishes first or
/// lists this client; `i`, the insert.
pub(super) fn add_client_pg(sid: &str, client: &str) -> String {
    format!(
        "s AS (UPDATE browser_sessions SET ended_at = ended_at WHERE sid = {sid} RETURNING sid), \
         i AS (INSERT INTO session_clients (sid, client_id) \
         SELECT sid, {client} FROM s ON CONFLICT DO NOTHING)"
    )
}

fn clients_of(
    c: &mut DbConn,
    sids: &[String],
) -> Result<HashMap<String, Vec<String>>, diesel::result::Error> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    // Bounded IN lists (SQLite limits bound parameters).
    for chunk in sids.chunks(500) {
        let rows: Vec<(String, String)> = sc::table
            .filter(sc::sid.eq_any(chunk))
            .order((sc::sid.asc(), sc::client_id.asc()))
            .select((sc::sid, sc::client_id))
            .load(c)?;
        for (sid, client) in rows {
            out.entry(sid).or_default().push(client);
        }
    }
    Ok(out)
}

impl Store {
    /// Records a new signed-in session.
    pub fn register_browser_session(&self, record: &BrowserSessionRecord) -> StorageResult<()> {
        self.with_conn(|c| {
            diesel::insert_into(bs::table)
                .values(record)
                .execute(c)
                .map(|_| ())
                .map_err(map_err)
        })
    }

    /// The session `sid`, ended or not.
    pub fn get_browser_session(&self, sid: &str) -> StorageResult<Option<BrowserSessionRecord>> {
        self.with_conn(|c| {
            bs::table
                .filter(bs::sid.eq(sid))
                .select(BrowserSessionRecord::as_select())
                .first(c)
                .optional()
                .map_err(map_err)
        })
    }

    /// Records that `client_id` took part in session `sid` (received a code). Returns `false`
    /// when the session is not registered (nothing is recorded then); recording twice is fine.
    pub fn add_session_client(&self, sid: &str, client_id: &str) -> StorageResult<bool> {
        self.with_conn(|conn| match conn {
            // One statement (one round trip, atomic by itself): the no-op update locks the
            // session's row, so an `end_browser_session` running at the same time either
            // finishes first or lists this client.
            DbConn::Pg(pg) => diesel::sql_query(format!(
                "WITH {} SELECT count(*) AS n FROM s",
                add_client_pg("$1", "$2")
            ))
            .bind::<Text, _>(sid)
            .bind::<Text, _>(client_id)
            .get_result::<Count>(pg)
            .map(|r| r.n > 0)
            .map_err(map_err),
            // `BEGIN IMMEDIATE` takes the write lock at once, where a transaction that read
            // first fails to upgrade ("database is locked") while concurrent sign-ins write;
            // then only statements diesel keeps prepared (an `UPDATE` it parses every time).
            DbConn::Sqlite(lite) => lite
                .immediate_transaction(|c| {
                    let known: i64 = bs::table.filter(bs::sid.eq(sid)).count().get_result(c)?;
                    if known == 0 {
                        return Ok(false);
                    }
                    let there: i64 = sc::table
                        .filter(sc::sid.eq(sid))
                        .filter(sc::client_id.eq(client_id))
                        .count()
                        .get_result(c)?;
                    if there == 0 {
                        diesel::insert_into(sc::table)
                            .values((sc::sid.eq(sid), sc::client_id.eq(client_id)))
                            .execute(c)?;
                    }
                    Ok(true)
                })
                .map_err(map_err)
                .or_else(|e| match e {
                    // Two requests of one session recorded the same client at once.
                    crate::storage::StorageError::Conflict(_) => Ok(true),
                    other => Err(other),
                }),
        })
    }

    /// Clients that took part in session `sid`, ordered by id.
    pub fn session_clients(&self, sid: &str) -> StorageResult<Vec<String>> {
        self.with_conn(|c| {
            sc::table
                .filter(sc::sid.eq(sid))
                .order(sc::client_id.asc())
                .select(sc::client_id)
                .load(c)
                .map_err(map_err)
        })
    }

    /// Marks session `sid` ended. Returns its clients when this call ended it, `None` when it is
    /// unknown or was already ended (so a session is announced as ended once).
    pub fn end_browser_session(&self, sid: &str, now: i64) -> StorageResult<Option<Vec<String>>> {
        self.with_conn(|conn| {
            conn.transaction(|c| {
                let n = diesel::update(
                    bs::table
                        .filter(bs::sid.eq(sid))
                        .filter(bs::ended_at.is_null()),
                )
                .set(bs::ended_at.eq(now))
                .execute(c)?;
                if n == 0 {
                    return Ok(None);
                }
                let clients = sc::table
                    .filter(sc::sid.eq(sid))
                    .order(sc::client_id.asc())
                    .select(sc::client_id)
                    .load(c)?;
                Ok(Some(clients))
            })
            .map_err(map_err)
        })
    }

    /// Live sessions (not ended, not expired at `now`), newest first; only `user_id`'s when
    /// given.
    pub fn list_browser_sessions(
        &self,
        user_id: Option<&str>,
        now: i64,
    ) -> StorageResult<Vec<SessionListing>> {
        self.with_conn(|c| {
            let mut q = bs::table
                .inner_join(users::table.on(users::id.eq(bs::user_id)))
                .filter(bs::ended_at.is_null())
                .filter(bs::expires_at.gt(now))
                .into_boxed();
            if let Some(u) = user_id {
                q = q.filter(bs::user_id.eq(u.to_string()));
            }
            let rows: Vec<(BrowserSessionRecord, String)> = q
                .order((bs::created_at.desc(), bs::sid.asc()))
                .select((BrowserSessionRecord::as_select(), users::username))
                .load(c)
                .map_err(map_err)?;
            let sids: Vec<String> = rows.iter().map(|(r, _)| r.sid.clone()).collect();
            let mut clients = clients_of(c, &sids).map_err(map_err)?;
            Ok(rows
                .into_iter()
                .map(|(session, username)| SessionListing {
                    clients: clients.remove(&session.sid).unwrap_or_default(),
                    session,
                    username,
                })
                .collect())
        })
    }

    /// Removes records that ended or expired before `before` (their clients go with them).
    pub fn purge_browser_sessions(&self, before: i64) -> StorageResult<usize> {
        self.with_conn(|conn| {
            conn.transaction(|c| {
                let old = bs::table
                    .filter(bs::expires_at.lt(before).or(bs::ended_at.lt(before)))
                    .select(bs::sid);
                diesel::delete(sc::table.filter(sc::sid.eq_any(old))).execute(c)?;
                diesel::delete(
                    bs::table.filter(bs::expires_at.lt(before).or(bs::ended_at.lt(before))),
                )
                .execute(c)
            })
            .map_err(map_err)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::storage::sql::test_store as store;

    use crate::storage::sql::test_user as user;

    fn record(sid: &str, user_id: &str, created_at: i64) -> BrowserSessionRecord {
        BrowserSessionRecord {
            sid: sid.into(),
            store_key: format!("key-{sid}"),
            user_id: user_id.into(),
            auth_time: created_at,
            created_at,
            expires_at: created_at + 100,
            ended_at: None,
        }
    }

    #[test]
    fn register_list_add_clients_and_end() {
        let (_dir, s) = store();
        user(&s, "u1", "ada");
        user(&s, "u2", "bob");
        s.register_browser_session(&record("s1", "u1", 10)).unwrap();
        s.register_browser_session(&record("s2", "u1", 20)).unwrap();
        s.register_browser_session(&record("s3", "u2", 30)).unwrap();
        assert!(s.add_session_client("s1", "web").unwrap());
        assert!(s.add_session_client("s1", "web").unwrap(), "twice is fine");
        assert!(s.add_session_client("s1", "app").unwrap());
        assert!(!s.add_session_client("nope", "web").unwrap());
        assert_eq!(s.session_clients("s1").unwrap(), ["app", "web"]);

        let all = s.list_browser_sessions(None, 50).unwrap();
        let sids: Vec<&str> = all.iter().map(|l| l.session.sid.as_str()).collect();
        assert_eq!(sids, ["s3", "s2", "s1"], "newest first");
        assert_eq!(all[2].username, "ada");
        assert_eq!(all[2].clients, ["app", "web"]);
        let ada = s.list_browser_sessions(Some("u1"), 50).unwrap();
        assert_eq!(ada.len(), 2);
        // Expired sessions are not listed.
        assert_eq!(s.list_browser_sessions(None, 115).unwrap().len(), 2);

        assert_eq!(
            s.end_browser_session("s1", 60).unwrap(),
            Some(vec!["app".to_string(), "web".to_string()])
        );
        assert_eq!(s.end_browser_session("s1", 61).unwrap(), None, "ends once");
        assert_eq!(s.end_browser_session("nope", 61).unwrap(), None);
        assert_eq!(
            s.get_browser_session("s1").unwrap().unwrap().ended_at,
            Some(60)
        );
        assert_eq!(s.list_browser_sessions(Some("u1"), 70).unwrap().len(), 1);

        // Deleting a user removes their records.
        s.delete_user("u2").unwrap();
        assert!(s.get_browser_session("s3").unwrap().is_none());

        // Purge: ended before 65 (s1) goes; s2 (expires at 120) stays.
        assert_eq!(s.purge_browser_sessions(65).unwrap(), 1);
        assert!(s.session_clients("s1").unwrap().is_empty());
        assert!(s.get_browser_session("s2").unwrap().is_some());
    }
}
