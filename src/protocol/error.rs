//! The OAuth 2.0 error codes (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; RFC 8707 §2) as one type.
//! How each becomes an HTTP response is decided in `http::error` only.

use std::borrow::Cow;

/// An error the protocol defines. `description` is safe to show to the client: it never carries
/// internal causes, which travel in [`OAuthError::Server`] / [`OAuthError::Unavailable`] and are
/// only logged.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(Cow<'static, str>),
    /// Client authentication failed. `basic` is true when the client tried HTTP Basic, which
    /// obliges a 401 with `WWW-Authenticate` (RFC 6749 §5.2).
    #[error("invalid_client: {description}")]
    InvalidClient {
        description: Cow<'static, str>,
        basic: bool,
    },
    #[error("invalid_grant: {0}")]
    InvalidGrant(Cow<'static, str>),
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Cow<'static, str>),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(Cow<'static, str>),
    #[error("invalid_scope: {0}")]
    InvalidScope(Cow<'static, str>),
    #[error("invalid_target: {0}")]
    InvalidTarget(Cow<'static, str>),
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(Cow<'static, str>),
    #[error("access_denied: {0}")]
    AccessDenied(Cow<'static, str>),
    #[error("login_required: {0}")]
    LoginRequired(Cow<'static, str>),
    #[error("consent_required: {0}")]
    ConsentRequired(Cow<'static, str>),
    #[error("request_not_supported: {0}")]
    RequestNotSupported(Cow<'static, str>),
    #[error("request_uri_not_supported: {0}")]
    RequestUriNotSupported(Cow<'static, str>),
    /// RFC 6750 §3.1: the access token is missing, malformed, expired, revoked or of the
    /// wrong kind. `None` description when no token was presented at all.
    #[error("invalid_token")]
    InvalidToken(Option<Cow<'static, str>>),
    /// RFC 6750 §3.1: the token lacks a required scope.
    #[error("insufficient_scope: {0}")]
    InsufficientScope(Cow<'static, str>),
    /// A backing service (database, Redis) is unreachable: 503, retry later.
    #[error("temporarily_unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// A bug or an unexpected failure: 500, logged, never described to the client.
    #[error("server_error: {0}")]
    Server(#[source] anyhow::Error),
}

impl OAuthError {
    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(d.into())
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>, basic: bool) -> Self {
        Self::InvalidClient {
            description: d.into(),
            basic,
        }
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidScope(d.into())
    }
    pub fn invalid_target(d: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidTarget(d.into())
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidGrant(d.into())
    }
    pub fn invalid_token(d: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidToken(Some(d.into()))
    }
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::UnauthorizedClient(d.into())
    }
    pub fn unsupported_grant_type(d: impl Into<Cow<'static, str>>) -> Self {
        Self::UnsupportedGrantType(d.into())
    }

    /// The `error` code of the response.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::AccessDenied(_) => "access_denied",
            Self::LoginRequired(_) => "login_required",
            Self::ConsentRequired(_) => "consent_required",
            Self::RequestNotSupported(_) => "request_not_supported",
            Self::RequestUriNotSupported(_) => "request_uri_not_supported",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::Unavailable(_) => "temporarily_unavailable",
            Self::Server(_) => "server_error",
        }
    }

    /// The `error_description`: a fixed text for internal failures.
    pub fn description(&self) -> Cow<'_, str> {
        match self {
            Self::InvalidRequest(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::InvalidScope(d)
            | Self::InvalidTarget(d)
            | Self::UnsupportedResponseType(d)
            | Self::AccessDenied(d)
            | Self::LoginRequired(d)
            | Self::ConsentRequired(d)
            | Self::RequestNotSupported(d)
            | Self::RequestUriNotSupported(d)
            | Self::InsufficientScope(d) => Cow::Borrowed(d),
            Self::InvalidToken(d) => {
                Cow::Borrowed(d.as_deref().unwrap_or("no access token was presented"))
            }
            Self::InvalidClient { description, .. } => Cow::Borrowed(description),
            Self::Unavailable(_) => {
                Cow::Borrowed("the service is temporarily unavailable; retry later")
            }
            Self::Server(_) => Cow::Borrowed("an internal error occurred"),
        }
    }
}
