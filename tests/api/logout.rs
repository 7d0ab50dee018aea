//! Sessions and logout: RP-initiated logout at the end-session endpoint (hint, confirmation,
//! CSRF, refused hints and return addresses), back-channel logout to a receiver inside the
//! test (and its refusal of private addresses by default), and the session CLI.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::authorize::{CB, Fixture, VERIFIER, authorize_url, fixture_with, redeem, sign_in};
use crate::browser::{Browser, assert_status, hidden, location, param};
use crate::helpers::{Backend, TestApp, b64json, verify_jwt};

tiers!(
    hint_of_this_session_logs_out_at_once,
    without_hint_the_user_confirms,
    foreign_hints_and_unregistered_returns_are_refused,
    backchannel_logout_reaches_the_client,
    backchannel_logout_to_private_addresses_is_refused_by_default,
    cli_lists_and_ends_sessions,
);

const BYE: &str = "https://app.example.com/bye";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A browser signed in as ada at `web`, and the claims of the ID token it got.
async fn signed_in(f: &Fixture) -> (Browser, String, Value) {
    let mut b = Browser::new();
    let back = sign_in(&mut b, &f.app, &authorize_url(&f.app, "web", "openid", "")).await;
    let code = param(&back, "code").expect("a code");
    let (status, body) = redeem(&f.app, "web", &f.secret, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    let id_token = body["id_token"].as_str().unwrap().to_string();
    let (_, claims) = verify_jwt(&id_token, &f.app.jwks().await).unwrap();
    (b, id_token, claims)
}

/// `prompt=none` at the authorization endpoint: `Ok(code)` while signed in, else the error.
async fn silent(b: &mut Browser, app: &TestApp) -> Result<String, String> {
    let r = b
        .get(&authorize_url(app, "web", "openid", "&prompt=none"))
        .await;
    assert_status(&r, 302, "prompt=none redirects");
    let back = location(&r);
    assert!(back.starts_with(CB), "{back}");
    match param(&back, "code") {
        Some(code) => Ok(code),
        None => Err(param(&back, "error").unwrap_or_default()),
    }
}

async fn assert_signed_out(b: &mut Browser, app: &TestApp, what: &str) {
    assert_eq!(
        silent(b, app).await,
        Err("login_required".to_string()),
        "{what}"
    );
}

async fn assert_signed_in(b: &mut Browser, app: &TestApp, what: &str) {
    assert!(silent(b, app).await.is_ok(), "{what}: still signed in");
}

fn logout_url(app: &TestApp, query: &[(&str, &str)]) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!("{}/oauth2/logout?{q}", app.base)
}

async fn hint_of_this_session_logs_out_at_once(backend: Backend) {
    let f = fixture_with(backend, &["--post-logout-redirect-uri", BYE], |_| {}).await;
    let app = &f.app;
    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["end_session_endpoint"],
        format!("{}/oauth2/logout", app.issuer)
    );
    assert_eq!(meta["backchannel_logout_supported"], true);
    assert_eq!(meta["backchannel_logout_session_supported"], true);

    let (mut b, id_token, claims) = signed_in(&f).await;
    let old_cookie = b.cookie.clone();
    let listed = f.d.cli_json(&["session", "list"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["sid"], claims["sid"]);
    assert_eq!(listed[0]["sub"], f.sub.as_str());
    assert_eq!(listed[0]["username"], "ada");
    assert_eq!(listed[0]["clients"], serde_json::json!(["web"]));

    let r = b
        .get(&logout_url(
            app,
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", BYE),
                ("state", "bye state"),
                ("ui_locales", "fr en"),
            ],
        ))
        .await;
    assert_status(&r, 302, "no confirmation for this session's own hint");
    assert_eq!(location(&r), format!("{BYE}?state=bye+state"));
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.starts_with("tessera_session=;") && set_cookie.contains("Max-Age=0"),
        "{set_cookie}"
    );
    assert_signed_out(&mut b, app, "after logout").await;
    // The session is gone server-side: the old cookie value signs no one in either.
    let mut replay = Browser::new();
    replay.cookie = old_cookie;
    assert_signed_out(&mut replay, app, "old cookie").await;
    let listed = f.d.cli_json(&["session", "list"]).await;
    assert_eq!(listed, serde_json::json!([]));

    // Without post_logout_redirect_uri: the signed-out page. client_id matching the hint is fine;
    // an expired-session hint with no session here just ends nothing.
    let r = Browser::new()
        .get(&logout_url(
            app,
            &[("id_token_hint", &id_token), ("client_id", "web")],
        ))
        .await;
    assert_status(&r, 200, "signed-out page");
    assert!(r.text().await.unwrap().contains("You are signed out"));
    // POST works like GET for relying parties (form serialization).
    let (mut b2, id_token2, _) = signed_in(&f).await;
    let r = b2
        .post(
            &app.url("/oauth2/logout"),
            &[
                ("id_token_hint", &id_token2),
                ("post_logout_redirect_uri", BYE),
            ],
        )
        .await;
    assert_status(&r, 303, "POST end-session request");
    assert_eq!(location(&r), BYE);
    assert_signed_out(&mut b2, app, "after POST logout").await;
}

