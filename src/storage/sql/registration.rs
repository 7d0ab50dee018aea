//! Initial access tokens for dynamic client registration (RFC 7591 §3), stored as SHA-256
//! hashes with an optional expiry and an optional number of remaining uses.

use diesel::prelude::*;

use super::clients::write_registration;
use super::schema::registration_tokens;
use super::{Store, bump, map_err};
use crate::protocol::client::Client;
use crate::storage::{StorageError, StorageResult};

/// An initial access token as stored, without its hash: `(id, created_at, expires_at,
/// remaining_uses)` — the non-secret identifier (a random UUID, unrelated to the token), when
/// it was created, when it expires (`None`: never) and how many uses it has left (`None`:
/// unlimited).
pub type RegistrationTokenRow = (String, i64, Option<i64>, Option<i64>);

/// Why a registration with an initial access token did not happen.
#[derive(Debug)]
pub enum RegisterOutcome {
    Registered,
    /// Unknown, expired or used up.
    TokenRefused,
}

/// The columns of a [`RegistrationTokenRow`].
const COLUMNS: (
    registration_tokens::id,
    registration_tokens::created_at,
    registration_tokens::expires_at,
    registration_tokens::remaining_uses,
) = (
    registration_tokens::id,
    registration_tokens::created_at,
    registration_tokens::expires_at,
    registration_tokens::remaining_uses,
);

impl Store {
    /// Stores a new initial access token (its hash only) under its identifier `id`.
    pub fn insert_registration_token(
        &self,
        id: &str,
        token_hash: &str,
        created_at: i64,
        expires_at: Option<i64>,
        remaining_uses: Option<i64>,
    ) -> StorageResult<()> {
        self.with_conn(|c| {
            diesel::insert_into(registration_tokens::table)
                .values((
                    registration_tokens::id.eq(id),
                    registration_tokens::token_hash.eq(token_hash),
                    registration_tokens::created_at.eq(created_at),
                    registration_tokens::expires_at.eq(expires_at),
                    registration_tokens::remaining_uses.eq(remaining_uses),
                ))
                .execute(c)
                .map_err(map_err)?;
            Ok(())
        })
    }

    /// Every initial access token (never its hash), newest first.
    pub fn list_registration_tokens(&self) -> StorageResult<Vec<RegistrationTokenRow>> {
        self.with_conn(|c| {
            registration_tokens::table
                .order((
                    registration_tokens::created_at.desc(),
                    registration_tokens::id.asc(),
                ))
                .select(COLUMNS)
                .load(c)
                .map_err(map_err)
        })
    }

    /// The initial access token with this identifier.
    pub fn get_registration_token(&self, id: &str) -> StorageResult<Option<RegistrationTokenRow>> {
        self.with_conn(|c| {
            registration_tokens::table
                .filter(registration_tokens::id.eq(id))
                .select(COLUMNS)
                .first(c)
                .optional()
                .map_err(map_err)
        })
    }

    /// Deletes (revokes) an initial access token: it registers nothing from now on. `NotFound`
    /// when there is none with this identifier.
    pub fn delete_registration_token(&self, id: &str) -> StorageResult<()> {
        self.with_conn(|c| {
            let n =
                diesel::delete(registration_tokens::table.filter(registration_tokens::id.eq(id)))
                    .execute(c)
                    .map_err(map_err)?;
            if n == 0 {
                return Err(StorageError::NotFound);
            }
            Ok(())
        })
    }

    /// Whether an initial access token is usable now (known, unexpired, uses left).
    pub fn registration_token_usable(&self, token_hash: &str, now: i64) -> StorageResult<bool> {
        self.with_conn(|c| {
            let n: i64 = registration_tokens::table
                .filter(registration_tokens::token_hash.eq(token_hash))
                .filter(
                    registration_tokens::expires_at
                        .is_null()
                        .or(registration_tokens::expires_at.gt(now)),
                )
                .filter(
                    registration_tokens::remaining_uses
                        .is_null()
                        .or(registration_tokens::remaining_uses.gt(0)),
                )
                .count()
                .get_result(c)
                .map_err(map_err)?;
            Ok(n > 0)
        })
    }

    /// Inserts a dynamically registered client and, when `token_hash` is given, uses up one
    /// use of that initial access token — in one transaction, so concurrent registrations
    /// cannot exceed the token's uses and a refused token registers nothing.
    pub fn register_client(
        &self,
        client: &Client,
        token_hash: Option<&str>,
        now: i64,
    ) -> StorageResult<RegisterOutcome> {
        self.with_conn(|conn| {
            let r = conn.transaction(|c| {
                bump(c, "clients")?;
                if let Some(hash) = token_hash {
                    let n = diesel::update(
                        registration_tokens::table
                            .filter(registration_tokens::token_hash.eq(hash))
                            .filter(
                                registration_tokens::expires_at
                                    .is_null()
                                    .or(registration_tokens::expires_at.gt(now)),
                            )
                            .filter(
                                registration_tokens::remaining_uses
                                    .is_null()
                                    .or(registration_tokens::remaining_uses.gt(0)),
                            ),
                    )
                    .set(
                        registration_tokens::remaining_uses
                            .eq(registration_tokens::remaining_uses - 1),
                    )
                    .execute(c)?;
                    if n == 0 {
                        return Err(diesel::result::Error::RollbackTransaction);
                    }
                }
                super::clients::insert_row(c, client)?;
                write_registration(c, client)?;
                Ok(())
            });
            match r {
                Ok(()) => Ok(RegisterOutcome::Registered),
                Err(diesel::result::Error::RollbackTransaction) => {
                    Ok(RegisterOutcome::TokenRefused)
                }
                Err(e) => Err(match map_err(e) {
                    StorageError::Conflict(_) => {
                        StorageError::Conflict(format!("client id `{}` is taken", client.id))
                    }
                    other => other,
                }),
            }
        })
    }
}
