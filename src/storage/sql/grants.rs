//! Consents, redeemed authorization codes and revoked access tokens; the change counters of
//! each node's in-memory revocation view (`flows::directory`).
//!
//! **Revocation view.** Every transaction that revokes access tokens (directly by `jti`, or
//! through their refresh-token family) bumps the `revocations` row of `revisions` as its *last*
//! statement, and every write to a user bumps `users` — so other nodes notice within one reload
//! interval (the rows are created by the first bump: no migration needed). The row lock is the
//! last one such a transaction takes, so it cannot close a deadlock cycle on PostgreSQL. After
//! the commit the writer also counts the write in a process-wide counter
//! ([`local_writes`]), which the node's own view checks on every lookup: a revocation made
//! through this process is seen by it at once.

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::refresh::insert_family;
use super::schema::{consents, redeemed_codes, revoked_tokens};
use super::users::UserRow;
use super::{DbConn, Family, NewRefreshToken, Store, map_err, unix_now};
use crate::protocol::user::User;
use crate::storage::{Revisions, StorageError, StorageResult};

/// Change counter of revoked access tokens (direct or through a revoked family).
pub const REVOCATIONS: &str = "revocations";
/// Change counter of users (disabled, enabled, deleted, new password).
pub const USERS: &str = "users";

/// Committed revocation and user writes made by this process (see the module docs).
static LOCAL_WRITES: AtomicU64 = AtomicU64::new(0);

/// How many revocation or user writes this process has committed.
pub fn local_writes() -> u64 {
    LOCAL_WRITES.load(Ordering::Acquire)
}

/// Call after the commit of a write that bumped [`REVOCATIONS`] or [`USERS`].
pub(super) fn note_local_write() {
    LOCAL_WRITES.fetch_add(1, Ordering::AcqRel);
}

/// Bumps change counter `kind` (creating its row). Call it last in the transaction.
pub(super) fn bump_view(c: &mut DbConn, kind: &'static str) -> QueryResult<()> {
    match c {
        DbConn::Pg(pg) => diesel::sql_query(
            "INSERT INTO revisions (name, value) VALUES ($1, 1) \
             ON CONFLICT (name) DO UPDATE SET value = revisions.value + 1",
        )
        .bind::<Text, _>(kind)
        .execute(pg)?,
        DbConn::Sqlite(lite) => diesel::sql_query(
            "INSERT INTO revisions (name, value) VALUES (?, 1) \
             ON CONFLICT (name) DO UPDATE SET value = revisions.value + 1",
        )
        .bind::<Text, _>(kind)
        .execute(lite)?,
    };
    Ok(())
}

/// Every change counter, read in one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewRevisions {
    pub base: Revisions,
    pub revocations: i64,
    pub users: i64,
}

/// A user's standing consent to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub user_id: String,
    pub client_id: String,
    /// Space-separated.
    pub scopes: String,
    pub granted_at: i64,
}

/// A redeemed code, remembered until the tokens issued from it expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    pub access_token_jti: String,
    pub expires_at: i64,
}

/// The consent upsert, with its four parameters (user, client, scopes, time): concurrent saves
/// for the same pair (a user signing in to one client from several browsers at once) cannot
/// race on the primary key, however many there are.
fn upsert_consent([user, client, scopes, at]: [&str; 4]) -> String {
    format!(
        "INSERT INTO consents (user_id, client_id, scopes, granted_at) \
         VALUES ({user}, {client}, {scopes}, {at}) ON CONFLICT (user_id, client_id) \
         DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at"
    )
}

/// What the durable step of a code exchange came to ([`Store::redeem_code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code's first redemption is recorded, with the family it starts; the user, active.
    Recorded(User),
    /// The user no longer exists or is disabled: nothing was written.
    Inactive,
    /// The code was redeemed before: nothing was written.
    Before,
}

/// The code exchange's durable step on PostgreSQL as one statement (one round trip, atomic by
/// itself). `u` is the user if active; the redemption record is inserted only with it and only
/// if the code has none yet (`ON CONFLICT DO NOTHING`, so concurrent redemptions of one code
/// record one); the family, its first refresh token and the access token's link only with the
/// record. Foreign keys are checked at the end of the statement, where the family row is there.
const REDEEM_PG: &str = "WITH u AS (SELECT * FROM users WHERE id = $1 AND NOT disabled), \
     rc AS (INSERT INTO redeemed_codes \
     (code_hash, client_id, user_id, access_token_jti, redeemed_at, expires_at) \
     SELECT $2, $3, u.id, $4, $5, $6 FROM u \
     ON CONFLICT (code_hash) DO NOTHING RETURNING code_hash)";