async fn without_hint_the_user_confirms(backend: Backend) {
    let f = fixture_with(backend, &["--post-logout-redirect-uri", BYE], |_| {}).await;
    let app = &f.app;
    let (mut b, _, _) = signed_in(&f).await;
    let r = b
        .get(&logout_url(
            app,
            &[
                ("client_id", "web"),
                ("post_logout_redirect_uri", BYE),
                ("state", "s-9"),
            ],
        ))
        .await;
    assert_status(&r, 200, "confirmation page");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<button name=\"logout\" value=\"yes\">"),
        "{html}"
    );
    assert!(html.contains("<form method=\"post\" action=\"/oauth2/logout\">"));
    assert!(html.contains("Web App"), "names the client");
    let csrf = hidden(&html, "csrf");
    assert_eq!(hidden(&html, "post_logout_redirect_uri"), BYE);
    assert_eq!(hidden(&html, "state"), "s-9");
    assert_signed_in(&mut b, app, "showing the page signs no one out").await;

    let fields = |csrf: &str| -> Vec<(String, String)> {
        vec![
            ("csrf".into(), csrf.into()),
            ("client_id".into(), "web".into()),
            ("post_logout_redirect_uri".into(), BYE.into()),
            ("state".into(), "s-9".into()),
            ("logout".into(), "yes".into()),
        ]
    };
    async fn post(
        b: &mut Browser,
        app: &TestApp,
        v: &[(String, String)],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let pairs: Vec<(&str, &str)> = v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.post_with(&app.url("/oauth2/logout"), &pairs, headers)
            .await
    }
    // A forged CSRF token, a missing one, and a cross-site post are refused.
    let forged = "A".repeat(csrf.len());
    for (what, v, headers) in [
        ("forged csrf", fields(&forged), vec![]),
        ("missing csrf", fields(&csrf)[1..].to_vec(), vec![]),
        (
            "cross-site",
            fields(&csrf),
            vec![("origin", "https://evil.example")],
        ),
        (
            "cross-site fetch metadata",
            fields(&csrf),
            vec![("sec-fetch-site", "cross-site")],
        ),
    ] {
        let r = post(&mut b, app, &v, &headers).await;
        assert_status(&r, 403, what);
        assert!(r.headers().get("location").is_none(), "{what}");
        assert_signed_in(&mut b, app, what).await;
    }
    // logout=yes in a GET never confirms.
    let r = b
        .get(&logout_url(app, &[("csrf", &csrf), ("logout", "yes")]))
        .await;
    assert_status(&r, 400, "GET cannot confirm");
    assert_signed_in(&mut b, app, "GET with logout=yes").await;

    // Confirmed: back to the registered address with state, session gone.
    let r = post(&mut b, app, &fields(&csrf), &[("origin", &app.issuer)]).await;
    assert_status(&r, 303, "confirmed");
    assert_eq!(location(&r), format!("{BYE}?state=s-9"));
    assert_signed_out(&mut b, app, "after confirming").await;

    // No parameters at all: confirm, then the signed-out page.
    let (mut b, _, _) = signed_in(&f).await;
    let html = b.get(&logout_url(app, &[])).await.text().await.unwrap();
    let r = b
        .post(
            &app.url("/oauth2/logout"),
            &[("csrf", &hidden(&html, "csrf")), ("logout", "yes")],
        )
        .await;
    assert_status(&r, 200, "signed-out page");
    assert!(r.text().await.unwrap().contains("You are signed out"));
    assert_signed_out(&mut b, app, "after confirming without parameters").await;
}

