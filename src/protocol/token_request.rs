//! The token request (RFC 6749 §3.2, §4.4.2; RFC 8707 §2.2), parsed into one typed value per
//! grant. Grants are dispatched by an exhaustive `match` on [`TokenRequest`].

use super::error::OAuthError;
use super::params::Params;
use super::scope::Scopes;

/// Parameters of the token endpoint that may repeat.
pub const REPEATABLE: &[&str] = &["resource"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// RFC 6749 §4.4.
    ClientCredentials {
        scope: Option<Scopes>,
        resources: Vec<String>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        refresh_token: String,
        scope: Option<Scopes>,
        resources: Vec<String>,
    },
    /// RFC 6749 §4.1.3, RFC 7636 §4.5.
    AuthorizationCode {
        code: String,
        redirect_uri: String,
        code_verifier: Option<String>,
        resources: Vec<String>,
    },
}

impl TokenRequest {
    /// Reads `grant_type` and that grant's parameters. Unknown or unimplemented grants are
    /// `unsupported_grant_type`; a missing one is `invalid_request`.
    pub fn parse(params: &Params) -> Result<TokenRequest, OAuthError> {
        let grant_type = params.require("grant_type")?;
        match grant_type {
            "client_credentials" => Ok(TokenRequest::ClientCredentials {
                scope: params.get("scope").map(Scopes::from_param).transpose()?,
                resources: params.all("resource").map(str::to_string).collect(),
            }),
            "refresh_token" => Ok(TokenRequest::RefreshToken {
                refresh_token: params.require("refresh_token")?.to_string(),
                scope: params.get("scope").map(Scopes::from_param).transpose()?,
                resources: params.all("resource").map(str::to_string).collect(),
            }),
            "authorization_code" => Ok(TokenRequest::AuthorizationCode {
                code: params.require("code")?.to_string(),
                redirect_uri: params.require("redirect_uri")?.to_string(),
                code_verifier: params.get("code_verifier").map(str::to_string),
                resources: params.all("resource").map(str::to_string).collect(),
            }),
            _ => Err(OAuthError::unsupported_grant_type(
                "the grant type is not supported by this server",
            )),
        }
    }
}

/// RFC 8707 §2: a `resource` is an absolute URI without a fragment.
pub fn validate_resource(resource: &str) -> Result<(), OAuthError> {
    let ok = url::Url::parse(resource).is_ok() && !resource.contains('#');
    if ok {
        Ok(())
    } else {
        Err(OAuthError::invalid_target(
            "resource must be an absolute URI without a fragment",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<TokenRequest, OAuthError> {
        TokenRequest::parse(&Params::parse(body.as_bytes(), REPEATABLE)?)
    }

    #[test]
    fn grant_types() {
        assert_eq!(parse("scope=a").unwrap_err().code(), "invalid_request");
        assert_eq!(
            parse("grant_type=authorization_code&redirect_uri=x")
                .unwrap_err()
                .code(),
            "invalid_request"
        );
        assert_eq!(
            parse("grant_type=authorization_code&code=x")
                .unwrap_err()
                .code(),
            "invalid_request"
        );
        for g in ["password", "implicit", "urn:x", "CLIENT_CREDENTIALS"] {
            assert_eq!(
                parse(&format!("grant_type={g}")).unwrap_err().code(),
                "unsupported_grant_type",
                "{g}"
            );
        }
        assert_eq!(
            parse("grant_type=client_credentials&scope=a+b&resource=https%3A%2F%2Fapi").unwrap(),
            TokenRequest::ClientCredentials {
                scope: Some(Scopes::parse("a b").unwrap()),
                resources: vec!["https://api".into()],
            }
        );
        assert_eq!(
            parse("grant_type=client_credentials&scope=a%22")
                .unwrap_err()
                .code(),
            "invalid_scope"
        );
    }

    #[test]
    fn resources() {
        validate_resource("https://api.example.com/v1").unwrap();
        validate_resource("urn:example:api").unwrap();
        for bad in ["api", "/relative", "https://api.example.com/#f"] {
            assert_eq!(
                validate_resource(bad).unwrap_err().code(),
                "invalid_target",
                "{bad}"
            );
        }
    }
}
