//! Scopes (RFC 6749 §3.3): space-delimited, case-sensitive tokens of NQCHAR
//! (`%x21 / %x23-5B / %x5D-7E`). Order is kept, duplicates are dropped.

use std::fmt;

use super::error::OAuthError;

/// Longest accepted scope token, in bytes.
pub const MAX_SCOPE_TOKEN: usize = 128;
/// Most scope tokens in one value.
pub const MAX_SCOPES: usize = 64;

/// Scopes that concern an end-user and so have no meaning in a client-credentials token.
pub const USER_SCOPES: &[&str] = &["openid", "offline_access"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses a scope value. Error text is suitable for `invalid_scope` / a CLI message.
    pub fn parse(value: &str) -> Result<Scopes, String> {
        let mut out: Vec<String> = Vec::new();
        for token in value.split(' ').filter(|t| !t.is_empty()) {
            if token.len() > MAX_SCOPE_TOKEN {
                return Err("a scope is too long".into());
            }
            if !token.bytes().all(is_nqchar) {
                return Err("a scope contains a character that scopes may not contain".into());
            }
            if !out.iter().any(|t| t == token) {
                if out.len() == MAX_SCOPES {
                    return Err("too many scopes".into());
                }
                out.push(token.to_string());
            }
        }
        Ok(Scopes(out))
    }

    /// Parses a scope request parameter, mapping errors to `invalid_scope`.
    pub fn from_param(value: &str) -> Result<Scopes, OAuthError> {
        Scopes::parse(value).map_err(OAuthError::invalid_scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when every scope of `self` is in `allowed`.
    pub fn is_subset_of(&self, allowed: &Scopes) -> bool {
        self.iter().all(|s| allowed.contains(s))
    }

    /// The scopes of `self`, then those of `other` not in `self`, up to [`MAX_SCOPES`] in all
    /// (so the result always parses again).
    pub fn union(&self, other: &Scopes) -> Scopes {
        let mut out = self.clone();
        for s in other.iter() {
            if out.0.len() == MAX_SCOPES {
                break;
            }
            if !out.contains(s) {
                out.0.push(s.to_string());
            }
        }
        out
    }

    /// The scopes of `self` for which `keep` is true.
    pub fn filter(&self, keep: impl Fn(&str) -> bool) -> Scopes {
        Scopes(self.0.iter().filter(|s| keep(s)).cloned().collect())
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

fn is_nqchar(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_deduplicates() {
        let s = Scopes::parse("read  write read").unwrap();
        assert_eq!(s.to_string(), "read write");
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    #[test]
    fn rejects_forbidden_characters_and_sizes() {
        for bad in ["a\"b", "a\\b", "caf\u{e9}", "a\tb", "a\nb"] {
            assert!(Scopes::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Scopes::parse(&"a".repeat(MAX_SCOPE_TOKEN + 1)).is_err());
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
        assert!(Scopes::parse(&many.join(" ")).is_err());
    }

    #[test]
    fn subset() {
        let allowed = Scopes::parse("a b c").unwrap();
        assert!(Scopes::parse("c a").unwrap().is_subset_of(&allowed));
        assert!(!Scopes::parse("a d").unwrap().is_subset_of(&allowed));
        assert!(
            !Scopes::parse("A").unwrap().is_subset_of(&allowed),
            "scopes are case-sensitive"
        );
    }

    #[test]
    fn union_keeps_self_first_and_stays_parseable() {
        let a = Scopes::parse("openid email").unwrap();
        let b = Scopes::parse("profile openid").unwrap();
        assert_eq!(a.union(&b).to_string(), "openid email profile");
        let many = Scopes::parse(
            &(0..MAX_SCOPES)
                .map(|i| format!("s{i}"))
                .collect::<Vec<_>>()
                .join(" "),
        )
        .unwrap();
        let u = a.union(&many);
        assert_eq!(u.iter().count(), MAX_SCOPES);
        assert!(u.contains("openid") && u.contains("email"));
        assert_eq!(Scopes::parse(&u.to_string()).unwrap(), u);
    }
}
