//! Authorization server metadata: OpenID Connect Discovery 1.0 §3 and RFC 8414 §2.
//!
//! Both documents are built from one value so they cannot disagree, and list only what this
//! server actually implements. Fields for capabilities that do not exist yet (the authorization
//! endpoint, ID tokens, userinfo) are absent rather than promised.

use serde::Serialize;

/// Paths of the endpoints, relative to the issuer.
pub mod paths {
    pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
    pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
    pub const TOKEN: &str = "/oauth2/token";
    pub const JWKS: &str = "/oauth2/jwks";
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServerMetadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub grant_types_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
}

impl ServerMetadata {
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.to_string(),
            token_endpoint: format!("{issuer}{}", paths::TOKEN),
            jwks_uri: format!("{issuer}{}", paths::JWKS),
            grant_types_supported: vec!["client_credentials"],
            // No authorization endpoint yet, so no response type is supported.
            response_types_supported: vec![],
            token_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_derive_from_the_issuer() {
        let m = ServerMetadata::new("https://id.example/tenant");
        assert_eq!(m.token_endpoint, "https://id.example/tenant/oauth2/token");
        assert_eq!(m.jwks_uri, "https://id.example/tenant/oauth2/jwks");
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v["grant_types_supported"],
            serde_json::json!(["client_credentials"])
        );
        assert!(v.get("authorization_endpoint").is_none());
    }
}
