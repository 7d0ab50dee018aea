//! Client credentials grant (RFC 6749 §4.4) with resource indicators (RFC 8707).
//!
//! The rule for `aud` of the access token:
//! 1. the `resource` values of the request, each of which must be one of the client's registered
//!    audiences (`invalid_target` otherwise);
//! 2. without `resource`: the client's registered audiences;
//! 3. without those: the configured default audience (the issuer, unless set).
//!
//! Scope: a requested scope must be one the client is allowed (`invalid_scope` otherwise);
//! without `scope`, the client gets all its allowed scopes. The end-user scopes `openid` and
//! `offline_access` have no meaning without a user and are never granted here.

use super::super::client::{Client, GrantType};
use super::super::error::OAuthError;
use super::super::scope::{Scopes, USER_SCOPES};
use super::super::token_request::validate_resource;

/// What the grant decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub scopes: Scopes,
    pub audience: Vec<String>,
}

pub fn decide(
    client: &Client,
    scope: Option<Scopes>,
    resources: &[String],
    default_audience: &str,
) -> Result<Decision, OAuthError> {
    if client.is_public() || !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client(
            "the client is not allowed the client_credentials grant",
        ));
    }
    let allowed = |s: &str| !USER_SCOPES.contains(&s) && client.metadata.scopes.contains(s);
    let scopes = match scope {
        Some(requested) if !requested.iter().all(allowed) => {
            return Err(OAuthError::invalid_scope(
                "the requested scope is not allowed for this client",
            ));
        }
        Some(requested) => requested,
        None => client.metadata.scopes.filter(allowed),
    };
    let audience = audience(client, resources, default_audience)?;
    Ok(Decision { scopes, audience })
}

/// The `aud` rule shared by every grant (see the module documentation).
pub fn audience(
    client: &Client,
    resources: &[String],
    default_audience: &str,
) -> Result<Vec<String>, OAuthError> {
    if resources.is_empty() {
        return Ok(if client.metadata.audiences.is_empty() {
            vec![default_audience.to_string()]
        } else {
            client.metadata.audiences.clone()
        });
    }
    let mut out: Vec<String> = Vec::with_capacity(resources.len());
    for r in resources {
        validate_resource(r)?;
        if !client.metadata.audiences.iter().any(|a| a == r) {
            return Err(OAuthError::invalid_target(
                "the resource is not registered for this client",
            ));
        }
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::client::ClientMetadata;
    use crate::protocol::client_auth::AuthMethod;

    fn client(scopes: &str, audiences: &[&str]) -> Client {
        Client {
            id: "svc".into(),
            secret_hash: Some("h".into()),
            metadata: ClientMetadata {
                name: "svc".into(),
                auth_method: AuthMethod::ClientSecretBasic,
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                grant_types: vec![GrantType::ClientCredentials],
                scopes: Scopes::parse(scopes).unwrap(),
                audiences: audiences.iter().map(|s| s.to_string()).collect(),
                skip_consent: false,
                web_origins: vec![],
                backchannel_logout_uri: None,
                id_token_alg: None,
                partner: Default::default(),
            },
            secret_sealed: None,
            registration_token_hash: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    const DEF: &str = "https://issuer.example";

    #[test]
    fn scope_rules() {
        let c = client("read write openid", &[]);
        let d = decide(&c, None, &[], DEF).unwrap();
        assert_eq!(
            d.scopes.to_string(),
            "read write",
            "user scopes never granted by default"
        );
        let d = decide(&c, Some(Scopes::parse("write").unwrap()), &[], DEF).unwrap();
        assert_eq!(d.scopes.to_string(), "write");
        for bad in ["admin", "read admin", "openid", "READ"] {
            let e = decide(&c, Some(Scopes::parse(bad).unwrap()), &[], DEF).unwrap_err();
            assert_eq!(e.code(), "invalid_scope", "{bad}");
        }
    }

    #[test]
    fn audience_rules() {
        let c = client("", &[]);
        assert_eq!(decide(&c, None, &[], DEF).unwrap().audience, [DEF]);
        let c = client("", &["https://a.example", "https://b.example"]);
        assert_eq!(
            decide(&c, None, &[], DEF).unwrap().audience,
            ["https://a.example", "https://b.example"]
        );
        let one = ["https://b.example".to_string()];
        assert_eq!(
            decide(&c, None, &one, DEF).unwrap().audience,
            ["https://b.example"]
        );
        let unknown = ["https://c.example".to_string()];
        assert_eq!(
            decide(&c, None, &unknown, DEF).unwrap_err().code(),
            "invalid_target"
        );
        let relative = ["api".to_string()];
        assert_eq!(
            decide(&c, None, &relative, DEF).unwrap_err().code(),
            "invalid_target"
        );
    }

    #[test]
    fn grant_must_be_allowed() {
        let mut c = client("", &[]);
        c.metadata.grant_types = vec![GrantType::AuthorizationCode];
        assert_eq!(
            decide(&c, None, &[], DEF).unwrap_err().code(),
            "unauthorized_client"
        );
        let mut c = client("", &[]);
        c.metadata.auth_method = AuthMethod::None;
        assert_eq!(
            decide(&c, None, &[], DEF).unwrap_err().code(),
            "unauthorized_client"
        );
    }
}