async fn foreign_hints_and_unregistered_returns_are_refused(backend: Backend) {
    use tessera::crypto::jws::{Signer, generate};
    use tessera::protocol::jose::Alg;

    let f = fixture_with(backend, &["--post-logout-redirect-uri", BYE], |_| {}).await;
    let app = &f.app;
    let (mut b, id_token, claims) = signed_in(&f).await;
    let header = b64json(id_token.split('.').next().unwrap());
    let real_kid = header["kid"].as_str().unwrap();

    // Same claims, signed by another deployment's key: under its own kid, and under ours.
    let other = generate(Alg::RS256).unwrap();
    let foreign = Signer::from_der(Alg::RS256, &other.kid, &other.private_der)
        .unwrap()
        .sign_id_token(&claims)
        .unwrap();
    let forged = Signer::from_der(Alg::RS256, real_kid, &other.private_der)
        .unwrap()
        .sign_id_token(&claims)
        .unwrap();
    // An access token of this very server is not an ID token.
    let back = sign_in(
        &mut Browser::new(),
        app,
        &authorize_url(app, "web", "openid", ""),
    )
    .await;
    let (_, tokens) = redeem(
        app,
        "web",
        &f.secret,
        &param(&back, "code").unwrap(),
        VERIFIER,
    )
    .await;
    let access_token = tokens["access_token"].as_str().unwrap().to_string();

    let long_locales = "x".repeat(300);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "another deployment's key",
            vec![("id_token_hint", &foreign)],
        ),
        ("forged under our kid", vec![("id_token_hint", &forged)]),
        ("an access token", vec![("id_token_hint", &access_token)]),
        ("garbage", vec![("id_token_hint", "a.b.c")]),
        (
            "client_id not the hint's audience",
            vec![("id_token_hint", &id_token), ("client_id", "other")],
        ),
        ("unknown client", vec![("client_id", "nobody")]),
        (
            "unregistered return address",
            vec![
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", "https://evil.example/bye"),
            ],
        ),
        (
            "near miss of the registered address",
            vec![
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", "https://app.example.com/bye/"),
            ],
        ),
        (
            "the login redirect URI is not a logout one",
            vec![("client_id", "web"), ("post_logout_redirect_uri", CB)],
        ),
        (
            "return address without a client",
            vec![("post_logout_redirect_uri", BYE)],
        ),
        ("duplicated parameter", vec![("state", "a"), ("state", "b")]),
        ("over-long ui_locales", vec![("ui_locales", &long_locales)]),
    ];
    for (what, query) in cases {
        let r = b.get(&logout_url(app, &query)).await;
        assert_status(&r, 400, what);
        assert!(r.headers().get("location").is_none(), "{what}: redirected");
        assert!(r.headers().get("set-cookie").is_none(), "{what}: cookie");
        let html = r.text().await.unwrap();
        assert!(!html.contains("evil.example"), "{what}: echoed");
        assert!(html.contains("sign-out request"), "{what}: {html}");
        assert_signed_in(&mut b, app, what).await;
    }
    // The same refusals on a POST.
    let r = b
        .post(
            &app.url("/oauth2/logout"),
            &[
                ("id_token_hint", &foreign),
                ("post_logout_redirect_uri", BYE),
            ],
        )
        .await;
    assert_status(&r, 400, "POST with a foreign hint");
    assert_signed_in(&mut b, app, "POST with a foreign hint").await;

    // A valid hint of another session (here: one already ended) asks for confirmation.
    let (mut other_browser, other_hint, _) = signed_in(&f).await;
    let r = other_browser
        .get(&logout_url(app, &[("id_token_hint", &other_hint)]))
        .await;
    assert_status(&r, 200, "own hint: signed-out page");
    let r = b
        .get(&logout_url(app, &[("id_token_hint", &other_hint)]))
        .await;
    assert_status(&r, 200, "another session's hint: confirmation");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<button name=\"logout\" value=\"yes\">")
    );
    assert_signed_in(&mut b, app, "confirmation pending").await;
}

