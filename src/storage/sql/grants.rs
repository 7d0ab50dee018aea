//! Consents, redeemed authorization codes and revoked access tokens.

use diesel::prelude::*;

use super::schema::{consents, redeemed_codes, revoked_tokens};
use super::{Store, map_err, unix_now};
use crate::storage::{StorageError, StorageResult};

/// A redeemed code, remembered until the tokens issued from it expire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    pub access_token_jti: String,
    pub expires_at: i64,
}

impl Store {
    /// The scopes `user_id` granted `client_id`, space-separated.
    pub fn get_consent(&self, user_id: &str, client_id: &str) -> StorageResult<Option<String>> {
        self.with_conn(|c| {
            consents::table
                .filter(consents::user_id.eq(user_id))
                .filter(consents::client_id.eq(client_id))
                .select(consents::scopes)
                .first(c)
                .optional()
                .map_err(map_err)
        })
    }

    /// Remembers that `user_id` granted `client_id` these scopes (replacing the previous record).
    pub fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &str,
        now: i64,
    ) -> StorageResult<()> {
        self.with_conn(|conn| {
            conn.transaction(|c| {
                diesel::delete(
                    consents::table
                        .filter(consents::user_id.eq(user_id))
                        .filter(consents::client_id.eq(client_id)),
                )
                .execute(c)?;
                diesel::insert_into(consents::table)
                    .values((
                        consents::user_id.eq(user_id),
                        consents::client_id.eq(client_id),
                        consents::scopes.eq(scopes),
                        consents::granted_at.eq(now),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .map_err(map_err)
        })
    }

    /// Records the first redemption of a code. `Ok(false)` when it was already redeemed.
    pub fn record_redemption(
        &self,
        code_hash: &str,
        client_id: &str,
        user_id: &str,
        redemption: &Redemption,
        now: i64,
    ) -> StorageResult<bool> {
        let inserted = self.with_conn(|c| {
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
                .map_err(map_err)
        });
        match inserted {
            Ok(_) => Ok(true),
            Err(StorageError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
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
        let r = self.with_conn(|c| {
            diesel::insert_into(revoked_tokens::table)
                .values((
                    revoked_tokens::jti.eq(jti),
                    revoked_tokens::revoked_at.eq(now),
                    revoked_tokens::expires_at.eq(expires_at),
                ))
                .execute(c)
                .map_err(map_err)
        });
        match r {
            Ok(_) | Err(StorageError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
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
