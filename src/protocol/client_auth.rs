//! Client authentication at the token, revocation and introspection endpoints (RFC 6749
//! §2.3.1): `client_secret_basic` (HTTP Basic with form-urlencoded id and secret),
//! `client_secret_post` (body parameters), JWT assertions (RFC 7521 §4.2, RFC 7523 §2.2,
//! OpenID Connect Core §9: `private_key_jwt`, `client_secret_jwt`), or only a `client_id` for a
//! public client. A client uses exactly one method per request.
//!
//! This module reads what a request presents and checks an assertion's claims; the signature is
//! checked by `crypto::assertion` with the keys `flows::client_auth` finds for the client.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::error::OAuthError;
use super::jose::Alg;
use super::params::Params;

/// Longest accepted client id.
pub const MAX_CLIENT_ID: usize = 128;
/// Longest accepted client secret.
pub const MAX_CLIENT_SECRET: usize = 512;
/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest accepted client assertion.
pub const MAX_ASSERTION: usize = 8 * 1024;
/// Longest accepted `jti` of an assertion.
pub const MAX_JTI: usize = 256;
/// An assertion may be valid for at most this long from now (OpenID Connect Core §9: a short
/// lifetime), so its `jti` need only be remembered this long.
pub const MAX_ASSERTION_LIFETIME: i64 = 300;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const ASSERTION_LEEWAY: i64 = 30;

/// How a client authenticates (`token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with HMAC-SHA-256 keyed by the client secret.
    ClientSecretJwt,
    /// A JWT signed with a private key whose public key the client registered.
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 5] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::ClientSecretJwt,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::ClientSecretJwt => "client_secret_jwt",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The client holds a secret issued by Tessera.
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic
                | AuthMethod::ClientSecretPost
                | AuthMethod::ClientSecretJwt
        )
    }

    /// Tessera must be able to recover the secret itself (to check an HMAC made with it), so it
    /// keeps it sealed under the key-encryption key besides its keyed hash.
    pub fn needs_sealed_secret(self) -> bool {
        self == AuthMethod::ClientSecretJwt
    }
}

/// JWS algorithms accepted in client assertions: the asymmetric ones Tessera signs with for
/// `private_key_jwt`, HS256 for `client_secret_jwt`. Never `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionAlg {
    Key(Alg),
    HS256,
}

impl AssertionAlg {
    pub const ALL: [AssertionAlg; 5] = [
        AssertionAlg::Key(Alg::RS256),
        AssertionAlg::Key(Alg::PS256),
        AssertionAlg::Key(Alg::ES256),
        AssertionAlg::Key(Alg::EdDSA),
        AssertionAlg::HS256,
    ];

    /// Exact, case-sensitive JWA name.
    pub fn parse(s: &str) -> Option<AssertionAlg> {
        if s == "HS256" {
            return Some(AssertionAlg::HS256);
        }
        Alg::parse(s).map(AssertionAlg::Key)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AssertionAlg::Key(a) => a.as_str(),
            AssertionAlg::HS256 => "HS256",
        }
    }

    /// The only method an assertion signed with this algorithm can authenticate: an HMAC can
    /// never stand for `private_key_jwt`, nor a public-key signature for `client_secret_jwt`.
    pub fn method(self) -> AuthMethod {
        match self {
            AssertionAlg::Key(_) => AuthMethod::PrivateKeyJwt,
            AssertionAlg::HS256 => AuthMethod::ClientSecretJwt,
        }
    }
}

/// A JWT client assertion as presented: its header read, its claims not yet trusted.
#[derive(Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The compact JWS.
    pub jwt: String,
    pub alg: AssertionAlg,
    pub kid: Option<String>,
    /// The payload, unverified until the signature is checked.
    pub claims: Map<String, Value>,
}

impl std::fmt::Debug for Assertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertion")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The credentials a request presented, not yet checked against any client.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedCredentials {
    pub client_id: String,
    pub secret: Option<String>,
    pub method: AuthMethod,
    pub assertion: Option<Assertion>,
}