/// What the test's back-channel receiver got.
struct Received {
    head: String,
    body: String,
}

struct Receiver {
    uri: String,
    rx: mpsc::UnboundedReceiver<Received>,
    connections: Arc<AtomicUsize>,
}

impl Receiver {
    /// A minimal HTTP server on 127.0.0.1 that answers 200 to every request.
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let end = loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < end + len {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let body =
                        String::from_utf8_lossy(&buf[end..buf.len().min(end + len)]).to_string();
                    let _ = sock
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = tx.send(Received { head, body });
                });
            }
        });
        Receiver {
            uri: format!("http://127.0.0.1:{port}/backchannel"),
            rx,
            connections,
        }
    }

    /// The next logout token received, verified against the JWKS: (header, claims).
    async fn logout_token(&mut self, app: &TestApp) -> (Value, Value) {
        let got = tokio::time::timeout(Duration::from_secs(15), self.rx.recv())
            .await
            .expect("a back-channel logout request within 15 s")
            .unwrap();
        assert!(
            got.head.starts_with("POST /backchannel HTTP/1.1\r\n"),
            "{}",
            got.head
        );
        assert!(
            got.head
                .to_ascii_lowercase()
                .contains("content-type: application/x-www-form-urlencoded"),
            "{}",
            got.head
        );
        let form: Vec<(String, String)> = url::form_urlencoded::parse(got.body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(form.len(), 1, "{form:?}");
        assert_eq!(form[0].0, "logout_token");
        verify_jwt(&form[0].1, &app.jwks().await).expect("the logout token verifies")
    }
}

fn check_logout_token(header: &Value, claims: &Value, app: &TestApp, sub: &str, sid: &Value) {
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["aud"], "web");
    assert_eq!(claims["sub"], sub);
    assert_eq!(&claims["sid"], sid);
    assert_eq!(claims["events"], serde_json::json!({ EVENT: {} }));
    assert!(claims.get("nonce").is_none(), "no nonce: {claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 300, "short-lived: {claims}");
    assert!((iat - crate::helpers::unix_now()).abs() < 60);
}

async fn backchannel_logout_reaches_the_client(backend: Backend) {
    let mut rx = Receiver::start().await;
    let f = fixture_with(
        backend,
        &[
            "--post-logout-redirect-uri",
            BYE,
            "--backchannel-logout-uri",
            &rx.uri,
        ],
        |s| s.outbound.allow_private = true,
    )
    .await;
    let app = &f.app;
    let shown = f.d.cli_json(&["client", "show", "web"]).await;
    assert_eq!(shown["backchannel_logout_uri"], rx.uri.as_str());

    let (mut b, id_token, id_claims) = signed_in(&f).await;
    assert!(id_claims["sid"].is_string());
    let r = b
        .get(&logout_url(
            app,
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", BYE),
            ],
        ))
        .await;
    assert_status(&r, 302, "logout");
    let (header, claims) = rx.logout_token(app).await;
    check_logout_token(&header, &claims, app, &f.sub, &id_claims["sid"]);
    assert_signed_out(&mut b, app, "after back-channel logout").await;

    // One announcement per session: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rx.rx.try_recv().is_err(), "announced once");

    // Removing the URI stops the notifications.
    let out =
        f.d.cli(&["client", "update", "web", "--backchannel-logout-uri", ""])
            .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = f.d.cli_json(&["client", "show", "web"]).await;
    assert!(shown["backchannel_logout_uri"].is_null(), "{shown}");
    let bad =
        f.d.cli(&[
            "client",
            "update",
            "web",
            "--backchannel-logout-uri",
            "https://rp.example/bc#x",
        ])
        .await;
    assert!(!bad.status.success(), "a fragment is refused");
}

