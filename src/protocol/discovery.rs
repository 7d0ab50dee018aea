//! Authorization server metadata: OpenID Connect Discovery 1.0 §3 and RFC 8414 §2.
//!
//! Both documents are built from one value so they cannot disagree, and list only what this
//! server actually implements. Fields for capabilities that do not exist yet are absent rather
//! than promised.

use serde::Serialize;

use super::client_auth::{AssertionAlg, AuthMethod};

/// Paths of the endpoints, relative to the issuer.
pub mod paths {
    pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
    pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
    pub const TOKEN: &str = "/oauth2/token";
    pub const JWKS: &str = "/oauth2/jwks";
    pub const AUTHORIZE: &str = "/oauth2/authorize";
    pub const USERINFO: &str = "/oauth2/userinfo";
    pub const REVOKE: &str = "/oauth2/revoke";
    pub const INTROSPECT: &str = "/oauth2/introspect";
    pub const LOGIN: &str = "/login";
    pub const CONSENT: &str = "/consent";
    pub const END_SESSION: &str = "/oauth2/logout";
    pub const REGISTER: &str = "/oauth2/register";
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub jwks_uri: String,
    pub end_session_endpoint: String,
    pub registration_endpoint: String,
    pub scopes_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub claims_supported: Vec<&'static str>,
    pub prompt_values_supported: Vec<&'static str>,
    pub authorization_response_iss_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    pub claims_parameter_supported: bool,
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
}

/// Every client authentication method the endpoints verify (`crate::flows::client_auth`);
/// `none` only where public clients may call.
fn methods(with_none: bool) -> Vec<&'static str> {
    AuthMethod::ALL
        .into_iter()
        .filter(|m| with_none || *m != AuthMethod::None)
        .map(AuthMethod::as_str)
        .collect()
}

/// The algorithms accepted in `private_key_jwt` and `client_secret_jwt` assertions.
fn assertion_algs() -> Vec<&'static str> {
    AssertionAlg::ALL
        .into_iter()
        .map(AssertionAlg::as_str)
        .collect()
}

impl ServerMetadata {
    pub fn new(issuer: &str, signing_algs: &[crate::protocol::jose::Alg]) -> Self {
        Self {
            issuer: issuer.to_string(),
            authorization_endpoint: format!("{issuer}{}", paths::AUTHORIZE),
            token_endpoint: format!("{issuer}{}", paths::TOKEN),
            userinfo_endpoint: format!("{issuer}{}", paths::USERINFO),
            revocation_endpoint: format!("{issuer}{}", paths::REVOKE),
            introspection_endpoint: format!("{issuer}{}", paths::INTROSPECT),
            jwks_uri: format!("{issuer}{}", paths::JWKS),
            end_session_endpoint: format!("{issuer}{}", paths::END_SESSION),
            registration_endpoint: format!("{issuer}{}", paths::REGISTER),
            scopes_supported: vec!["openid", "profile", "email", "offline_access"],
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query", "form_post"],
            grant_types_supported: vec![
                "authorization_code",
                "client_credentials",
                "refresh_token",
            ],
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: signing_algs
                .iter()
                .map(|a| a.as_str())
                .collect(),
            token_endpoint_auth_methods_supported: methods(true),
            token_endpoint_auth_signing_alg_values_supported: assertion_algs(),
            revocation_endpoint_auth_methods_supported: methods(true),
            revocation_endpoint_auth_signing_alg_values_supported: assertion_algs(),
            // Introspection is for confidential clients only.
            introspection_endpoint_auth_methods_supported: methods(false),
            introspection_endpoint_auth_signing_alg_values_supported: assertion_algs(),
            code_challenge_methods_supported: vec!["S256"],
            claims_supported: vec![
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "at_hash",
                "sid",
                "name",
                "given_name",
                "family_name",
                "preferred_username",
                "updated_at",
                "email",
                "email_verified",
            ],
            prompt_values_supported: vec!["none", "login", "consent"],
            authorization_response_iss_parameter_supported: true,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            claims_parameter_supported: false,
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_derive_from_the_issuer() {
        let m = ServerMetadata::new(
            "https://id.example/tenant",
            &[crate::protocol::jose::Alg::RS256],
        );
        assert_eq!(m.token_endpoint, "https://id.example/tenant/oauth2/token");
        assert_eq!(m.jwks_uri, "https://id.example/tenant/oauth2/jwks");
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v["authorization_endpoint"],
            "https://id.example/tenant/oauth2/authorize"
        );
        assert_eq!(
            v["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(v["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            v["end_session_endpoint"],
            "https://id.example/tenant/oauth2/logout"
        );
        assert_eq!(v["backchannel_logout_supported"], true);
        assert_eq!(v["backchannel_logout_session_supported"], true);
        assert_eq!(
            v["revocation_endpoint"],
            "https://id.example/tenant/oauth2/revoke"
        );
    }
}
