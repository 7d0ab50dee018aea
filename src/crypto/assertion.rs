//! Signature checks of JWT client assertions (RFC 7523, OpenID Connect Core §9): with a public
//! key from the client's registered JWK Set (`private_key_jwt`), or with HMAC-SHA-256 keyed by
//! the client's secret (`client_secret_jwt`). Claims are checked in
//! `protocol::client_auth::check_assertion_claims`; this module only says whether the signature
//! is the client's.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::jws::Verifier;
use crate::protocol::jose::Alg;

/// Why an assertion's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No key of the set fits the header (`kid`, key type, `alg`, `use`): the set may be stale.
    #[error("no registered key matches the assertion")]
    NoKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("malformed assertion")]
    Malformed,
}

/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_BYTES: usize = 256;

fn split(jwt: &str) -> Result<(&[u8], Vec<u8>), SignatureError> {
    let dot = jwt.rfind('.').ok_or(SignatureError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(&jwt[dot + 1..])
        .map_err(|_| SignatureError::Malformed)?;
    Ok((&jwt.as_bytes()[..dot], signature))
}

/// Does `jwk` (one member of a JWK Set) fit an assertion signed with `alg` under `kid`?
fn fits(jwk: &serde_json::Map<String, Value>, alg: Alg, kid: Option<&str>) -> bool {
    let s = |name: &str| jwk.get(name).and_then(Value::as_str);
    if kid.is_some() && s("kid") != kid {
        return false;
    }
    if s("use").is_some_and(|u| u != "sig") || s("alg").is_some_and(|a| a != alg.as_str()) {
        return false;
    }
    if let Some(ops) = jwk.get("key_ops")
        && !ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|o| o.as_str() == Some("verify")))
    {
        return false;
    }
    match alg {
        Alg::RS256 | Alg::PS256 => {
            s("kty") == Some("RSA")
                && s("n")
                    .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
                    .is_some_and(|n| {
                        let significant = n.iter().skip_while(|b| **b == 0).count();
                        significant >= MIN_RSA_BYTES
                    })
        }
        Alg::ES256 => s("kty") == Some("EC") && s("crv") == Some("P-256"),
        Alg::EdDSA => s("kty") == Some("OKP") && s("crv") == Some("Ed25519"),
    }
}

/// Verifies `jwt` (signed with `alg`, header `kid` if any) against a JWK Set
/// (`{"keys": [...]}`). Without a `kid`, every fitting key is tried.
pub fn verify_with_jwks(
    jwt: &str,
    alg: Alg,
    kid: Option<&str>,
    jwks: &Value,
) -> Result<(), SignatureError> {
    let (input, signature) = split(jwt)?;
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(SignatureError::NoKey)?;
    let mut candidates = 0;
    for key in keys.iter().filter_map(Value::as_object) {
        if !fits(key, alg, kid) {
            continue;
        }
        // The same vetting and OpenSSL verification as Tessera's own keys.
        let Ok(v) = Verifier::from_public_jwk(alg, &Value::Object(key.clone())) else {
            continue;
        };
        candidates += 1;
        if v.verify(input, &signature) {
            return Ok(());
        }
    }
    if candidates == 0 {
        Err(SignatureError::NoKey)
    } else {
        Err(SignatureError::BadSignature)
    }
}

/// Verifies an HS256 `jwt` keyed by the client's `secret` (constant-time comparison).
pub fn verify_hs256(jwt: &str, secret: &[u8]) -> Result<(), SignatureError> {
    let (input, signature) = split(jwt)?;
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| SignatureError::Malformed)?;
    mac.update(input);
    mac.verify_slice(&signature)
        .map_err(|_| SignatureError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::jws::{Signer, generate};
    use serde_json::json;

    /// A compact JWS over `claims` signed by `signer` with an arbitrary header.
    fn sign(signer: &Signer, claims: &Value) -> String {
        // The Signer writes its own header (typ, kid); assertions accept any typ.
        signer.sign_id_token(claims).unwrap()
    }

    #[test]
    fn a_registered_key_verifies_and_others_do_not() {
        for alg in Alg::ALL {
            let k = generate(alg).unwrap();
            let other = generate(alg).unwrap();
            let s = Signer::from_der(alg, &k.kid, &k.private_der).unwrap();
            let jwt = sign(&s, &json!({"iss": "c", "sub": "c"}));
            let set = json!({"keys": [other.public_jwk, k.public_jwk]});
            assert_eq!(
                verify_with_jwks(&jwt, alg, Some(&k.kid), &set),
                Ok(()),
                "{alg}"
            );
            // No kid: every fitting key is tried.
            assert_eq!(verify_with_jwks(&jwt, alg, None, &set), Ok(()), "{alg}");
            let only_other = json!({"keys": [other.public_jwk]});
            assert_eq!(
                verify_with_jwks(&jwt, alg, None, &only_other),
                Err(SignatureError::BadSignature),
                "{alg}"
            );
            assert_eq!(
                verify_with_jwks(&jwt, alg, Some(&k.kid), &only_other),
                Err(SignatureError::NoKey),
                "{alg}"
            );
        }
    }

    #[test]
    fn keys_for_another_use_or_alg_are_not_candidates() {
        let k = generate(Alg::ES256).unwrap();
        let s = Signer::from_der(Alg::ES256, &k.kid, &k.private_der).unwrap();
        let jwt = sign(&s, &json!({}));
        let with = |extra: Value| {
            let mut jwk = k.public_jwk.clone();
            for (name, v) in extra.as_object().unwrap() {
                jwk[name] = v.clone();
            }
            json!({"keys": [jwk]})
        };
        for bad in [
            json!({"use": "enc"}),
            json!({"alg": "ES384"}),
            json!({"key_ops": ["sign"]}),
            json!({"crv": "P-384"}),
        ] {
            assert_eq!(
                verify_with_jwks(&jwt, Alg::ES256, None, &with(bad.clone())),
                Err(SignatureError::NoKey),
                "{bad}"
            );
        }
        // The key claimed as RS256 is not even looked at for ES256.
        assert_eq!(
            verify_with_jwks(&jwt, Alg::RS256, None, &with(json!({}))),
            Err(SignatureError::NoKey)
        );
        assert_eq!(
            verify_with_jwks(&jwt, Alg::ES256, None, &json!({"nokeys": 1})),
            Err(SignatureError::NoKey)
        );
    }

    #[test]
    fn hs256_needs_the_exact_secret() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"c"}"#)
        );
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        let jwt = format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(verify_hs256(&jwt, secret), Ok(()));
        assert_eq!(
            verify_hs256(&jwt, b"0123456789abcdef0123456789abcdeX"),
            Err(SignatureError::BadSignature)
        );
        let tampered = jwt.replacen(".ey", ".eyJ", 1);
        assert!(verify_hs256(&tampered, secret).is_err());
        assert_eq!(
            verify_hs256("nodots", secret),
            Err(SignatureError::Malformed)
        );
    }
}
