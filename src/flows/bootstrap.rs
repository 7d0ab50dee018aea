//! Opening a deployment: migrate, connect, find the key-encryption key, and check it against the
//! database before anything else happens. Shared by `serve` and every CLI command, so they all
//! refuse a wrong key the same way.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::config::{DatabaseTarget, Settings};
use crate::crypto::kek::Kek;
use crate::crypto::secrets::SecretHasher;
use crate::storage::{Store, secret_aad};

/// Name of the server secret that keys client-secret hashes.
const SECRET_HMAC_KEY: &str = "client_secret_hmac_key";
/// File name of the key-encryption key the embedded default generates.
pub const KEK_FILE: &str = "key-encryption-key";

/// An opened deployment.
pub struct Opened {
    pub store: Arc<Store>,
    pub kek: Kek,
    pub hasher: SecretHasher,
    pub target: DatabaseTarget,
}

/// Finds the KEK: the setting, else the key file named in the config, else (SQLite only) the
/// file in the data dir, created with mode 0600 on first start.
pub fn resolve_kek(settings: &Settings, target: &DatabaseTarget) -> anyhow::Result<Kek> {
    let previous = settings
        .keys
        .previous_key_encryption_keys
        .iter()
        .map(|k| {
            Kek::from_base64(k).map_err(|e| {
                anyhow::anyhow!("invalid configuration: keys.previous_key_encryption_keys: {e}")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(current_kek(settings, target)?.with_previous(previous))
}

/// After `tessera keys rekey`: on the embedded default whose KEK is the generated file, the file
/// now holds the new key (the old one is kept next to it until the next start succeeds);
/// elsewhere the operator configures the new key.
pub fn after_rekey(settings: &Settings, target: &DatabaseTarget, new: &Kek) -> anyhow::Result<()> {
    let k = &settings.keys;
    if matches!(target, DatabaseTarget::Sqlite(_))
        && k.key_encryption_key.is_empty()
        && k.key_encryption_key_file.is_empty()
    {
        let path = settings.data_dir.join(KEK_FILE);
        let old = std::fs::read(&path)?;
        std::fs::write(settings.data_dir.join(format!("{KEK_FILE}.previous")), old)?;
        let tmp = settings.data_dir.join(format!("{KEK_FILE}.new"));
        let _ = std::fs::remove_file(&tmp);
        Kek::write_new_file(&tmp, new)?;
        std::fs::rename(&tmp, &path)?;
        eprintln!(
            "the key file {} now holds the new key; restart the server",
            path.display()
        );
    } else {
        eprintln!(
            "every key is now sealed under the new key-encryption key: configure it as TESSERA_KEY_ENCRYPTION_KEY on every node (keep the old one in TESSERA_PREVIOUS_KEY_ENCRYPTION_KEYS until all nodes have restarted)"
        );
    }
    Ok(())
}

fn current_kek(settings: &Settings, target: &DatabaseTarget) -> anyhow::Result<Kek> {
    let k = &settings.keys;
    if !k.key_encryption_key.is_empty() {
        return Kek::from_base64(&k.key_encryption_key).map_err(|e| {
            anyhow::anyhow!(
                "invalid configuration: keys.key_encryption_key (TESSERA_KEY_ENCRYPTION_KEY) {e}"
            )
        });
    }
    if !k.key_encryption_key_file.is_empty() {
        return Kek::read_file(&PathBuf::from(&k.key_encryption_key_file)).map_err(|e| {
            anyhow::anyhow!("invalid configuration: keys.key_encryption_key_file: {e}")
        });
    }
    match target {
        DatabaseTarget::Sqlite(_) => Kek::read_or_create_file(&settings.data_dir.join(KEK_FILE))
            .map_err(|e| anyhow::anyhow!("invalid configuration: data_dir: {e}")),
        DatabaseTarget::Postgres(_) => anyhow::bail!(
            "invalid configuration: keys.key_encryption_key: required with PostgreSQL, and every node sharing the database needs the same one; set TESSERA_KEY_ENCRYPTION_KEY to the base64 of 32 random bytes (`tessera keys generate-kek` prints one)"
        ),
    }
}

/// Who opens the deployment: a long-running server, with the configured pool size; a one-shot
/// command, with two connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Command,
}

/// Connects, migrates (on the connection that then serves), and checks the KEK against the
/// database.
pub fn open(settings: &Settings, now: i64, role: Role) -> anyhow::Result<Opened> {
    let target = settings.database_target()?;
    let kek = resolve_kek(settings, &target)?;
    let store = Arc::new(match role {
        Role::Server => Store::connect(&target, settings.database.pool_size)?,
        Role::Command => Store::connect(&target, 2)?,
    });
    store.migrate().context("database migration")?;
    let sealed = store.get_or_create_secret(SECRET_HMAC_KEY, now, || {
        let key = crate::crypto::random::bytes::<32>()?;
        kek.seal(&secret_aad(SECRET_HMAC_KEY), &key)
    })?;
    let key = kek.open(&secret_aad(SECRET_HMAC_KEY), &sealed).map_err(|_| {
        anyhow::anyhow!(
            "the key-encryption key does not match this database: it was set up with another one; start with the same TESSERA_KEY_ENCRYPTION_KEY (or key file) as the other nodes"
        )
    })?;
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| anyhow::anyhow!("the stored client-secret key is corrupt"))?;
    Ok(Opened {
        store,
        hasher: SecretHasher::new(key).with_sealer(kek.clone()),
        kek,
        target,
    })
}
