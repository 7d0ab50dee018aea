//! Authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.6): the checks a redemption must pass
//! once the code's record has been consumed. Every failure is `invalid_grant`.

use super::super::error::OAuthError;
use super::super::pkce;

/// What the code was bound to when it was issued.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: Option<&'a str>,
    pub issued_at: i64,
}

/// What the token request presents.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub code_verifier: Option<&'a str>,
}

pub fn check(
    bound: Binding<'_>,
    presented: Presented<'_>,
    code_ttl: i64,
    now: i64,
) -> Result<(), OAuthError> {
    if bound.client_id != presented.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if now > bound.issued_at + code_ttl {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if bound.redirect_uri != presented.redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (bound.code_challenge, presented.code_verifier) {
        (Some(challenge), Some(verifier)) if pkce::verify(verifier, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant("code_verifier does not match")),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        // A verifier for a code that had no challenge is a downgrade attempt.
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "no code_challenge was sent for this code",
        )),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const C: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn table() {
        let b = Binding {
            client_id: "a",
            redirect_uri: "https://a/cb",
            code_challenge: Some(C),
            issued_at: 100,
        };
        let p = Presented {
            client_id: "a",
            redirect_uri: "https://a/cb",
            code_verifier: Some(V),
        };
        assert!(check(b, p, 60, 120).is_ok());
        let wrong = V.replace('d', "e");
        let fails = [
            (
                b,
                Presented {
                    client_id: "b",
                    ..p
                },
                120,
            ),
            (
                b,
                Presented {
                    redirect_uri: "https://a/cb/",
                    ..p
                },
                120,
            ),
            (
                b,
                Presented {
                    code_verifier: None,
                    ..p
                },
                120,
            ),
            (
                b,
                Presented {
                    code_verifier: Some(&wrong),
                    ..p
                },
                120,
            ),
            (b, p, 161),
            (
                Binding {
                    code_challenge: None,
                    ..b
                },
                p,
                120,
            ),
        ];
        for (i, (b, p, now)) in fails.into_iter().enumerate() {
            assert_eq!(
                check(b, p, 60, now).unwrap_err().code(),
                "invalid_grant",
                "case {i}"
            );
        }
        assert!(
            check(
                Binding {
                    code_challenge: None,
                    ..b
                },
                Presented {
                    code_verifier: None,
                    ..p
                },
                60,
                120
            )
            .is_ok()
        );
    }
}
