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
use josekit::jws::{ES256, EdDSA, PS256, RS256};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::md::Md;
use openssl::md_ctx::MdCtx;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use openssl::sign::RsaPssSaltlen;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};
use std::sync::Mutex;

use super::p256::P256Key;
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
///
/// Signing goes straight to OpenSSL rather than through josekit: josekit builds a fresh
/// `EVP_MD_CTX`/`EVP_PKEY_CTX` for every signature, and OpenSSL 3 pays an algorithm fetch and
/// provider set-up for each one (≈ 40 % of an ES256 signature). Here each signer keeps a small
/// pool of contexts initialised once (`EVP_PKEY_sign_init` + padding + digest), and a signature
/// is the SHA-256 of the signing input plus one `EVP_PKEY_sign` — what `openssl speed` measures.
/// ES256 signs through [`P256Key`]: nonces prepared 64 at a time with AWS-LC, `s` by OpenSSL
/// (≈ a third cheaper than a whole signature by either library; docs/BENCHMARKS.md, change 33).
/// Ed25519 has no prehashed form: it keeps its parsed key and signs one-shot.
pub struct Signer {
    pub kid: String,
    pub alg: Alg,
    key: PKey<Private>,
    /// The P-256 key of an ES256 signer, in AWS-LC (it signs `R || S`, as JWS wants).
    ec: Option<P256Key>,
    /// Initialised signing contexts (RS256, PS256); empty for ES256 and EdDSA.
    contexts: ContextPool<Private>,
    at_jwt_header: String,
    id_token_header: String,
    logout_token_header: String,
}

/// At most this many idle contexts are kept per key (one per concurrently signing thread).
const MAX_IDLE_CONTEXTS: usize = 16;

/// Initialised OpenSSL contexts of one key, reused from one signature (or verification) to the
/// next: OpenSSL 3 pays an algorithm fetch and provider set-up for each new one.
struct ContextPool<T>(Mutex<Vec<PkeyCtx<T>>>);

impl<T> ContextPool<T> {
    fn new() -> Self {
        ContextPool(Mutex::new(Vec::new()))
    }

    /// An idle context, or a new one from `make`.
    fn take(
        &self,
        make: impl FnOnce() -> Result<PkeyCtx<T>, ErrorStack>,
    ) -> Result<PkeyCtx<T>, ErrorStack> {
        let idle = match self.0.lock() {
            Ok(mut pool) => pool.pop(),
            Err(_) => None,
        };
        match idle {
            Some(ctx) => Ok(ctx),
            None => make(),
        }
    }

    /// Keeps `ctx` for the next caller (only contexts whose last operation succeeded).
    fn give_back(&self, ctx: PkeyCtx<T>) {
        if let Ok(mut pool) = self.0.lock()
            && pool.len() < MAX_IDLE_CONTEXTS
        {
            pool.push(ctx);
        }
    }
}

