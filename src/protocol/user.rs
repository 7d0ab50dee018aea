//! End-users: the account record and the rules its fields must satisfy. The `id` is the stable
//! OpenID Connect subject (`sub`, Core §5.1: locally unique, never reassigned), a UUID; the
//! username is what people type at the login page and may be looked up case-insensitively
//! because it is stored lower-cased. `name`, `given_name`, `family_name`, `email` and
//! `email_verified` are the standard claims of Core §5.1.

/// Longest username, in characters.
pub const MAX_USERNAME: usize = 64;
/// Longest e-mail address (RFC 5321 §4.5.3.1.3 path limit less the angle brackets).
pub const MAX_EMAIL: usize = 254;
/// Longest display name (`name`, `given_name`, `family_name`), in characters.
pub const MAX_NAME: usize = 200;
/// Shortest password, in characters (NIST SP 800-63B §5.1.1.2).
pub const MIN_PASSWORD: usize = 8;
/// Longest password, in characters: a bound on the work a single login may cause.
pub const MAX_PASSWORD: usize = 1024;

/// An end-user account as the server holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The subject identifier (`sub`): a UUID, never reassigned.
    pub id: String,
    /// Lower-cased; see [`normalize_username`].
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// PHC string of an argon2id hash; `None` when no password is set (login then always fails).
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("name", &self.name)
            .field("given_name", &self.given_name)
            .field("family_name", &self.family_name)
            .field("has_password", &self.password_hash.is_some())
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// Trims and lower-cases a username, then checks it: 1 to [`MAX_USERNAME`] characters of ASCII
/// letters, digits and `. _ - @ +`, and never a UUID (a username must not be mistaken for a
/// subject when an operator names a user by either). Returns the stored form.
pub fn normalize_username(raw: &str) -> Result<String, String> {
    let u = raw.trim();
    if u.is_empty() || u.len() > MAX_USERNAME {
        return Err(format!("username must be 1 to {MAX_USERNAME} characters"));
    }
    if !u
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-@+".contains(&b))
    {
        return Err("username may contain only letters, digits and . _ - @ +".into());
    }
    let lower = u.to_ascii_lowercase();
    if uuid::Uuid::try_parse(&lower).is_ok() {
        return Err("username must not be a UUID (user subjects are UUIDs)".into());
    }
    Ok(lower)
}

/// Checks an e-mail address: at most [`MAX_EMAIL`] bytes, exactly one `@` with a non-empty local
/// part and domain, no white space or control characters. Deliverability is not checked.
pub fn validate_email(email: &str) -> Result<(), String> {
    if email.is_empty() || email.len() > MAX_EMAIL {
        return Err(format!("email must be 1 to {MAX_EMAIL} characters"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("email must not contain white space or control characters".into());
    }
    let mut parts = email.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) if !local.is_empty() && !domain.is_empty() => Ok(()),
        _ => Err("email must be of the form local@domain".into()),
    }
}

