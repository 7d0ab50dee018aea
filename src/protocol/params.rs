//! Request parameters read once, as ordered pairs (RFC 6749 §3.1, §3.2).
//!
//! * A parameter sent without a value is treated as omitted.
//! * A parameter may appear at most once ("Request and response parameters MUST NOT be included
//!   more than once"), except the few that are defined to repeat (RFC 8707 `resource`).
//! * Names and values are bounded in size and must be valid UTF-8 after percent-decoding.

use super::error::OAuthError;

/// Longest accepted parameter value, in bytes (after decoding).
pub const MAX_VALUE_LEN: usize = 4096;
/// Most parameters one request may carry.
pub const MAX_PARAMS: usize = 64;

/// The parsed parameters: every decoded name and value back to back in one string, and where
/// each pair lies in it (two allocations per request, whatever the number of parameters).
#[derive(Debug, Default, Clone)]
pub struct Params {
    text: String,
    pairs: Vec<Pair>,
}

/// A pair's name is `text[start..mid]`, its value `text[mid..end]`.
#[derive(Debug, Clone, Copy)]
struct Pair {
    start: usize,
    mid: usize,
    end: usize,
}

impl Params {
    /// Parses an `application/x-www-form-urlencoded` body or query string. `repeatable` names the
    /// parameters allowed to appear more than once.
    pub fn parse(input: &[u8], repeatable: &[&str]) -> Result<Self, OAuthError> {
        let (params, repeated) = decode_pairs(input, |name| {
            if repeatable.contains(&name) {
                Repeat::Keep
            } else {
                Repeat::Refuse
            }
        })?;
        match repeated {
            Some(name) => Err(OAuthError::invalid_request(format!(
                "parameter `{}` is repeated",
                printable(&name)
            ))),
            None => Ok(params),
        }
    }

    /// Like [`Params::parse`], but keeps going on repeated parameters and returns their names,
    /// so that the caller can decide where the error may be reported (the authorization
    /// endpoint). The first value of a repeated parameter is kept.
    pub fn parse_keeping_duplicates(input: &[u8]) -> Result<(Self, Vec<String>), OAuthError> {
        let mut dups: Vec<String> = Vec::new();
        let (params, _) = decode_pairs(input, |name| {
            let name = printable(name);
            if !dups.contains(&name) {
                dups.push(name);
            }
            Repeat::Skip
        })?;
        Ok((params, dups))
    }

    fn name(&self, p: &Pair) -> &str {
        self.text.get(p.start..p.mid).unwrap_or_default()
    }

    fn value(&self, p: &Pair) -> &str {
        self.text.get(p.mid..p.end).unwrap_or_default()
    }

    /// The value of a parameter that may appear once.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|p| self.name(p) == name)
            .map(|p| self.value(p))
    }

    /// Every value of a repeatable parameter, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |p| self.name(p) == name)
            .map(|p| self.value(p))
    }

    /// The value of a parameter that must be present.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter `{name}`")))
    }
}

/// What to do with a parameter seen before.
enum Repeat {
    /// Keep this value too (a parameter defined to repeat).
    Keep,
    /// Drop this value, keep the first.
    Skip,
    /// Stop: the request is malformed.
    Refuse,
}

/// Decodes every `name=value` pair, without the ones whose value is empty (RFC 6749 §3.1: "sent
/// without a value MUST be treated as if they were omitted"). A name seen before goes to
/// `on_repeat`; on [`Repeat::Refuse`] the name is returned with no parameters.
fn decode_pairs(
    input: &[u8],
    mut on_repeat: impl FnMut(&str) -> Repeat,
) -> Result<(Params, Option<String>), OAuthError> {
    let mut text: Vec<u8> = Vec::with_capacity(input.len());
    let pairs_at_most = input.iter().filter(|b| **b == b'&').count() + 1;
    let mut pairs: Vec<Pair> = Vec::with_capacity(pairs_at_most.min(MAX_PARAMS));
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
        let start = text.len();
        decode(name, &mut text)?;
        let mid = text.len();
        decode(value, &mut text)?;
        let end = text.len();
        if mid == start {
            return Err(OAuthError::invalid_request("a parameter has no name"));
        }
        let new = text.get(start..mid).unwrap_or_default();
        let earlier = pairs.iter().any(|p| text.get(p.start..p.mid) == Some(new));
        let keep = if end == mid {
            false // omitted
        } else if earlier {
            let name = std::str::from_utf8(new).unwrap_or_default();
            match on_repeat(name) {
                Repeat::Keep => true,
                Repeat::Skip => false,
                Repeat::Refuse => return Ok((Params::default(), Some(name.to_string()))),
            }
        } else {
            true
        };
        if keep {
            pairs.push(Pair { start, mid, end });
        } else {
            text.truncate(start);
        }
    }
    // Each piece was checked to be UTF-8 on its own, so the whole is.
    let text = String::from_utf8(text)
        .map_err(|_| OAuthError::invalid_request("a parameter is not valid UTF-8"))?;
    Ok((Params { text, pairs }, None))
}