/// Sets a freshly initialised (sign or verify) context up for `alg`: padding and digest.
fn configure<T>(ctx: &mut PkeyCtx<T>, alg: Alg) -> Result<(), ErrorStack> {
    match alg {
        Alg::RS256 => ctx.set_rsa_padding(Padding::PKCS1)?,
        Alg::PS256 => {
            ctx.set_rsa_padding(Padding::PKCS1_PSS)?;
            ctx.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
            ctx.set_rsa_mgf1_md(Md::sha256())?;
        }
        Alg::ES256 | Alg::EdDSA => {}
    }
    ctx.set_signature_md(Md::sha256())
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
        let key = PKey::private_key_from_der(der)?;
        let expected: &[Id] = match alg {
            Alg::RS256 => &[Id::RSA],
            // josekit generates PS256 keys as RSASSA-PSS keys; plain RSA keys sign PSS too.
            Alg::PS256 => &[Id::RSA_PSS, Id::RSA],
            Alg::ES256 => &[Id::EC],
            Alg::EdDSA => &[Id::ED25519],
        };
        anyhow::ensure!(
            expected.contains(&key.id()),
            "the private key is not a {alg} key"
        );
        let ec = match alg {
            Alg::RS256 | Alg::PS256 => {
                anyhow::ensure!(key.bits() >= 2048, "RSA keys must have at least 2048 bits");
                None
            }
            Alg::ES256 => Some(P256Key::from_ec_key(key.ec_key()?)?),
            Alg::EdDSA => None,
        };
        let header = |typ: &str| {
            URL_SAFE_NO_PAD.encode(
                serde_json::json!({"alg": alg.as_str(), "kid": kid, "typ": typ}).to_string(),
            )
        };
        let signer = Signer {
            kid: kid.to_string(),
            alg,
            key,
            ec,
            contexts: ContextPool::new(),
            at_jwt_header: header("at+jwt"),
            id_token_header: header("JWT"),
            logout_token_header: header("logout+jwt"),
        };
        // The contexts are made at the first signature (the key itself is parsed and checked
        // above): a node that never signs with a key does not touch that code at all.
        Ok(signer)
    }

    /// A signing context for this key: initialised once, reused for many signatures.
    fn new_context(&self) -> Result<PkeyCtx<Private>, ErrorStack> {
        let mut ctx = PkeyCtx::new(&self.key)?;
        ctx.sign_init()?;
        configure(&mut ctx, self.alg)?;
        Ok(ctx)
    }

    /// Signs the JWS signing input in `out` (RFC 7518 §3: PKCS#1 v1.5 or PSS for RSA, `R || S`
    /// for ECDSA, the raw 64 bytes for Ed25519) and appends `.` and the base64url signature.
    fn sign_appending(&self, out: &mut String) -> anyhow::Result<()> {
        let input = out.as_bytes();
        // 512 bytes fit RSA-4096 signatures.
        let mut sig = [0u8; 512];
        let len = if self.alg == Alg::EdDSA {
            let mut md = MdCtx::new()?;
            md.digest_sign_init(None, &self.key)?;
            let buf = sig.get_mut(..64).unwrap_or_default();
            let n = md.digest_sign(input, Some(buf))?;
            anyhow::ensure!(n == 64, "unexpected Ed25519 signature length");
            n
        } else if let Some(ec) = &self.ec {
            let rs = ec.sign(input)?;
            sig[..rs.len()].copy_from_slice(&rs);
            rs.len()
        } else {
            let digest = Sha256::digest(input);
            let mut ctx = self.contexts.take(|| self.new_context())?;
            let len = ctx.sign(&digest, Some(&mut sig));
            // A context that failed may be in any state: drop it rather than reuse it.
            let len = len?;
            self.contexts.give_back(ctx);
            len
        };
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig.get(..len).unwrap_or_default(), out);
        Ok(())
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
        PAYLOAD.with_borrow_mut(|payload| {
            payload.clear();
            serde_json::to_writer(&mut *payload, claims)?;
            let mut out = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 700);
            out.push_str(header_b64);
            out.push('.');
            URL_SAFE_NO_PAD.encode_string(&payload[..], &mut out);
            if payload.capacity() > 64 * 1024 {
                // Do not keep an unusually large buffer around.
                *payload = Vec::new();
            }
            self.sign_appending(&mut out)?;
            Ok(out)
        })
    }
}

