//! The token endpoint use-case (RFC 6749 §3.2): parse once, authenticate the client, dispatch on
//! the grant, sign. The client-credentials path touches no database and no slow hash: clients
//! come from the in-memory directory, secrets are checked with a keyed hash, and the cost is
//! dominated by the signature.

use std::sync::Arc;

use serde::Serialize;

use super::Core;
use super::authorize::{CodeGrant, code_key};
use super::client_auth::{Endpoint, authenticate};
use crate::crypto::jws;
use crate::protocol::OAuthError;
use crate::protocol::claims::{AccessTokenClaims, IdTokenClaims, user_claims};
use crate::protocol::client::{Client, GrantType};
use crate::protocol::client_auth;
use crate::protocol::grants::{authorization_code, client_credentials};
use crate::protocol::jose::Alg;
use crate::protocol::params::Params;
use crate::protocol::scope::Scopes;
use crate::protocol::token_request::{REPEATABLE, TokenRequest};
use crate::session::Kind;
use crate::storage::sql::{Redeemed, Redemption};

/// The default algorithm of ID tokens (OIDC Core §15.1); clients may choose another.
pub const ID_TOKEN_ALG: Alg = Alg::RS256;

/// RFC 6749 §5.1 successful response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl TokenResponse {
    /// The JSON body, written once into a buffer of the right size (the tokens are most of it).
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        let tokens = self.access_token.len()
            + self.id_token.as_ref().map_or(0, String::len)
            + self.refresh_token.as_ref().map_or(0, String::len)
            + self.scope.as_ref().map_or(0, String::len);
        let mut body = Vec::with_capacity(tokens + 128);
        serde_json::to_writer(&mut body, self)?;
        Ok(body)
    }
}

/// Handles one token request: `authorization` is the raw `Authorization` header, `body` the
/// form body (already checked to be `application/x-www-form-urlencoded`). Returns the client
/// too, so the caller can answer CORS for it.
pub async fn token(
    core: &Core,
    authorization: Option<&[u8]>,
    body: &[u8],
) -> Result<(TokenResponse, Arc<Client>), OAuthError> {
    let params = Params::parse(body, REPEATABLE)?;
    let presented = client_auth::presented(authorization, &params)?;
    let client = authenticate(core, &presented, Endpoint::Token).await?;
    let response = match TokenRequest::parse(&params)? {
        TokenRequest::ClientCredentials { scope, resources } => {
            client_credentials_grant(core, &client, scope, &resources)?
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
            resources,
        } => {
            super::refresh::refresh_grant(core, &client, &refresh_token, scope, &resources).await?
        }
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
            resources,
        } => {
            authorization_code_grant(
                core,
                &client,
                &code,
                &redirect_uri,
                code_verifier.as_deref(),
                &resources,
            )
            .await?
        }
    };
    Ok((response, client))
}

fn client_credentials_grant(
    core: &Core,
    client: &Client,
    scope: Option<Scopes>,
    resources: &[String],
) -> Result<TokenResponse, OAuthError> {
    let decision =
        client_credentials::decide(client, scope, resources, core.settings.default_audience())?;
    let ttl = core.settings.tokens.access_token_ttl;
    let claims = AccessTokenClaims::for_client(
        core.settings.issuer(),
        &client.id,
        &decision.scopes,
        decision.audience,
        core.clock.now(),
        ttl as i64,
        crate::crypto::random::jti().map_err(OAuthError::Server)?,
    );
    let access_token = sign_access_token(core, &claims)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: claims.scope,
        id_token: None,
        refresh_token: None,
    })
}

/// What the code exchange's storage call found.
enum Exchange {
    /// No live code under the key.
    Unknown,
    /// The code (now used up) cannot be read, does not fit this request, or the tokens cannot
    /// be made.
    Refused(OAuthError),
    /// The code's user is gone or disabled.
    Inactive,
    /// The code was redeemed before: nothing written.
    Replayed,
    /// Recorded: the tokens can be signed.
    Issued(Box<Issued>),
}

/// What a recorded code exchange signs.
struct Issued {
    grant: CodeGrant,
    user: crate::protocol::user::User,
    scopes: Scopes,
    audience: Vec<String>,
    jti: String,
    refresh_token: Option<String>,
}

