//! JWS (RFC 7515) compact signing and JWK (RFC 7517) handling. The only module that imports
//! josekit.
//!
//! Private keys are stored as PKCS#8 DER (sealed under the KEK by the caller); public keys are
//! published as JWKs with `kid` (the RFC 7638 thumbprint), `kty`, `use: sig` and `alg`, never a
//! private member.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{ES256, EdDSA, JwsSigner, JwsVerifier, PS256, RS256};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use crate::protocol::jose::Alg;

/// A freshly generated key pair.
pub struct GeneratedKey {
    pub alg: Alg,
    pub kid: String,
    /// Public JWK with `kid`, `use`, `alg`.
    pub public_jwk: Value,
    /// PKCS#8 DER of the private key: seal it before it goes anywhere.
    pub private_der: Vec<u8>,
}

/// Generates a key for `alg`: RSA 2048, P-256, or Ed25519.
pub fn generate(alg: Alg) -> anyhow::Result<GeneratedKey> {
    let (public, der) = match alg {
        Alg::RS256 => {
            let kp = RS256.generate_key_pair(2048)?;
            (kp.to_jwk_public_key(), kp.to_der_private_key())
        }
        Alg::PS256 => {
            let kp = PS256.generate_key_pair(2048)?;
            (kp.to_jwk_public_key(), kp.to_der_private_key())
        }
        Alg::ES256 => {
            let kp = ES256.generate_key_pair()?;
            (kp.to_jwk_public_key(), kp.to_der_private_key())
        }
        Alg::EdDSA => {
            let kp = EdDSA.generate_key_pair(EdCurve::Ed25519)?;
            (kp.to_jwk_public_key(), kp.to_der_private_key())
        }
    };
    let mut jwk: Map<String, Value> = public.as_ref().clone();
    // Keep only the public members of the key type.
    let keep: &[&str] = match alg {
        Alg::RS256 | Alg::PS256 => &["kty", "n", "e"],
        Alg::ES256 => &["kty", "crv", "x", "y"],
        Alg::EdDSA => &["kty", "crv", "x"],
    };
    jwk.retain(|k, _| keep.contains(&k.as_str()));
    let public_jwk = Value::Object(jwk);
    let kid = thumbprint(&public_jwk)?;
    let mut public_jwk = public_jwk;
    if let Value::Object(m) = &mut public_jwk {
        m.insert("kid".into(), Value::String(kid.clone()));
        m.insert("use".into(), Value::String("sig".into()));
        m.insert("alg".into(), Value::String(alg.as_str().into()));
    }
    Ok(GeneratedKey {
        alg,
        kid,
        public_jwk,
        private_der: der,
    })
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) over the required members in lexicographic
/// order.
pub fn thumbprint(jwk: &Value) -> anyhow::Result<String> {
    let get = |name: &str| -> anyhow::Result<&str> {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("JWK lacks `{name}`"))
    };
    // Member values are base64url or fixed names, so they need no JSON escaping; serde_json
    // still writes them to be safe.
    let s = |v: &str| Value::String(v.to_string()).to_string();
    let canonical = match get("kty")? {
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            s(get("e")?),
            s(get("n")?)
        ),
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            s(get("crv")?),
            s(get("x")?),
            s(get("y")?)
        ),
        "OKP" => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            s(get("crv")?),
            s(get("x")?)
        ),
        other => anyhow::bail!("unsupported key type {other}"),
    };
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// A private key ready to sign, with its protected headers pre-encoded.
pub struct Signer {
    pub kid: String,
    pub alg: Alg,
    signer: Box<dyn JwsSigner>,
    at_jwt_header: String,
    id_token_header: String,
    logout_token_header: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

impl Signer {
    pub fn from_der(alg: Alg, kid: &str, der: &[u8]) -> anyhow::Result<Signer> {
        let signer: Box<dyn JwsSigner> = match alg {
            Alg::RS256 => Box::new(RS256.signer_from_der(der)?),
            Alg::PS256 => Box::new(PS256.signer_from_der(der)?),
            Alg::ES256 => Box::new(ES256.signer_from_der(der)?),
            Alg::EdDSA => Box::new(EdDSA.signer_from_der(der)?),
        };
        let header = |typ: &str| {
            URL_SAFE_NO_PAD.encode(
                serde_json::json!({"alg": alg.as_str(), "kid": kid, "typ": typ}).to_string(),
            )
        };
        Ok(Signer {
            kid: kid.to_string(),
            alg,
            signer,
            at_jwt_header: header("at+jwt"),
            id_token_header: header("JWT"),
            logout_token_header: header("logout+jwt"),
        })
    }

