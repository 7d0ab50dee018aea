//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1, RFC 7636 §4.3,
//! OAuth 2.0 Form Post Response Mode).
//!
//! Parsing happens in two steps, because an error may only be sent back to a redirect URI once
//! the client and that URI are verified:
//! 1. [`RedirectTarget::verify`] checks `client_id` and `redirect_uri` (errors: local page);
//! 2. [`AuthorizationRequest::parse`] checks everything else (errors: sent to the verified URI).

use serde::{Deserialize, Serialize};

use super::client::{Client, GrantType};
use super::client_auth::AuthMethod;
use super::error::OAuthError;
use super::params::Params;
use super::pkce;
use super::redirect_uri::matches_registered;
use super::scope::Scopes;

/// Scopes every client may ask a user for.
pub const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email"];

/// Why an authorization request cannot be answered with a redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    /// The parameters cannot be read (duplicated client_id/redirect_uri, bad encoding, too long).
    Malformed(String),
    MissingClientId,
    UnknownClient,
    MissingRedirectUri,
    /// The redirect URI is not registered for the client (it is never echoed).
    UnregisteredRedirectUri,
}

impl PageError {
    /// A sentence for a person.
    pub fn message(&self) -> String {
        match self {
            PageError::Malformed(m) => format!("The sign-in request is malformed: {m}."),
            PageError::MissingClientId => "The sign-in request does not say which application it comes from.".into(),
            PageError::UnknownClient => "The application that sent you here is not registered with this sign-in service.".into(),
            PageError::MissingRedirectUri => "The sign-in request does not say where to return to.".into(),
            PageError::UnregisteredRedirectUri => {
                "The application asked to return you to an address it has not registered, so you were not sent there.".into()
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// Where the response (or an error) may be sent: a verified client and redirect URI.
/// Only [`RedirectTarget::verify`] makes one, so an error cannot be redirected before the
/// checks have run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectTarget {
    client_id: String,
    redirect_uri: String,
    pub state: Option<String>,
    pub response_mode: ResponseMode,
}

impl RedirectTarget {
    /// Verifies `client_id` and `redirect_uri` of a request whose parameters were read with
    /// duplicates kept (`duplicates` names the repeated ones).
    pub fn verify(
        params: &Params,
        duplicates: &[String],
        find_client: impl Fn(&str) -> Option<std::sync::Arc<Client>>,
    ) -> Result<(RedirectTarget, std::sync::Arc<Client>), PageError> {
        for critical in ["client_id", "redirect_uri"] {
            if duplicates.iter().any(|d| d == critical) {
                return Err(PageError::Malformed(format!("{critical} is repeated")));
            }
        }
        let client_id = params.get("client_id").ok_or(PageError::MissingClientId)?;
        let client = find_client(client_id).ok_or(PageError::UnknownClient)?;
        let requested = params
            .get("redirect_uri")
            .ok_or(PageError::MissingRedirectUri)?;
        if matches_registered(requested, &client.metadata.redirect_uris).is_none() {
            return Err(PageError::UnregisteredRedirectUri);
        }
        // response_mode decides how even errors are delivered; an unknown one falls back to query
        // and is then reported as invalid_request by `AuthorizationRequest::parse`.
        let response_mode = match params.get("response_mode") {
            Some("form_post") => ResponseMode::FormPost,
            _ => ResponseMode::Query,
        };
        let state = if duplicates.iter().any(|d| d == "state") {
            None
        } else {
            params.get("state").map(str::to_string)
        };
        Ok((
            RedirectTarget {
                client_id: client.id.clone(),
                redirect_uri: requested.to_string(),
                state,
                response_mode,
            },
            client,
        ))
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The response parameters for `result`, in order, always with `iss` (RFC 9207) and the
    /// `state` the client sent.
    pub fn response_params(
        &self,
        issuer: &str,
        result: Result<&str, &OAuthError>,
    ) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(4);
        match result {
            Ok(code) => out.push(("code", code.to_string())),
            Err(e) => {
                out.push(("error", e.code().to_string()));
                out.push(("error_description", e.description().into_owned()));
            }
        }
        if let Some(state) = &self.state {
            out.push(("state", state.clone()));
        }
        out.push(("iss", issuer.to_string()));
        out
    }

    /// The redirect URL for the query response mode.
    pub fn query_url(&self, params: &[(&'static str, String)]) -> String {
        let mut ser = form_urlencoded_serializer();
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        let query = ser.finish();
        let sep = if self.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}{query}", self.redirect_uri)
    }
}

fn form_urlencoded_serializer() -> url::form_urlencoded::Serializer<'static, String> {
    url::form_urlencoded::Serializer::new(String::new())
}

/// `prompt` (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A verified, complete authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub target: RedirectTarget,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
}

impl AuthorizationRequest {
    pub fn scopes(&self) -> Scopes {
        Scopes::parse(&self.scope).unwrap_or_default()
    }

    /// Checks everything but the target. Errors go to the verified redirect URI.
    pub fn parse(
        target: RedirectTarget,
        client: &Client,
        params: &Params,
        duplicates: &[String],
    ) -> Result<AuthorizationRequest, (RedirectTarget, OAuthError)> {
        match Self::check(&target, client, params, duplicates) {
            Ok(parts) => Ok(AuthorizationRequest { target, ..parts }),
            Err(e) => Err((target, e)),
        }
    }

    fn check(
        target: &RedirectTarget,
        client: &Client,
        params: &Params,
        duplicates: &[String],
    ) -> Result<AuthorizationRequest, OAuthError> {
        if let Some(d) = duplicates.first() {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{d}` is repeated"
            )));
        }
        if params.get("request").is_some() {
            return Err(OAuthError::RequestNotSupported(
                "request objects are not supported".into(),
            ));
        }
        if params.get("request_uri").is_some() {
            return Err(OAuthError::RequestUriNotSupported(
                "request_uri is not supported".into(),
            ));
        }
        match params.get("response_mode") {
            None | Some("query") | Some("form_post") => {}
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "response_mode must be query or form_post",
                ));
            }
        }
        match params.get("response_type") {
            Some("code") => {}
            None => {
                return Err(OAuthError::invalid_request(
                    "missing parameter `response_type`",
                ));
            }
            Some(_) => {
                return Err(OAuthError::UnsupportedResponseType(
                    "only response_type=code is supported".into(),
                ));
            }
        }
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(OAuthError::unauthorized_client(
                "the client is not allowed the authorization code grant",
            ));
        }
        let scopes = match params.get("scope") {
            Some(s) => Scopes::from_param(s)?,
            None => Scopes::default(),
        };
        // offline_access (OIDC Core §11) only for clients allowed refresh tokens.
        let allowed = |s: &str| {
            STANDARD_SCOPES.contains(&s)
                || client.metadata.scopes.contains(s)
                || (s == "offline_access" && client.allows_grant(GrantType::RefreshToken))
        };
        if !scopes.iter().all(allowed) {
            return Err(OAuthError::invalid_scope(
                "a requested scope is not allowed for this client",
            ));
        }
        let openid = scopes.contains("openid");
        let nonce = params.get("nonce").map(str::to_string);
        let code_challenge = match params.get("code_challenge") {
            Some(c) => {
                pkce::validate_challenge(c, params.get("code_challenge_method"))?;
                Some(c.to_string())
            }
            None if params.get("code_challenge_method").is_some() => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method without code_challenge",
                ));
            }
            None if client.metadata.auth_method == AuthMethod::None => {
                return Err(OAuthError::invalid_request(
                    "PKCE (code_challenge with S256) is required for public clients",
                ));
            }
            None => None,
        };
        let mut prompt = Prompt::default();
        if let Some(p) = params.get("prompt") {
            for v in p.split(' ').filter(|v| !v.is_empty()) {
                match v {
                    "none" => prompt.none = true,
                    "login" => prompt.login = true,
                    "consent" => prompt.consent = true,
                    _ => {
                        return Err(OAuthError::invalid_request(
                            "prompt may contain only none, login and consent",
                        ));
                    }
                }
            }
            if prompt.none && (prompt.login || prompt.consent) {
                return Err(OAuthError::invalid_request(
                    "prompt=none cannot be combined with other values",
                ));
            }
        }
        let max_age = match params.get("max_age") {
            Some(m) => Some(
                m.parse::<i64>()
                    .ok()
                    .filter(|v| (0..=10 * 365 * 86_400).contains(v) && !m.starts_with('+'))
                    .ok_or_else(|| {
                        OAuthError::invalid_request(
                            "max_age must be a non-negative number of seconds",
                        )
                    })?,
            ),
            None => None,
        };
        let login_hint = params
            .get("login_hint")
            .filter(|h| h.len() <= 256 && !h.chars().any(char::is_control))
            .map(str::to_string);
        if !openid && nonce.is_some() {
            // OIDC parameters without openid are harmless; nothing to enforce.
        }
        Ok(AuthorizationRequest {
            target: target.clone(),
            scope: scopes.to_string(),
            nonce,
            code_challenge,
            prompt,
            max_age,
            login_hint,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::protocol::client::ClientMetadata;

    fn client(public: bool) -> Arc<Client> {
        Arc::new(Client {
            id: "app".into(),
            secret_hash: None,
            metadata: ClientMetadata {
                name: "App".into(),
                auth_method: if public {
                    AuthMethod::None
                } else {
                    AuthMethod::ClientSecretBasic
                },
                redirect_uris: vec!["https://app.example.com/cb".into()],
                post_logout_redirect_uris: vec![],
                grant_types: vec![GrantType::AuthorizationCode],
                scopes: Scopes::parse("api").unwrap(),
                audiences: vec![],
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
        })
    }

    const CH: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn run(
        query: &str,
        public: bool,
    ) -> Result<AuthorizationRequest, Result<OAuthError, PageError>> {
        let (params, dups) = Params::parse_keeping_duplicates(query.as_bytes())
            .map_err(|e| Err(PageError::Malformed(e.description().into())))?;
        let c = client(public);
        let (target, client) =
            RedirectTarget::verify(&params, &dups, |id| (id == "app").then(|| c.clone()))
                .map_err(Err)?;
        AuthorizationRequest::parse(target, &client, &params, &dups).map_err(|(_, e)| Ok(e))
    }

    fn base(extra: &str) -> String {
        format!(
            "client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=code&scope=openid&state=s{extra}"
        )
    }

    #[test]
    fn accepts_a_good_request() {
        let r = run(&base(&format!("&code_challenge={CH}&code_challenge_method=S256&prompt=login+consent&max_age=60&nonce=n")), true).unwrap();
        assert_eq!(r.target.state.as_deref(), Some("s"));
        assert!(r.prompt.login && r.prompt.consent);
        assert_eq!(r.max_age, Some(60));
    }

    #[test]
    fn page_errors_before_verification() {
        let page = |q: &str| match run(q, false) {
            Err(Err(p)) => p,
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(
            page("redirect_uri=x&response_type=code"),
            PageError::MissingClientId
        );
        assert_eq!(
            page("client_id=nobody&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb"),
            PageError::UnknownClient
        );
        assert_eq!(page("client_id=app"), PageError::MissingRedirectUri);
        assert_eq!(
            page("client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%2F"),
            PageError::UnregisteredRedirectUri
        );
        assert!(matches!(
            page(&format!("{}&client_id=app", base(""))),
            PageError::Malformed(_)
        ));
    }

    #[test]
    fn redirected_errors_after_verification() {
        let err = |q: String, public: bool| match run(&q, public) {
            Err(Ok(e)) => e.code(),
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(
            err(
                base("").replace("response_type=code", "response_type=token"),
                false
            ),
            "unsupported_response_type"
        );
        assert_eq!(
            err(base("").replace("&response_type=code", ""), false),
            "invalid_request"
        );
        assert_eq!(err(base("&scope=x"), false), "invalid_request");
        assert_eq!(
            err(
                base("").replace("scope=openid", "scope=openid+admin"),
                false
            ),
            "invalid_scope"
        );
        assert_eq!(
            err(base(""), true),
            "invalid_request",
            "public clients need PKCE"
        );
        assert_eq!(
            err(base(&format!("&code_challenge={CH}")), false),
            "invalid_request",
            "plain by default"
        );
        assert_eq!(
            err(
                base(&format!("&code_challenge={CH}&code_challenge_method=plain")),
                false
            ),
            "invalid_request"
        );
        assert_eq!(err(base("&request=eyJ"), false), "request_not_supported");
        assert_eq!(
            err(base("&request_uri=https%3A%2F%2Fx"), false),
            "request_uri_not_supported"
        );
        assert_eq!(err(base("&prompt=none+login"), false), "invalid_request");
        assert_eq!(
            err(base("&prompt=select_account"), false),
            "invalid_request"
        );
        assert_eq!(err(base("&max_age=-1"), false), "invalid_request");
        assert_eq!(
            err(base("&response_mode=fragment"), false),
            "invalid_request"
        );
    }

    #[test]
    fn error_response_carries_state_and_iss() {
        let r = run(&base(""), false).unwrap();
        let p = r.target.response_params(
            "https://id.example",
            Err(&OAuthError::AccessDenied("no".into())),
        );
        let url = r.target.query_url(&p);
        assert_eq!(
            url,
            "https://app.example.com/cb?error=access_denied&error_description=no&state=s&iss=https%3A%2F%2Fid.example"
        );
    }
}
