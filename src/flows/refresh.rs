//! Refresh tokens (RFC 6749 §6, RFC 9700 §4.14): issued when the user granted `offline_access`
//! (OIDC Core §11) to a client allowed the `refresh_token` grant; opaque, 256 bits, stored as a
//! SHA-256 hash; rotated on every use; a retired token presented again revokes its whole family
//! (refresh tokens and the access tokens issued from it).
//!
//! Optional retry window (`tokens.refresh_retry_window`, default off): the same client
//! re-presenting the token it has just rotated, within the window, receives the same successor
//! (kept sealed under the KEK only for that long) and a fresh access token — so a lost response
//! does not log the user out — while any other reuse still revokes the family.

use super::Core;
use super::authorize::{CodeGrant, code_key, load_active_user};
use super::token::{TokenResponse, UserTokens, issue_user_tokens};
use crate::config::TokenSettings;
use crate::crypto::random;
use crate::protocol::OAuthError;
use crate::protocol::client::{Client, GrantType};
use crate::protocol::grants::client_credentials;
use crate::protocol::scope::Scopes;
use crate::storage::sql::{Family, NewRefreshToken, Rotation};

/// Longest refresh token accepted (ours are 43 characters).
const MAX_TOKEN: usize = 128;

fn successor_aad(presented_hash: &str) -> Vec<u8> {
    format!("refresh_successor:{presented_hash}").into_bytes()
}

/// A new family for the code exchange and its first refresh token: the plain token, and the
/// rows the caller stores with `Store::record_redemption` (in the same transaction as the code's
/// redemption record). `tokens` gives the lifetimes.
pub fn new_family(
    tokens: &TokenSettings,
    client_id: &str,
    grant: &CodeGrant,
    access_jti: &str,
    access_expires_at: i64,
    now: i64,
) -> Result<(String, Family, NewRefreshToken), OAuthError> {
    let plain = random::token::<32>().map_err(OAuthError::Server)?;
    let family = Family {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: client_id.to_string(),
        user_id: grant.user_id.clone(),
        scope: grant.scope.clone(),
        sid: Some(grant.sid.clone()),
        auth_time: grant.auth_time,
        created_at: now,
        absolute_expires_at: now + tokens.refresh_absolute_ttl as i64,
        revoked_at: None,
    };
    let first = NewRefreshToken {
        hash: code_key(&plain),
        sealed: None,
        expires_at: (now + tokens.refresh_idle_ttl as i64).min(family.absolute_expires_at),
        access_jti: access_jti.to_string(),
        access_expires_at,
    };
    Ok((plain, family, first))
}

/// `grant_type=refresh_token`.
pub async fn refresh_grant(
    core: &Core,
    client: &Client,
    presented: &str,
    scope: Option<Scopes>,
    resources: &[String],
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::RefreshToken) {
        return Err(OAuthError::unauthorized_client(
            "the client is not allowed the refresh_token grant",
        ));
    }
    if presented.len() > MAX_TOKEN {
        return Err(OAuthError::invalid_grant("invalid refresh token"));
    }
    let hash = code_key(presented);
    // Scope may narrow, never widen (checked before anything changes).
    let h = hash.clone();
    let known = core
        .store
        .run_read(move |s| s.find_refresh_token(&h))
        .await
        .map_err(super::storage_error)?;
    let Some(info) = known.filter(|i| i.family.client_id == client.id) else {
        return Err(OAuthError::invalid_grant("invalid refresh token"));
    };
    let granted = Scopes::parse(&info.family.scope).unwrap_or_default();
    let scopes = match scope {
        Some(s) if !s.is_subset_of(&granted) => {
            return Err(OAuthError::invalid_scope(
                "the requested scope exceeds the original grant",
            ));
        }
        Some(s) => s,
        None => granted,
    };
    let audience =
        client_credentials::audience(client, resources, core.settings.default_audience())?;

    let now = core.clock.now();
    let t = &core.settings.tokens;
    let window = t.refresh_retry_window as i64;
    let plain = random::token::<32>().map_err(OAuthError::Server)?;
    let jti = uuid::Uuid::new_v4().to_string();
    let access_expires_at = now + t.access_token_ttl as i64;
    let next = NewRefreshToken {
        hash: code_key(&plain),
        sealed: if window > 0 {
            Some(
                core.kek
                    .seal(&successor_aad(&hash), plain.as_bytes())
                    .map_err(OAuthError::Server)?,
            )
        } else {
            None
        },
        expires_at: (now + t.refresh_idle_ttl as i64).min(info.family.absolute_expires_at),
        access_jti: jti.clone(),
        access_expires_at,
    };
    let (h, cid) = (hash.clone(), client.id.clone());
    let rotation = core
        .store
        .run(move |s| s.rotate_refresh_token(&h, &cid, &next, window, now))
        .await
        .map_err(super::storage_error)?;
    let (family, refresh_token) = match rotation {
        Rotation::Invalid(why) => return Err(OAuthError::invalid_grant(why)),
        Rotation::Reused(family) => {
            tracing::warn!(
                target: "tessera::security",
                event = "refresh_token_reuse",
                client_id = %family.client_id,
                sub = %family.user_id,
                family = %family.id,
                "a rotated refresh token was presented again; the grant is revoked"
            );
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; the grant is revoked",
            ));
        }
        Rotation::Rotated(family) => (family, plain),
        Rotation::Replay {
            family,
            successor_sealed,
        } => {
            let successor = core
                .kek
                .open(&successor_aad(&hash), &successor_sealed)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    OAuthError::Server(anyhow::anyhow!("cannot open the sealed successor token"))
                })?;
            let (fid, j) = (family.id.clone(), jti.clone());
            core.store
                .run(move |s| s.add_family_access_token(&fid, &j, access_expires_at))
                .await
                .map_err(super::storage_error)?;
            (family, successor)
        }
    };
    let user = load_active_user(core, &family.user_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer active"))?;
    let issued = UserTokens {
        client,
        user: &user,
        scopes: &scopes,
        audience,
        jti,
        auth_time: family.auth_time,
        nonce: None,
        sid: family.sid.clone(),
    };
    let mut response = issue_user_tokens(core, issued, now)?;
    response.refresh_token = Some(refresh_token);
    Ok(response)
}