const REDEEM_PG_FAMILY: &str = ", f AS (INSERT INTO token_families \
     (id, client_id, user_id, scope, sid, auth_time, created_at, absolute_expires_at, revoked_at) \
     SELECT $7, $8, $9, $10, $11, $12, $13, $14, $15 FROM rc), \
     t AS (INSERT INTO refresh_tokens (token_hash, family_id, state, created_at, expires_at) \
     SELECT $16, $7, 'active', $13, $17 FROM rc), \
     a AS (INSERT INTO family_access_tokens (jti, family_id, expires_at) \
     SELECT $18, $7, $19 FROM rc)";
const REDEEM_PG_RESULT: &str = " SELECT u.*, (SELECT count(*) FROM rc) AS recorded FROM u";

#[derive(QueryableByName)]
struct RedeemRow {
    #[diesel(embed)]
    user: UserRow,
    #[diesel(sql_type = BigInt)]
    recorded: i64,
}

impl Store {
    /// Remembers that `user_id` granted `client_id` these scopes (replacing the previous record).
    pub fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &str,
        now: i64,
    ) -> StorageResult<()> {
        self.with_conn(|c| {
            match c {
                DbConn::Pg(pg) => diesel::sql_query(upsert_consent(["$1", "$2", "$3", "$4"]))
                    .bind::<Text, _>(user_id)
                    .bind::<Text, _>(client_id)
                    .bind::<Text, _>(scopes)
                    .bind::<BigInt, _>(now)
                    .execute(pg),
                // `REPLACE`, which diesel keeps prepared (an `ON CONFLICT` clause, and raw SQL,
                // it parses again on every call): the row's only constraints are its key and
                // its references, so the old row deleted and the new one inserted is the upsert.
                DbConn::Sqlite(lite) => diesel::replace_into(consents::table)
                    .values((
                        consents::user_id.eq(user_id),
                        consents::client_id.eq(client_id),
                        consents::scopes.eq(scopes),
                        consents::granted_at.eq(now),
                    ))
                    .execute(lite),
            }
            .map(|_| ())
            .map_err(map_err)
        })
    }

    /// The writes of a completed consent step: the user's consent to `client_id` when `scopes`
    /// is given ([`Store::save_consent`]), then the client in session `sid`'s registry entry
    /// when `sid` is given ([`Store::add_session_client`]) — on PostgreSQL, when both, in one
    /// statement (one round trip).
    pub fn save_consent_and_session_client(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: Option<&str>,
        sid: Option<&str>,
        now: i64,
    ) -> StorageResult<()> {
        if let (Some(scopes), Some(sid)) = (scopes, sid)
            && let Some(done) = self.with_pg(|pg| {
                let sql = format!(
                    "WITH c AS ({}), {} SELECT count(*) AS n FROM s",
                    upsert_consent(["$1", "$2", "$3", "$4"]),
                    super::browser_sessions::add_client_pg("$5", "$2")
                );
                diesel::sql_query(sql)
                    .bind::<Text, _>(user_id)
                    .bind::<Text, _>(client_id)
                    .bind::<Text, _>(scopes)
                    .bind::<BigInt, _>(now)
                    .bind::<Text, _>(sid)
                    .execute(pg)
                    .map(|_| ())
                    .map_err(map_err)
            })
        {
            return done;
        }
        if let Some(scopes) = scopes {
            self.save_consent(user_id, client_id, scopes, now)?;
        }
        if let Some(sid) = sid {
            self.add_session_client(sid, client_id)?;
        }
        Ok(())
    }

    /// Consents, by user then client; only `user_id`'s when given.
    pub fn list_consents(&self, user_id: Option<&str>) -> StorageResult<Vec<ConsentRecord>> {
        self.with_conn(|c| {
            let mut q = consents::table
                .select((
                    consents::user_id,
                    consents::client_id,
                    consents::scopes,
                    consents::granted_at,
                ))
                .order((consents::user_id, consents::client_id))
                .into_boxed();
            if let Some(u) = user_id {
                q = q.filter(consents::user_id.eq(u.to_string()));
            }
            let rows: Vec<(String, String, String, i64)> = q.load(c).map_err(map_err)?;
            Ok(rows
                .into_iter()
                .map(|(user_id, client_id, scopes, granted_at)| ConsentRecord {
                    user_id,
                    client_id,
                    scopes,
                    granted_at,
                })
                .collect())
        })
    }

    /// Withdraws `user_id`'s consent to `client_id` and, in the same transaction, revokes the
    /// refresh-token families (and their access tokens) the user granted that client. Returns
    /// the number of families revoked; [`StorageError::NotFound`] when there was no consent.
    pub fn delete_consent(&self, user_id: &str, client_id: &str, now: i64) -> StorageResult<usize> {
        use super::schema::token_families as tf;
        self.with_conn(|conn| {
            conn.transaction(|c| {
                let n = diesel::delete(
                    consents::table
                        .filter(consents::user_id.eq(user_id))
                        .filter(consents::client_id.eq(client_id)),
                )
                .execute(c)?;
                if n == 0 {
                    return Err(diesel::result::Error::NotFound);
                }
                let ids: Vec<String> = tf::table
                    .filter(tf::user_id.eq(user_id))
                    .filter(tf::client_id.eq(client_id))
                    .filter(tf::revoked_at.is_null())
                    .select(tf::id)
                    .load(c)?;
                for id in &ids {
                    super::refresh::revoke_family_in(c, id, now)?;
                }
                if !ids.is_empty() {
                    bump_view(c, REVOCATIONS)?;
                }
                Ok(ids.len())
            })
            .map_err(|e| match e {
                diesel::result::Error::NotFound => StorageError::NotFound,
                other => map_err(other),
            })
        })
        .inspect(|n| {
            if *n > 0 {
                note_local_write();
            }
        })
    }

    /// Records the first redemption of a code and, in the same transaction, the refresh-token
    /// family it starts (when it starts one): one commit, so never a record without its family,
    /// and one sync. `Ok(false)`, with nothing written, when the code was already redeemed.
    pub fn record_redemption(
        &self,
        code_hash: &str,
        client_id: &str,
        user_id: &str,
        redemption: &Redemption,
        family: Option<(&Family, &NewRefreshToken)>,
        now: i64,
    ) -> StorageResult<bool> {
        /// Why the transaction rolled back.
        enum Failed {
            Redeemed,
            Db(diesel::result::Error),
        }
        impl From<diesel::result::Error> for Failed {
            fn from(e: diesel::result::Error) -> Self {
                Failed::Db(e)
            }
        }
        let outcome = self.with_conn(|conn| {
            Ok(conn.transaction(|c| {
                diesel::insert_into(redeemed_codes::table)
                    .values((
                        redeemed_codes::code_hash.eq(code_hash),
                        redeemed_codes::client_id.eq(client_id),
                        redeemed_codes::user_id.eq(user_id),
                        redeemed_codes::access_token_jti.eq(&redemption.access_token_jti),
                        redeemed_codes::redeemed_at.eq(now),
                        redeemed_codes::expires_at.eq(redemption.expires_at),
                    ))
                    .execute(c)
                    .map_err(|e| match e {
                        diesel::result::Error::DatabaseError(
                            diesel::result::DatabaseErrorKind::UniqueViolation,
                            _,
                        ) => Failed::Redeemed,
                        other => Failed::Db(other),
                    })?;
                if let Some((family, first)) = family {
                    insert_family(c, family, first)?;
                }
                Ok::<_, Failed>(())
            }))
        })?;
        match outcome {
            Ok(()) => Ok(true),
            Err(Failed::Redeemed) => Ok(false),
            Err(Failed::Db(e)) => Err(map_err(e)),
        }
    }

    /// The durable step of a code exchange: the user `user_id`, who must be active, and the
    /// code's first redemption with the refresh-token family it starts (when it starts one),
    /// written together before any token is returned. On PostgreSQL one statement (one round
    /// trip); on SQLite a read and one transaction on the storage thread.
    pub fn redeem_code(
        &self,
        code_hash: &str,
        client_id: &str,
        user_id: &str,
        redemption: &Redemption,
        family: Option<(&Family, &NewRefreshToken)>,
        now: i64,
    ) -> StorageResult<Redeemed> {
        if let Some(redeemed) = self.with_pg(|pg| {
            redeem_pg(pg, code_hash, client_id, user_id, redemption, family, now).map_err(map_err)
        }) {
            return redeemed;
        }
        let Some(user) = self.get_active_user(user_id)? else {
            return Ok(Redeemed::Inactive);
        };
        Ok(
            if self.record_redemption(code_hash, client_id, &user.id, redemption, family, now)? {
                Redeemed::Recorded(user)
            } else {
                Redeemed::Before
            },
        )
    }

    pub fn find_redemption(&self, code_hash: &str) -> StorageResult<Option<Redemption>> {
        self.with_conn(|c| {
            redeemed_codes::table
                .filter(redeemed_codes::code_hash.eq(code_hash))
                .select((redeemed_codes::access_token_jti, redeemed_codes::expires_at))
                .first::<(String, i64)>(c)
                .optional()
                .map(|r| {
                    r.map(|(access_token_jti, expires_at)| Redemption {
                        access_token_jti,
                        expires_at,
                    })
                })
                .map_err(map_err)
        })
    }

    /// Revokes an access token by `jti` until `expires_at`; durable when this returns.
    pub fn revoke_token(&self, jti: &str, expires_at: i64, now: i64) -> StorageResult<()> {
        let r = self.with_conn(|conn| {
            conn.transaction(|c| {
                diesel::insert_into(revoked_tokens::table)
                    .values((
                        revoked_tokens::jti.eq(jti),
                        revoked_tokens::revoked_at.eq(now),
                        revoked_tokens::expires_at.eq(expires_at),
                    ))
                    .execute(c)?;
                bump_view(c, REVOCATIONS)
            })
            .map_err(map_err)
        });
        match r {
            Ok(_) => {
                note_local_write();
                Ok(())
            }
            Err(StorageError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// How many revocation or user writes this process has committed ([`local_writes`]).
    pub fn local_view_writes() -> u64 {
        local_writes()
    }

    /// Every change counter (clients, keys, revocations, users) in one query.
    pub fn view_revisions(&self) -> StorageResult<ViewRevisions> {
        use super::schema::revisions::dsl::*;
        self.with_conn(|c| {
            let rows: Vec<(String, i64)> =
                revisions.select((name, value)).load(c).map_err(map_err)?;
            let get = |n: &str| {
                rows.iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| *v)
                    .unwrap_or(0)
            };
            Ok(ViewRevisions {
                base: Revisions {
                    clients: get("clients"),
                    keys: get("keys"),
                },
                revocations: get(REVOCATIONS),
                users: get(USERS),
            })
        })
    }

    /// The `jti` of every revoked access token still on record (revoked by itself, or issued
    /// from a revoked refresh-token family): [`Store::purge_expired_grants`] and
    /// `purge_expired_refresh_tokens` forget them once they have expired.
    pub fn revoked_access_tokens(&self) -> StorageResult<Vec<String>> {
        use super::schema::{family_access_tokens as fat, token_families as tf};
        self.with_conn(|c| {
            let mut jtis: Vec<String> = revoked_tokens::table
                .select(revoked_tokens::jti)
                .load(c)
                .map_err(map_err)?;
            let via_family: Vec<String> = fat::table
                .inner_join(tf::table.on(tf::id.eq(fat::family_id)))
                .filter(tf::revoked_at.is_not_null())
                .select(fat::jti)
                .load(c)
                .map_err(map_err)?;
            jtis.extend(via_family);
            Ok(jtis)
        })
    }

    pub fn is_revoked(&self, jti: &str) -> StorageResult<bool> {
        self.with_conn(|c| {
            let n: i64 = revoked_tokens::table
                .filter(revoked_tokens::jti.eq(jti))
                .count()
                .get_result(c)
                .map_err(map_err)?;
            Ok(n > 0)
        })
    }

    /// Forgets redemptions and revocations whose tokens have expired.
    pub fn purge_expired_grants(&self) -> StorageResult<usize> {
        self.with_conn(|c| {
            let now = unix_now();
            let a =
                diesel::delete(redeemed_codes::table.filter(redeemed_codes::expires_at.le(now)))
                    .execute(c)
                    .map_err(map_err)?;
            let b =
                diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(now)))
                    .execute(c)
                    .map_err(map_err)?;
            Ok(a + b)
        })
    }
}

