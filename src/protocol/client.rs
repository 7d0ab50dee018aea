//! OAuth clients: their registered metadata and the rules it must satisfy (RFC 6749 §2,
//! RFC 7591 §2 for the metadata names). Used by the CLI today and by dynamic registration later.

use serde::Serialize;

use super::client_auth::{AuthMethod, MAX_CLIENT_ID, MAX_CLIENT_SECRET};
use super::redirect_uri;
use super::scope::Scopes;

/// Grant types a client may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
    RefreshToken,
}

impl GrantType {
    pub fn parse(s: &str) -> Option<GrantType> {
        match s {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "client_credentials" => Some(GrantType::ClientCredentials),
            "refresh_token" => Some(GrantType::RefreshToken),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
        }
    }
}

/// What an operator registers about a client (everything but the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadata {
    pub name: String,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Scopes,
    pub audiences: Vec<String>,
    /// First-party client: users are not asked for consent.
    pub skip_consent: bool,
    /// Browser origins allowed to call the token and userinfo endpoints (CORS), besides the
    /// origins of the redirect URIs.
    pub web_origins: Vec<String>,
    /// Where Tessera POSTs a logout token when a session this client took part in ends
    /// (OpenID Connect Back-Channel Logout 1.0 §2.2).
    pub backchannel_logout_uri: Option<String>,
    /// The algorithm of this client's ID tokens (`id_token_signed_response_alg`); RS256 when
    /// `None`.
    pub id_token_alg: Option<super::jose::Alg>,
    /// What a partner registers about itself (RFC 7591 §2); empty for operator-made clients
    /// unless set.
    pub partner: PartnerMetadata,
}

/// Display and key metadata of RFC 7591 §2 / OpenID Connect Dynamic Registration §2.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerMetadata {
    /// https only.
    pub logo_uri: Option<String>,
    /// https only.
    pub policy_uri: Option<String>,
    /// https only.
    pub tos_uri: Option<String>,
    pub contacts: Vec<String>,
    /// The client's JSON Web Key Set, as JSON text (`{"keys": [...]}`).
    pub jwks: Option<String>,
    /// https only (or http on a loopback host, which only `outbound.allow_private` lets
    /// through); fetched only through `outbound`.
    pub jwks_uri: Option<String>,
    /// `token_endpoint_auth_signing_alg`: the only algorithm this client's assertions may use.
    pub token_endpoint_auth_signing_alg: Option<super::client_auth::AssertionAlg>,
}

/// A registered client as the server holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    /// Keyed hash of the secret; `None` for clients without a secret (public, `private_key_jwt`).
    pub secret_hash: Option<String>,
    /// The secret sealed under the key-encryption key, for `client_secret_jwt` clients only
    /// (Tessera must recompute their HMAC); `None` for every other client.
    pub secret_sealed: Option<Vec<u8>>,
    /// SHA-256 of the RFC 7592 registration access token (dynamically registered clients).
    pub registration_token_hash: Option<String>,
    pub metadata: ClientMetadata,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.metadata.auth_method == AuthMethod::None
    }
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.metadata.grant_types.contains(&grant)
    }

    /// Browser origins of this client: the registered web origins and the origins of its
    /// http(s) redirect URIs.
    pub fn origins(&self) -> Vec<String> {
        let mut out: Vec<String> = self.metadata.web_origins.clone();
        for uri in &self.metadata.redirect_uris {
            if let Some(o) = origin_of(uri)
                && !out.contains(&o)
            {
                out.push(o);
            }
        }
        out
    }
}

/// `scheme://host[:port]` of an http(s) URL.
pub fn origin_of(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// A web origin for CORS: `https://host[:port]` (or http on a loopback IP), nothing more.
pub fn validate_web_origin(origin: &str) -> Result<(), String> {
    let canonical = origin_of(origin)
        .ok_or_else(|| format!("web origin `{origin}` is not an http(s) origin"))?;
    if canonical != origin {
        return Err(format!(
            "web origin `{origin}` must be exactly scheme://host[:port], e.g. {canonical}"
        ));
    }
    if origin.starts_with("http://") {
        super::redirect_uri::validate_registration(&format!("{origin}/"))
            .map_err(|_| format!("web origin `{origin}`: plain http only on a loopback IP"))?;
    }
    Ok(())
}

/// A back-channel logout URI (Back-Channel Logout 1.0 §2.2): an absolute http(s) URI with a
/// host, without fragment or user information. Where it may point (public addresses only,
/// unless allowed) is enforced when Tessera calls it (`outbound`), not here.
pub fn validate_backchannel_logout_uri(uri: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("backchannel_logout_uri: {why}"));
    if uri.len() > super::redirect_uri::MAX_REDIRECT_URI {
        return bad("too long");
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("contains white space or control characters");
    }
    if uri.contains('#') {
        return bad("must not contain a fragment");
    }
    let Ok(u) = url::Url::parse(uri) else {
        return bad("not an absolute URI");
    };
    if !matches!(u.scheme(), "http" | "https") {
        return bad("must be http or https");
    }
    if u.host().is_none() {
        return bad("needs a host");
    }
    if !u.username().is_empty() || u.password().is_some() {
        return bad("must not contain user information");
    }
    Ok(())
}