impl std::fmt::Debug for PresentedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedCredentials")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl PresentedCredentials {
    /// The error to return when these credentials fail: 401 with `WWW-Authenticate` for Basic.
    pub fn failed(&self) -> OAuthError {
        OAuthError::invalid_client(
            "client authentication failed",
            self.method == AuthMethod::ClientSecretBasic,
        )
    }
}

/// Reads the client's credentials from the `Authorization` header (raw bytes, if any) and the
/// body parameters.
pub fn presented(
    authorization: Option<&[u8]>,
    params: &Params,
) -> Result<PresentedCredentials, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let assertion_type = params.get("client_assertion_type");
    let assertion = params.get("client_assertion");
    if assertion_type.is_some() || assertion.is_some() {
        if authorization.is_some() || body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "the client used more than one authentication method",
            ));
        }
        let (Some(kind), Some(jwt)) = (assertion_type, assertion) else {
            return Err(OAuthError::invalid_request(
                "client_assertion and client_assertion_type go together",
            ));
        };
        if kind != JWT_BEARER {
            return Err(OAuthError::invalid_client(
                "unsupported client_assertion_type",
                false,
            ));
        }
        let assertion = parse_assertion(jwt)?;
        let client_id = assertion
            .claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // RFC 7521 §4.2: a client_id, if sent, names the same client as the assertion.
        if body_id.is_some_and(|b| b != client_id) {
            return Err(OAuthError::invalid_client(
                "client_id does not match the client assertion",
                false,
            ));
        }
        return Ok(PresentedCredentials {
            client_id,
            secret: None,
            method: assertion.alg.method(),
            assertion: Some(assertion),
        });
    }
    if let Some(header) = authorization {
        let (id, secret) = parse_basic(header)?;
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "the client used more than one authentication method",
            ));
        }
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the authenticated client",
            ));
        }
        return Ok(PresentedCredentials {
            client_id: id,
            secret: Some(secret),
            method: AuthMethod::ClientSecretBasic,
            assertion: None,
        });
    }
    let Some(id) = body_id else {
        return Err(OAuthError::invalid_client(
            "client authentication is required",
            false,
        ));
    };
    check_len(id, MAX_CLIENT_ID, false)?;
    match body_secret {
        Some(secret) => {
            check_len(secret, MAX_CLIENT_SECRET, false)?;
            Ok(PresentedCredentials {
                client_id: id.to_string(),
                secret: Some(secret.to_string()),
                method: AuthMethod::ClientSecretPost,
                assertion: None,
            })
        }
        None => Ok(PresentedCredentials {
            client_id: id.to_string(),
            secret: None,
            method: AuthMethod::None,
            assertion: None,
        }),
    }
}

/// Reads a compact JWS client assertion: a supported `alg` (never `none`), no header that would
/// make the server fetch or trust a key the client did not register (`jku`, `x5u`, `jwk`,
/// `x5c`) or that it does not understand (`crit`), and a JSON payload whose `iss` and `sub` are
/// both the client id (RFC 7523 §3). Every malformation is `invalid_client`.
pub fn parse_assertion(jwt: &str) -> Result<Assertion, OAuthError> {
    let bad =
        |why: &str| OAuthError::invalid_client(format!("invalid client assertion: {why}"), false);
    if jwt.len() > MAX_ASSERTION {
        return Err(bad("too long"));
    }
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a compact JWS"));
    };
    let json = |part: &str| -> Option<Map<String, Value>> {
        let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let header = json(h).ok_or_else(|| bad("malformed header"))?;
    let claims = json(p).ok_or_else(|| bad("malformed payload"))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(AssertionAlg::parse)
        .ok_or_else(|| bad("unsupported alg"))?;
    for forbidden in ["jku", "x5u", "jwk", "x5c", "crit"] {
        if header.contains_key(forbidden) {
            return Err(bad("unsupported header parameter"));
        }
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= 256 => Some(k.clone()),
        Some(_) => return Err(bad("malformed kid")),
    };
    let iss = claims.get("iss").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    match (iss, sub) {
        (Some(i), Some(s)) if i == s && !s.is_empty() && s.len() <= MAX_CLIENT_ID => {}
        _ => return Err(bad("iss and sub must both be the client id")),
    }
    Ok(Assertion {
        jwt: jwt.to_string(),
        alg,
        kid,
        claims,
    })
}

