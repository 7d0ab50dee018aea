//! Proof Key for Code Exchange (RFC 7636). Only `S256`: `plain` offers no protection against a
//! leaked authorization request and is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::error::OAuthError;

/// Checks `code_challenge` / `code_challenge_method` of an authorization request.
pub fn validate_challenge(challenge: &str, method: Option<&str>) -> Result<(), OAuthError> {
    match method {
        Some("S256") => {}
        None => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method is required and must be S256 (plain is not supported)",
            ));
        }
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256 (plain is not supported)",
            ));
        }
    }
    // BASE64URL(SHA-256(verifier)) is exactly 43 characters.
    if challenge.len() != 43 || !challenge.bytes().all(is_b64url) {
        return Err(OAuthError::invalid_request("code_challenge is malformed"));
    }
    Ok(())
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Za-z0-9-._~]`.
pub fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Does `verifier` match `challenge` (S256)? Compared in constant time.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    if !valid_verifier(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        validate_challenge(CHALLENGE, Some("S256")).unwrap();
        assert!(verify(VERIFIER, CHALLENGE));
        assert!(!verify(&VERIFIER.replace('d', "e"), CHALLENGE));
    }

    #[test]
    fn refuses_plain_and_malformed() {
        assert!(validate_challenge(CHALLENGE, None).is_err());
        assert!(validate_challenge(CHALLENGE, Some("plain")).is_err());
        assert!(validate_challenge(CHALLENGE, Some("s256")).is_err());
        assert!(validate_challenge("short", Some("S256")).is_err());
        assert!(validate_challenge(&format!("{}=", &CHALLENGE[..42]), Some("S256")).is_err());
        assert!(!verify("short", CHALLENGE));
        assert!(!verify(&"a".repeat(129), CHALLENGE));
        assert!(!verify(&format!("{VERIFIER} "), CHALLENGE));
    }
}
