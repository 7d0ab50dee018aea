//! Server-wide secrets (sealed under the KEK), created once by whichever node starts first.

use diesel::prelude::*;

use super::schema::server_secrets;
use super::{Store, bump, map_err};
use crate::storage::StorageResult;

impl Store {
    /// The sealed secret `name`; when absent, stores `make()` and returns it. Concurrent callers
    /// all get the one value that was stored first.
    pub fn get_or_create_secret(
        &self,
        name: &str,
        now: i64,
        make: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    ) -> StorageResult<Vec<u8>> {
        if let Some(v) = self.get_secret(name)? {
            return Ok(v);
        }
        let sealed = make().map_err(crate::storage::StorageError::Other)?;
        self.with_conn(|conn| {
            conn.transaction(|c| {
                // Serialises creators; the loser then reads the winner's value.
                bump(c, "keys")?;
                let existing: Option<Vec<u8>> = server_secrets::table
                    .filter(server_secrets::name.eq(name))
                    .select(server_secrets::sealed)
                    .first(c)
                    .optional()?;
                if let Some(v) = existing {
                    return Ok(v);
                }
                diesel::insert_into(server_secrets::table)
                    .values((
                        server_secrets::name.eq(name),
                        server_secrets::sealed.eq(&sealed),
                        server_secrets::created_at.eq(now),
                    ))
                    .execute(c)?;
                Ok(sealed.clone())
            })
            .map_err(map_err)
        })
    }

    pub fn get_secret(&self, name: &str) -> StorageResult<Option<Vec<u8>>> {
        self.with_conn(|c| {
            server_secrets::table
                .filter(server_secrets::name.eq(name))
                .select(server_secrets::sealed)
                .first(c)
                .optional()
                .map_err(map_err)
        })
    }
}