/// Appends the decoding of one name or value to `out`: `+` is a space, `%XX` a byte; the result
/// must be UTF-8 and at most [`MAX_VALUE_LEN`] bytes.
fn decode(raw: &[u8], out: &mut Vec<u8>) -> Result<(), OAuthError> {
    if raw.len() > MAX_VALUE_LEN * 3 {
        return Err(OAuthError::invalid_request("a parameter is too long"));
    }
    let start = out.len();
    if !form_decode_into(raw, out) {
        return Err(OAuthError::invalid_request(
            "a parameter has a malformed percent-escape",
        ));
    }
    let decoded = out.get(start..).unwrap_or_default();
    if decoded.len() > MAX_VALUE_LEN {
        return Err(OAuthError::invalid_request("a parameter is too long"));
    }
    if std::str::from_utf8(decoded).is_err() {
        return Err(OAuthError::invalid_request(
            "a parameter is not valid UTF-8",
        ));
    }
    Ok(())
}

/// Appends the form-decoding of `raw` to `out` (`+` is a space, `%XX` the byte XX). False, with
/// `out` partly written, when a `%` does not start two hexadecimal digits.
pub(crate) fn form_decode_into(raw: &[u8], out: &mut Vec<u8>) -> bool {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut rest = raw;
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'%' => {
                let [h, l, tail @ ..] = tail else {
                    return false;
                };
                let (Some(h), Some(l)) = (hex(*h), hex(*l)) else {
                    return false;
                };
                out.push(h << 4 | l);
                rest = tail;
            }
            b'+' => {
                out.push(b' ');
                rest = tail;
            }
            _ => {
                out.push(b);
                rest = tail;
            }
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
    fn decodes_escapes_and_plus_and_checks_utf8_per_piece() {
        let p = Params::parse(b"n%C3%A9=caf%c3%a9&a+b=c%2Bd&x=%25%26%3D", &[]).unwrap();
        assert_eq!(p.get("né"), Some("café"));
        assert_eq!(p.get("a b"), Some("c+d"));
        assert_eq!(p.get("x"), Some("%&="));
        assert_eq!(p.get("n"), None);
        // A character split between a name and its value is UTF-8 in neither.
        assert!(Params::parse(b"x%C3=%A9", &[]).is_err());
        let mut out = Vec::new();
        assert!(form_decode_into(b"a+%41%7e", &mut out));
        assert_eq!(out, b"a A~");
        for bad in [&b"%"[..], b"%4", b"%4g", b"%g4", b"a%"] {
            assert!(!form_decode_into(bad, &mut Vec::new()), "{bad:?}");
        }
    }

    #[test]
    fn keeping_duplicates_keeps_the_first_value_and_names_the_repeated() {
        let (p, dups) = Params::parse_keeping_duplicates(b"a=1&b=2&a=3&a=4&b=&c=5&c=6").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("2"));
        assert_eq!(p.get("c"), Some("5"));
        assert_eq!(p.all("a").count(), 1);
        assert_eq!(dups, ["a", "c"]);
        assert!(Params::parse_keeping_duplicates(b"a=1&a=%zz").is_err());
    }

    #[test]
    fn require_names_the_missing_parameter() {
        let p = Params::parse(b"", &[]).unwrap();
        let e = p.require("grant_type").unwrap_err();
        assert!(e.description().contains("grant_type"));
    }
}