async fn authorization_code_grant(
    core: &Core,
    client: &Client,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
    resources: &[String],
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::unauthorized_client(
            "the client is not allowed the authorization code grant",
        ));
    }
    if code.len() > 128 {
        return Err(OAuthError::invalid_grant("invalid authorization code"));
    }
    let key = code_key(code);
    let now = core.clock.now();
    let ttl = core.settings.tokens.access_token_ttl as i64;
    let jti = uuid::Uuid::new_v4().to_string();
    let redemption = Redemption {
        access_token_jti: jti.clone(),
        expires_at: now + ttl + 60,
    };
    // Judged after the take, as the code's own checks are: a code presented is used up.
    let audience =
        client_credentials::audience(client, resources, core.settings.default_audience());
    let allows_refresh = client.allows_grant(GrantType::RefreshToken);
    let (k, cid, tokens, code_ttl) = (
        key.clone(),
        client.id.clone(),
        core.settings.tokens.clone(),
        core.settings.tokens.code_ttl as i64,
    );
    let (redirect_uri, verifier) = (redirect_uri.to_string(), code_verifier.map(str::to_string));
    // One trip to the storage thread on the embedded default: take the code (single use: among
    // concurrent exchanges at most one gets it), check it against this request, then the user
    // (fresh from SQL: a disabled user gets no tokens) and, durable before any token is
    // returned, the redemption record and the refresh-token family, written together (on
    // PostgreSQL the user and the writes are one statement). A record already there means the
    // code was redeemed before (a session store that lost the consumption): nothing is
    // written, refuse and revoke below.
    let exchange = core
        .sessions
        .take_with(&core.store, Kind::Code, &key, move |s, raw| {
            let Some(raw) = raw else {
                return Ok(Exchange::Unknown);
            };
            let Ok(grant) = serde_json::from_slice::<CodeGrant>(&raw) else {
                return Ok(Exchange::Refused(OAuthError::invalid_grant(
                    "invalid authorization code",
                )));
            };
            let checked = authorization_code::check(
                authorization_code::Binding {
                    client_id: &grant.client_id,
                    redirect_uri: &grant.redirect_uri,
                    code_challenge: grant.code_challenge.as_deref(),
                    issued_at: grant.issued_at,
                },
                authorization_code::Presented {
                    client_id: &cid,
                    redirect_uri: &redirect_uri,
                    code_verifier: verifier.as_deref(),
                },
                code_ttl,
                now,
            );
            let audience = match checked.and(audience) {
                Ok(a) => a,
                Err(e) => return Ok(Exchange::Refused(e)),
            };
            let scopes = Scopes::parse(&grant.scope).unwrap_or_default();
            // A refresh-token family when `offline_access` was granted to a client allowed
            // the grant.
            let (refresh_token, family) = if scopes.contains("offline_access") && allows_refresh {
                match super::refresh::new_family(&tokens, &cid, &grant, &jti, now + ttl, now) {
                    Ok((plain, family, first)) => (Some(plain), Some((family, first))),
                    Err(e) => return Ok(Exchange::Refused(e)),
                }
            } else {
                (None, None)
            };
            let family = family.as_ref().map(|(f, t)| (f, t));
            let user = match s.redeem_code(&k, &cid, &grant.user_id, &redemption, family, now)? {
                Redeemed::Recorded(user) => user,
                Redeemed::Inactive => return Ok(Exchange::Inactive),
                Redeemed::Before => return Ok(Exchange::Replayed),
            };
            Ok(Exchange::Issued(Box::new(Issued {
                grant,
                user,
                scopes,
                audience,
                jti,
                refresh_token,
            })))
        })
        .await
        .map_err(super::storage_error)?;
    let issued = match exchange {
        Exchange::Issued(issued) => issued,
        // Not (or no longer) in the session store. A code redeemed before: refuse, and revoke
        // what the first redemption got (the durable record outlives the code).
        Exchange::Unknown => {
            return Err(if revoke_earlier_redemption(core, &key).await? {
                OAuthError::invalid_grant("the authorization code was already used")
            } else {
                OAuthError::invalid_grant("invalid or expired authorization code")
            });
        }
        Exchange::Refused(e) => return Err(e),
        Exchange::Inactive => {
            return Err(OAuthError::invalid_grant("the user is no longer active"));
        }
        Exchange::Replayed => {
            revoke_earlier_redemption(core, &key).await?;
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
    };
    let issued = *issued;
    let tokens = UserTokens {
        client,
        user: &issued.user,
        scopes: &issued.scopes,
        audience: issued.audience,
        jti: issued.jti,
        auth_time: issued.grant.auth_time,
        nonce: issued.grant.nonce,
        sid: Some(issued.grant.sid),
    };
    let mut response = issue_user_tokens(core, tokens, now)?;
    response.refresh_token = issued.refresh_token;
    Ok(response)
}