/// The one-time identity of an accepted assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionUse {
    pub jti: String,
    pub exp: i64,
}

/// Checks an assertion's claims once its signature is verified (RFC 7523 §3, OpenID Connect
/// Core §9): `aud` names one of `audiences` (the issuer, the token endpoint or the endpoint
/// called); `exp` is present, not past, and at most [`MAX_ASSERTION_LIFETIME`] ahead; `nbf` and
/// `iat`, when present, are not in the future; `jti` is present. The caller then makes the
/// `jti` single-use until `exp`.
pub fn check_assertion_claims(
    claims: &Map<String, Value>,
    audiences: &[&str],
    now: i64,
) -> Result<AssertionUse, OAuthError> {
    let bad =
        |why: &str| OAuthError::invalid_client(format!("invalid client assertion: {why}"), false);
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audiences.contains(&a.as_str()),
        Some(Value::Array(list)) => list
            .iter()
            .any(|a| a.as_str().is_some_and(|a| audiences.contains(&a))),
        _ => false,
    };
    if !aud_ok {
        return Err(bad("aud must be the issuer or the endpoint's URL"));
    }
    let time = |name: &str| -> Result<Option<i64>, OAuthError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| bad("time claims must be numbers")),
        }
    };
    let exp = time("exp")?.ok_or_else(|| bad("exp is required"))?;
    if exp <= now - ASSERTION_LEEWAY {
        return Err(bad("expired"));
    }
    if exp > now + MAX_ASSERTION_LIFETIME + ASSERTION_LEEWAY {
        return Err(bad("exp is too far in the future (at most 5 minutes)"));
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + ASSERTION_LEEWAY) {
        return Err(bad("not yet valid"));
    }
    if time("iat")?.is_some_and(|iat| iat > now + ASSERTION_LEEWAY) {
        return Err(bad("issued in the future"));
    }
    let jti = match claims.get("jti") {
        Some(Value::String(j)) if !j.is_empty() && j.len() <= MAX_JTI => j.clone(),
        _ => return Err(bad("jti is required (1 to 256 characters)")),
    };
    Ok(AssertionUse { jti, exp })
}

/// Parses `Basic base64(urlencode(id) ":" urlencode(secret))`. Every malformation is
/// `invalid_client` with a 401, as the client did attempt HTTP authentication.
pub fn parse_basic(header: &[u8]) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("malformed HTTP Basic credentials", true);
    if header.len() > 4 * (MAX_CLIENT_ID + MAX_CLIENT_SECRET) {
        return Err(bad());
    }
    let header = std::str::from_utf8(header).map_err(|_| bad())?;
    let (scheme, rest) = header.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "unsupported authentication scheme; use Basic",
            true,
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let id = form_decode(id).ok_or_else(bad)?;
    let secret = form_decode(secret).ok_or_else(bad)?;
    if id.is_empty() || secret.is_empty() {
        return Err(bad());
    }
    check_len(&id, MAX_CLIENT_ID, true)?;
    check_len(&secret, MAX_CLIENT_SECRET, true)?;
    Ok((id, secret))
}

fn form_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    if !super::params::form_decode_into(s.as_bytes(), &mut out) {
        return None;
    }
    String::from_utf8(out).ok()
}

