//! Refresh-token families in SQL: creation, rotation with reuse detection, revocation.
//!
//! Rotation is one transaction that starts by writing to the presented token's row (a no-op
//! update): on PostgreSQL that row lock serialises concurrent refreshes of the same token, on
//! SQLite it takes the write lock at once. So of two simultaneous refreshes exactly one rotates;
//! the other then sees a rotated token. The partial unique index `refresh_tokens_one_active`
//! makes two live tokens in one family impossible whatever happens.

use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use diesel::sqlite::Sqlite;

use super::schema::{
    family_access_tokens as fat, refresh_tokens as rt, revoked_tokens, token_families as tf, users,
};
use super::{DbConn, Store, map_err};
use crate::storage::StorageResult;

/// A grant with offline access.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tf, treat_none_as_default_value = false)]
pub struct Family {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub sid: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub absolute_expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A refresh token about to be stored.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub hash: String,
    /// The plaintext sealed under the KEK, kept only while the retry window is open.
    pub sealed: Option<Vec<u8>>,
    pub expires_at: i64,
    /// The access token issued alongside.
    pub access_jti: String,
    pub access_expires_at: i64,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now rotated and `new` is the family's live token.
    Rotated(Family),
    /// The token had just been rotated for this client, inside the retry window: the same
    /// successor (sealed) is handed out again.
    Replay {
        family: Family,
        successor_sealed: Vec<u8>,
    },
    /// A retired token was presented again: the whole family is now revoked.
    Reused(Family),
    /// Unknown, foreign, expired or revoked: nothing changed.
    Invalid(&'static str),
}

/// Details of a stored refresh token, for introspection.
#[derive(Debug, Clone)]
pub struct RefreshInfo {
    pub family: Family,
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Queryable)]
struct TokenRow {
    family_id: String,
    state: String,
    expires_at: i64,
    rotated_at: Option<i64>,
    successor_sealed: Option<Vec<u8>>,
}

/// Starts a family with its first refresh token (and records the access token issued with it),
/// inside the caller's transaction (the code exchange's: `Store::record_redemption`).
pub(super) fn insert_family(
    c: &mut DbConn,
    family: &Family,
    first: &NewRefreshToken,
) -> QueryResult<()> {
    diesel::insert_into(tf::table).values(family).execute(c)?;
    insert_token(c, &family.id, first, family.created_at)
}

fn insert_token(c: &mut DbConn, family_id: &str, t: &NewRefreshToken, now: i64) -> QueryResult<()> {
    diesel::insert_into(rt::table)
        .values((
            rt::token_hash.eq(&t.hash),
            rt::family_id.eq(family_id),
            rt::state.eq("active"),
            rt::created_at.eq(now),
            rt::expires_at.eq(t.expires_at),
            rt::rotated_at.eq(None::<i64>),
            rt::successor_sealed.eq(None::<Vec<u8>>),
        ))
        .execute(c)?;
    diesel::insert_into(fat::table)
        .values((
            fat::jti.eq(&t.access_jti),
            fat::family_id.eq(family_id),
            fat::expires_at.eq(t.access_expires_at),
        ))
        .execute(c)?;
    Ok(())
}

/// Revokes every unrevoked family of a user (disabled by an administrator) inside the caller's
/// transaction; how many. The caller bumps [`super::grants::REVOCATIONS`] when it is not zero.
pub(super) fn revoke_families_of_user_in(
    c: &mut DbConn,
    user_id: &str,
    now: i64,
) -> QueryResult<usize> {
    let ids: Vec<String> = tf::table
        .filter(tf::user_id.eq(user_id))
        .filter(tf::revoked_at.is_null())
        .select(tf::id)
        .load(c)?;
    for id in &ids {
        revoke_family_in(c, id, now)?;
    }
    Ok(ids.len())
}

pub(super) fn revoke_family_in(c: &mut DbConn, family_id: &str, now: i64) -> QueryResult<()> {
    diesel::update(
        tf::table
            .filter(tf::id.eq(family_id))
            .filter(tf::revoked_at.is_null()),
    )
    .set(tf::revoked_at.eq(Some(now)))
    .execute(c)?;
    diesel::update(rt::table.filter(rt::family_id.eq(family_id)))
        .set((
            rt::state.eq("revoked"),
            rt::successor_sealed.eq(None::<Vec<u8>>),
        ))
        .execute(c)?;
    Ok(())
}

