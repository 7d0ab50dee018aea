//! Signing keys: the schedule (see `protocol::keys`), staged and immediate rotation, emergency
//! revocation, re-keying, and the in-memory key ring every node signs with and publishes.
//!
//! The ring holds one signer per algorithm (its active key) and the pre-rendered JWKS bytes
//! (next, active and retired keys). A node never signs with a key that is not `active` in the
//! database as of its last reload.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::config::Settings;
use crate::crypto::jws::{self, Signer, Verifier};
use crate::crypto::kek::Kek;
use crate::protocol::jose::Alg;
use crate::storage::{KeyRecord, KeyState, StorageError, Store, key_aad};

/// What a node signs with and publishes, as of one reload.
#[derive(Debug, Default)]
pub struct KeyRing {
    signers: HashMap<Alg, Arc<Signer>>,
    verifiers: HashMap<String, Verifier>,
    jwks: Vec<u8>,
}

impl KeyRing {
    /// The active signer for `alg`, if the ring has one.
    pub fn signer(&self, alg: Alg) -> Option<&Arc<Signer>> {
        self.signers.get(&alg)
    }

    /// The verifier of a published key.
    pub fn verifier(&self, kid: &str) -> Option<&Verifier> {
        self.verifiers.get(kid)
    }

    /// The JWKS document (RFC 7517 §5), pre-rendered.
    pub fn jwks(&self) -> &[u8] {
        &self.jwks
    }

    /// Builds a ring from stored keys, opening each active private key with the KEK.
    pub fn build(records: &[KeyRecord], kek: &Kek) -> anyhow::Result<KeyRing> {
        let mut signers = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut published: Vec<&Value> = Vec::new();
        for r in records.iter().filter(|r| r.state.published()) {
            jws::check_public_jwk(r.alg, &r.public_jwk)
                .map_err(|e| anyhow::anyhow!("stored key {} is invalid: {e}", r.kid))?;
            published.push(&r.public_jwk);
            verifiers.insert(
                r.kid.clone(),
                Verifier::from_public_jwk(r.alg, &r.public_jwk)?,
            );
            if r.state == KeyState::Active {
                let der = kek.open(&key_aad(&r.kid), &r.sealed_private_key).map_err(|_| {
                    anyhow::anyhow!(
                        "signing key {} cannot be decrypted: the key-encryption key is not the one this database was set up with",
                        r.kid
                    )
                })?;
                signers.insert(r.alg, Arc::new(Signer::from_der(r.alg, &r.kid, &der)?));
            }
        }
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": published }))?;
        Ok(KeyRing {
            signers,
            verifiers,
            jwks,
        })
    }
}

/// Generates a key for `alg` in `state` and seals its private part.
pub fn new_record(
    alg: Alg,
    kek: &Kek,
    now: i64,
    state: KeyState,
    activates_at: Option<i64>,
) -> anyhow::Result<KeyRecord> {
    let g = jws::generate(alg)?;
    Ok(KeyRecord {
        sealed_private_key: kek.seal(&key_aad(&g.kid), &g.private_der)?,
        kid: g.kid,
        alg,
        state,
        public_jwk: g.public_jwk,
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
        activates_at,
        remove_after: None,
        removed_at: None,
    })
}

/// Runs the key schedule for every algorithm at `now` (safe on every node at once: one of them
/// makes each transition). Returns a line per transition made.
pub fn run_schedule(
    store: &Store,
    kek: &Kek,
    settings: &Settings,
    now: i64,
) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for alg in settings.key_algorithms() {
        let make = |state: KeyState, activates_at: Option<i64>| {
            new_record(alg, kek, now, state, activates_at)
        };
        for step in store.run_key_schedule(alg, now, settings.key_policy(alg), &make)? {
            tracing::info!(target: "tessera::keys", alg = %alg, step = ?step, "key schedule");
            done.push(format!("{alg}: {step:?}"));
        }
    }
    Ok(done)
}

/// Makes sure every algorithm has an active key (first start): the schedule does exactly that.
pub fn ensure_active(
    store: &Store,
    kek: &Kek,
    settings: &Settings,
    now: i64,
) -> anyhow::Result<()> {
    run_schedule(store, kek, settings, now).map(|_| ())
}

/// Stages the next key of `alg` on the published-ahead timeline: it is in the JWKS from now and
/// signs from `now + publish_ahead`.
pub fn stage(
    store: &Store,
    kek: &Kek,
    settings: &Settings,
    alg: Alg,
    now: i64,
) -> anyhow::Result<KeyRecord> {
    let activates_at = now + settings.key_policy(alg).publish_ahead;
    let record = new_record(alg, kek, now, KeyState::Next, Some(activates_at))?;
    store.stage_key(&record)?;
    Ok(record)
}

/// Immediate rotation (an emergency measure): a new key becomes active at once, the previous
/// active key of the algorithm is retired but stays published until its tokens expire.
pub fn rotate_now(
    store: &Store,
    kek: &Kek,
    settings: &Settings,
    alg: Alg,
    now: i64,
) -> anyhow::Result<KeyRecord> {
    let record = new_record(alg, kek, now, KeyState::Active, None)?;
    store.activate_key(
        &record,
        false,
        now,
        now + settings.key_policy(alg).retire_keep,
    )?;
    Ok(record)
}

/// Emergency: unpublishes `kid` at once (tokens it signed stop verifying). When it was the
/// active key, the schedule promotes the staged key or creates a new one right away.
pub fn revoke(
    store: &Store,
    kek: &Kek,
    settings: &Settings,
    kid: &str,
    now: i64,
) -> anyhow::Result<(Alg, KeyState)> {
    let make = |alg: Alg, state: KeyState, activates_at: Option<i64>| {
        new_record(alg, kek, now, state, activates_at)
    };
    store
        .revoke_key(kid, now, &|alg| settings.key_policy(alg), &make)
        .map_err(|e| match e {
            StorageError::NotFound => anyhow::anyhow!("no key with kid `{kid}`"),
            other => other.into(),
        })
}

/// Re-seals every private key and server secret under `new` (opened with `old`, which may carry
/// previous keys). One transaction: all or nothing.
pub fn rekey(store: &Store, old: &Kek, new: &Kek) -> anyhow::Result<usize> {
    let reseal = |aad: &[u8], sealed: &[u8]| -> anyhow::Result<Vec<u8>> {
        let plain = old.open(aad, sealed).map_err(|_| {
            anyhow::anyhow!("a stored key cannot be opened with the current key-encryption key")
        })?;
        new.seal(aad, &plain)
    };
    Ok(store.reseal_all(&reseal)?)
}
