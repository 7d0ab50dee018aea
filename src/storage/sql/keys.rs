//! Signing keys in SQL.

use diesel::prelude::*;

use super::schema::signing_keys;
use super::{Store, bump, map_err};
use crate::protocol::jose::Alg;
use crate::storage::{KeyRecord, KeyState, StorageError, StorageResult};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys, treat_none_as_default_value = false)]
struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    public_jwk: String,
    private_key: Vec<u8>,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StorageError;
    fn try_from(r: KeyRow) -> StorageResult<KeyRecord> {
        let corrupt =
            |what: &str| StorageError::Other(anyhow::anyhow!("corrupt key {}: {what}", r.kid));
        Ok(KeyRecord {
            alg: Alg::parse(&r.alg).ok_or_else(|| corrupt("alg"))?,
            state: KeyState::parse(&r.state).ok_or_else(|| corrupt("state"))?,
            public_jwk: serde_json::from_str(&r.public_jwk).map_err(|_| corrupt("public_jwk"))?,
            sealed_private_key: r.private_key,
            created_at: r.created_at,
            activated_at: r.activated_at,
            retired_at: r.retired_at,
            kid: r.kid,
        })
    }
}

impl From<&KeyRecord> for KeyRow {
    fn from(k: &KeyRecord) -> Self {
        KeyRow {
            kid: k.kid.clone(),
            alg: k.alg.as_str().into(),
            state: k.state.as_str().into(),
            public_jwk: k.public_jwk.to_string(),
            private_key: k.sealed_private_key.clone(),
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
        }
    }
}

impl Store {
    /// Every key not yet removed, newest first.
    pub fn list_keys(&self) -> StorageResult<Vec<KeyRecord>> {
        self.with_conn(|c| {
            signing_keys::table
                .order((signing_keys::created_at.desc(), signing_keys::kid.asc()))
                .select(KeyRow::as_select())
                .load(c)
                .map_err(map_err)?
                .into_iter()
                .map(KeyRecord::try_from)
                .collect()
        })
    }

    /// Makes `key` (state `Active`) the active key of its algorithm and retires the previous one,
    /// in one transaction. With `only_if_none`, does nothing when an active key exists (start-up
    /// bootstrap: several nodes starting at once create exactly one key). Returns whether `key`
    /// was inserted.
    pub fn activate_key(
        &self,
        key: &KeyRecord,
        only_if_none: bool,
        now: i64,
    ) -> StorageResult<bool> {
        let row = KeyRow::from(key);
        let alg = key.alg.as_str();
        self.with_conn(|conn| {
            conn.transaction(|c| {
                bump(c, "keys")?;
                let active: i64 = signing_keys::table
                    .filter(signing_keys::alg.eq(alg))
                    .filter(signing_keys::state.eq("active"))
                    .count()
                    .get_result(c)?;
                if active > 0 && only_if_none {
                    return Ok(false);
                }
                diesel::update(
                    signing_keys::table
                        .filter(signing_keys::alg.eq(alg))
                        .filter(signing_keys::state.eq("active")),
                )
                .set((
                    signing_keys::state.eq("retired"),
                    signing_keys::retired_at.eq(Some(now)),
                ))
                .execute(c)?;
                diesel::insert_into(signing_keys::table)
                    .values(&row)
                    .execute(c)?;
                Ok(true)
            })
            .map_err(map_err)
        })
    }
}
