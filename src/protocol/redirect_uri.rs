//! Rules for the redirect URIs a client may register (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700
//! §4.1, ../SECURITY.md). Matching at the authorization endpoint is exact string comparison;
//! this module decides what may be registered at all.

use url::Url;

/// Longest accepted redirect URI.
pub const MAX_REDIRECT_URI: usize = 2000;

/// Checks a redirect URI (or post-logout redirect URI) offered for registration.
///
/// * absolute, no fragment, no user-info;
/// * `https`, or plain `http` only on a loopback IP literal (RFC 8252 §7.3);
/// * a private-use scheme of a native app only in reverse-domain form (contains a `.`, §7.1);
/// * never `javascript:`, `data:`, `vbscript:`, `file:` or other dangerous schemes, in any case.
pub fn validate_registration(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_REDIRECT_URI {
        return Err("redirect URI is too long".into());
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("redirect URI contains white space or control characters".into());
    }
    if uri.contains('#') {
        return Err("redirect URI must not contain a fragment".into());
    }
    let url = Url::parse(uri).map_err(|_| "redirect URI is not an absolute URI".to_string())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("redirect URI must not contain user information".into());
    }
    if uri.contains('*') {
        return Err("redirect URI must not contain wildcards".into());
    }
    let scheme = url.scheme(); // lower-cased by the parser
    match scheme {
        "https" => {
            if url.host().is_none() {
                return Err("https redirect URI needs a host".into());
            }
            Ok(())
        }
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            _ => {
                Err("plain http is allowed only for loopback IP literals (127.0.0.1, [::1])".into())
            }
        },
        "javascript" | "data" | "vbscript" | "file" | "about" | "blob" | "filesystem" | "ftp"
        | "ws" | "wss" => Err(format!("redirect URI scheme `{scheme}` is not allowed")),
        _ if scheme.contains('.') => Ok(()),
        _ => Err(format!(
            "redirect URI scheme `{scheme}` is not allowed; native apps use a reverse-domain scheme such as com.example.app"
        )),
    }
}

/// Finds the registered redirect URI that `requested` matches: exact string equality, no
/// normalisation. The one exception (RFC 8252 §7.3): a registered `http` loopback IP URI matches
/// the same URI with any port.
pub fn matches_registered<'a>(requested: &str, registered: &'a [String]) -> Option<&'a String> {
    if let Some(exact) = registered.iter().find(|r| r.as_str() == requested) {
        return Some(exact);
    }
    let without_port = |s: &str| -> Option<String> {
        let mut u = Url::parse(s).ok()?;
        let loopback = match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            _ => false,
        };
        // Only when the parser changed nothing but what we ask: no normalisation sneaks in.
        if u.scheme() != "http" || !loopback || u.as_str() != s {
            return None;
        }
        u.set_port(None).ok()?;
        Some(u.to_string())
    };
    let req = without_port(requested)?;
    registered
        .iter()
        .find(|r| without_port(r).is_some_and(|g| g == req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_is_exact_except_loopback_ports() {
        let reg = vec![
            "https://app.example.com/cb".to_string(),
            "http://127.0.0.1/native".to_string(),
            "http://[::1]:8000/v6".to_string(),
        ];
        assert!(matches_registered("https://app.example.com/cb", &reg).is_some());
        for near_miss in [
            "https://APP.example.com/cb",
            "https://app.example.com/cb/",
            "https://app.example.com/CB",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/cb#",
            "https://user@app.example.com/cb",
            "https://app.example.com/%2e/cb",
            "https://app.example.com/./cb",
            "https://app.example.com:443/cb",
            "http://app.example.com/cb",
            "https://app.example.com/c",
        ] {
            assert!(matches_registered(near_miss, &reg).is_none(), "{near_miss}");
        }
        assert!(matches_registered("http://127.0.0.1:53123/native", &reg).is_some());
        assert!(matches_registered("http://127.0.0.1/native", &reg).is_some());
        assert!(matches_registered("http://[::1]:9999/v6", &reg).is_some());
        assert!(matches_registered("http://127.0.0.1:53123/native/", &reg).is_none());
        assert!(matches_registered("http://127.0.0.1:53123/other", &reg).is_none());
        assert!(matches_registered("http://127.0.0.1:53123/x/../native", &reg).is_none());
        assert!(matches_registered("http://localhost:53123/native", &reg).is_none());
    }

    #[test]
    fn accepts() {
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8000/cb",
            "http://[::1]:9000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            validate_registration(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn refuses() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "vbscript:x",
            "FILE:///etc/passwd",
            "https://app.example.com/cb#frag",
            "https://app.example.com/cb#",
            "http://app.example.com/cb",
            "http://localhost/cb",
            "https://*.example.com/cb",
            "/relative",
            "https://user:pw@app.example.com/cb",
            "myapp:/cb",
            "https://app.example.com/c b",
            "",
        ] {
            assert!(validate_registration(bad).is_err(), "{bad}");
        }
    }
}
