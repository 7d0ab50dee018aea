//! Browser single sign-on: authorization code + PKCE through the login and consent pages, with
//! `openidconnect` as the relying party; every error branch of the authorization endpoint.

use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

use crate::browser::{Browser, assert_status, hidden, location, param};
use crate::helpers::{Backend, Deployment, TestApp, verify_jwt};
use crate::refresh::userinfo_status;

tiers!(
    openidconnect_relying_party_signs_in_through_login_and_consent,
    authorization_endpoint_errors,
    login_and_consent_pages_refuse_bad_input,
    consent_is_remembered_and_prompt_is_honoured,
    codes_are_single_use_and_bound,
    userinfo_accepts_only_access_tokens_with_openid,
    form_post_cors_and_page_headers,
);

pub const PASSWORD: &str = "correct horse battery staple";
pub const CB: &str = "https://app.example.com/cb";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub struct Fixture {
    pub d: Deployment,
    pub app: TestApp,
    pub client_id: String,
    pub secret: String,
    pub sub: String,
}

/// A deployment with user `ada` and a confidential client `web` (redirect `CB`), started.
pub async fn fixture(backend: Backend, extra_client_args: &[&str]) -> Fixture {
    fixture_with(backend, extra_client_args, |_| {}).await
}

/// [`fixture`] with the server's settings tweaked.
pub async fn fixture_with(
    backend: Backend,
    extra_client_args: &[&str],
    tweak: impl FnOnce(&mut tessera::config::Settings),
) -> Fixture {
    let d = Deployment::new(backend);
    let out = d
        .cli_stdin(
            &[
                "user",
                "create",
                "--username",
                "ada",
                "--email",
                "ada@example.com",
                "--name",
                "Ada Lovelace",
                "--email-verified",
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut args = vec![
        "--name",
        "Web App",
        "--id",
        "web",
        "--redirect-uri",
        CB,
        "--scope",
        "api",
        "--audience",
        "https://api.example.com",
    ];
    args.extend_from_slice(extra_client_args);
    let (client_id, secret) = d.create_client(&args).await;
    let app = d.start_with(tweak).await;
    Fixture {
        sub: user["sub"].as_str().unwrap().to_string(),
        d,
        app,
        client_id,
        secret,
    }
}

pub fn authorize_url(app: &TestApp, client_id: &str, scope: &str, extra: &str) -> String {
    format!(
        "{}/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope={}&state=st-1&nonce=n-1&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        app.base,
        crate::helpers::form(CB),
        crate::helpers::form(scope)
    )
}

/// Follows `/authorize` through login (and consent when asked) to the client's redirect;
/// returns the redirect URL.
pub async fn sign_in(b: &mut Browser, app: &TestApp, url: &str) -> String {
    let page = b.get(url).await;
    assert_status(&page, 200, "authorize shows the login form");
    let html = page.text().await.unwrap();
    assert!(html.contains("action=\"/login\""), "{html}");
    let (ir, csrf) = (hidden(&html, "ir"), hidden(&html, "csrf"));
    let r = b
        .post(
            &app.url("/login"),
            &[
                ("ir", &ir),
                ("csrf", &csrf),
                ("username", "Ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    if r.status().as_u16() == 303 {
        // No consent to ask for: straight back to the client.
        return location(&r);
    }
    // The answer is the consent page itself.
    assert_status(&r, 200, "login POST answers with the consent page or 303");
    let html = r.text().await.unwrap();
    assert!(html.contains("action=\"/consent\""), "{html}");
    let r = allow(b, app, &html).await;
    assert_status(&r, 303, "consent POST answers 303");
    location(&r)
}

/// Submits "Allow" on the consent page `html`.
pub async fn allow(b: &mut Browser, app: &TestApp, html: &str) -> reqwest::Response {
    b.post(
        &app.url("/consent"),
        &[
            ("ir", &hidden(html, "ir")),
            ("csrf", &hidden(html, "csrf")),
            ("decision", "allow"),
        ],
    )
    .await
}

pub async fn redeem(
    app: &TestApp,
    id: &str,
    secret: &str,
    code: &str,
    verifier: &str,
) -> (u16, Value) {
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
        crate::helpers::form(CB)
    );
    let r = app.token_raw(Some((id, secret)), &body).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

/// openidconnect's HTTP client, over reqwest.
async fn rp_http(
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = client
        .request(req.method().clone(), req.uri().to_string())
        .headers(req.headers().clone())
        .body(req.body().clone())
        .send()
        .await?;
    let mut builder = openidconnect::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        builder = builder.header(k, v);
    }
    Ok(builder.body(resp.bytes().await?.to_vec()).unwrap())
}

async fn openidconnect_relying_party_signs_in_through_login_and_consent(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let app = &f.app;
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &rp_http)
            .await
            .expect("discovery");
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(f.client_id.clone()),
        Some(ClientSecret::new(f.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let mut b = Browser::new();
    let before = b.cookie.clone();
    let back = sign_in(&mut b, app, url.as_str()).await;
    assert!(back.starts_with(CB), "{back}");
    assert_ne!(b.cookie, before, "the session id rotates at login");
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        param(&back, "iss").as_deref(),
        Some(app.issuer.as_str()),
        "RFC 9207"
    );
    let code = param(&back, "code").unwrap();
    assert!(code.len() >= 43, "256-bit codes");

    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp_http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("ID token verifies");
    assert_eq!(claims.subject().as_str(), f.sub);
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
    assert!(claims.auth_time().is_some());
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    let raw_id: Value = serde_json::to_value(id_token).unwrap();
    let (_, idc) = verify_jwt(raw_id.as_str().unwrap(), &app.jwks().await).unwrap();
    assert!(idc["sid"].is_string());

    // The access token: RFC 9068, sub = the user, aud by the client-credentials rule.
    let (header, at) = verify_jwt(tokens.access_token().secret(), &app.jwks().await).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(at["sub"], f.sub.as_str());
    assert_eq!(at["client_id"], "web");
    assert_eq!(at["aud"], "https://api.example.com");
    assert_eq!(at["scope"], "openid profile email");

    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&rp_http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), f.sub);
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("ada"));
    assert_eq!(info.email_verified(), Some(true));
}