    /// Signs `claims` as an ID token (`typ: JWT`).
    pub fn sign_id_token(&self, claims: &impl Serialize) -> anyhow::Result<String> {
        self.sign_with_header(&self.id_token_header, claims)
    }

    /// Signs `claims` as a logout token (Back-Channel Logout 1.0 §2.4, `typ: logout+jwt`).
    pub fn sign_logout_token(&self, claims: &impl Serialize) -> anyhow::Result<String> {
        self.sign_with_header(&self.logout_token_header, claims)
    }

    /// Signs `claims` as an RFC 9068 access token (`typ: at+jwt`).
    pub fn sign_access_token(&self, claims: &impl Serialize) -> anyhow::Result<String> {
        self.sign_with_header(&self.at_jwt_header, claims)
    }

    fn sign_with_header(
        &self,
        header_b64: &str,
        claims: &impl Serialize,
    ) -> anyhow::Result<String> {
        let payload = serde_json::to_vec(claims)?;
        let mut out = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 360);
        out.push_str(header_b64);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
        let signature = self.signer.sign(out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut out);
        Ok(out)
    }
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the hash of the access token, with the hash
/// of the ID token's algorithm (SHA-512 for Ed25519), base64url.
pub fn at_hash(alg: Alg, access_token: &str) -> String {
    match alg {
        Alg::RS256 | Alg::PS256 | Alg::ES256 => {
            let d = Sha256::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&d[..d.len() / 2])
        }
        Alg::EdDSA => {
            let d = Sha512::digest(access_token.as_bytes());
            URL_SAFE_NO_PAD.encode(&d[..d.len() / 2])
        }
    }
}

/// A public key that verifies JWS signatures of its one algorithm.
pub struct Verifier {
    pub alg: Alg,
    verifier: Box<dyn JwsVerifier>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("alg", &self.alg).finish()
    }
}

/// Why a JWS was not accepted (deliberately coarse: callers answer `invalid_token`).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("wrong token type")]
    WrongType,
    #[error("unknown key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
}

impl Verifier {
    pub fn from_public_jwk(alg: Alg, jwk: &Value) -> anyhow::Result<Verifier> {
        let jwk = Jwk::from_bytes(jwk.to_string())?;
        let verifier: Box<dyn JwsVerifier> = match alg {
            Alg::RS256 => Box::new(RS256.verifier_from_jwk(&jwk)?),
            Alg::PS256 => Box::new(PS256.verifier_from_jwk(&jwk)?),
            Alg::ES256 => Box::new(ES256.verifier_from_jwk(&jwk)?),
            Alg::EdDSA => Box::new(EdDSA.verifier_from_jwk(&jwk)?),
        };
        Ok(Verifier { alg, verifier })
    }
}

