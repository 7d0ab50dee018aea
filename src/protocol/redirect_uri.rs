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

#[cfg(test)]
mod tests {
    use super::*;

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
