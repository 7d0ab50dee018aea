//! Outbound HTTP: the only module that sends requests to other servers: back-channel logout to a
//! client's registered `backchannel_logout_uri`, and fetching a client's registered `jwks_uri`
//! (`private_key_jwt`). SECURITY.md, "Outbound requests":
//!
//! * only to URIs registered for a client — callers pass a client's registered URI, never one
//!   taken from a request or a token;
//! * no redirects, no proxies, a connect and a total timeout, and at most
//!   [`MAX_RESPONSE_BYTES`] of the response read (then discarded);
//! * the host is resolved here and the request goes to an address this module checked: loopback,
//!   private, link-local, unique-local, unspecified, broadcast, multicast, documentation and other
//!   special-purpose addresses are refused unless `outbound.allow_private` is on (tests and local
//!   development). The checked address is pinned (`ClientBuilder::resolve`), so a second DNS
//!   answer cannot swap it (DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::Url;

use crate::config::Settings;

/// Longest response body read from a client; the rest is never read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What outbound requests may do.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Allow addresses that are not public (see [`is_public`]).
    pub allow_private: bool,
    /// Connect timeout, and the timeout of the whole exchange.
    pub timeout: Duration,
    pub max_response: usize,
}

impl Policy {
    pub fn from_settings(settings: &Settings) -> Policy {
        Policy {
            allow_private: settings.outbound.allow_private,
            timeout: Duration::from_secs(5),
            max_response: MAX_RESPONSE_BYTES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The policy forbids this request: trying again will not help.
    #[error("refused: {0}")]
    Refused(String),
    /// The request failed (DNS, connection, timeout): it may work later.
    #[error("failed: {0}")]
    Failed(String),
}

impl OutboundError {
    pub fn is_refused(&self) -> bool {
        matches!(self, OutboundError::Refused(_))
    }
}

/// A client that connects only to the address this module checked for `url`'s host (see the
/// module documentation), with no redirects, no proxy and the policy's timeouts.
async fn client_for(policy: &Policy, url: &Url) -> Result<reqwest::Client, OutboundError> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| OutboundError::Refused("no port".into()))?;
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(policy.timeout)
        .timeout(policy.timeout)
        .user_agent("tessera");
    match url.host() {
        Some(url::Host::Ipv4(ip)) => allowed(policy, IpAddr::V4(ip))?,
        Some(url::Host::Ipv6(ip)) => allowed(policy, IpAddr::V6(ip))?,
        Some(url::Host::Domain(domain)) => {
            let ip = resolve(policy, domain, port).await?;
            // Connect to the address checked above, whatever DNS answers next.
            builder = builder.resolve(domain, SocketAddr::new(ip, port));
        }
        None => return Err(OutboundError::Refused("no host".into())),
    }
    builder
        .build()
        .map_err(|e| OutboundError::Failed(format!("HTTP client: {e}")))
}

/// POSTs `form` (application/x-www-form-urlencoded) to `uri` under `policy`; returns the
/// response status. Redirects are not followed (a 3xx is just a status).
pub async fn post_form(
    policy: &Policy,
    uri: &str,
    form: &[(&str, &str)],
) -> Result<u16, OutboundError> {
    let url = check_uri(uri)?;
    let client = client_for(policy, &url).await?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut resp = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| OutboundError::Failed(without_url(e)))?;
    let status = resp.status().as_u16();
    // Read (and drop) at most `max_response` bytes, so the connection can close cleanly without
    // a large or endless body costing memory or time.
    let mut read = 0usize;
    while read <= policy.max_response {
        match resp.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => break,
        }
    }
    Ok(status)
}

/// GETs `uri` under `policy` and returns the body of a 200 response (`Accept:
/// application/json`). Any other status, a redirect, or a body over `max_response` bytes is an
/// error; the body is never read past that limit.
pub async fn get(policy: &Policy, uri: &str) -> Result<Vec<u8>, OutboundError> {
    let url = check_uri(uri)?;
    let client = client_for(policy, &url).await?;
    let mut resp = client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| OutboundError::Failed(without_url(e)))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(OutboundError::Failed(format!("HTTP status {status}")));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > policy.max_response as u64)
    {
        return Err(OutboundError::Failed("response too large".into()));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > policy.max_response {
                    return Err(OutboundError::Failed("response too large".into()));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(OutboundError::Failed(without_url(e))),
        }
    }
}

/// May the server send requests to `uri` at all? Checked when a client registers a URI the
/// server will call (`jwks_uri`, `backchannel_logout_uri`), so a forbidden target is refused up
/// front: an IP literal or `localhost` name that is not public, while `allow_private` is off.
/// Host names are resolved, and checked again, at every request.
pub fn registrable(policy: &Policy, uri: &str) -> Result<(), OutboundError> {
    let url = check_uri(uri)?;
    if policy.allow_private {
        return Ok(());
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => allowed(policy, IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => allowed(policy, IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                Err(OutboundError::Refused(
                    "localhost is not a public address (outbound.allow_private is off)".into(),
                ))
            } else {
                Ok(())
            }
        }
        None => Err(OutboundError::Refused("no host".into())),
    }
}

/// An absolute http(s) URI with a host, without user information or fragment.
fn check_uri(uri: &str) -> Result<Url, OutboundError> {
    let refused = |why: &str| Err(OutboundError::Refused(why.into()));
    let Ok(url) = Url::parse(uri) else {
        return refused("not an absolute URI");
    };
    if !matches!(url.scheme(), "http" | "https") {
        return refused("not http(s)");
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return refused("fragment or user information");
    }
    Ok(url)
}

