//! Signing keys in SQL, and the key schedule's transitions.
//!
//! Every transition runs in a transaction that first locks the `key_schedule` row of
//! `revisions`, so that of several nodes running the schedule at once exactly one performs a
//! transition and the others find it done. Any change bumps the `keys` counter, which every node
//! polls to reload its key ring.

use diesel::prelude::*;

use super::schema::{revisions, signing_keys};
use super::{DbConn, Store, bump, map_err};
use crate::protocol::jose::Alg;
use crate::protocol::keys::{KeyView, Policy, Step, plan};
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
    activates_at: Option<i64>,
    remove_after: Option<i64>,
    removed_at: Option<i64>,
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
            activates_at: r.activates_at,
            remove_after: r.remove_after,
            removed_at: r.removed_at,
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
            activates_at: k.activates_at,
            remove_after: k.remove_after,
            removed_at: k.removed_at,
        }
    }
}

/// Re-seals one sealed value (associated data, sealed bytes) under another key.
pub type Reseal<'a> = &'a dyn Fn(&[u8], &[u8]) -> anyhow::Result<Vec<u8>>;

/// An error inside a key transaction: the database's, or making a key failed.
enum TxError {
    Db(diesel::result::Error),
    Other(anyhow::Error),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
}

fn tx_err(e: TxError) -> StorageError {
    match e {
        TxError::Db(e) => map_err(e),
        TxError::Other(e) => StorageError::Other(e),
    }
}

fn views_of(c: &mut DbConn, alg: Alg) -> Result<Vec<KeyView>, TxError> {
    Ok(load_alg(c, alg)
        .map_err(|e| TxError::Other(e.into()))?
        .iter()
        .map(|k| KeyView {
            kid: k.kid.clone(),
            state: k.state,
            created_at: k.created_at,
            activates_at: k.activates_at,
            activated_at: k.activated_at,
            remove_after: k.remove_after,
        })
        .collect())
}