async fn authorization_endpoint_errors(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let (public_id, _) =
        f.d.create_client(&[
            "--name",
            "SPA",
            "--id",
            "spa",
            "--public",
            "--redirect-uri",
            CB,
        ])
        .await;
    let app = &f.app;
    app.eventually(Duration::from_secs(5), || async {
        app.get(&format!(
            "/oauth2/authorize?client_id={public_id}&redirect_uri={}",
            crate::helpers::form(CB)
        ))
        .await
        .status()
            != 400
    })
    .await;
    let base = authorize_url(app, "web", "openid", "");
    let mut b = Browser::new();

    // Local error pages: nothing is redirected, the unverified URI is not echoed.
    let evil = "https://evil.example/cb";
    let page_cases = [
        (
            "unknown client",
            base.replace("client_id=web", "client_id=nobody"),
        ),
        ("missing client", base.replace("client_id=web&", "")),
        (
            "missing redirect_uri",
            base.replace(&format!("&redirect_uri={}", crate::helpers::form(CB)), ""),
        ),
        (
            "unregistered redirect",
            base.replace(&crate::helpers::form(CB), &crate::helpers::form(evil)),
        ),
        (
            "trailing slash",
            base.replace(
                &crate::helpers::form(CB),
                &crate::helpers::form(&format!("{CB}/")),
            ),
        ),
        (
            "case",
            base.replace(
                &crate::helpers::form(CB),
                &crate::helpers::form("https://APP.example.com/cb"),
            ),
        ),
        (
            "extra query",
            base.replace(
                &crate::helpers::form(CB),
                &crate::helpers::form(&format!("{CB}?x=1")),
            ),
        ),
        (
            "userinfo",
            base.replace(
                &crate::helpers::form(CB),
                &crate::helpers::form("https://u@app.example.com/cb"),
            ),
        ),
        (
            "encoded dots",
            base.replace(
                &crate::helpers::form(CB),
                &crate::helpers::form("https://app.example.com/%2e/cb"),
            ),
        ),
        ("duplicated client_id", format!("{base}&client_id=web")),
        (
            "duplicated redirect_uri",
            format!("{base}&redirect_uri={}", crate::helpers::form(CB)),
        ),
        ("bad encoding", format!("{base}&x=%ZZ")),
    ];
    for (what, url) in page_cases {
        let r = b.get(&url).await;
        assert_status(&r, 400, what);
        assert!(r.headers().get("location").is_none(), "{what}");
        assert_eq!(
            r.headers()["content-type"],
            "text/html; charset=utf-8",
            "{what}"
        );
        let html = r.text().await.unwrap();
        assert!(!html.contains("evil.example"), "{what}: echoed");
        assert!(html.contains("<html lang=\"en\">"), "{what}");
    }

    // Redirected errors: error, error_description, state and iss.
    let redirect_cases = [
        (
            "response_type=token",
            base.replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            "missing response_type",
            base.replace("response_type=code&", ""),
            "invalid_request",
        ),
        (
            "duplicated scope",
            format!("{base}&scope=openid"),
            "invalid_request",
        ),
        (
            "scope not allowed",
            base.replace("scope=openid", "scope=openid+admin"),
            "invalid_scope",
        ),
        (
            "plain PKCE",
            base.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            "request object",
            format!("{base}&request=eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (
            "request_uri",
            format!("{base}&request_uri=https%3A%2F%2Fx.example%2Fr"),
            "request_uri_not_supported",
        ),
        (
            "prompt=none without a session",
            format!("{base}&prompt=none"),
            "login_required",
        ),
        (
            "bad prompt",
            format!("{base}&prompt=none+login"),
            "invalid_request",
        ),
        (
            "bad max_age",
            format!("{base}&max_age=soon"),
            "invalid_request",
        ),
        (
            "over-long value",
            format!("{base}&login_hint={}", "x".repeat(5000)),
            "PAGE",
        ),
        (
            "public client without PKCE",
            authorize_url(app, &public_id, "openid", "").replace(
                &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
                "",
            ),
            "invalid_request",
        ),
    ];
    for (what, url, error) in redirect_cases {
        // A browser without a session: a request that fails leaves none behind (no cookie).
        let r = Browser::new().get(&url).await;
        assert!(
            r.headers().get("set-cookie").is_none(),
            "{what}: a failed request sets no session cookie"
        );
        if error == "PAGE" {
            assert_status(&r, 400, what);
            continue;
        }
        assert_status(&r, 302, what);
        let to = location(&r);
        assert!(to.starts_with(&format!("{CB}?")), "{what}: {to}");
        assert_eq!(param(&to, "error").as_deref(), Some(error), "{what}");
        assert!(param(&to, "error_description").is_some(), "{what}");
        assert_eq!(param(&to, "state").as_deref(), Some("st-1"), "{what}");
        assert_eq!(
            param(&to, "iss").as_deref(),
            Some(app.issuer.as_str()),
            "{what}"
        );
    }
}

async fn login_and_consent_pages_refuse_bad_input(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let app = &f.app;
    let mut b = Browser::new();
    let r = b
        .get(&authorize_url(app, "web", "openid", "&login_hint=ada"))
        .await;
    assert_status(&r, 200, "the login form");
    assert!(r.headers().get("set-cookie").is_some(), "a new session");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("value=\"ada\""),
        "login_hint prefills the username"
    );
    assert!(html.contains("Web App"), "the client's name is shown");
    let (ir, csrf) = (hidden(&html, "ir"), hidden(&html, "csrf"));
    // The login page shows the same form for the interaction.
    let page = b.get(&format!("{}/login?ir={ir}", app.issuer)).await;
    assert_status(&page, 200, "the login page");
    let again = page.text().await.unwrap();
    assert_eq!(
        (hidden(&again, "ir"), hidden(&again, "csrf")),
        (ir.clone(), csrf.clone())
    );

    // Wrong password, unknown user: the same generic answer; no lockout.
    let mut bodies = Vec::new();
    for (user, pw) in [
        ("ada", "wrong password"),
        ("nobody", "wrong password"),
        ("", ""),
    ] {
        let r = b
            .post(
                &app.url("/login"),
                &[
                    ("ir", &ir),
                    ("csrf", &csrf),
                    ("username", user),
                    ("password", pw),
                ],
            )
            .await;
        assert_status(&r, 200, "failed login shows the form again");
        let body = r.text().await.unwrap();
        assert!(body.contains("The username or password is incorrect."));
        bodies.push(body.replace(&format!("value=\"{user}\""), ""));
    }
    assert_eq!(
        bodies[0], bodies[1],
        "unknown user and wrong password look the same"
    );
    // Growing delay after repeated failures (here the 4th attempt waits at least 250 ms).
    let start = Instant::now();
    let r = b
        .post(
            &app.url("/login"),
            &[
                ("ir", &ir),
                ("csrf", &csrf),
                ("username", "ada"),
                ("password", "nope"),
            ],
        )
        .await;
    assert_status(&r, 200, "4th failure");
    assert!(start.elapsed() >= Duration::from_millis(250), "throttled");

    // Forged or missing CSRF token, cross-site post, no or tampered session cookie.
    let forged = b
        .post(
            &app.url("/login"),
            &[
                ("ir", &ir),
                ("csrf", "forged"),
                ("username", "ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_status(&forged, 403, "forged CSRF");
    let missing = b
        .post(
            &app.url("/login"),
            &[("ir", &ir), ("username", "ada"), ("password", PASSWORD)],
        )
        .await;
    assert_status(&missing, 403, "missing CSRF");
    let cross = b
        .post_with(
            &app.url("/login"),
            &[
                ("ir", &ir),
                ("csrf", &csrf),
                ("username", "ada"),
                ("password", PASSWORD),
            ],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_status(&cross, 403, "cross-origin post");
    for headers in [
        &[("origin", "null")][..],
        &[("origin", "null"), ("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "cross-site")][..],
    ] {
        let r = b
            .post_with(
                &app.url("/login"),
                &[
                    ("ir", &ir),
                    ("csrf", &csrf),
                    ("username", "ada"),
                    ("password", "x"),
                ],
                headers,
            )
            .await;
        assert_status(&r, 403, &format!("{headers:?}"));
    }
    // What a browser sends under Referrer-Policy: no-referrer is accepted.
    let r = b
        .post_with(
            &app.url("/login"),
            &[
                ("ir", &ir),
                ("csrf", &csrf),
                ("username", "ada"),
                ("password", "x"),
            ],
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_status(&r, 200, "same-origin post with Origin: null");
    let mut stranger = Browser::new();
    let r = stranger
        .post(
            &app.url("/login"),
            &[
                ("ir", &ir),
                ("csrf", &csrf),
                ("username", "ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_status(&r, 400, "no session cookie");
    let mut tampered = Browser::new();
    tampered.cookie = Some(format!("{}x", b.cookie.clone().unwrap()));
    let r = tampered
        .post(
            &app.url("/login"),
            &[
                ("ir", &ir),
                ("csrf", &csrf),
                ("username", "ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_status(&r, 400, "tampered cookie");
    // Another browser cannot use this interaction.
    let r = stranger.get(&format!("{}/login?ir={ir}", app.issuer)).await;
    assert_status(&r, 400, "interaction of another browser");
    let r = b.get(&format!("{}/login?ir=unknown", app.issuer)).await;
    assert_status(&r, 400, "unknown interaction");
    let r = b.get(&format!("{}/consent?ir={ir}", app.issuer)).await;
    assert_status(&r, 400, "consent before login");

    // The right password still works after all that: throttling never locks out.
    let right = [
        ("ir", ir.as_str()),
        ("csrf", csrf.as_str()),
        ("username", "ada"),
        ("password", PASSWORD),
    ];
    let r = b.post(&app.url("/login"), &right).await;
    // The answer is the consent page (no redirect), with the page headers.
    assert_status(&r, 200, "login");
    assert_page_headers(&r);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Confirm who you are"),
        "scopes in plain words: {html}"
    );
    assert_eq!(hidden(&html, "ir"), ir, "the same interaction");
    // The old CSRF token died with the old session.
    let new_csrf = hidden(&html, "csrf");
    assert_ne!(new_csrf, csrf);
    // Reloading the page sends the login form again: the rotated session refuses its CSRF
    // token, and nothing signs in twice.
    let r = b.post(&app.url("/login"), &right).await;
    assert_status(&r, 403, "the login form sent again");
    // GET /consent shows the same page (a reload, a bookmark).
    let again = b
        .get(&format!("{}/consent?ir={ir}", app.issuer))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(hidden(&again, "csrf"), new_csrf);
    assert!(again.contains("Confirm who you are"), "{again}");
    let r = b
        .post(
            &app.url("/consent"),
            &[("ir", &ir), ("csrf", &csrf), ("decision", "allow")],
        )
        .await;
    assert_status(&r, 403, "stale CSRF at consent");
    let r = b
        .post(
            &app.url("/consent"),
            &[("ir", &ir), ("csrf", &new_csrf), ("decision", "maybe")],
        )
        .await;
    assert_status(&r, 400, "no decision");
    // Deny: access_denied, and the interaction is over.
    let r = b
        .post(
            &app.url("/consent"),
            &[("ir", &ir), ("csrf", &new_csrf), ("decision", "deny")],
        )
        .await;
    assert_status(&r, 303, "deny");
    let to = location(&r);
    assert_eq!(param(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&to, "state").as_deref(), Some("st-1"));
    let r = b
        .post(
            &app.url("/consent"),
            &[("ir", &ir), ("csrf", &new_csrf), ("decision", "allow")],
        )
        .await;
    assert_status(&r, 400, "completed interaction");
}

async fn consent_is_remembered_and_prompt_is_honoured(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let app = &f.app;
    let mut b = Browser::new();
    let back = sign_in(
        &mut b,
        app,
        &authorize_url(app, "web", "openid profile", ""),
    )
    .await;
    assert!(param(&back, "code").is_some());

    // Signed in and consented: straight back with a code.
    let r = b.get(&authorize_url(app, "web", "openid", "")).await;
    assert_status(&r, 302, "silent");
    assert!(param(&location(&r), "code").is_some());
    let r = b
        .get(&authorize_url(app, "web", "openid profile", "&prompt=none"))
        .await;
    assert!(
        param(&location(&r), "code").is_some(),
        "prompt=none with a session"
    );
    // A new scope needs consent; prompt=none then says consent_required.
    let r = b
        .get(&authorize_url(app, "web", "openid email", "&prompt=none"))
        .await;
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("consent_required")
    );
    // /authorize answers with the consent page itself.
    let r = b.get(&authorize_url(app, "web", "openid email", "")).await;
    assert_status(&r, 200, "consent page at /authorize");
    assert_page_headers(&r);
    // Approving it adds `email` to the standing consent, which keeps `profile`. The form sent
    // eight times at once (a double click, a replay): one code, the others the expired page.
    let html = r.text().await.unwrap();
    assert!(html.contains("action=\"/consent\""), "{html}");
    let submissions = (0..8).map(|_| {
        let mut twin = Browser::new();
        twin.cookie = b.cookie.clone();
        let html = html.clone();
        async move { allow(&mut twin, app, &html).await }
    });
    let responses = futures_util::future::join_all(submissions).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        7,
        "{statuses:?}"
    );
    let r = responses.into_iter().find(|r| r.status() == 303).unwrap();
    assert!(param(&location(&r), "code").is_some(), "{}", location(&r));
    let r = b
        .get(&authorize_url(
            app,
            "web",
            "openid profile email",
            "&prompt=none",
        ))
        .await;
    assert!(
        param(&location(&r), "code").is_some(),
        "merged consent: {}",
        location(&r)
    );
    // prompt=consent and prompt=login force their pages; max_age=0 forces login.
    let r = b
        .get(&authorize_url(app, "web", "openid", "&prompt=consent"))
        .await;
    assert_status(&r, 200, "prompt=consent");
    assert!(r.text().await.unwrap().contains("action=\"/consent\""));
    for forced in ["&prompt=login", "&max_age=0"] {
        let r = b.get(&authorize_url(app, "web", "openid", forced)).await;
        assert_status(&r, 200, forced);
        let html = r.text().await.unwrap();
        assert!(html.contains("action=\"/login\""), "{forced}: {html}");
    }

    // A first-party client never asks.
    f.d.create_client(&[
        "--name",
        "Portal",
        "--id",
        "portal",
        "--redirect-uri",
        CB,
        "--skip-consent",
    ])
    .await;
    app.eventually(Duration::from_secs(5), || async {
        let r = Browser::new()
            .get(&authorize_url(app, "portal", "openid", ""))
            .await;
        r.status() == 200
    })
    .await;
    let r = b
        .get(&authorize_url(app, "portal", "openid email", ""))
        .await;
    assert!(
        param(&location(&r), "code").is_some(),
        "skip-consent: {}",
        location(&r)
    );

    // A disabled user's session no longer signs anyone in.
    let out = f.d.cli(&["user", "disable", "ada"]).await;
    assert!(out.status.success());
    let r = b
        .get(&authorize_url(app, "web", "openid", "&prompt=none"))
        .await;
    assert_eq!(
        param(&location(&r), "error").as_deref(),
        Some("login_required")
    );
}

async fn codes_are_single_use_and_bound(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let app = &f.app;
    let (other, other_secret) =
        f.d.create_client(&["--name", "Other", "--redirect-uri", CB])
            .await;
    let mut b = Browser::new();
    let code_for = |back: String| param(&back, "code").unwrap();
    let code = code_for(sign_in(&mut b, app, &authorize_url(app, "web", "openid", "")).await);

    // Wrong verifier, missing verifier, wrong redirect_uri, another client: invalid_grant (and
    // the code is spent).
    let (s, v) = redeem(app, "web", &f.secret, &code, &VERIFIER.replace('d', "e")).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _) = redeem(app, "web", &f.secret, &code, VERIFIER).await;
    assert_eq!(s, 400, "a failed redemption spends the code");

    let next = || async {
        code_for(
            sign_in(
                &mut Browser::new(),
                app,
                &authorize_url(app, "web", "openid", ""),
            )
            .await,
        )
    };
    let code = next().await;
    let r = app
        .token_raw(
            Some(("web", &f.secret)),
            &format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}",
                crate::helpers::form(CB)
            ),
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_grant",
        "missing verifier"
    );
    let code = next().await;
    let r = app
        .token_raw(
            Some(("web", &f.secret)),
            &format!("grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}", crate::helpers::form("https://app.example.com/other")),
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_grant",
        "wrong redirect_uri"
    );
    app.eventually(Duration::from_secs(5), || async {
        redeem(app, &other, &other_secret, "x", VERIFIER).await.0 == 400
    })
    .await;
    let code = next().await;
    let (_, v) = redeem(app, &other, &other_secret, &code, VERIFIER).await;
    assert_eq!(v["error"], "invalid_grant", "another client's code");
    let (_, v) = redeem(app, "web", &f.secret, "made-up", VERIFIER).await;
    assert_eq!(v["error"], "invalid_grant", "unknown code");

    // Reuse: the second redemption fails and revokes the first one's access token.
    let code = next().await;
    let (s, first) = redeem(app, "web", &f.secret, &code, VERIFIER).await;
    assert_eq!(s, 200, "{first}");
    let at = first["access_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo_status(app, &at).await, 200);
    let (s, v) = redeem(app, "web", &f.secret, &code, VERIFIER).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        userinfo_status(app, &at).await,
        401,
        "tokens of a reused code are revoked"
    );

    // A session store that forgets a consumption (say, a Redis failover that lost the GETDEL)
    // hands the code out again: the durable redemption record refuses it and revokes.
    let code = next().await;
    let key = tessera::flows::authorize::code_key(&code);
    let stored = app
        .core
        .sessions
        .get(tessera::session::Kind::Code, &key)
        .await
        .unwrap()
        .expect("the code is in the session store");
    let (s, first) = redeem(app, "web", &f.secret, &code, VERIFIER).await;
    assert_eq!(s, 200, "{first}");
    let at = first["access_token"].as_str().unwrap().to_string();
    assert!(
        app.core
            .sessions
            .insert(
                tessera::session::Kind::Code,
                &key,
                &stored,
                Duration::from_secs(60)
            )
            .await
            .unwrap()
    );
    let (s, v) = redeem(app, "web", &f.secret, &code, VERIFIER).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    assert_eq!(
        userinfo_status(app, &at).await,
        401,
        "a code back in the store is still spent"
    );

    // Concurrent redemptions: exactly one winner.
    let code = next().await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (url, secret, code) = (app.url("/oauth2/token"), f.secret.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth("web", Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}", crate::helpers::form(CB)))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

async fn userinfo_accepts_only_access_tokens_with_openid(backend: Backend) {
    let f = fixture(
        backend,
        &[
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "client_credentials",
        ],
    )
    .await;
    let app = &f.app;
    let mut b = Browser::new();
    let code = param(
        &sign_in(&mut b, app, &authorize_url(app, "web", "openid email", "")).await,
        "code",
    )
    .unwrap();
    let (s, tokens) = redeem(app, "web", &f.secret, &code, VERIFIER).await;
    assert_eq!(s, 200, "{tokens}");
    let url = app.url("/oauth2/userinfo");
    let at = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();

    let ok = app.http.get(&url).bearer_auth(at).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let claims: Value = ok.json().await.unwrap();
    let (_, idc) = verify_jwt(id_token, &app.jwks().await).unwrap();
    assert_eq!(claims["sub"], idc["sub"]);
    assert_eq!(claims["email"], "ada@example.com");
    assert!(claims.get("name").is_none(), "profile was not granted");
    let post = app
        .http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200, "RFC 6750 §2.2 form body");

    let www = |r: &reqwest::Response| {
        r.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let none = app.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(
        www(&none).starts_with("Bearer") && !www(&none).contains("error="),
        "{}",
        www(&none)
    );
    for (what, token) in [
        ("an ID token", id_token.to_string()),
        ("garbage", "abc.def.ghi".to_string()),
        ("truncated", at[..at.len() - 2].to_string()),
    ] {
        let r = app.http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 401, "{what}");
        assert!(
            www(&r).contains("error=\"invalid_token\""),
            "{what}: {}",
            www(&r)
        );
    }
    let basic = app
        .http
        .get(&url)
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    // A client-credentials token has no openid scope (and no user).
    let (_, cc) = app.client_credentials("web", &f.secret, "&scope=api").await;
    let r = app
        .http
        .get(&url)
        .bearer_auth(cc["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(www(&r).contains("insufficient_scope"));
    // A token whose header claims another key type does not pass.
    let parts: Vec<&str> = at.split('.').collect();
    let mut header: Value = crate::helpers::b64json(parts[0]);
    header["alg"] = "HS256".into();
    let forged = format!(
        "{}.{}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string()),
        parts[1],
        parts[2]
    );
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(&forged)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Disabled user (by the CLI, another process): the token stops working within the reload
    // interval (the server caches active users; see flows::directory).
    assert!(f.d.cli(&["user", "disable", "ada"]).await.status.success());
    app.eventually(Duration::from_secs(5), || async {
        app.http
            .get(&url)
            .bearer_auth(at)
            .send()
            .await
            .unwrap()
            .status()
            == 401
    })
    .await;
}

/// The headers of Tessera's pages: not framed, no referrer, not sniffed, not cached, a strict
/// CSP (no `form-action`: the form_post page submits to the client).
pub fn assert_page_headers(page: &reqwest::Response) {
    let h = page.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline")
            && !csp.contains("form-action"),
        "{csp}"
    );
}

async fn form_post_cors_and_page_headers(backend: Backend) {
    let f = fixture(backend, &["--web-origin", "https://spa.example.com"]).await;
    let app = &f.app;
    let mut b = Browser::new();
    // Page headers.
    let r = b.get(&authorize_url(app, "web", "openid", "")).await;
    assert!(
        r.headers().get("access-control-allow-origin").is_none(),
        "authorize never answers CORS"
    );
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    // The login form, served by the authorization endpoint itself.
    let page = r;
    assert_status(&page, 200, "the login form");
    assert_page_headers(&page);
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline script or style"
    );
    assert!(html.contains("<label for=\"username\">") && html.contains("name=\"password\""));
    assert_eq!(app.get("/static/tessera.css").await.status(), 200);

    // form_post: an auto-submitting form to the redirect URI, with a noscript button.
    let back = {
        let mut b = Browser::new();
        let url = authorize_url(app, "web", "openid", "&response_mode=form_post");
        let html = b.get(&url).await.text().await.unwrap();
        let r = b
            .post(
                &app.url("/login"),
                &[
                    ("ir", &hidden(&html, "ir")),
                    ("csrf", &hidden(&html, "csrf")),
                    ("username", "ada"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        let html = r.text().await.unwrap();
        let r = allow(&mut b, app, &html).await;
        assert_status(&r, 200, "form_post page");
        r.text().await.unwrap()
    };
    assert!(back.contains(&format!("action=\"{CB}\"")), "{back}");
    assert!(hidden(&back, "code").len() >= 43);
    assert_eq!(hidden(&back, "state"), "st-1");
    assert_eq!(hidden(&back, "iss"), app.issuer);
    assert!(
        back.contains("<script src=\"/static/form_post.js\"></script>")
            && back.contains("<noscript>")
    );

    // CORS on the token and userinfo endpoints for the client's origins only.
    for (origin, allowed) in [
        ("https://spa.example.com", true),
        ("https://app.example.com", true),
        ("https://evil.example", false),
    ] {
        for path in ["/oauth2/token", "/oauth2/userinfo"] {
            let r = app
                .http
                .request(reqwest::Method::OPTIONS, app.url(path))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .send()
                .await
                .unwrap();
            let acao = r
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_string());
            assert_eq!(
                acao.as_deref(),
                allowed.then_some(origin),
                "{path} {origin}"
            );
        }
        let r = app
            .http
            .post(app.url("/oauth2/token"))
            .header("origin", origin)
            .basic_auth("web", Some(&f.secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers().get("access-control-allow-origin").is_some(),
            allowed,
            "token {origin}"
        );
    }
}