/// [`Store::redeem_code`] on PostgreSQL ([`REDEEM_PG`]).
fn redeem_pg(
    pg: &mut diesel::PgConnection,
    code_hash: &str,
    client_id: &str,
    user_id: &str,
    redemption: &Redemption,
    family: Option<(&Family, &NewRefreshToken)>,
    now: i64,
) -> QueryResult<Redeemed> {
    use diesel::sql_types::Nullable;
    let record = |sql: String| {
        diesel::sql_query(sql)
            .bind::<Text, _>(user_id)
            .bind::<Text, _>(code_hash)
            .bind::<Text, _>(client_id)
            .bind::<Text, _>(&redemption.access_token_jti)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(redemption.expires_at)
    };
    let row = match family {
        None => record(format!("{REDEEM_PG}{REDEEM_PG_RESULT}"))
            .get_result::<RedeemRow>(pg)
            .optional()?,
        Some((f, first)) => record(format!("{REDEEM_PG}{REDEEM_PG_FAMILY}{REDEEM_PG_RESULT}"))
            .bind::<Text, _>(&f.id)
            .bind::<Text, _>(&f.client_id)
            .bind::<Text, _>(&f.user_id)
            .bind::<Text, _>(&f.scope)
            .bind::<Nullable<Text>, _>(f.sid.as_deref())
            .bind::<BigInt, _>(f.auth_time)
            .bind::<BigInt, _>(f.created_at)
            .bind::<BigInt, _>(f.absolute_expires_at)
            .bind::<Nullable<BigInt>, _>(f.revoked_at)
            .bind::<Text, _>(&first.hash)
            .bind::<BigInt, _>(first.expires_at)
            .bind::<Text, _>(&first.access_jti)
            .bind::<BigInt, _>(first.access_expires_at)
            .get_result::<RedeemRow>(pg)
            .optional()?,
    };
    Ok(match row {
        None => Redeemed::Inactive,
        Some(r) if r.recorded == 0 => Redeemed::Before,
        Some(r) => Redeemed::Recorded(r.user.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sql::schema::{refresh_tokens, token_families};
    use crate::storage::sql::test_family;

    fn store() -> (tempfile::TempDir, Store) {
        let (dir, store) = crate::storage::sql::test_store();
        crate::storage::sql::test_user(&store, "u1", "ada");
        crate::storage::sql::test_client(&store, "web", 1);
        (dir, store)
    }

    fn counts(s: &Store) -> (i64, i64, i64) {
        s.with_conn(|c| {
            Ok((
                redeemed_codes::table
                    .count()
                    .get_result(c)
                    .map_err(map_err)?,
                token_families::table
                    .count()
                    .get_result(c)
                    .map_err(map_err)?,
                refresh_tokens::table
                    .count()
                    .get_result(c)
                    .map_err(map_err)?,
            ))
        })
        .unwrap()
    }

    fn redemption(jti: &str) -> Redemption {
        Redemption {
            access_token_jti: jti.into(),
            expires_at: 1_000,
        }
    }

    /// The redemption record and the family it starts are one transaction: a code redeemed
    /// twice starts no second family, and a family that cannot be written leaves no record
    /// (the code can still be redeemed, not "already used" with no tokens to show for it).
    #[test]
    fn redemption_and_family_commit_together() {
        let (_dir, s) = store();
        let (f1, t1) = test_family("f1", "web", "u1");
        assert!(
            s.record_redemption(
                "code-a",
                "web",
                "u1",
                &redemption("a1"),
                Some((&f1, &t1)),
                100
            )
            .unwrap()
        );
        assert_eq!(counts(&s), (1, 1, 1));

        let (f2, t2) = test_family("f2", "web", "u1");
        assert!(
            !s.record_redemption(
                "code-a",
                "web",
                "u1",
                &redemption("a2"),
                Some((&f2, &t2)),
                101
            )
            .unwrap()
        );
        assert_eq!(counts(&s), (1, 1, 1), "a second redemption wrote nothing");
        assert_eq!(s.find_redemption("code-a").unwrap(), Some(redemption("a1")));

        // The family refers to a client that does not exist: the whole write fails.
        let (f3, t3) = test_family("f3", "gone", "u1");
        let r = s.record_redemption(
            "code-b",
            "web",
            "u1",
            &redemption("b1"),
            Some((&f3, &t3)),
            102,
        );
        assert!(r.is_err(), "{r:?}");
        assert_eq!(counts(&s), (1, 1, 1), "no record without its family");
        assert_eq!(s.find_redemption("code-b").unwrap(), None);

        // Without a family, only the record.
        assert!(
            s.record_redemption("code-c", "web", "u1", &redemption("c1"), None, 103)
                .unwrap()
        );
        assert_eq!(counts(&s), (2, 1, 1));
    }
}
