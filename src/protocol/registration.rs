//! Dynamic client registration requests (RFC 7591 §2–3, RFC 7592 §2.2, OpenID Connect Dynamic
//! Client Registration 1.0 §2): strict JSON parsing (no duplicate keys, exact types) and the
//! metadata rules. Unknown members are ignored, as RFC 7591 §2 requires.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::client::{ClientMetadata, GrantType, PartnerMetadata, validate_metadata};
use super::client_auth::{AssertionAlg, AuthMethod};
use super::jose::Alg;
use super::redirect_uri;
use super::scope::Scopes;

/// Largest registration request body.
pub const MAX_BODY: usize = 64 * 1024;

/// Why a registration request is refused (RFC 7591 §3.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationError {
    /// `invalid_redirect_uri`
    RedirectUri(String),
    /// `invalid_client_metadata`
    Metadata(String),
}

impl RegistrationError {
    pub fn code(&self) -> &'static str {
        match self {
            RegistrationError::RedirectUri(_) => "invalid_redirect_uri",
            RegistrationError::Metadata(_) => "invalid_client_metadata",
        }
    }
    pub fn description(&self) -> &str {
        match self {
            RegistrationError::RedirectUri(d) | RegistrationError::Metadata(d) => d,
        }
    }
}

fn meta(msg: impl Into<String>) -> RegistrationError {
    RegistrationError::Metadata(msg.into())
}

/// A JSON value whose objects never repeat a key (at any depth).
struct Strict(Value);

impl<'de> de::Deserialize<'de> for Strict {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value_seed(StrictSeed)?;
            if out.insert(key.clone(), v).is_some() {
                return Err(de::Error::custom(format!("duplicate member `{key}`")));
            }
        }
        Ok(Value::Object(out))
    }
}

struct StrictSeed;

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Strict;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Strict, D::Error> {
        <Strict as de::Deserialize>::deserialize(d)
    }
}

/// Parses a registration body: a JSON object, at most [`MAX_BODY`] bytes, without duplicate
/// member names at any depth.
pub fn parse_body(body: &[u8]) -> Result<Map<String, Value>, RegistrationError> {
    if body.len() > MAX_BODY {
        return Err(meta("the request body is too large"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    // serde_json limits nesting to 128 levels itself.
    let Strict(v) = <Strict as de::Deserialize>::deserialize(&mut de)
        .map_err(|e| meta(format!("the request body is not valid JSON: {e}")))?;
    de.end()
        .map_err(|_| meta("trailing characters after the JSON object"))?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(meta("the request body must be a JSON object")),
    }
}

fn opt_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, RegistrationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(meta(format!("{key} must be a string"))),
    }
}

fn opt_list(m: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, RegistrationError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.len() > 50 {
                return Err(meta(format!("{key}: too many entries")));
            }
            let mut out: Vec<String> = Vec::with_capacity(items.len());
            for i in items {
                let Value::String(s) = i else {
                    return Err(meta(format!("{key} must be an array of strings")));
                };
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
            Ok(Some(out))
        }
        Some(_) => Err(meta(format!("{key} must be an array of strings"))),
    }
}