thread_local! {
    /// The JSON of the claims being signed, reused by each thread.
    static PAYLOAD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
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
///
/// josekit parses and vets the JWK (the same rules as before); the signature itself is checked
/// with OpenSSL through a pool of initialised verification contexts, like [`Signer`].
pub struct Verifier {
    pub alg: Alg,
    key: PKey<Public>,
    contexts: ContextPool<Public>,
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
        let parsed = Jwk::from_bytes(jwk.to_string())?;
        // josekit decides what is acceptable, as it always did.
        match alg {
            Alg::RS256 => drop(RS256.verifier_from_jwk(&parsed)?),
            Alg::PS256 => drop(PS256.verifier_from_jwk(&parsed)?),
            Alg::ES256 => drop(ES256.verifier_from_jwk(&parsed)?),
            Alg::EdDSA => drop(EdDSA.verifier_from_jwk(&parsed)?),
        }
        let member = |name: &str| -> anyhow::Result<Vec<u8>> {
            let v = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow::anyhow!("JWK lacks `{name}`"))?;
            Ok(URL_SAFE_NO_PAD.decode(v)?)
        };
        let key = match alg {
            Alg::RS256 | Alg::PS256 => {
                let n = BigNum::from_slice(&member("n")?)?;
                let e = BigNum::from_slice(&member("e")?)?;
                PKey::from_rsa(Rsa::from_public_components(n, e)?)?
            }
            Alg::ES256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
                let x = BigNum::from_slice(&member("x")?)?;
                let y = BigNum::from_slice(&member("y")?)?;
                PKey::from_ec_key(EcKey::from_public_key_affine_coordinates(&group, &x, &y)?)?
            }
            Alg::EdDSA => PKey::public_key_from_raw_bytes(&member("x")?, Id::ED25519)?,
        };
        let v = Verifier {
            alg,
            key,
            contexts: ContextPool::new(),
        };
        Ok(v)
    }

    fn new_context(&self) -> Result<PkeyCtx<Public>, ErrorStack> {
        let mut ctx = PkeyCtx::new(&self.key)?;
        ctx.verify_init()?;
        configure(&mut ctx, self.alg)?;
        Ok(ctx)
    }

    /// Is `signature` (in its JWS form) a valid signature of `input` by this key?
    /// Does `signature` sign `input` under this key (JWS encoding of the signature)?
    pub fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        self.try_verify(input, signature).unwrap_or(false)
    }

    fn try_verify(&self, input: &[u8], signature: &[u8]) -> Result<bool, ErrorStack> {
        match self.alg {
            Alg::EdDSA => {
                let mut md = MdCtx::new()?;
                md.digest_verify_init(None, &self.key)?;
                md.digest_verify(input, signature)
            }
            Alg::ES256 => {
                if signature.len() != 64 {
                    return Ok(false);
                }
                let r = BigNum::from_slice(&signature[..32])?;
                let s = BigNum::from_slice(&signature[32..])?;
                let der = EcdsaSig::from_private_components(r, s)?.to_der()?;
                self.verify_digest(&Sha256::digest(input), &der)
            }
            Alg::RS256 | Alg::PS256 => {
                if signature.len() != self.key.size() {
                    return Ok(false);
                }
                self.verify_digest(&Sha256::digest(input), signature)
            }
        }
    }

    fn verify_digest(&self, digest: &[u8], sig: &[u8]) -> Result<bool, ErrorStack> {
        let mut ctx = self.contexts.take(|| self.new_context())?;
        // A mismatch leaves an error on OpenSSL's queue and is not a broken context.
        let ok = ctx.verify(digest, sig).unwrap_or(false);
        self.contexts.give_back(ctx);
        Ok(ok)
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
    if !key.verify(&token.as_bytes()[..h.len() + 1 + p.len()], &signature) {
        return Err(VerifyError::BadSignature);
    }
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

    /// Tokens signed here verify with josekit (an independent implementation), and tokens
    /// josekit signs verify here, for every algorithm — signatures stay byte-for-byte JWS.
    #[test]
    fn signatures_interoperate_with_josekit() {
        for alg in Alg::ALL {
            let k = generate(alg).unwrap();
            let s = Signer::from_der(alg, &k.kid, &k.private_der).unwrap();
            let jwk = Jwk::from_bytes(k.public_jwk.to_string()).unwrap();
            let theirs: Box<dyn josekit::jws::JwsVerifier> = match alg {
                Alg::RS256 => Box::new(RS256.verifier_from_jwk(&jwk).unwrap()),
                Alg::PS256 => Box::new(PS256.verifier_from_jwk(&jwk).unwrap()),
                Alg::ES256 => Box::new(ES256.verifier_from_jwk(&jwk).unwrap()),
                Alg::EdDSA => Box::new(EdDSA.verifier_from_jwk(&jwk).unwrap()),
            };
            for i in 0..3 {
                let jwt = s
                    .sign_access_token(&serde_json::json!({"sub": "x", "i": i}))
                    .unwrap();
                let (input, sig) = jwt.rsplit_once('.').unwrap();
                theirs
                    .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
                    .unwrap_or_else(|e| panic!("{alg}: josekit rejects our signature: {e}"));
            }
            let signer: Box<dyn josekit::jws::JwsSigner> = match alg {
                Alg::RS256 => Box::new(RS256.signer_from_der(&k.private_der).unwrap()),
                Alg::PS256 => Box::new(PS256.signer_from_der(&k.private_der).unwrap()),
                Alg::ES256 => Box::new(ES256.signer_from_der(&k.private_der).unwrap()),
                Alg::EdDSA => Box::new(EdDSA.signer_from_der(&k.private_der).unwrap()),
            };
            let header = URL_SAFE_NO_PAD.encode(
                serde_json::json!({"alg": alg.as_str(), "kid": k.kid, "typ": "at+jwt"}).to_string(),
            );
            let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(r#"{"sub":"y"}"#));
            let sig = signer.sign(input.as_bytes()).unwrap();
            let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig));
            let v = Verifier::from_public_jwk(alg, &k.public_jwk).unwrap();
            let find = |kid: &str| (kid == k.kid).then_some(&v);
            assert_eq!(
                verify_compact(&token, "at+jwt", find).unwrap()["sub"],
                "y",
                "{alg}"
            );
            // A signature of another input does not verify.
            let other = format!(
                "{header}.{}.{}",
                URL_SAFE_NO_PAD.encode(r#"{"sub":"z"}"#),
                URL_SAFE_NO_PAD.encode(&sig)
            );
            assert!(verify_compact(&other, "at+jwt", find).is_err(), "{alg}");
        }
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
