//! Server-rendered pages (askama): one view struct per template, built from flow values; every
//! HTML response carries the headers of SECURITY.md. No inline script or style, so the CSP can
//! forbid both; no `form-action`, because the form_post page submits to the client.

pub mod consent;
pub mod login;
pub mod logout;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;

use crate::flows::Core;
use crate::flows::authorize::{Outcome, Step};
use crate::protocol::authorize::ResponseMode;
use crate::protocol::discovery::paths;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https:; base-uri 'none'; frame-ancestors 'none'";

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginView<'a> {
    pub interaction: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub username: &'a str,
    pub failed: bool,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentView<'a> {
    pub interaction: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub scopes: Vec<String>,
    pub logo_uri: Option<&'a str>,
    pub policy_uri: Option<&'a str>,
    pub tos_uri: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorView<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostView<'a> {
    pub action: &'a str,
    pub fields: Vec<(&'a str, &'a str)>,
}

/// A response builder with the HTML security headers.
pub fn html(status: StatusCode) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    b
}

/// Renders a template into a response; a rendering failure is a plain 500.
pub fn render(status: StatusCode, t: &impl Template) -> HttpResponse {
    match t.render() {
        Ok(body) => html(status).body(body),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            html(StatusCode::INTERNAL_SERVER_ERROR).body("Internal error")
        }
    }
}

pub fn error_page(status: u16, message: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let title = match status.as_u16() {
        503 => "Temporarily unavailable",
        500..=599 => "Something went wrong",
        403 => "This form cannot be accepted",
        _ => "This sign-in request cannot be completed",
    };
    render(status, &ErrorView { title, message })
}

/// In plain words, what a scope shares.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Confirm who you are (your account identifier)".into(),
        "profile" => "See your name and username".into(),
        "email" => "See your email address and whether it is verified".into(),
        "offline_access" => "Stay connected to your account while you are away".into(),
        other => format!("Use your account with the permission “{other}”"),
    }
}

/// Name of the session cookie: `__Host-` prefixed (and so `Secure`) when the issuer is https.
pub fn session_cookie_name(core: &Core) -> &'static str {
    if core.settings.secure_cookies() {
        "__Host-tessera_session"
    } else {
        "tessera_session"
    }
}

pub fn session_cookie_value(core: &Core, req: &HttpRequest) -> Option<String> {
    req.cookie(session_cookie_name(core))
        .map(|c| c.value().to_string())
}

fn session_cookie(core: &Core, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(session_cookie_name(core), value);
    c.set_path("/");
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(core.settings.secure_cookies());
    c.set_max_age(CookieDuration::seconds(
        core.settings.sessions.lifetime as i64,
    ));
    c
}

/// Turns a flow step into the browser's next response. `after_post` makes redirects 303.
pub fn respond(core: &Core, step: Step, after_post: bool) -> HttpResponse {
    let redirect_status = if after_post {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    let mut resp = match step.outcome {
        Outcome::Page { status, message } => error_page(status, &message),
        Outcome::LoginForm(form) => login::form_view(&form),
        Outcome::Login(ir) => redirect(
            redirect_status,
            &format!("{}{}?ir={ir}", core.settings.issuer(), paths::LOGIN),
        ),
        Outcome::Consent(form) => consent::form_view(&form),
        Outcome::Redirect { target, params } => match target.response_mode {
            ResponseMode::Query => redirect(redirect_status, &target.query_url(&params)),
            ResponseMode::FormPost => render(
                StatusCode::OK,
                &FormPostView {
                    action: target.redirect_uri(),
                    fields: params.iter().map(|(k, v)| (*k, v.as_str())).collect(),
                },
            ),
        },
    };
    if let Some(value) = step.set_session
        && let Err(e) = resp.add_cookie(&session_cookie(core, value))
    {
        tracing::error!(error = %e, "cannot set the session cookie");
    }
    resp
}

fn redirect(status: StatusCode, location: &str) -> HttpResponse {
    let mut b = html(status);
    match HeaderValue::from_str(location) {
        Ok(v) => b.insert_header((header::LOCATION, v)).finish(),
        Err(_) => error_page(400, "The application's return address cannot be used."),
    }
}

/// `Origin` / `Sec-Fetch-Site` check for Tessera's own forms: a cross-site POST is refused.
pub fn same_origin_post(core: &Core, req: &HttpRequest) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        // Under `Referrer-Policy: no-referrer` browsers send `Origin: null` on their own
        // same-origin form posts; `Sec-Fetch-Site` (set only by the browser) vouches for them.
        Some("null") => h.get("sec-fetch-site").is_some_and(|v| v == "same-origin"),
        Some(origin) => origin == core.settings.issuer_origin(),
        None => true,
    }
}

/// The client's IP: the TCP peer, or — only when the peer is a trusted proxy — the nearest
/// untrusted address of `X-Forwarded-For`.
pub fn client_ip(core: &Core, req: &HttpRequest) -> std::net::IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    resolve_client_ip(peer, &forwarded, &core.settings.http.trusted_proxies)
}

/// [`client_ip`] over plain values.
pub fn resolve_client_ip(
    peer: std::net::IpAddr,
    forwarded: &[&str],
    trusted_proxies: &[String],
) -> std::net::IpAddr {
    let trusted =
        |ip: &std::net::IpAddr| trusted_proxies.iter().any(|t| t.parse().ok() == Some(*ip));
    if !trusted(&peer) {
        return peer;
    }
    let hops: Vec<std::net::IpAddr> = forwarded
        .iter()
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|ip| !trusted(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let proxies = vec!["10.0.0.5".to_string(), "10.0.0.6".to_string()];
        // An untrusted peer's header is ignored.
        assert_eq!(
            resolve_client_ip(ip("203.0.113.9"), &["1.2.3.4"], &proxies),
            ip("203.0.113.9")
        );
        // Behind trusted proxies: the nearest untrusted hop, not a spoofed first entry.
        assert_eq!(
            resolve_client_ip(
                ip("10.0.0.5"),
                &["6.6.6.6, 198.51.100.7, 10.0.0.6"],
                &proxies
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve_client_ip(ip("10.0.0.5"), &["garbage"], &proxies),
            ip("10.0.0.5")
        );
        assert_eq!(resolve_client_ip(ip("10.0.0.5"), &[], &[]), ip("10.0.0.5"));
    }

    #[test]
    fn scopes_in_plain_words() {
        assert!(describe_scope("email").contains("email address"));
        assert!(describe_scope("invoices:read").contains("invoices:read"));
    }
}