/// The rotation's two `UPDATE`s on SQLite, as statements diesel keeps prepared: it parses its
/// own `UPDATE`s again on every call (a changeset's SQL may vary), which cost a refresh on the
/// embedded default about a twentieth of its CPU (docs/BENCHMARKS.md, change 32). Each type is
/// its statement's cache key; the SQL is what diesel writes for PostgreSQL.
///
/// `UPDATE refresh_tokens SET state = state WHERE token_hash = ?`: the write that takes the lock.
struct Touch<'a> {
    hash: &'a str,
}

/// `UPDATE refresh_tokens SET state = 'rotated', rotated_at = ?, successor_sealed = ? WHERE
/// token_hash = ? AND state = 'active'`.
struct MarkRotated<'a> {
    hash: &'a str,
    now: i64,
    sealed: Option<&'a [u8]>,
}

impl QueryId for Touch<'_> {
    type QueryId = Touch<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Sqlite> for Touch<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("UPDATE refresh_tokens SET state = state WHERE token_hash = ");
        out.push_bind_param::<Text, _>(self.hash)
    }
}

impl RunQueryDsl<SqliteConnection> for Touch<'_> {}

impl QueryId for MarkRotated<'_> {
    type QueryId = MarkRotated<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Sqlite> for MarkRotated<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("UPDATE refresh_tokens SET state = 'rotated', rotated_at = ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(", successor_sealed = ");
        out.push_bind_param::<Nullable<Binary>, _>(&self.sealed)?;
        out.push_sql(" WHERE token_hash = ");
        out.push_bind_param::<Text, _>(self.hash)?;
        out.push_sql(" AND state = 'active'");
        Ok(())
    }
}

impl RunQueryDsl<SqliteConnection> for MarkRotated<'_> {}

impl Store {
    /// Presents refresh token `hash` for `client_id`: rotates it to `next`, replays the successor
    /// inside the retry window, or revokes the family on reuse. One transaction.
    pub fn rotate_refresh_token(
        &self,
        hash: &str,
        client_id: &str,
        next: &NewRefreshToken,
        retry_window: i64,
        now: i64,
    ) -> StorageResult<Rotation> {
        self.with_conn(|conn| {
            conn.transaction(|c| {
                // Write first: locks this token's row (PostgreSQL) / the database (SQLite).
                let exists = match c {
                    DbConn::Pg(pg) => diesel::update(rt::table.filter(rt::token_hash.eq(hash)))
                        .set(rt::state.eq(rt::state))
                        .execute(pg)?,
                    DbConn::Sqlite(lite) => Touch { hash }.execute(lite)?,
                };
                if exists == 0 {
                    return Ok(Rotation::Invalid("invalid refresh token"));
                }
                let tok: TokenRow = rt::table
                    .filter(rt::token_hash.eq(hash))
                    .select((
                        rt::family_id,
                        rt::state,
                        rt::expires_at,
                        rt::rotated_at,
                        rt::successor_sealed,
                    ))
                    .first(c)?;
                let family: Family = tf::table
                    .filter(tf::id.eq(&tok.family_id))
                    .select(Family::as_select())
                    .first(c)?;
                if family.client_id != client_id {
                    // Another client's token: refuse, and revoke nothing.
                    return Ok(Rotation::Invalid("invalid refresh token"));
                }
                if family.revoked_at.is_some() || tok.state == "revoked" {
                    return Ok(Rotation::Invalid("the refresh token was revoked"));
                }
                if now >= family.absolute_expires_at {
                    return Ok(Rotation::Invalid("the refresh token has expired"));
                }
                if tok.state == "rotated" {
                    let in_window =
                        retry_window > 0 && tok.rotated_at.is_some_and(|t| now <= t + retry_window);
                    let successor_live: i64 = rt::table
                        .filter(rt::family_id.eq(&family.id))
                        .filter(rt::state.eq("active"))
                        .count()
                        .get_result(c)?;
                    if let (true, Some(sealed), 1) =
                        (in_window, tok.successor_sealed.clone(), successor_live)
                    {
                        return Ok(Rotation::Replay {
                            family,
                            successor_sealed: sealed,
                        });
                    }
                    revoke_family_in(c, &family.id, now)?;
                    super::grants::bump_view(c, super::grants::REVOCATIONS)?;
                    return Ok(Rotation::Reused(family));
                }
                if now >= tok.expires_at {
                    return Ok(Rotation::Invalid("the refresh token has expired"));
                }
                let disabled: Option<bool> = users::table
                    .filter(users::id.eq(&family.user_id))
                    .select(users::disabled)
                    .first(c)
                    .optional()?;
                if disabled != Some(false) {
                    return Ok(Rotation::Invalid("the user is no longer active"));
                }
                match c {
                    DbConn::Pg(pg) => diesel::update(
                        rt::table
                            .filter(rt::token_hash.eq(hash))
                            .filter(rt::state.eq("active")),
                    )
                    .set((
                        rt::state.eq("rotated"),
                        rt::rotated_at.eq(Some(now)),
                        rt::successor_sealed.eq(&next.sealed),
                    ))
                    .execute(pg)?,
                    DbConn::Sqlite(lite) => MarkRotated {
                        hash,
                        now,
                        sealed: next.sealed.as_deref(),
                    }
                    .execute(lite)?,
                };
                insert_token(c, &family.id, next, now)?;
                Ok(Rotation::Rotated(family))
            })
            .map_err(map_err)
        })
        .inspect(|r| {
            if matches!(r, Rotation::Reused(_)) {
                super::grants::note_local_write();
            }
        })
    }