/// Applies planned transitions inside the caller's transaction.
fn apply_steps(
    c: &mut DbConn,
    steps: &[Step],
    now: i64,
    make: &dyn Fn(KeyState, Option<i64>) -> anyhow::Result<KeyRecord>,
) -> Result<(), TxError> {
    for step in steps {
        match step {
            Step::CreateActive => {
                let rec = make(KeyState::Active, None).map_err(TxError::Other)?;
                diesel::insert_into(signing_keys::table)
                    .values(&KeyRow::from(&rec))
                    .execute(c)?;
            }
            Step::CreateNext { activates_at } => {
                let rec = make(KeyState::Next, Some(*activates_at)).map_err(TxError::Other)?;
                diesel::insert_into(signing_keys::table)
                    .values(&KeyRow::from(&rec))
                    .execute(c)?;
            }
            Step::Promote {
                next,
                retire: old,
                remove_after,
            } => {
                if let Some(old) = old {
                    retire(c, old, now, *remove_after)?;
                }
                diesel::update(signing_keys::table.filter(signing_keys::kid.eq(next)))
                    .set((
                        signing_keys::state.eq("active"),
                        signing_keys::activated_at.eq(Some(now)),
                    ))
                    .execute(c)?;
            }
            Step::Remove(kid) => {
                diesel::update(signing_keys::table.filter(signing_keys::kid.eq(kid)))
                    .set((
                        signing_keys::state.eq("removed"),
                        signing_keys::removed_at.eq(Some(now)),
                    ))
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Takes the schedule lock (a no-op update of its row) for the rest of the transaction.
fn lock_schedule(c: &mut DbConn) -> QueryResult<()> {
    diesel::update(revisions::table.filter(revisions::name.eq("key_schedule")))
        .set(revisions::value.eq(revisions::value))
        .execute(c)?;
    Ok(())
}

fn load_alg(c: &mut DbConn, alg: Alg) -> StorageResult<Vec<KeyRecord>> {
    signing_keys::table
        .filter(signing_keys::alg.eq(alg.as_str()))
        .filter(signing_keys::state.ne("removed"))
        .select(KeyRow::as_select())
        .load(c)
        .map_err(map_err)?
        .into_iter()
        .map(KeyRecord::try_from)
        .collect()
}

fn retire(c: &mut DbConn, kid: &str, now: i64, remove_after: i64) -> QueryResult<usize> {
    diesel::update(
        signing_keys::table
            .filter(signing_keys::kid.eq(kid))
            .filter(signing_keys::state.eq("active")),
    )
    .set((
        signing_keys::state.eq("retired"),
        signing_keys::retired_at.eq(Some(now)),
        signing_keys::remove_after.eq(Some(remove_after)),
    ))
    .execute(c)
}

impl Store {
    /// Every key, removed ones included, newest first.
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

    /// Makes `key` (state `Active`) the active key of its algorithm at once and retires the
    /// previous one (kept until `remove_after`). With `only_if_none`, does nothing when an active
    /// key exists. Returns whether `key` was inserted.
    pub fn activate_key(
        &self,
        key: &KeyRecord,
        only_if_none: bool,
        now: i64,
        remove_after: i64,
    ) -> StorageResult<bool> {
        let row = KeyRow::from(key);
        let alg = key.alg;
        self.with_conn(|conn| {
            conn.transaction(|c| {
                lock_schedule(c)?;
                let current: Vec<KeyRecord> =
                    load_alg(c, alg).map_err(|e| TxError::Other(e.into()))?;
                let active = current.iter().find(|k| k.state == KeyState::Active);
                if active.is_some() && only_if_none {
                    return Ok(false);
                }
                if let Some(a) = active {
                    retire(c, &a.kid, now, remove_after)?;
                }
                diesel::insert_into(signing_keys::table)
                    .values(&row)
                    .execute(c)?;
                bump(c, "keys")?;
                Ok(true)
            })
            .map_err(tx_err)
        })
    }

    /// Stages `key` (state `Next`, with `activates_at`); `Conflict` when one is staged already.
    pub fn stage_key(&self, key: &KeyRecord) -> StorageResult<()> {
        let row = KeyRow::from(key);
        let alg = key.alg;
        self.with_conn(|conn| {
            conn.transaction(|c| {
                lock_schedule(c)?;
                let current = load_alg(c, alg).map_err(|e| TxError::Other(e.into()))?;
                if let Some(n) = current.iter().find(|k| k.state == KeyState::Next) {
                    return Err(TxError::Other(anyhow::anyhow!(
                        "a next {alg} key ({}) is already staged",
                        n.kid
                    )));
                }
                diesel::insert_into(signing_keys::table)
                    .values(&row)
                    .execute(c)?;
                bump(c, "keys")?;
                Ok(())
            })
            .map_err(|e| match e {
                TxError::Other(e) => StorageError::Conflict(e.to_string()),
                e => tx_err(e),
            })
        })
    }

    /// Emergency: unpublishes `kid` at once; when it was active, the schedule runs in the same
    /// transaction (promoting the staged key or creating one), so signing never stops. Returns
    /// its algorithm and previous state.
    pub fn revoke_key(
        &self,
        kid: &str,
        now: i64,
        policy: &dyn Fn(Alg) -> Policy,
        make: &dyn Fn(Alg, KeyState, Option<i64>) -> anyhow::Result<KeyRecord>,
    ) -> StorageResult<(Alg, KeyState)> {
        self.with_conn(|conn| {
            conn.transaction(|c| {
                lock_schedule(c)?;
                let row: Option<KeyRow> = signing_keys::table
                    .filter(signing_keys::kid.eq(kid))
                    .select(KeyRow::as_select())
                    .first(c)
                    .optional()?;
                let Some(row) = row else {
                    return Err(TxError::Db(diesel::result::Error::NotFound));
                };
                let rec = KeyRecord::try_from(row).map_err(|e| TxError::Other(e.into()))?;
                if rec.state == KeyState::Removed {
                    return Ok((rec.alg, rec.state));
                }
                diesel::update(signing_keys::table.filter(signing_keys::kid.eq(kid)))
                    .set((
                        signing_keys::state.eq("removed"),
                        signing_keys::removed_at.eq(Some(now)),
                    ))
                    .execute(c)?;
                if rec.state == KeyState::Active {
                    let alg = rec.alg;
                    let steps = plan(&views_of(c, alg)?, now, policy(alg));
                    apply_steps(c, &steps, now, &|state, at| make(alg, state, at))?;
                }
                bump(c, "keys")?;
                Ok((rec.alg, rec.state))
            })
            .map_err(tx_err)
        })
    }

    /// Runs the key schedule for `alg` at `now`: applies every due transition, creating keys with
    /// `make(state, activates_at)`. Returns the transitions made (none when another node made
    /// them first).
    pub fn run_key_schedule(
        &self,
        alg: Alg,
        now: i64,
        policy: Policy,
        make: &dyn Fn(KeyState, Option<i64>) -> anyhow::Result<KeyRecord>,
    ) -> StorageResult<Vec<Step>> {
        self.with_conn(|conn| {
            conn.transaction(|c| {
                lock_schedule(c)?;
                let views = views_of(c, alg)?;
                let steps = plan(&views, now, policy);
                apply_steps(c, &steps, now, make)?;
                if !steps.is_empty() {
                    bump(c, "keys")?;
                }
                Ok(steps)
            })
            .map_err(tx_err)
        })
    }

    /// Re-seals every private key and server secret with `reseal(aad, sealed)`, in one
    /// transaction (used to move to a new key-encryption key).
    pub fn reseal_all(&self, reseal: Reseal<'_>) -> StorageResult<usize> {
        use super::schema::server_secrets;
        self.with_conn(|conn| {
            conn.transaction(|c| {
                lock_schedule(c)?;
                let keys: Vec<(String, Vec<u8>)> = signing_keys::table
                    .select((signing_keys::kid, signing_keys::private_key))
                    .load(c)?;
                for (kid, sealed) in &keys {
                    let new =
                        reseal(&crate::storage::key_aad(kid), sealed).map_err(TxError::Other)?;
                    diesel::update(signing_keys::table.filter(signing_keys::kid.eq(kid)))
                        .set(signing_keys::private_key.eq(new))
                        .execute(c)?;
                }
                let secrets: Vec<(String, Vec<u8>)> = server_secrets::table
                    .select((server_secrets::name, server_secrets::sealed))
                    .load(c)?;
                for (name, sealed) in &secrets {
                    let new = reseal(&crate::storage::secret_aad(name), sealed)
                        .map_err(TxError::Other)?;
                    diesel::update(server_secrets::table.filter(server_secrets::name.eq(name)))
                        .set(server_secrets::sealed.eq(new))
                        .execute(c)?;
                }
                // Sealed secrets of client_secret_jwt clients. The clients counter is not
                // bumped: running servers keep the copies they can open with the old key.
                use super::schema::client_registration;
                let clients: Vec<(String, Option<Vec<u8>>)> = client_registration::table
                    .select((client_registration::id, client_registration::secret_sealed))
                    .filter(client_registration::secret_sealed.is_not_null())
                    .load(c)?;
                for (id, sealed) in &clients {
                    let Some(sealed) = sealed else { continue };
                    let new = reseal(&crate::crypto::secrets::client_secret_aad(id), sealed)
                        .map_err(TxError::Other)?;
                    diesel::update(
                        client_registration::table.filter(client_registration::id.eq(id)),
                    )
                    .set(client_registration::secret_sealed.eq(Some(new)))
                    .execute(c)?;
                }
                bump(c, "keys")?;
                Ok(keys.len() + secrets.len() + clients.len())
            })
            .map_err(tx_err)
        })
    }
}