/// Revokes what an earlier redemption of the code (by its key) got; whether there was one.
async fn revoke_earlier_redemption(core: &Core, key: &str) -> Result<bool, OAuthError> {
    let k = key.to_string();
    let Some(earlier) = core
        .store
        .run_read(move |s| s.find_redemption(&k))
        .await
        .map_err(super::storage_error)?
    else {
        return Ok(false);
    };
    revoke_redemption(core, &earlier).await?;
    Ok(true)
}

/// What user tokens (access token, and ID token when `openid` is granted) are made of.
pub(crate) struct UserTokens<'a> {
    pub client: &'a Client,
    pub user: &'a crate::protocol::user::User,
    pub scopes: &'a Scopes,
    pub audience: Vec<String>,
    pub jti: String,
    pub auth_time: i64,
    pub nonce: Option<String>,
    pub sid: Option<String>,
}

/// Signs the access token (RFC 9068) and, for `openid`, the ID token.
pub(crate) fn issue_user_tokens(
    core: &Core,
    t: UserTokens<'_>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let ttl = core.settings.tokens.access_token_ttl as i64;
    let claims = AccessTokenClaims::for_user(
        core.settings.issuer(),
        &t.client.id,
        &t.user.id,
        t.scopes,
        t.audience,
        now,
        ttl,
        t.jti,
    );
    let access_token = sign_access_token(core, &claims)?;
    // The client's id_token_signed_response_alg, RS256 by default.
    let id_alg = t.client.metadata.id_token_alg.unwrap_or(ID_TOKEN_ALG);
    let id_token = if t.scopes.contains("openid") {
        let id_claims = IdTokenClaims {
            iss: core.settings.issuer().to_string(),
            aud: t.client.id.clone(),
            exp: now + core.settings.tokens.id_token_ttl as i64,
            iat: now,
            auth_time: t.auth_time,
            nonce: t.nonce,
            at_hash: jws::at_hash(id_alg, &access_token),
            sid: t.sid.unwrap_or_default(),
            user: user_claims(t.user, t.scopes),
        };
        let keys = core.directory.keys();
        let signer = keys
            .signer(id_alg)
            .ok_or_else(|| OAuthError::Server(anyhow::anyhow!("no active {id_alg} signing key")))?;
        Some(
            signer
                .sign_id_token(&id_claims)
                .map_err(OAuthError::Server)?,
        )
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl as u64,
        scope: claims.scope,
        id_token,
        refresh_token: None,
    })
}

async fn revoke_redemption(core: &Core, first: &Redemption) -> Result<(), OAuthError> {
    let (jti, exp, now) = (
        first.access_token_jti.clone(),
        first.expires_at,
        core.clock.now(),
    );
    tracing::warn!(target: "tessera::security", event = "code_reuse", jti = %jti, "authorization code presented twice; revoking its tokens");
    core.store
        .run(move |s| {
            s.revoke_token(&jti, exp, now)?;
            // ...and the refresh tokens (with their access tokens) the code started.
            s.revoke_family_of_access_token(&jti, now).map(|_| ())
        })
        .await
        .map_err(super::storage_error)
}

pub(crate) fn sign_access_token(
    core: &Core,
    claims: &AccessTokenClaims,
) -> Result<String, OAuthError> {
    let keys = core.directory.keys();
    let alg = core.settings.access_token_alg();
    let signer = keys
        .signer(alg)
        .ok_or_else(|| OAuthError::Server(anyhow::anyhow!("no active {alg} signing key")))?;
    signer.sign_access_token(claims).map_err(OAuthError::Server)
}