fn allowed(policy: &Policy, ip: IpAddr) -> Result<(), OutboundError> {
    if policy.allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(OutboundError::Refused(format!(
            "{ip} is not a public address (outbound.allow_private is off)"
        )))
    }
}

/// Resolves `domain` and returns the first address the policy allows.
async fn resolve(policy: &Policy, domain: &str, port: u16) -> Result<IpAddr, OutboundError> {
    let lookup = tokio::time::timeout(policy.timeout, tokio::net::lookup_host((domain, port)))
        .await
        .map_err(|_| OutboundError::Failed(format!("resolving {domain} timed out")))?
        .map_err(|e| OutboundError::Failed(format!("resolving {domain}: {e}")))?;
    let addrs: Vec<IpAddr> = lookup.map(|a| a.ip()).collect();
    if addrs.is_empty() {
        return Err(OutboundError::Failed(format!("{domain} has no address")));
    }
    addrs
        .iter()
        .copied()
        .find(|ip| policy.allow_private || is_public(*ip))
        .ok_or_else(|| {
            OutboundError::Refused(format!(
                "{domain} resolves only to addresses that are not public (outbound.allow_private is off)"
            ))
        })
}

/// reqwest errors name the URL; keep logs to the cause.
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut out = kind.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

/// Is `ip` a public (globally reachable unicast) address? Everything special-purpose is not:
/// loopback, private (RFC 1918), shared (RFC 6598), link-local, unspecified, broadcast,
/// multicast, documentation, benchmarking, reserved, unique-local, site-local, discard-only,
/// Teredo; IPv4 inside IPv6 (mapped, NAT64, 6to4) is judged by the IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    const NOT_PUBLIC: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),       // "this network", unspecified
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // shared address space (carrier-grade NAT)
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
        ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, and 255.255.255.255 broadcast
    ];
    !NOT_PUBLIC.iter().any(|(net, p)| in_v4(ip, *net, *p))
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    // IPv4-mapped ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d: the IPv4 address decides.
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)
        || in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
    {
        return is_public_v4(Ipv4Addr::from(bits as u32));
    }
    // 6to4 2002:a.b.c.d::/48: the embedded IPv4 address decides.
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return is_public_v4(Ipv4Addr::from((bits >> 80) as u32));
    }
    // Only global unicast (2000::/3) can be public; that excludes ::, ::1, IPv4-compatible,
    // discard-only 100::/64, unique-local fc00::/7, link-local fe80::/10, site-local fec0::/10,
    // multicast ff00::/8 and the local-use NAT64 prefix.
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return false;
    }
    const NOT_PUBLIC: &[([u16; 8], u32)] = &[
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),     // Teredo
        ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48),   // benchmarking
        ([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28),  // ORCHID (deprecated)
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),     // documentation (RFC 9637)
    ];
    !NOT_PUBLIC.iter().any(|(net, p)| in_v6(ip, *net, *p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_refuses_private_targets_unless_allowed() {
        let strict = Policy {
            allow_private: false,
            timeout: Duration::from_secs(1),
            max_response: 1,
        };
        let open = Policy {
            allow_private: true,
            ..strict.clone()
        };
        for uri in [
            "http://127.0.0.1:8080/jwks",
            "https://10.0.0.1/jwks",
            "https://[::1]/jwks",
            "https://localhost/jwks",
            "https://a.localhost./jwks",
            "https://169.254.169.254/latest",
        ] {
            assert!(registrable(&strict, uri).is_err(), "{uri}");
            assert!(registrable(&open, uri).is_ok(), "{uri}");
        }
        assert!(registrable(&strict, "https://partner.example.com/jwks").is_ok());
        assert!(registrable(&strict, "https://8.8.8.8/jwks").is_ok());
        assert!(registrable(&open, "ftp://x/").is_err());
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_addresses() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.3.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860:4860::8888",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn addresses_that_are_not_public() {
        for (s, what) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "shared"),
            ("169.254.169.254", "link-local (cloud metadata)"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("224.0.0.1", "multicast"),
            ("192.0.2.10", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("192.0.0.8", "IETF"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("::ffff:127.0.0.1", "mapped loopback"),
            ("::ffff:10.0.0.1", "mapped private"),
            ("::ffff:169.254.169.254", "mapped link-local"),
            ("64:ff9b::a00:1", "NAT64 of a private address"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("2002:a00:1::1", "6to4 of a private address"),
            ("2002:7f00:1::1", "6to4 of loopback"),
            ("fc00::1", "unique-local"),
            ("fd12:3456:789a::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("100::1", "discard-only"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("2001::1", "Teredo"),
            ("2001:2::1", "benchmarking"),
        ] {
            assert!(!is_public(ip(s)), "{s} ({what}) must not be public");
        }
    }

    #[test]
    fn uris_are_checked_before_anything_is_sent() {
        for bad in [
            "ftp://example.com/x",
            "https://user:pw@example.com/x",
            "https://example.com/x#f",
            "/relative",
            "file:///etc/passwd",
        ] {
            assert!(check_uri(bad).is_err(), "{bad}");
        }
        check_uri("https://rp.example.com/backchannel?x=1").unwrap();
    }

    #[tokio::test]
    async fn private_addresses_are_refused_without_the_setting() {
        let policy = Policy {
            allow_private: false,
            timeout: Duration::from_secs(1),
            max_response: 10,
        };
        for uri in [
            "http://127.0.0.1:9/x",
            "http://[::1]:9/x",
            "http://10.0.0.1/x",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:9/x",
        ] {
            let err = post_form(&policy, uri, &[("a", "b")]).await.unwrap_err();
            assert!(err.is_refused(), "{uri}: {err}");
        }
    }
}
