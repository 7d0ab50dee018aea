//! What an authorization request needs next from the person: sign in, consent, or nothing
//! (OIDC Core §3.1.2.1 `prompt` and `max_age`, §3.1.2.6 errors for `prompt=none`).
//!
//! ```text
//!   /authorize ──► next_step ──► Login ──(POST /login ok)──► next_step
//!                     │            ▲                              │
//!                     │            └── prompt=login / max_age ────┤
//!                     ├──► Consent ──(POST /consent allow)──► next_step
//!                     │                  └─(deny)──► access_denied
//!                     └──► Issue: code to the redirect URI
//! prompt=none: Login → login_required, Consent → consent_required (no page is shown).
//! ```

use super::authorize::AuthorizationRequest;
use super::error::OAuthError;
use super::scope::Scopes;

/// The signed-in person of the browser session, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    pub auth_time: i64,
}

/// Progress made inside this interaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// The person signed in during this interaction.
    pub logged_in: bool,
    /// The person approved this request during this interaction.
    pub consented: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Login,
    Consent,
    Issue,
}

/// Decides the next step. `granted` is the consent remembered for this user and client;
/// `skip_consent` marks a first-party client.
pub fn next_step(
    req: &AuthorizationRequest,
    session: Option<Authenticated>,
    progress: Progress,
    granted: Option<&Scopes>,
    skip_consent: bool,
    now: i64,
) -> Result<Next, OAuthError> {
    // A sign-in during this interaction satisfies prompt=login and max_age (max_age=0 thus
    // means: sign in again, once).
    let needs_login = match session {
        None => true,
        Some(s) => {
            !progress.logged_in
                && (req.prompt.login
                    || req
                        .max_age
                        .is_some_and(|max| now.saturating_sub(s.auth_time) >= max))
        }
    };
    if needs_login {
        return if req.prompt.none {
            Err(OAuthError::LoginRequired(
                "the user is not signed in".into(),
            ))
        } else {
            Ok(Next::Login)
        };
    }
    let covered = granted.is_some_and(|g| req.scopes().is_subset_of(g));
    let needs_consent = !progress.consented && !skip_consent && (!covered || req.prompt.consent);
    if needs_consent {
        return if req.prompt.none {
            Err(OAuthError::ConsentRequired(
                "the user has not approved this request".into(),
            ))
        } else {
            Ok(Next::Consent)
        };
    }
    Ok(Next::Issue)
}

/// Growing delay before a password check, from the number of recent failures for the account
/// or the address (whichever is larger): none for the first three, then 250 ms doubling up to
/// 8 s. It only slows attempts down; it never locks anyone out.
pub fn throttle_delay_ms(failures: i64) -> u64 {
    if failures < 3 {
        return 0;
    }
    let exp = (failures - 3).min(5) as u32;
    250u64 << exp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::authorize::{Prompt, RedirectTarget};

    fn req(prompt: Prompt, max_age: Option<i64>, scope: &str) -> AuthorizationRequest {
        let target: RedirectTarget = serde_json::from_value(serde_json::json!({
            "client_id": "c", "redirect_uri": "https://c/cb", "state": null, "response_mode": "query"
        }))
        .unwrap();
        AuthorizationRequest {
            target,
            scope: scope.into(),
            nonce: None,
            code_challenge: None,
            prompt,
            max_age,
            login_hint: None,
        }
    }

    const NOW: i64 = 10_000;

    #[test]
    #[allow(clippy::type_complexity)]
    fn table() {
        let signed_in = Some(Authenticated {
            auth_time: NOW - 100,
        });
        let granted = Scopes::parse("openid profile").unwrap();
        let none = Prompt {
            none: true,
            ..Prompt::default()
        };
        let login = Prompt {
            login: true,
            ..Prompt::default()
        };
        let consent = Prompt {
            consent: true,
            ..Prompt::default()
        };
        let p0 = Progress::default();
        let logged = Progress {
            logged_in: true,
            consented: false,
        };
        let both = Progress {
            logged_in: true,
            consented: true,
        };
        let r = |p, m, s| req(p, m, s);
        let cases: Vec<(
            AuthorizationRequest,
            Option<Authenticated>,
            Progress,
            Option<&Scopes>,
            bool,
            Result<Next, &str>,
        )> = vec![
            (
                r(Prompt::default(), None, "openid"),
                None,
                p0,
                None,
                false,
                Ok(Next::Login),
            ),
            (
                r(none, None, "openid"),
                None,
                p0,
                None,
                false,
                Err("login_required"),
            ),
            (
                r(Prompt::default(), None, "openid"),
                signed_in,
                p0,
                None,
                false,
                Ok(Next::Consent),
            ),
            (
                r(none, None, "openid"),
                signed_in,
                p0,
                None,
                false,
                Err("consent_required"),
            ),
            (
                r(Prompt::default(), None, "openid"),
                signed_in,
                p0,
                Some(&granted),
                false,
                Ok(Next::Issue),
            ),
            (
                r(none, None, "openid profile"),
                signed_in,
                p0,
                Some(&granted),
                false,
                Ok(Next::Issue),
            ),
            (
                r(Prompt::default(), None, "openid email"),
                signed_in,
                p0,
                Some(&granted),
                false,
                Ok(Next::Consent),
            ),
            (
                r(Prompt::default(), None, "openid email"),
                signed_in,
                p0,
                None,
                true,
                Ok(Next::Issue),
            ),
            (
                r(login, None, "openid"),
                signed_in,
                p0,
                Some(&granted),
                false,
                Ok(Next::Login),
            ),
            (
                r(login, None, "openid"),
                signed_in,
                logged,
                Some(&granted),
                false,
                Ok(Next::Issue),
            ),
            (
                r(consent, None, "openid"),
                signed_in,
                logged,
                Some(&granted),
                false,
                Ok(Next::Consent),
            ),
            (
                r(consent, None, "openid"),
                signed_in,
                both,
                Some(&granted),
                false,
                Ok(Next::Issue),
            ),
            (
                r(Prompt::default(), Some(60), "openid"),
                signed_in,
                p0,
                Some(&granted),
                false,
                Ok(Next::Login),
            ),
            (
                r(Prompt::default(), Some(101), "openid"),
                signed_in,
                p0,
                Some(&granted),
                false,
                Ok(Next::Issue),
            ),
            (
                r(Prompt::default(), Some(0), "openid"),
                signed_in,
                logged,
                Some(&granted),
                false,
                Ok(Next::Issue),
            ),
            (
                r(none, Some(0), "openid"),
                signed_in,
                p0,
                Some(&granted),
                false,
                Err("login_required"),
            ),
        ];
        for (i, (rq, s, p, g, skip, want)) in cases.into_iter().enumerate() {
            let got = next_step(&rq, s, p, g, skip, NOW).map_err(|e| e.code());
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn throttle_grows_and_is_bounded() {
        assert_eq!(throttle_delay_ms(0), 0);
        assert_eq!(throttle_delay_ms(2), 0);
        assert_eq!(throttle_delay_ms(3), 250);
        assert_eq!(throttle_delay_ms(4), 500);
        assert_eq!(throttle_delay_ms(100), 8000);
    }
}