/// Checks a client id chosen by hand. Ids are 1–128 characters of the URI unreserved set, and
/// never a UUID: user subjects are UUIDs, so a client's `sub` can never be mistaken for a user's.
pub fn validate_client_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_CLIENT_ID {
        return Err(format!("client id must be 1 to {MAX_CLIENT_ID} characters"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Err("client id may contain only letters, digits and - . _ ~".into());
    }
    if uuid::Uuid::try_parse(id).is_ok() {
        return Err("client id must not be a UUID (user subjects are UUIDs)".into());
    }
    Ok(())
}

/// Checks a client secret chosen by hand.
pub fn validate_manual_secret(secret: &str) -> Result<(), String> {
    if secret.chars().count() < 32 {
        return Err("a client secret given by hand must be at least 32 characters".into());
    }
    if secret.len() > MAX_CLIENT_SECRET {
        return Err(format!(
            "a client secret must be at most {MAX_CLIENT_SECRET} bytes"
        ));
    }
    if secret.chars().any(char::is_control) {
        return Err("a client secret must not contain control characters".into());
    }
    Ok(())
}

/// Checks metadata as a whole. The error names the offending field.
pub fn validate_metadata(m: &ClientMetadata) -> Result<(), String> {
    let name_len = m.name.chars().count();
    if name_len == 0 || name_len > 200 || m.name.chars().any(char::is_control) {
        return Err("name must be 1 to 200 characters without control characters".into());
    }
    if m.grant_types.is_empty() {
        return Err("grant_types: at least one grant type is required".into());
    }
    let public = m.auth_method == AuthMethod::None;
    if public && m.grant_types.contains(&GrantType::ClientCredentials) {
        return Err("grant_types: a public client cannot use client_credentials".into());
    }
    if m.grant_types.contains(&GrantType::RefreshToken)
        && !m.grant_types.contains(&GrantType::AuthorizationCode)
    {
        return Err("grant_types: refresh_token needs authorization_code".into());
    }
    if m.grant_types.contains(&GrantType::AuthorizationCode) && m.redirect_uris.is_empty() {
        return Err("redirect_uris: authorization_code needs at least one redirect URI".into());
    }
    for (field, list) in [
        ("redirect_uris", &m.redirect_uris),
        ("post_logout_redirect_uris", &m.post_logout_redirect_uris),
    ] {
        if list.len() > 20 {
            return Err(format!("{field}: at most 20"));
        }
        for uri in list.iter() {
            redirect_uri::validate_registration(uri).map_err(|e| format!("{field}: {e}"))?;
        }
    }
    if m.audiences.len() > 20 {
        return Err("audiences: at most 20".into());
    }
    if m.web_origins.len() > 20 {
        return Err("web_origins: at most 20".into());
    }
    for o in &m.web_origins {
        validate_web_origin(o)?;
    }
    if let Some(uri) = &m.backchannel_logout_uri {
        validate_backchannel_logout_uri(uri)?;
    }
    validate_partner(&m.partner)?;
    validate_auth(m)?;
    for aud in &m.audiences {
        if aud.is_empty()
            || aud.len() > 512
            || aud.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err("audiences: each must be 1 to 512 characters without white space".into());
        }
    }
    Ok(())
}

/// An https URL shown to users or fetched by the server (`logo_uri`, `policy_uri`, `tos_uri`,
/// `jwks_uri`): absolute https with a host, no fragment, no user information, ≤ 2000 bytes.
pub fn validate_https_url(field: &str, uri: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{field}: {why}"));
    if uri.len() > super::redirect_uri::MAX_REDIRECT_URI {
        return bad("too long");
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("contains white space or control characters");
    }
    if uri.contains('#') {
        return bad("must not contain a fragment");
    }
    let Ok(u) = url::Url::parse(uri) else {
        return bad("not an absolute URI");
    };
    if u.scheme() != "https" {
        return bad("must be an https URL");
    }
    if u.host().is_none() {
        return bad("needs a host");
    }
    if !u.username().is_empty() || u.password().is_some() {
        return bad("must not contain user information");
    }
    Ok(())
}

