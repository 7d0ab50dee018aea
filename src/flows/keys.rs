//! Signing keys: bootstrap on first start, immediate rotation, and the in-memory key ring every
//! node signs with and publishes.
//!
//! The ring holds one signer per algorithm (its active key) and the pre-rendered JWKS bytes
//! (active and retired keys). A node never signs with a key that is not `active` in the
//! database as of its last reload.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

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
        for r in records {
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

/// Generates a key for `alg` and seals its private part.
pub fn new_record(alg: Alg, kek: &Kek, now: i64) -> anyhow::Result<KeyRecord> {
    let g = jws::generate(alg)?;
    Ok(KeyRecord {
        sealed_private_key: kek.seal(&key_aad(&g.kid), &g.private_der)?,
        kid: g.kid,
        alg,
        state: KeyState::Active,
        public_jwk: g.public_jwk,
        created_at: now,
        activated_at: Some(now),
        retired_at: None,
    })
}

/// Makes sure `alg` has an active key; creates one when none exists. Safe when several nodes
/// start at once: exactly one key becomes active.
pub fn ensure_active(store: &Store, kek: &Kek, alg: Alg, now: i64) -> anyhow::Result<()> {
    let has_active = store
        .list_keys()?
        .iter()
        .any(|k| k.alg == alg && k.state == KeyState::Active);
    if has_active {
        return Ok(());
    }
    let record = new_record(alg, kek, now)?;
    match store.activate_key(&record, true, now) {
        Ok(_) | Err(StorageError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Immediate rotation (an emergency measure): a new key becomes active at once, the previous
/// active key of the algorithm is retired but stays published.
pub fn rotate_now(store: &Store, kek: &Kek, alg: Alg, now: i64) -> anyhow::Result<KeyRecord> {
    let record = new_record(alg, kek, now)?;
    store.activate_key(&record, false, now)?;
    Ok(record)
}