/// Verifies a compact JWS of type `typ` whose key is found by `kid` through `find`; the
/// algorithm is the key's own, and the header must name the same one (no `none`, no confusion).
/// Returns the payload as JSON.
pub fn verify_compact<'a>(
    token: &str,
    typ: &str,
    find: impl Fn(&str) -> Option<&'a Verifier>,
) -> Result<Map<String, Value>, VerifyError> {
    if token.len() > 16 * 1024 {
        return Err(VerifyError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let header: Map<String, Value> = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(VerifyError::Malformed)?;
    if header.get("typ").and_then(Value::as_str) != Some(typ) {
        return Err(VerifyError::WrongType);
    }
    for forbidden in ["jku", "x5u", "jwk", "crit"] {
        if header.contains_key(forbidden) {
            return Err(VerifyError::Malformed);
        }
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(VerifyError::UnknownKey)?;
    let key = find(kid).ok_or(VerifyError::UnknownKey)?;
    if header.get("alg").and_then(Value::as_str) != Some(key.alg.as_str()) {
        return Err(VerifyError::BadSignature);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| VerifyError::Malformed)?;
    key.verifier
        .verify(&token.as_bytes()[..h.len() + 1 + p.len()], &signature)
        .map_err(|_| VerifyError::BadSignature)?;
    URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(VerifyError::Malformed)
}

/// Checks that a stored public JWK is well formed for `alg` and carries no private member.
pub fn check_public_jwk(alg: Alg, jwk: &Value) -> anyhow::Result<()> {
    let parsed = Jwk::from_bytes(jwk.to_string())?;
    for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        anyhow::ensure!(
            parsed.parameter(private).is_none(),
            "public JWK carries `{private}`"
        );
    }
    anyhow::ensure!(parsed.algorithm() == Some(alg.as_str()), "JWK alg mismatch");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example() {
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn at_hash_example() {
        // OIDC Core A.3 (RS256): access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" →
        // at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(
            at_hash(Alg::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn verify_compact_checks_type_key_and_alg() {
        let k = generate(Alg::ES256).unwrap();
        let s = Signer::from_der(Alg::ES256, &k.kid, &k.private_der).unwrap();
        let v = Verifier::from_public_jwk(Alg::ES256, &k.public_jwk).unwrap();
        let find = |kid: &str| (kid == k.kid).then_some(&v);
        let at = s
            .sign_access_token(&serde_json::json!({"sub": "x"}))
            .unwrap();
        assert_eq!(verify_compact(&at, "at+jwt", find).unwrap()["sub"], "x");
        let id = s.sign_id_token(&serde_json::json!({"sub": "x"})).unwrap();
        assert!(matches!(
            verify_compact(&id, "at+jwt", find),
            Err(VerifyError::WrongType)
        ));
        let logout = s
            .sign_logout_token(&serde_json::json!({"sub": "x"}))
            .unwrap();
        assert_eq!(
            verify_compact(&logout, "logout+jwt", find).unwrap()["sub"],
            "x"
        );
        for typ in ["JWT", "at+jwt"] {
            assert!(matches!(
                verify_compact(&logout, typ, find),
                Err(VerifyError::WrongType)
            ));
        }
        let mut tampered = at.clone();
        tampered.pop();
        tampered.push(if at.ends_with('A') { 'B' } else { 'A' });
        assert!(verify_compact(&tampered, "at+jwt", find).is_err());
        assert!(verify_compact("a.b", "at+jwt", find).is_err());
        let other = generate(Alg::ES256).unwrap();
        let s2 = Signer::from_der(Alg::ES256, &k.kid, &other.private_der).unwrap();
        let forged = s2
            .sign_access_token(&serde_json::json!({"sub": "x"}))
            .unwrap();
        assert!(matches!(
            verify_compact(&forged, "at+jwt", find),
            Err(VerifyError::BadSignature)
        ));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(
                serde_json::json!({"alg": "none", "kid": k.kid, "typ": "at+jwt"}).to_string()
            ),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert!(verify_compact(&none, "at+jwt", find).is_err());
    }

    #[test]
    fn generated_keys_are_public_only_and_sign() {
        for alg in Alg::ALL {
            let k = generate(alg).unwrap();
            check_public_jwk(alg, &k.public_jwk).unwrap();
            assert_eq!(k.public_jwk["kid"], k.kid.as_str());
            assert_eq!(k.public_jwk["use"], "sig");
            let s = Signer::from_der(alg, &k.kid, &k.private_der).unwrap();
            let jwt = s
                .sign_access_token(&serde_json::json!({"sub": "x"}))
                .unwrap();
            assert_eq!(jwt.split('.').count(), 3);
        }
    }
}
