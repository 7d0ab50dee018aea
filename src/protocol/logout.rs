//! Logout rules. OpenID Connect RP-Initiated Logout 1.0 §2–§3: the end-session request's
//! parameters, what a (signature-verified) `id_token_hint` must say, and when the browser may be
//! sent to a `post_logout_redirect_uri`. OpenID Connect Back-Channel Logout 1.0 §2.4: the
//! claims of a logout token.
//!
//! The `post_logout_redirect_uri` is compared as an exact string with the URIs the client
//! registered, and only once the client is known (from the hint or `client_id`); otherwise the
//! browser is never redirected.

use serde::Serialize;
use serde_json::{Map, Value};

use super::params::Params;
use super::redirect_uri::MAX_REDIRECT_URI;

/// The `events` member of a logout token (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Lifetime of a logout token, in seconds (§2.4 recommends a short one).
pub const LOGOUT_TOKEN_TTL: i64 = 120;

/// Longest `ui_locales` accepted (it is otherwise ignored).
pub const MAX_UI_LOCALES: usize = 256;

/// The parameters of an end-session request as sent (nothing verified yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndSessionRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// Why an end-session request cannot be honoured. Each is shown on Tessera's own page; none is
/// ever sent to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutError {
    Malformed,
    /// The hint is not an ID token of this server (bad signature, unknown key, wrong type,
    /// other issuer, missing claims).
    InvalidHint,
    /// `client_id` is not an audience of the hint.
    ClientMismatch,
    UnknownClient,
    /// A `post_logout_redirect_uri` without a way to know the client.
    RedirectWithoutClient,
    /// Not one of the client's registered post-logout redirect URIs.
    UnregisteredRedirect,
}

impl LogoutError {
    /// The message of the error page.
    pub fn message(self) -> &'static str {
        match self {
            LogoutError::Malformed => "This sign-out request is malformed.",
            LogoutError::InvalidHint | LogoutError::ClientMismatch => {
                "This sign-out request does not come from an application of this sign-in service, so it cannot be honoured."
            }
            LogoutError::UnknownClient => "The application asking to sign you out is not known.",
            LogoutError::RedirectWithoutClient | LogoutError::UnregisteredRedirect => {
                "This sign-out request names a return address that is not registered for the application, so you were not signed out."
            }
        }
    }
}

impl EndSessionRequest {
    /// Reads the parameters (query or form body, already parsed with no repeats). Unknown
    /// parameters are ignored; `ui_locales` is accepted and ignored, within a length limit.
    pub fn from_params(params: &Params) -> Result<Self, LogoutError> {
        let get = |k: &str| params.get(k).map(str::to_string);
        if params
            .get("ui_locales")
            .is_some_and(|v| v.len() > MAX_UI_LOCALES)
        {
            return Err(LogoutError::Malformed);
        }
        let req = EndSessionRequest {
            id_token_hint: get("id_token_hint"),
            client_id: get("client_id"),
            post_logout_redirect_uri: get("post_logout_redirect_uri"),
            state: get("state"),
        };
        if req
            .post_logout_redirect_uri
            .as_deref()
            .is_some_and(|u| u.len() > MAX_REDIRECT_URI)
        {
            return Err(LogoutError::Malformed);
        }
        Ok(req)
    }
}

/// What a valid `id_token_hint` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The client the ID token was issued to.
    pub client_id: String,
    pub sub: String,
    pub sid: Option<String>,
}

/// Checks the claims of a signature-verified `id_token_hint`: issued by `issuer`, with `sub`,
/// `exp` (an expired hint is fine: §2 lets the RP send one) and an `aud` naming the client —
/// `client_id` when given must be among the audiences, and several audiences need it.
pub fn check_hint(
    claims: &Map<String, Value>,
    issuer: &str,
    client_id: Option<&str>,
) -> Result<Hint, LogoutError> {
    let str_claim = |k: &str| claims.get(k).and_then(Value::as_str);
    if str_claim("iss") != Some(issuer) {
        return Err(LogoutError::InvalidHint);
    }
    let sub = str_claim("sub")
        .filter(|s| !s.is_empty())
        .ok_or(LogoutError::InvalidHint)?;
    if claims.get("exp").and_then(Value::as_i64).is_none() {
        return Err(LogoutError::InvalidHint);
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => return Err(LogoutError::InvalidHint),
    };
    let client = match (client_id, audiences.as_slice()) {
        (Some(c), auds) if auds.contains(&c) => c,
        (Some(_), _) => return Err(LogoutError::ClientMismatch),
        (None, [one]) => one,
        (None, _) => return Err(LogoutError::InvalidHint),
    };
    Ok(Hint {
        client_id: client.to_string(),
        sub: sub.to_string(),
        sid: str_claim("sid").map(str::to_string),
    })
}

/// Is `requested` one of the registered post-logout redirect URIs (exact string comparison)?
pub fn is_registered_return(requested: &str, registered: &[String]) -> bool {
    registered.iter().any(|r| r == requested)
}