fn check_len(value: &str, max: usize, basic: bool) -> Result<(), OAuthError> {
    if value.len() > max {
        return Err(OAuthError::invalid_client(
            "client credentials are too long",
            basic,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn basic(raw: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(raw)).into_bytes()
    }

    #[test]
    fn basic_is_url_decoded() {
        let (id, secret) = parse_basic(&basic("my%3Aclient:s%2Be+c%25")).unwrap();
        assert_eq!(id, "my:client");
        assert_eq!(secret, "s+e c%");
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_401() {
        let not_utf8 = {
            let mut v = b"Basic ".to_vec();
            v.extend(STANDARD.encode([0xff, 0xfe, b':', b'x']).as_bytes());
            v
        };
        let cases: Vec<Vec<u8>> = vec![
            b"Basic !!!notbase64".to_vec(),
            basic("no-colon"),
            not_utf8,
            b"Bearer abc".to_vec(),
            b"Basic".to_vec(),
            vec![0xff, 0x00],
            basic(":secret"),
            basic("id:"),
            basic("id:%ZZ"),
        ];
        for c in cases {
            let e = parse_basic(&c).unwrap_err();
            assert!(
                matches!(e, OAuthError::InvalidClient { basic: true, .. }),
                "{c:?}: {e:?}"
            );
        }
    }

    #[test]
    fn one_method_per_request() {
        let p = Params::parse(b"client_secret=x", &[]).unwrap();
        let e = presented(Some(&basic("a:b")), &p).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        let p = Params::parse(b"client_id=other", &[]).unwrap();
        assert_eq!(
            presented(Some(&basic("a:b")), &p).unwrap_err().code(),
            "invalid_request"
        );
        let p = Params::parse(b"client_id=a", &[]).unwrap();
        assert_eq!(
            presented(Some(&basic("a:b")), &p).unwrap().method,
            AuthMethod::ClientSecretBasic
        );
    }

    #[test]
    fn post_and_none() {
        let p = Params::parse(b"client_id=a&client_secret=b", &[]).unwrap();
        let c = presented(None, &p).unwrap();
        assert_eq!(
            (c.method, c.secret.as_deref()),
            (AuthMethod::ClientSecretPost, Some("b"))
        );
        let p = Params::parse(b"client_id=a", &[]).unwrap();
        assert_eq!(presented(None, &p).unwrap().method, AuthMethod::None);
        let p = Params::parse(b"client_secret=b", &[]).unwrap();
        assert_eq!(presented(None, &p).unwrap_err().code(), "invalid_client");
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn jwt(header: serde_json::Value, claims: serde_json::Value) -> String {
        format!("{}.{}.c2ln", b64(&header), b64(&claims))
    }

    #[test]
    fn assertions_name_their_client_and_method() {
        let claims = serde_json::json!({"iss": "c1", "sub": "c1"});
        let body = |a: &str| {
            format!(
                "client_assertion_type={}&client_assertion={a}",
                percent_encoding::utf8_percent_encode(
                    JWT_BEARER,
                    percent_encoding::NON_ALPHANUMERIC
                )
            )
        };
        let a = jwt(
            serde_json::json!({"alg": "ES256", "kid": "k"}),
            claims.clone(),
        );
        let p = Params::parse(body(&a).as_bytes(), &[]).unwrap();
        let c = presented(None, &p).unwrap();
        assert_eq!(
            (c.client_id.as_str(), c.method),
            ("c1", AuthMethod::PrivateKeyJwt)
        );
        assert_eq!(c.assertion.unwrap().kid.as_deref(), Some("k"));
        let a = jwt(serde_json::json!({"alg": "HS256"}), claims.clone());
        let p = Params::parse(body(&a).as_bytes(), &[]).unwrap();
        assert_eq!(
            presented(None, &p).unwrap().method,
            AuthMethod::ClientSecretJwt
        );
        // Basic plus an assertion is two methods.
        assert_eq!(
            presented(Some(&basic("c1:s")), &p).unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn malformed_assertions_are_invalid_client() {
        let ok = serde_json::json!({"iss": "c", "sub": "c"});
        let cases = [
            jwt(serde_json::json!({"alg": "none"}), ok.clone()),
            jwt(serde_json::json!({"alg": "HS512"}), ok.clone()),
            jwt(serde_json::json!({"alg": "rs256"}), ok.clone()),
            jwt(serde_json::json!({}), ok.clone()),
            jwt(
                serde_json::json!({"alg": "RS256", "jku": "https://x"}),
                ok.clone(),
            ),
            jwt(
                serde_json::json!({"alg": "RS256", "x5c": ["MII"]}),
                ok.clone(),
            ),
            jwt(
                serde_json::json!({"alg": "RS256", "crit": ["exp"]}),
                ok.clone(),
            ),
            jwt(serde_json::json!({"alg": "RS256", "kid": 7}), ok.clone()),
            jwt(
                serde_json::json!({"alg": "RS256"}),
                serde_json::json!({"iss": "a", "sub": "b"}),
            ),
            jwt(
                serde_json::json!({"alg": "RS256"}),
                serde_json::json!({"sub": "b"}),
            ),
            jwt(
                serde_json::json!({"alg": "RS256"}),
                serde_json::json!({"iss": "", "sub": ""}),
            ),
            jwt(serde_json::json!({"alg": "RS256"}), serde_json::json!([1])),
            "a.b".into(),
            "a.b.c.d".into(),
            "!!.??.x".into(),
            "a".repeat(MAX_ASSERTION + 1),
        ];
        for c in cases {
            let e = parse_assertion(&c).unwrap_err();
            assert_eq!(e.code(), "invalid_client", "{c}");
        }
    }

    #[test]
    fn assertion_claims_rules() {
        let now = 1_000_000;
        let aud = ["https://id.example", "https://id.example/oauth2/token"];
        let good = serde_json::json!({"aud": "https://id.example", "exp": now + 60, "jti": "j1"});
        let check =
            |v: serde_json::Value| check_assertion_claims(v.as_object().unwrap(), &aud, now);
        assert_eq!(
            check(good.clone()).unwrap(),
            AssertionUse {
                jti: "j1".into(),
                exp: now + 60
            }
        );
        let with = |k: &str, v: serde_json::Value| {
            let mut g = good.clone();
            if v.is_null() {
                g.as_object_mut().unwrap().remove(k);
            } else {
                g[k] = v;
            }
            g
        };
        // Accepted variations.
        assert!(
            check(with(
                "aud",
                serde_json::json!(["x", "https://id.example/oauth2/token"])
            ))
            .is_ok()
        );
        assert!(check(with("exp", serde_json::json!(now - ASSERTION_LEEWAY + 1))).is_ok());
        assert!(check(with("iat", serde_json::json!(now))).is_ok());
        assert!(check(with("exp", serde_json::json!((now + 10) as f64))).is_ok());
        // Refused.
        for bad in [
            with("aud", serde_json::Value::Null),
            with("aud", serde_json::json!("https://other.example")),
            with("aud", serde_json::json!(["https://other.example"])),
            with("aud", serde_json::json!(7)),
            with("exp", serde_json::Value::Null),
            with("exp", serde_json::json!("soon")),
            with("exp", serde_json::json!(now - ASSERTION_LEEWAY)),
            with(
                "exp",
                serde_json::json!(now + MAX_ASSERTION_LIFETIME + ASSERTION_LEEWAY + 1),
            ),
            with("nbf", serde_json::json!(now + ASSERTION_LEEWAY + 1)),
            with("iat", serde_json::json!(now + ASSERTION_LEEWAY + 1)),
            with("jti", serde_json::Value::Null),
            with("jti", serde_json::json!("")),
            with("jti", serde_json::json!(5)),
            with("jti", serde_json::json!("x".repeat(MAX_JTI + 1))),
        ] {
            assert_eq!(
                check(bad.clone()).unwrap_err().code(),
                "invalid_client",
                "{bad}"
            );
        }
    }

    #[test]
    fn an_algorithm_stands_for_one_method() {
        for a in AssertionAlg::ALL {
            assert_eq!(AssertionAlg::parse(a.as_str()), Some(a));
        }
        assert_eq!(AssertionAlg::HS256.method(), AuthMethod::ClientSecretJwt);
        assert_eq!(
            AssertionAlg::Key(Alg::EdDSA).method(),
            AuthMethod::PrivateKeyJwt
        );
        assert_eq!(AssertionAlg::parse("none"), None);
        for m in AuthMethod::ALL {
            assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
        }
        assert!(!AuthMethod::PrivateKeyJwt.uses_secret());
        assert!(AuthMethod::ClientSecretJwt.needs_sealed_secret());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let p = Params::parse(b"client_id=a&client_secret=topsecret", &[]).unwrap();
        assert!(!format!("{:?}", presented(None, &p).unwrap()).contains("topsecret"));
    }
}
