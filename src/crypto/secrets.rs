//! Client secrets: generated with 256 bits from the CSPRNG and stored as a keyed hash
//! (HMAC-SHA-256 under a server-wide key kept encrypted in the database). Secrets are
//! high-entropy, so a fast keyed hash is the right tool; argon2 is for human passwords.
//! Verification compares in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "hs256$";

#[derive(Clone)]
pub struct SecretHasher {
    /// HMAC-SHA-256 keyed once (its inner and outer pads hashed): each secret is then two
    /// compressions, not four.
    keyed: Hmac<Sha256>,
    /// Seals the secrets of `client_secret_jwt` clients, which must be recoverable.
    sealer: Option<super::kek::Kek>,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(..)")
    }
}

impl SecretHasher {
    pub fn new(key: [u8; 32]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        Self {
            keyed,
            sealer: None,
        }
    }

    /// Also seals recoverable secrets ([`SecretHasher::seal_client_secret`]) under `kek`.
    pub fn with_sealer(mut self, kek: super::kek::Kek) -> Self {
        self.sealer = Some(kek);
        self
    }

    /// Seals a `client_secret_jwt` client's secret under the key-encryption key, bound to the
    /// client id (AES-256-GCM with the id in the associated data).
    pub fn seal_client_secret(&self, client_id: &str, secret: &str) -> anyhow::Result<Vec<u8>> {
        let kek = self
            .sealer
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no key-encryption key to seal client secrets"))?;
        kek.seal(&client_secret_aad(client_id), secret.as_bytes())
    }

    fn mac(&self, secret: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(secret.as_bytes());
        mac
    }

    pub fn hash(&self, secret: &str) -> String {
        format!(
            "{PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.mac(secret).finalize().into_bytes())
        )
    }

    /// Constant-time check of `secret` against a stored hash.
    pub fn verify(&self, secret: &str, stored: &str) -> bool {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return false;
        };
        let mut expected = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(encoded, &mut expected) {
            Ok(32) => self.mac(secret).verify_slice(&expected).is_ok(),
            _ => false,
        }
    }
}

/// Associated data binding a sealed client secret to its client.
pub fn client_secret_aad(client_id: &str) -> Vec<u8> {
    format!("client_secret:{client_id}").into_bytes()
}

/// Opens a secret sealed by [`SecretHasher::seal_client_secret`] for the same client.
pub fn open_client_secret(
    kek: &super::kek::Kek,
    client_id: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, super::kek::OpenError> {
    kek.open(&client_secret_aad(client_id), sealed)
}

/// A new client secret: 32 random bytes, base64url (43 characters).
pub fn generate_client_secret() -> anyhow::Result<String> {
    super::random::token::<32>()
}

/// A new client id: `tc_` and 16 random bytes, base64url.
pub fn generate_client_id() -> anyhow::Result<String> {
    Ok(format!("tc_{}", super::random::token::<16>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = SecretHasher::new([7; 32]);
        let s = generate_client_secret().unwrap();
        assert_eq!(s.len(), 43);
        let stored = h.hash(&s);
        assert!(!stored.contains(&s));
        assert!(h.verify(&s, &stored));
        assert!(!h.verify("wrong", &stored));
        assert!(!SecretHasher::new([8; 32]).verify(&s, &stored), "keyed");
        assert!(!h.verify(&s, "garbage"));
        assert!(!h.verify(&s, "hs256$***"));
        assert!(!h.verify(&s, &stored[..stored.len() - 2]), "truncated");
        assert!(!h.verify(&s, &format!("{stored}AAAA")), "too long");
    }

    #[test]
    fn ids_are_never_uuids_and_unique() {
        let a = generate_client_id().unwrap();
        assert!(
            crate::protocol::client::validate_client_id(&a).is_ok(),
            "{a}"
        );
        assert_ne!(a, generate_client_id().unwrap());
    }
}
