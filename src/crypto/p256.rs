//! ES256 signatures with AWS-LC's P-256, called directly (the only FFI of the signing path).
//!
//! Why not aws-lc-rs: its `EcdsaKeyPair::sign` goes through the `EVP` layer for every signature
//! — a new `EVP_MD_CTX` and `EVP_PKEY_CTX`, a DER-encoded signature, then that DER parsed back
//! into two `BIGNUM`s and copied out — ≈ 1 µs and a dozen allocations per signature around the
//! ≈ 14 µs of arithmetic (docs/BENCHMARKS.md, change 22). Here a signature is SHA-256 of the
//! input, one `ECDSA_do_sign` on a key parsed once, and the two scalars written into `R || S`.
//! AWS-LC draws the nonce from its DRBG, hardened with the key and the digest, as before.
//!
//! Safety: every pointer comes from AWS-LC and is checked for NULL where AWS-LC may return
//! one; the key is owned by [`P256Key`] (freed once, in `Drop`) and only read afterwards, which
//! AWS-LC allows from several threads at once (`ECDSA_do_sign` takes a `const EC_KEY *`).

use std::ptr::NonNull;

use aws_lc_sys as sys;
use sha2::{Digest, Sha256};

/// A P-256 private key held by AWS-LC.
pub struct P256Key(NonNull<sys::EC_KEY>);

// SAFETY: the EC_KEY is never mutated after `from_pkcs8_der` returns; AWS-LC's signing only
// reads it (const), and freeing happens once, in `Drop`, when no reference is left.
unsafe impl Send for P256Key {}
// SAFETY: as above: shared references only lead to `ECDSA_do_sign(…, const EC_KEY *)`.
unsafe impl Sync for P256Key {}

impl P256Key {
    /// Parses a PKCS#8 DER private key; refuses anything but a consistent P-256 key and trailing
    /// bytes.
    pub fn from_pkcs8_der(der: &[u8]) -> anyhow::Result<Self> {
        // SAFETY: CBS is a plain (pointer, length) pair that CBS_init fills; `der` outlives
        // every use of it. Each returned pointer is checked before use and freed exactly once.
        unsafe {
            let mut cbs = std::mem::zeroed::<sys::CBS>();
            sys::CBS_init(&mut cbs, der.as_ptr(), der.len());
            let pkey = sys::EVP_parse_private_key(&mut cbs);
            anyhow::ensure!(!pkey.is_null(), "AWS-LC could not parse the private key");
            let trailing = sys::CBS_len(&cbs) != 0;
            let is_ec = sys::EVP_PKEY_id(pkey) == sys::EVP_PKEY_EC;
            let ec = if is_ec {
                sys::EVP_PKEY_get1_EC_KEY(pkey)
            } else {
                std::ptr::null_mut()
            };
            sys::EVP_PKEY_free(pkey);
            let key = NonNull::new(ec).map(P256Key);
            let Some(key) = key else {
                anyhow::bail!("the private key is not an EC key");
            };
            anyhow::ensure!(!trailing, "trailing bytes after the private key");
            let group = sys::EC_KEY_get0_group(key.0.as_ptr());
            anyhow::ensure!(
                !group.is_null()
                    && sys::EC_GROUP_get_curve_name(group) == sys::NID_X9_62_prime256v1,
                "ES256 needs a P-256 key"
            );
            anyhow::ensure!(
                sys::EC_KEY_check_key(key.0.as_ptr()) == 1,
                "the P-256 key is inconsistent"
            );
            Ok(key)
        }
    }

    /// The ES256 signature of `input` (RFC 7518 §3.4): SHA-256, ECDSA, `R || S` (32 bytes each,
    /// big-endian, left-padded).
    pub fn sign(&self, input: &[u8]) -> anyhow::Result<[u8; 64]> {
        let digest = Sha256::digest(input);
        let mut out = [0u8; 64];
        let (r_out, s_out) = out.split_at_mut(32);
        // SAFETY: the key is valid for the life of `self`; `digest` is 32 readable bytes; the
        // signature is checked for NULL, read, and freed exactly once; BN_bn2bin_padded writes
        // exactly `len` (32) bytes into each half of `out` or fails without writing past it.
        let ok = unsafe {
            let sig = sys::ECDSA_do_sign(digest.as_ptr(), digest.len(), self.0.as_ptr());
            if sig.is_null() {
                false
            } else {
                let r = sys::ECDSA_SIG_get0_r(sig);
                let s = sys::ECDSA_SIG_get0_s(sig);
                let ok = !r.is_null()
                    && !s.is_null()
                    && sys::BN_bn2bin_padded(r_out.as_mut_ptr(), r_out.len(), r) == 1
                    && sys::BN_bn2bin_padded(s_out.as_mut_ptr(), s_out.len(), s) == 1;
                sys::ECDSA_SIG_free(sig);
                ok
            }
        };
        anyhow::ensure!(ok, "ES256 signing failed");
        Ok(out)
    }
}

impl Drop for P256Key {
    fn drop(&mut self) {
        // SAFETY: the key was returned by EVP_PKEY_get1_EC_KEY (one reference, ours) and is
        // freed only here.
        unsafe { sys::EC_KEY_free(self.0.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::ecdsa::EcdsaSig;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;

    fn p256_der() -> (Vec<u8>, EcKey<openssl::pkey::Public>) {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = EcKey::generate(&group).unwrap();
        let public = EcKey::from_public_key(&group, key.public_key()).unwrap();
        let der = PKey::from_ec_key(key)
            .unwrap()
            .private_key_to_pkcs8()
            .unwrap();
        (der, public)
    }

    #[test]
    fn signatures_verify_with_openssl_and_differ() {
        let (der, public) = p256_der();
        let key = P256Key::from_pkcs8_der(&der).unwrap();
        let input = b"header.payload";
        let digest = Sha256::digest(input);
        let a = key.sign(input).unwrap();
        let b = key.sign(input).unwrap();
        assert_ne!(a, b, "a fresh nonce for every signature");
        for sig in [a, b] {
            let parsed = EcdsaSig::from_private_components(
                BigNum::from_slice(&sig[..32]).unwrap(),
                BigNum::from_slice(&sig[32..]).unwrap(),
            )
            .unwrap();
            assert!(parsed.verify(&digest, &public).unwrap());
        }
        let mut other = *b"header.payload";
        other[0] ^= 1;
        let parsed = EcdsaSig::from_private_components(
            BigNum::from_slice(&a[..32]).unwrap(),
            BigNum::from_slice(&a[32..]).unwrap(),
        )
        .unwrap();
        assert!(!parsed.verify(&Sha256::digest(other), &public).unwrap());
    }

    #[test]
    fn refuses_other_keys_and_garbage() {
        let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap())
            .unwrap()
            .private_key_to_pkcs8()
            .unwrap();
        assert!(P256Key::from_pkcs8_der(&rsa).is_err());
        let p384 = EcKey::generate(&EcGroup::from_curve_name(Nid::SECP384R1).unwrap()).unwrap();
        let p384 = PKey::from_ec_key(p384)
            .unwrap()
            .private_key_to_pkcs8()
            .unwrap();
        assert!(P256Key::from_pkcs8_der(&p384).is_err());
        assert!(P256Key::from_pkcs8_der(b"").is_err());
        assert!(P256Key::from_pkcs8_der(b"\x30\x03\x02\x01\x00").is_err());
        let (mut der, _) = p256_der();
        der.push(0);
        assert!(P256Key::from_pkcs8_der(&der).is_err(), "trailing bytes");
    }
}