/// Checks the partner-supplied metadata: https URLs, contacts, and a JWK Set that holds only
/// public keys (`jwks` and `jwks_uri` are mutually exclusive, RFC 7591 §2).
pub fn validate_partner(p: &PartnerMetadata) -> Result<(), String> {
    for (field, v) in [
        ("logo_uri", &p.logo_uri),
        ("policy_uri", &p.policy_uri),
        ("tos_uri", &p.tos_uri),
    ] {
        if let Some(u) = v {
            validate_https_url(field, u)?;
        }
    }
    if let Some(u) = &p.jwks_uri {
        validate_jwks_uri(u)?;
    }
    if p.contacts.len() > 20 {
        return Err("contacts: at most 20".into());
    }
    for c in &p.contacts {
        if c.is_empty() || c.len() > 254 || c.chars().any(|ch| ch.is_control()) {
            return Err(
                "contacts: each must be 1 to 254 characters without control characters".into(),
            );
        }
    }
    if p.jwks.is_some() && p.jwks_uri.is_some() {
        return Err("jwks and jwks_uri are mutually exclusive".into());
    }
    if let Some(j) = &p.jwks {
        validate_jwks(j)?;
    }
    Ok(())
}

/// `jwks_uri`: an https URL, or — for development and tests, where the key server runs on the
/// same machine — http on a loopback host. Whether the server may fetch a loopback or private
/// address at all is `outbound.allow_private`, checked at registration and again at every fetch.
pub fn validate_jwks_uri(uri: &str) -> Result<(), String> {
    if let Ok(u) = url::Url::parse(uri)
        && u.scheme() == "http"
        && is_loopback_host(&u)
    {
        let as_https = format!("https{}", &uri[4..]);
        return validate_https_url("jwks_uri", &as_https);
    }
    validate_https_url("jwks_uri", uri)
}

/// `localhost` (RFC 6761) or a loopback IP literal.
pub fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// How a client authenticates must fit what it registered: `private_key_jwt` needs keys (`jwks`
/// or `jwks_uri`), and `token_endpoint_auth_signing_alg` is only for the JWT methods, with an
/// algorithm of the method's kind.
pub fn validate_auth(m: &ClientMetadata) -> Result<(), String> {
    let p = &m.partner;
    if m.auth_method == AuthMethod::PrivateKeyJwt && p.jwks.is_none() && p.jwks_uri.is_none() {
        return Err("private_key_jwt needs the client's public keys: jwks or jwks_uri".into());
    }
    if let Some(alg) = p.token_endpoint_auth_signing_alg
        && alg.method() != m.auth_method
    {
        return Err(format!(
            "token_endpoint_auth_signing_alg `{}` does not fit token_endpoint_auth_method `{}`",
            alg.as_str(),
            m.auth_method.as_str()
        ));
    }
    Ok(())
}

/// A JWK Set given by value: `{"keys": [...]}`, 1–10 keys, each an object with a `kty`, and no
/// private key members.
pub fn validate_jwks(text: &str) -> Result<(), String> {
    if text.len() > 32 * 1024 {
        return Err("jwks: too large".into());
    }
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "jwks: not a JSON object".to_string())?;
    let Some(keys) = v.get("keys").and_then(|k| k.as_array()) else {
        return Err("jwks: must be an object with a `keys` array".into());
    };
    if keys.is_empty() || keys.len() > 10 {
        return Err("jwks: 1 to 10 keys".into());
    }
    for k in keys {
        let Some(obj) = k.as_object() else {
            return Err("jwks: each key must be an object".into());
        };
        if !obj.get("kty").is_some_and(|t| t.is_string()) {
            return Err("jwks: each key needs a `kty`".into());
        }
        if ["d", "p", "q", "dp", "dq", "qi", "k", "oth"]
            .iter()
            .any(|m| obj.contains_key(*m))
        {
            return Err("jwks: must hold public keys only".into());
        }
    }
    Ok(())
}

