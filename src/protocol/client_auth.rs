//! Client authentication at the token endpoint (RFC 6749 §2.3.1): `client_secret_basic` (HTTP
//! Basic with form-urlencoded id and secret) and `client_secret_post` (body parameters), or only
//! a `client_id` for a public client. A client uses exactly one method per request.

use base64::Engine;

use super::error::OAuthError;
use super::params::Params;

/// Longest accepted client id.
pub const MAX_CLIENT_ID: usize = 128;
/// Longest accepted client secret.
pub const MAX_CLIENT_SECRET: usize = 512;

/// How the request says it authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "none" => Some(AuthMethod::None),
            _ => None,
        }
    }
}

/// The credentials a request presented, not yet checked against any client.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedCredentials {
    pub client_id: String,
    pub secret: Option<String>,
    pub method: AuthMethod,
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
            })
        }
        None => Ok(PresentedCredentials {
            client_id: id.to_string(),
            secret: None,
            method: AuthMethod::None,
        }),
    }
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
    if !super::params::valid_escapes(s.as_bytes()) {
        return None;
    }
    let replaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&replaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
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

    #[test]
    fn debug_never_shows_the_secret() {
        let p = Params::parse(b"client_id=a&client_secret=topsecret", &[]).unwrap();
        assert!(!format!("{:?}", presented(None, &p).unwrap()).contains("topsecret"));
    }
}