/// The registered URI with `state` added to its query (kept byte for byte otherwise).
pub fn return_url(registered: &str, state: Option<&str>) -> String {
    match state {
        None => registered.to_string(),
        Some(state) => {
            let sep = if registered.contains('?') { '&' } else { '?' };
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("state", state)
                .finish();
            format!("{registered}{sep}{encoded}")
        }
    }
}

/// Logout token claims (Back-Channel Logout 1.0 §2.4): `iss`, `aud`, `iat`, `exp`, `jti`,
/// `sub`, `sid`, `events`; never a `nonce`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogoutTokenClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sub: String,
    pub sid: String,
    pub events: Value,
}

impl LogoutTokenClaims {
    pub fn new(issuer: &str, client_id: &str, sub: &str, sid: &str, now: i64, jti: String) -> Self {
        LogoutTokenClaims {
            iss: issuer.to_string(),
            aud: client_id.to_string(),
            iat: now,
            exp: now + LOGOUT_TOKEN_TTL,
            jti,
            sub: sub.to_string(),
            sid: sid.to_string(),
            events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const ISS: &str = "https://id.example";

    #[test]
    fn hints() {
        let good = claims(json!({"iss": ISS, "sub": "u1", "aud": "web", "exp": 1, "sid": "s1"}));
        assert_eq!(
            check_hint(&good, ISS, None).unwrap(),
            Hint {
                client_id: "web".into(),
                sub: "u1".into(),
                sid: Some("s1".into())
            }
        );
        assert_eq!(
            check_hint(&good, ISS, Some("web")).unwrap().client_id,
            "web"
        );
        assert_eq!(
            check_hint(&good, ISS, Some("other")),
            Err(LogoutError::ClientMismatch)
        );
        assert_eq!(
            check_hint(&good, "https://other.example", None),
            Err(LogoutError::InvalidHint)
        );
        let many = claims(json!({"iss": ISS, "sub": "u1", "aud": ["a", "b"], "exp": 1}));
        assert_eq!(check_hint(&many, ISS, None), Err(LogoutError::InvalidHint));
        let h = check_hint(&many, ISS, Some("b")).unwrap();
        assert_eq!((h.client_id.as_str(), h.sid), ("b", None));
        for bad in [
            json!({"sub": "u1", "aud": "web", "exp": 1}),
            json!({"iss": ISS, "aud": "web", "exp": 1}),
            json!({"iss": ISS, "sub": "", "aud": "web", "exp": 1}),
            json!({"iss": ISS, "sub": "u1", "exp": 1}),
            json!({"iss": ISS, "sub": "u1", "aud": 7, "exp": 1}),
            json!({"iss": ISS, "sub": "u1", "aud": "web"}),
        ] {
            assert!(
                check_hint(&claims(bad.clone()), ISS, None).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn return_uris_are_exact_and_keep_their_query() {
        let reg = vec![
            "https://app.example.com/bye".to_string(),
            "https://app.example.com/out?lang=en".to_string(),
        ];
        assert!(is_registered_return("https://app.example.com/bye", &reg));
        for near in [
            "https://app.example.com/bye/",
            "https://APP.example.com/bye",
            "https://app.example.com/bye?x=1",
            "https://app.example.com:443/bye",
            "https://app.example.com/out",
        ] {
            assert!(!is_registered_return(near, &reg), "{near}");
        }
        assert_eq!(
            return_url("https://app.example.com/bye", Some("a b&c")),
            "https://app.example.com/bye?state=a+b%26c"
        );
        assert_eq!(
            return_url("https://app.example.com/out?lang=en", Some("s")),
            "https://app.example.com/out?lang=en&state=s"
        );
        assert_eq!(
            return_url("https://app.example.com/bye", None),
            "https://app.example.com/bye"
        );
    }

    #[test]
    fn request_parameters() {
        let p = Params::parse(
            b"id_token_hint=a.b.c&client_id=web&post_logout_redirect_uri=https%3A%2F%2Fx%2Fy&state=s&ui_locales=fr&other=1",
            &[],
        )
        .unwrap();
        let r = EndSessionRequest::from_params(&p).unwrap();
        assert_eq!(r.id_token_hint.as_deref(), Some("a.b.c"));
        assert_eq!(r.post_logout_redirect_uri.as_deref(), Some("https://x/y"));
        let long = format!("ui_locales={}", "a".repeat(MAX_UI_LOCALES + 1));
        let p = Params::parse(long.as_bytes(), &[]).unwrap();
        assert_eq!(
            EndSessionRequest::from_params(&p),
            Err(LogoutError::Malformed)
        );
    }

    #[test]
    fn logout_token_shape() {
        let c = LogoutTokenClaims::new(ISS, "web", "u1", "s1", 1000, "j".into());
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["exp"], 1000 + LOGOUT_TOKEN_TTL);
        assert_eq!(v["aud"], "web");
        assert_eq!(v["events"], json!({BACKCHANNEL_LOGOUT_EVENT: {}}));
        assert!(v.get("nonce").is_none());
    }
}