async fn backchannel_logout_to_private_addresses_is_refused_by_default(backend: Backend) {
    let rx = Receiver::start().await;
    let f = fixture_with(backend, &["--backchannel-logout-uri", &rx.uri], |_| {}).await;
    let app = &f.app;
    let (mut b, id_token, _) = signed_in(&f).await;
    let r = b
        .get(&logout_url(app, &[("id_token_hint", &id_token)]))
        .await;
    assert_status(&r, 200, "signed out");
    assert_signed_out(&mut b, app, "the logout itself works").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        rx.connections.load(Ordering::SeqCst),
        0,
        "nothing is sent to 127.0.0.1 while outbound.allow_private is off"
    );
}

async fn cli_lists_and_ends_sessions(backend: Backend) {
    let mut rx = Receiver::start().await;
    let f = fixture_with(backend, &["--backchannel-logout-uri", &rx.uri], |s| {
        s.outbound.allow_private = true
    })
    .await;
    let app = &f.app;
    // The CLI runs with the servers' configuration: the issuer its logout tokens name, and
    // the outbound setting.
    let allow = [
        ("TESSERA_OUTBOUND_ALLOW_PRIVATE", "true"),
        ("TESSERA_ISSUER", app.issuer.as_str()),
    ];
    let cli = |args: &'static [&'static str]| {
        let d = &f.d;
        async move {
            let out = d.cli_with_env(args, &allow).await;
            assert!(
                out.status.success(),
                "tessera {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        }
    };

    let (mut b1, _, c1) = signed_in(&f).await;
    let (mut b2, _, c2) = signed_in(&f).await;
    let listed = cli(&["session", "list"]).await;
    let mut sids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sid"].as_str().unwrap())
        .collect();
    sids.sort();
    let mut expected = [c1["sid"].as_str().unwrap(), c2["sid"].as_str().unwrap()];
    expected.sort();
    assert_eq!(sids, expected, "{listed}");
    for s in listed.as_array().unwrap() {
        assert_eq!(s["username"], "ada");
        assert_eq!(s["sub"], f.sub.as_str());
        assert_eq!(s["clients"], serde_json::json!(["web"]));
        assert!(s["expires_at"].as_i64().unwrap() > s["created_at"].as_i64().unwrap());
        assert!(s["auth_time"].is_i64());
    }
    assert_eq!(
        f.d.cli_json(&["session", "list", "--user", &f.sub])
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // tessera session revoke SID: that browser only, with back-channel logout.
    let sid1 = c1["sid"].as_str().unwrap();
    let out = f.d.cli_with_env(&["session", "revoke", sid1], &allow).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let revoked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(revoked["revoked"], sid1);
    assert_eq!(revoked["notified"], serde_json::json!(["web"]));
    assert_eq!(revoked["deliveries"][0]["delivered"], true, "{revoked}");
    let (h, c) = rx.logout_token(app).await;
    check_logout_token(&h, &c, app, &f.sub, &c1["sid"]);
    assert_signed_out(&mut b1, app, "revoked session").await;
    assert_signed_in(&mut b2, app, "the other session").await;
    let again = f.d.cli(&["session", "revoke", sid1]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no active session"));

    // tessera user logout: every session of the user.
    let out = cli(&["user", "logout", "ada"]).await;
    assert_eq!(out["ended"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out["ended"][0]["sid"], c2["sid"]);
    let (_, c) = rx.logout_token(app).await;
    assert_eq!(c["sid"], c2["sid"]);
    assert_signed_out(&mut b2, app, "user logout").await;
    assert_eq!(cli(&["session", "list"]).await, serde_json::json!([]));

    // tessera user disable: the sessions end at once (and are announced).
    let (mut b3, _, c3) = signed_in(&f).await;
    cli(&["user", "disable", "ada"]).await;
    let (_, c) = rx.logout_token(app).await;
    assert_eq!(c["sid"], c3["sid"]);
    assert_eq!(cli(&["session", "list"]).await, serde_json::json!([]));
    assert_signed_out(&mut b3, app, "disabled user").await;
    cli(&["user", "enable", "ada"]).await;
    assert_signed_out(&mut b3, app, "enabling does not revive the session").await;

    // tessera user delete: the sessions end before the user goes.
    let (mut b4, _, c4) = signed_in(&f).await;
    cli(&["user", "delete", "ada"]).await;
    let (_, c) = rx.logout_token(app).await;
    assert_eq!(c["sid"], c4["sid"]);
    assert_signed_out(&mut b4, app, "deleted user").await;
}