/// Checks an optional display name (`field` names it in the error): when given, 1 to
/// [`MAX_NAME`] characters, not only white space, no control characters.
pub fn validate_name(field: &str, value: Option<&str>) -> Result<(), String> {
    let Some(v) = value else { return Ok(()) };
    if v.trim().is_empty() || v.chars().count() > MAX_NAME {
        return Err(format!("{field} must be 1 to {MAX_NAME} characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(())
}

/// Checks a new password: [`MIN_PASSWORD`] to [`MAX_PASSWORD`] characters, no control
/// characters. Everything else (spaces, any script, emoji) is allowed; no composition rules.
pub fn validate_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!(
            "password must be at least {MIN_PASSWORD} characters"
        ));
    }
    if n > MAX_PASSWORD {
        return Err(format!(
            "password must be at most {MAX_PASSWORD} characters"
        ));
    }
    if password.chars().any(char::is_control) {
        return Err("password must not contain control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        let ok: &[(&str, &str)] = &[
            ("alice", "alice"),
            ("  Alice  ", "alice"),
            ("ALICE.Smith", "alice.smith"),
            ("a", "a"),
            ("bob_1-x", "bob_1-x"),
            ("Bob+tag@Example.com", "bob+tag@example.com"),
            (&"x".repeat(64), &"x".repeat(64)),
            // 32 hex digits plus one more: not a UUID.
            (
                "6f1c2a529a0e4b7e8a431d2c3b4a5e6fa",
                "6f1c2a529a0e4b7e8a431d2c3b4a5e6fa",
            ),
        ];
        for (raw, want) in ok {
            assert_eq!(normalize_username(raw).as_deref(), Ok(*want), "{raw:?}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "1 to 64"),
            ("   ", "1 to 64"),
            (&"x".repeat(65), "1 to 64"),
            ("has space", "only"),
            ("tab\there", "only"),
            ("slash/", "only"),
            ("quote\"", "only"),
            ("ünï", "only"),
            ("semi;colon", "only"),
            ("nul\0", "only"),
            ("6f1c2a52-9a0e-4b7e-8a43-1d2c3b4a5e6f", "UUID"),
            ("6F1C2A52-9A0E-4B7E-8A43-1D2C3B4A5E6F", "UUID"),
            ("6f1c2a529a0e4b7e8a431d2c3b4a5e6f", "UUID"),
        ];
        for (raw, why) in bad {
            let err = normalize_username(raw).unwrap_err();
            assert!(err.contains(why), "{raw:?}: {err}");
        }
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b",
            "alice@example.com",
            "first.last+tag@sub.example.co.uk",
            "ünï@exämple.com",
            &format!("{}@{}", "l".repeat(64), "d".repeat(189)),
        ] {
            assert_eq!(validate_email(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "",
            "no-at-sign",
            "@example.com",
            "alice@",
            "a@b@c",
            "alice @example.com",
            "alice@exa mple.com",
            "alice@example.com\n",
            "alice@exam\u{7}ple.com",
            "alice@\u{a0}example.com",
            &format!("{}@{}", "l".repeat(64), "d".repeat(190)),
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        let cases: &[(Option<&str>, bool)] = &[
            (None, true),
            (Some("Alice"), true),
            (Some("Zoë O'Brien-Łukasiewicz"), true),
            (Some("李小龍"), true),
            (Some(&"é".repeat(200)), true),
            (Some(""), false),
            (Some("   "), false),
            (Some(&"é".repeat(201)), false),
            (Some("line\nbreak"), false),
            (Some("bell\u{7}"), false),
        ];
        for (value, ok) in cases {
            let got = validate_name("given_name", *value);
            assert_eq!(got.is_ok(), *ok, "{value:?}: {got:?}");
            if let Err(e) = got {
                assert!(e.starts_with("given_name "), "{e}");
            }
        }
    }

    #[test]
    fn passwords() {
        let cases: &[(&str, Result<(), &str>)] = &[
            ("12345678", Ok(())),
            ("correct horse battery staple", Ok(())),
            ("pässwörd", Ok(())),
            ("🔑🔑🔑🔑🔑🔑🔑🔑", Ok(())),
            (" leading and trailing spaces ", Ok(())),
            (&"x".repeat(1024), Ok(())),
            ("", Err("at least 8 characters")),
            ("1234567", Err("at least 8 characters")),
            // Seven characters in fourteen bytes: counted in characters.
            ("ééééééé", Err("at least 8 characters")),
            (&"x".repeat(1025), Err("at most 1024")),
            ("password\n", Err("control")),
            ("pass\tword", Err("control")),
            ("pass\0word", Err("control")),
            ("password\u{7f}", Err("control")),
        ];
        for (pw, want) in cases {
            match (validate_password(pw), want) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(why)) => assert!(e.contains(why), "{pw:?}: {e}"),
                (got, _) => panic!("{pw:?}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn debug_never_shows_the_hash() {
        let u = User {
            id: "6f1c2a52-9a0e-4b7e-8a43-1d2c3b4a5e6f".into(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            email_verified: true,
            name: None,
            given_name: None,
            family_name: None,
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            disabled: false,
            created_at: 1,
            updated_at: 2,
        };
        let s = format!("{u:?}");
        assert!(!s.contains("argon2") && !s.contains("aGFzaA"), "{s}");
        assert!(
            s.contains("has_password: true") && s.contains("alice"),
            "{s}"
        );
    }
}