/// The grant types a client gets when none are named: the authorization code flow when it has
/// redirect URIs, client credentials otherwise (confidential clients only).
pub fn default_grant_types(auth_method: AuthMethod, redirect_uris: &[String]) -> Vec<GrantType> {
    if !redirect_uris.is_empty() || auth_method == AuthMethod::None {
        vec![GrantType::AuthorizationCode]
    } else {
        vec![GrantType::ClientCredentials]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ClientMetadata {
        ClientMetadata {
            name: "App".into(),
            auth_method: AuthMethod::ClientSecretBasic,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            scopes: Scopes::parse("read").unwrap(),
            audiences: vec!["https://api.example.com".into()],
            skip_consent: false,
            web_origins: vec![],
            backchannel_logout_uri: None,
            id_token_alg: None,
            partner: Default::default(),
        }
    }

    #[test]
    fn jwt_methods_need_what_they_check_with() {
        use super::super::client_auth::AssertionAlg;
        use super::super::jose::Alg;
        let mut m = meta();
        m.auth_method = AuthMethod::PrivateKeyJwt;
        assert!(validate_metadata(&m).unwrap_err().contains("jwks"));
        m.partner.jwks_uri = Some("https://partner.example.com/jwks".into());
        validate_metadata(&m).unwrap();
        m.partner.token_endpoint_auth_signing_alg = Some(AssertionAlg::HS256);
        assert!(validate_metadata(&m).is_err(), "an HMAC is no private key");
        m.partner.token_endpoint_auth_signing_alg = Some(AssertionAlg::Key(Alg::ES256));
        validate_metadata(&m).unwrap();
        m.auth_method = AuthMethod::ClientSecretBasic;
        assert!(
            validate_metadata(&m).is_err(),
            "a signing alg only for JWT methods"
        );
        m.auth_method = AuthMethod::ClientSecretJwt;
        m.partner.token_endpoint_auth_signing_alg = Some(AssertionAlg::HS256);
        validate_metadata(&m).unwrap();
    }

    #[test]
    fn jwks_uri_is_https_or_loopback_http() {
        for ok in [
            "https://partner.example.com/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/jwks",
            "http://[::1]:9/k",
        ] {
            validate_jwks_uri(ok).unwrap();
        }
        for bad in [
            "http://partner.example.com/jwks",
            "http://10.0.0.1/jwks",
            "ftp://127.0.0.1/jwks",
            "http://127.0.0.1/jwks#frag",
            "http://user@127.0.0.1/jwks",
            "jwks",
        ] {
            assert!(validate_jwks_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins() {
        validate_web_origin("https://spa.example.com").unwrap();
        validate_web_origin("http://127.0.0.1:3000").unwrap();
        for bad in [
            "https://spa.example.com/",
            "https://spa.example.com/x",
            "http://spa.example.com",
            "null",
            "*",
        ] {
            assert!(validate_web_origin(bad).is_err(), "{bad}");
        }
        let mut m = meta();
        m.redirect_uris = vec![
            "https://app.example.com:8443/cb".into(),
            "com.example.app:/cb".into(),
        ];
        m.web_origins = vec!["https://spa.example.com".into()];
        let c = Client {
            id: "x".into(),
            secret_hash: None,
            secret_sealed: None,
            registration_token_hash: None,
            metadata: m,
            created_at: 0,
            updated_at: 0,
        };
        assert_eq!(
            c.origins(),
            ["https://spa.example.com", "https://app.example.com:8443"]
        );
    }

    #[test]
    fn client_ids() {
        validate_client_id("billing-service").unwrap();
        validate_client_id("a.b_c~d").unwrap();
        for bad in [
            "",
            "has space",
            "slash/",
            "ünï",
            &"x".repeat(129),
            "6f1c2a52-9a0e-4b7e-8a43-1d2c3b4a5e6f",
        ] {
            assert!(validate_client_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manual_secrets() {
        assert!(validate_manual_secret(&"x".repeat(31)).is_err());
        validate_manual_secret(&"x".repeat(32)).unwrap();
    }

    #[test]
    fn metadata_rules() {
        validate_metadata(&meta()).unwrap();
        let mut m = meta();
        m.auth_method = AuthMethod::None;
        assert!(validate_metadata(&m).unwrap_err().contains("public"));
        let mut m = meta();
        m.grant_types = vec![GrantType::AuthorizationCode];
        assert!(validate_metadata(&m).unwrap_err().contains("redirect_uris"));
        m.redirect_uris = vec!["javascript:alert(1)".into()];
        assert!(validate_metadata(&m).is_err());
        m.redirect_uris = vec!["https://app.example.com/cb".into()];
        validate_metadata(&m).unwrap();
        let mut m = meta();
        m.grant_types = vec![GrantType::RefreshToken];
        assert!(validate_metadata(&m).is_err());
        let mut m = meta();
        m.name = String::new();
        assert!(validate_metadata(&m).is_err());
        let mut m = meta();
        m.audiences = vec!["has space".into()];
        assert!(validate_metadata(&m).is_err());
    }

    #[test]
    fn backchannel_logout_uris() {
        for ok in [
            "https://rp.example.com/backchannel",
            "https://rp.example.com:8443/bc?tenant=1",
            "http://127.0.0.1:9000/bc",
            "http://rp.internal/bc",
        ] {
            let mut m = meta();
            m.backchannel_logout_uri = Some(ok.into());
            validate_metadata(&m).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "/bc",
            "https://rp.example.com/bc#frag",
            "javascript:alert(1)",
            "ftp://rp.example.com/bc",
            "https://u:p@rp.example.com/bc",
            "https://rp.example.com/b c",
        ] {
            assert!(validate_backchannel_logout_uri(bad).is_err(), "{bad}");
        }
    }
}