    /// Records another access token issued from a family (a retry-window replay).
    pub fn add_family_access_token(
        &self,
        family_id: &str,
        jti: &str,
        expires_at: i64,
    ) -> StorageResult<()> {
        self.with_conn(|c| {
            diesel::insert_into(fat::table)
                .values((
                    fat::jti.eq(jti),
                    fat::family_id.eq(family_id),
                    fat::expires_at.eq(expires_at),
                ))
                .execute(c)
                .map(|_| ())
                .map_err(map_err)
        })
    }

    /// Revokes a family: its refresh tokens and the access tokens issued from it.
    pub fn revoke_family(&self, family_id: &str, now: i64) -> StorageResult<()> {
        self.with_conn(|conn| {
            conn.transaction(|c| {
                revoke_family_in(c, family_id, now)?;
                super::grants::bump_view(c, super::grants::REVOCATIONS)
            })
            .map_err(map_err)
        })?;
        super::grants::note_local_write();
        Ok(())
    }

    /// Revokes the family (if any) that issued access token `jti`; returns whether there was one.
    pub fn revoke_family_of_access_token(&self, jti: &str, now: i64) -> StorageResult<bool> {
        self.with_conn(|conn| {
            conn.transaction(|c| {
                let family: Option<String> = fat::table
                    .filter(fat::jti.eq(jti))
                    .select(fat::family_id)
                    .first(c)
                    .optional()?;
                match family {
                    Some(id) => {
                        revoke_family_in(c, &id, now)?;
                        super::grants::bump_view(c, super::grants::REVOCATIONS)?;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            })
            .map_err(map_err)
        })
        .inspect(|found| {
            if *found {
                super::grants::note_local_write();
            }
        })
    }

    /// The stored refresh token `hash`, if any.
    pub fn find_refresh_token(&self, hash: &str) -> StorageResult<Option<RefreshInfo>> {
        self.with_conn(|c| {
            let row: Option<(String, String, i64, i64)> = rt::table
                .filter(rt::token_hash.eq(hash))
                .select((rt::family_id, rt::state, rt::created_at, rt::expires_at))
                .first(c)
                .optional()
                .map_err(map_err)?;
            let Some((family_id, state, created_at, expires_at)) = row else {
                return Ok(None);
            };
            let family: Family = tf::table
                .filter(tf::id.eq(&family_id))
                .select(Family::as_select())
                .first(c)
                .map_err(map_err)?;
            Ok(Some(RefreshInfo {
                family,
                state,
                created_at,
                expires_at,
            }))
        })
    }

    /// Is the access token `jti` revoked, by itself or through its family?
    pub fn is_access_token_revoked(&self, jti: &str) -> StorageResult<bool> {
        self.with_conn(|c| {
            let direct: i64 = revoked_tokens::table
                .filter(revoked_tokens::jti.eq(jti))
                .count()
                .get_result(c)
                .map_err(map_err)?;
            if direct > 0 {
                return Ok(true);
            }
            let via_family: i64 = fat::table
                .inner_join(tf::table.on(tf::id.eq(fat::family_id)))
                .filter(fat::jti.eq(jti))
                .filter(tf::revoked_at.is_not_null())
                .count()
                .get_result(c)
                .map_err(map_err)?;
            Ok(via_family > 0)
        })
    }

    /// Forgets refresh tokens and families past their lifetimes.
    pub fn purge_expired_refresh_tokens(&self, now: i64) -> StorageResult<usize> {
        self.with_conn(|c| {
            let a = diesel::delete(fat::table.filter(fat::expires_at.le(now)))
                .execute(c)
                .map_err(map_err)?;
            let b = diesel::delete(tf::table.filter(tf::absolute_expires_at.le(now)))
                .execute(c)
                .map_err(map_err)?;
            Ok(a + b)
        })
    }
}
