//! Request parameters read once, as ordered pairs (RFC 6749 §3.1, §3.2).
//!
//! * A parameter sent without a value is treated as omitted.
//! * A parameter may appear at most once ("Request and response parameters MUST NOT be included
//!   more than once"), except the few that are defined to repeat (RFC 8707 `resource`).
//! * Names and values are bounded in size and must be valid UTF-8 after percent-decoding.

use std::borrow::Cow;

use super::error::OAuthError;

/// Longest accepted parameter value, in bytes (after decoding).
pub const MAX_VALUE_LEN: usize = 4096;
/// Most parameters one request may carry.
pub const MAX_PARAMS: usize = 64;

#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses an `application/x-www-form-urlencoded` body or query string. `repeatable` names the
    /// parameters allowed to appear more than once.
    pub fn parse(input: &[u8], repeatable: &[&str]) -> Result<Self, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in decode_pairs(input)? {
            if pairs.iter().any(|(n, _)| *n == name) && !repeatable.contains(&name.as_str()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{}` is repeated",
                    printable(&name)
                )));
            }
            pairs.push((name, value));
        }
        Ok(Self { pairs })
    }

    /// Like [`Params::parse`], but keeps going on repeated parameters and returns their names,
    /// so that the caller can decide where the error may be reported (the authorization
    /// endpoint). The first value of a repeated parameter is kept.
    pub fn parse_keeping_duplicates(input: &[u8]) -> Result<(Self, Vec<String>), OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut dups: Vec<String> = Vec::new();
        for (name, value) in decode_pairs(input)? {
            if pairs.iter().any(|(n, _)| *n == name) {
                if !dups.contains(&name) {
                    dups.push(printable(&name));
                }
            } else {
                pairs.push((name, value));
            }
        }
        Ok((Self { pairs }, dups))
    }

    /// The value of a parameter that may appear once.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a parameter that must be present.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter `{name}`")))
    }
}

/// Every `name=value` pair, decoded, without the ones whose value is empty (RFC 6749 §3.1:
/// "sent without a value MUST be treated as if they were omitted").
fn decode_pairs(input: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let mut out = Vec::new();
    for (count, part) in input
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        if count >= MAX_PARAMS {
            return Err(OAuthError::invalid_request("too many parameters"));
        }
        let (name, value) = match part.iter().position(|b| *b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &b""[..]),
        };
        let name = decode(name)?;
        let value = decode(value)?;
        if name.is_empty() {
            return Err(OAuthError::invalid_request("a parameter has no name"));
        }
        if !value.is_empty() {
            out.push((name, value));
        }
    }
    Ok(out)
}

fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    if raw.len() > MAX_VALUE_LEN * 3 {
        return Err(OAuthError::invalid_request("a parameter is too long"));
    }
    if !valid_escapes(raw) {
        return Err(OAuthError::invalid_request(
            "a parameter has a malformed percent-escape",
        ));
    }
    let plus_as_space: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    if bytes.len() > MAX_VALUE_LEN {
        return Err(OAuthError::invalid_request("a parameter is too long"));
    }
    String::from_utf8(bytes)
        .map_err(|_| OAuthError::invalid_request("a parameter is not valid UTF-8"))
}

/// Every `%` starts a two-hex-digit escape.
pub(crate) fn valid_escapes(raw: &[u8]) -> bool {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            if i + 2 >= raw.len()
                || !(raw[i + 1].is_ascii_hexdigit() && raw[i + 2].is_ascii_hexdigit())
            {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// A parameter name as it may appear in an error description: short, no control characters.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_decodes() {
        let p =
            Params::parse(b"grant_type=client_credentials&scope=a+b%20c&empty=&x", &[]).unwrap();
        assert_eq!(p.get("grant_type"), Some("client_credentials"));
        assert_eq!(p.get("scope"), Some("a b c"));
        assert_eq!(p.get("empty"), None, "empty values count as omitted");
        assert_eq!(p.get("x"), None);
    }

    #[test]
    fn rejects_duplicates_except_repeatable() {
        let e = Params::parse(b"scope=a&scope=b", &[]).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        let p = Params::parse(
            b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb",
            &["resource"],
        )
        .unwrap();
        assert_eq!(
            p.all("resource").collect::<Vec<_>>(),
            ["https://a", "https://b"]
        );
        // an empty duplicate is an omitted parameter, not a duplicate
        assert!(Params::parse(b"scope=a&scope=", &[]).is_ok());
    }

    #[test]
    fn rejects_bad_encoding_and_size() {
        for bad in [
            &b"scope=%FF"[..],
            b"=x",
            b"scope=%C3%28",
            b"scope=%",
            b"scope=%4",
            b"scope=%zz",
        ] {
            assert_eq!(
                Params::parse(bad, &[]).unwrap_err().code(),
                "invalid_request",
                "{bad:?}"
            );
        }
        let long = format!("scope={}", "a".repeat(MAX_VALUE_LEN + 1));
        assert!(Params::parse(long.as_bytes(), &[]).is_err());
        let many: String = (0..=MAX_PARAMS).map(|i| format!("p{i}=1&")).collect();
        assert!(Params::parse(many.as_bytes(), &[]).is_err());
    }

    #[test]
    fn require_names_the_missing_parameter() {
        let p = Params::parse(b"", &[]).unwrap();
        let e = p.require("grant_type").unwrap_err();
        assert!(e.description().contains("grant_type"));
    }
}
