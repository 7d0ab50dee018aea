//! The key-encryption key (KEK) and AES-256-GCM encryption at rest.
//!
//! Sealed format: `0x01 | nonce (12) | ciphertext | tag (16)`. The caller passes associated data
//! naming the row the value belongs to, so a sealed value copied into another row fails to open.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

const VERSION: u8 = 1;
const NONCE: usize = 12;
const TAG: usize = 16;

/// The current key-encryption key, plus previous ones that may still open values sealed before
/// a re-key (`tessera keys rekey`). Sealing always uses the current key.
#[derive(Clone)]
pub struct Kek([u8; 32], Vec<[u8; 32]>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

/// Opening a sealed value failed: wrong key, or the value was altered or moved.
#[derive(Debug, thiserror::Error)]
#[error("the value cannot be decrypted with this key-encryption key")]
pub struct OpenError;

impl Kek {
    pub fn generate() -> anyhow::Result<Kek> {
        Ok(Kek(super::random::bytes::<32>()?, Vec::new()))
    }

    /// Parses the base64 (standard or URL-safe, padding optional) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Kek, String> {
        let t = text.trim();
        let bytes = STANDARD
            .decode(t)
            .or_else(|_| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t.trim_end_matches('='))
            })
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(t.trim_end_matches('='))
            })
            .map_err(|_| "is not valid base64".to_string())?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| format!("decodes to {} bytes; 32 are required", v.len()))?;
        Ok(Kek(arr, Vec::new()))
    }

    /// Also accepts values sealed under `previous` keys (for a rolling re-key).
    pub fn with_previous(mut self, previous: impl IntoIterator<Item = Kek>) -> Kek {
        self.1.extend(previous.into_iter().map(|k| k.0));
        self
    }

    /// A key with the same secret but no previous keys.
    pub fn current_only(&self) -> Kek {
        Kek(self.0, Vec::new())
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Reads a key file.
    pub fn read_file(path: &Path) -> Result<Kek, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Kek::from_base64(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes `kek` to a new file at `path` with mode 0600 (fails if it exists).
    pub fn write_new_file(path: &Path, kek: &Kek) -> std::io::Result<()> {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(path)?;
        f.write_all(format!("{}\n", kek.to_base64()).as_bytes())?;
        f.sync_all()
    }

    /// Reads the key file at `path`, creating it (mode 0600) with a fresh key when absent.
    pub fn read_or_create_file(path: &Path) -> Result<Kek, String> {
        if path.exists() {
            return Kek::read_file(path);
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let kek = Kek::generate().map_err(|e| e.to_string())?;
        // Written in full under a unique name, then linked into place: another process starting
        // at the same moment sees either no file or the whole key, never a partial one.
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        Kek::write_new_file(&tmp, &kek)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(kek),
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Kek::read_file(path),
            Err(e) => Err(format!("cannot create {}: {e}", path.display())),
        }
    }

    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let nonce = super::random::bytes::<NONCE>()?;
        let mut tag = [0u8; TAG];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.0,
            Some(&nonce),
            aad,
            plaintext,
            &mut tag,
        )?;
        let mut out = Vec::with_capacity(1 + NONCE + ct.len() + TAG);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 1 + NONCE + TAG || sealed[0] != VERSION {
            return Err(OpenError);
        }
        let nonce = &sealed[1..1 + NONCE];
        let (ct, tag) = sealed[1 + NONCE..].split_at(sealed.len() - 1 - NONCE - TAG);
        std::iter::once(&self.0)
            .chain(self.1.iter())
            .find_map(|key| {
                decrypt_aead(Cipher::aes_256_gcm(), key, Some(nonce), aad, ct, tag).ok()
            })
            .ok_or(OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = Kek::generate().unwrap();
        let sealed = k.seal(b"row-1", b"secret").unwrap();
        assert_eq!(k.open(b"row-1", &sealed).unwrap(), b"secret");
        assert!(k.open(b"row-2", &sealed).is_err(), "bound to its row");
        let other = Kek::generate().unwrap();
        assert!(other.open(b"row-1", &sealed).is_err(), "wrong key");
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(k.open(b"row-1", &tampered).is_err());
        assert!(k.open(b"row-1", &[1, 2, 3]).is_err());
    }

    #[test]
    fn previous_keys_open_but_never_seal() {
        let old = Kek::generate().unwrap();
        let new = Kek::generate().unwrap();
        let sealed_old = old.seal(b"r", b"v").unwrap();
        let both = new.clone().with_previous([old.clone()]);
        assert_eq!(both.open(b"r", &sealed_old).unwrap(), b"v");
        let sealed_new = both.seal(b"r", b"w").unwrap();
        assert!(
            old.open(b"r", &sealed_new).is_err(),
            "sealed with the current key"
        );
        assert!(new.open(b"r", &sealed_old).is_err());
    }

    #[test]
    fn parse_base64() {
        let k = Kek::generate().unwrap();
        assert_eq!(Kek::from_base64(&k.to_base64()).unwrap().0, k.0);
        assert!(Kek::from_base64("c2hvcnQ=").unwrap_err().contains("32"));
        assert!(Kek::from_base64("***").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn created_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/kek");
        let a = Kek::read_or_create_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = Kek::read_or_create_file(&path).unwrap();
        assert_eq!(a.0, b.0);
    }
}