/// The metadata of a registration (or RFC 7592 update) request.
#[derive(Debug, Clone)]
pub struct Registration {
    pub metadata: ClientMetadata,
    /// `client_id` and `client_secret` members, which an RFC 7592 update must carry unchanged.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// Reads and checks registration metadata.
///
/// `server_algs` are the server's key algorithms (`id_token_signed_response_alg` must be one);
/// `auth_methods` the `token_endpoint_auth_method` values this server can verify;
/// `default_name` the `client_name` when none is given (the client id).
pub fn parse(
    m: &Map<String, Value>,
    server_algs: &[Alg],
    auth_methods: &[AuthMethod],
    default_name: &str,
) -> Result<Registration, RegistrationError> {
    // Redirect URIs first: their errors have their own code.
    let redirect_uris = opt_list(m, "redirect_uris")?.unwrap_or_default();
    if redirect_uris.len() > 20 {
        return Err(RegistrationError::RedirectUri(
            "at most 20 redirect_uris".into(),
        ));
    }
    for u in &redirect_uris {
        redirect_uri::validate_registration(u).map_err(RegistrationError::RedirectUri)?;
    }

    let auth_method = match opt_str(m, "token_endpoint_auth_method")? {
        None => AuthMethod::ClientSecretBasic,
        Some(s) => AuthMethod::parse(s)
            .filter(|a| auth_methods.contains(a))
            .ok_or_else(|| {
                meta(format!(
                    "token_endpoint_auth_method `{s}` is not supported; use one of {}",
                    auth_methods
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
    };

    let grant_names = opt_list(m, "grant_types")?;
    let response_types = opt_list(m, "response_types")?;
    let mut grant_types = Vec::new();
    for g in grant_names
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".into()])
    {
        let gt = GrantType::parse(&g)
            .ok_or_else(|| meta(format!("grant type `{g}` is not supported")))?;
        if !grant_types.contains(&gt) {
            grant_types.push(gt);
        }
    }
    let response_types = match response_types {
        Some(r) => r,
        // RFC 7591 §2: default `code`, but a client that asks only for grants without a
        // redirect (client_credentials) has no response types.
        None if grant_types.contains(&GrantType::AuthorizationCode) => vec!["code".into()],
        None => vec![],
    };
    for r in &response_types {
        if r != "code" {
            return Err(meta(format!(
                "response type `{r}` is not supported (only code)"
            )));
        }
    }
    let has_code = response_types.iter().any(|r| r == "code");
    if has_code != grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(meta(
            "response_types `code` and grant_types `authorization_code` go together",
        ));
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(RegistrationError::RedirectUri(
            "authorization_code needs at least one redirect URI".into(),
        ));
    }

    let scopes = match opt_str(m, "scope")? {
        None => Scopes::parse("openid").map_err(meta)?,
        Some(s) => Scopes::parse(s).map_err(|e| meta(format!("scope: {e}")))?,
    };
    if scopes.contains("offline_access") && !grant_types.contains(&GrantType::RefreshToken) {
        return Err(meta(
            "scope offline_access needs the refresh_token grant type",
        ));
    }

    let id_token_alg = match opt_str(m, "id_token_signed_response_alg")? {
        None => None,
        Some(a) => Some(
            Alg::parse(a)
                .filter(|alg| server_algs.contains(alg))
                .ok_or_else(|| {
                    meta(format!(
                        "id_token_signed_response_alg `{a}` is not one of {}",
                        server_algs
                            .iter()
                            .map(|a| a.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?,
        ),
    };

    let jwks = match m.get("jwks") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => return Err(meta("jwks must be a JSON object")),
    };
    let token_endpoint_auth_signing_alg = match opt_str(m, "token_endpoint_auth_signing_alg")? {
        None => None,
        Some(a) => Some(AssertionAlg::parse(a).ok_or_else(|| {
            meta(format!(
                "token_endpoint_auth_signing_alg `{a}` is not one of {}",
                AssertionAlg::ALL.map(AssertionAlg::as_str).join(", ")
            ))
        })?),
    };
    let partner = PartnerMetadata {
        logo_uri: opt_str(m, "logo_uri")?.map(str::to_string),
        policy_uri: opt_str(m, "policy_uri")?.map(str::to_string),
        tos_uri: opt_str(m, "tos_uri")?.map(str::to_string),
        contacts: opt_list(m, "contacts")?.unwrap_or_default(),
        jwks,
        jwks_uri: opt_str(m, "jwks_uri")?.map(str::to_string),
        token_endpoint_auth_signing_alg,
    };

    let name = opt_str(m, "client_name")?
        .unwrap_or(default_name)
        .to_string();
    let post_logout_redirect_uris = opt_list(m, "post_logout_redirect_uris")?.unwrap_or_default();
    let metadata = ClientMetadata {
        name,
        auth_method,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types,
        scopes,
        audiences: vec![],
        skip_consent: false,
        web_origins: vec![],
        backchannel_logout_uri: opt_str(m, "backchannel_logout_uri")?.map(str::to_string),
        id_token_alg,
        partner,
    };
    validate_metadata(&metadata).map_err(meta)?;
    Ok(Registration {
        metadata,
        client_id: opt_str(m, "client_id")?.map(str::to_string),
        client_secret: opt_str(m, "client_secret")?.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const METHODS: [AuthMethod; 3] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ];

    fn try_parse(body: &str) -> Result<Registration, RegistrationError> {
        let m = parse_body(body.as_bytes())?;
        parse(&m, &[Alg::RS256], &METHODS, "x")
    }

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        for dup in [
            r#"{"redirect_uris":["https://a.example/cb"],"redirect_uris":["https://b.example/cb"]}"#,
            r#"{"redirect_uris":["https://a.example/cb"],"jwks":{"keys":[{"kty":"EC","kty":"RSA"}]}}"#,
        ] {
            assert_eq!(
                try_parse(dup).unwrap_err().code(),
                "invalid_client_metadata"
            );
        }
    }

    #[test]
    fn accepts_a_plain_web_client() {
        let r = try_parse(
            r#"{"redirect_uris":["https://a.example/cb"],"client_name":"A","unknown":1}"#,
        )
        .unwrap();
        assert_eq!(r.metadata.grant_types, [GrantType::AuthorizationCode]);
        assert_eq!(r.metadata.auth_method, AuthMethod::ClientSecretBasic);
    }

    #[test]
    fn refusals() {
        for (body, code) in [
            (
                r#"{"redirect_uris":["http://a.example/cb"]}"#,
                "invalid_redirect_uri",
            ),
            (r#"{"redirect_uris":[]}"#, "invalid_redirect_uri"),
            (
                r#"{"redirect_uris":"https://a.example/cb"}"#,
                "invalid_client_metadata",
            ),
            (r#"[]"#, "invalid_client_metadata"),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"magic"}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"],"response_types":["code"]}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"scope":"openid offline_access"}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"logo_uri":"http://a.example/l.png"}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"jwks_uri":"https://a.example/j","jwks":{"keys":[{"kty":"EC"}]}}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"id_token_signed_response_alg":"none"}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"client_name":7}"#,
                "invalid_client_metadata",
            ),
        ] {
            assert_eq!(try_parse(body).unwrap_err().code(), code, "{body}");
        }
    }
}
