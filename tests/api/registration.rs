//! Dynamic client registration (RFC 7591) with operator-issued initial access tokens, and the
//! RFC 7592 management of a registered client with its rotating registration access token.

use std::time::Duration;

use serde_json::{Value, json};

use crate::authorize::{CB, VERIFIER, authorize_url, fixture, redeem};
use crate::browser::{Browser, hidden, param};
use crate::helpers::{Backend, Deployment, TestApp};

tiers!(
    registered_client_signs_in_and_gets_tokens,
    registration_refuses_bad_metadata,
    registration_tokens_are_required_and_limited,
    registration_management_rotates_its_token,
    open_registration_needs_no_token,
);

async fn initial_token(d: &Deployment, args: &[&str]) -> String {
    let mut all = vec!["client", "registration-token", "create"];
    all.extend_from_slice(args);
    let v = d.cli_json(&all).await;
    v["initial_access_token"].as_str().unwrap().to_string()
}

async fn post_register(app: &TestApp, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url("/oauth2/register"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn manage(
    app: &TestApp,
    method: reqwest::Method,
    uri: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = app.http.request(method, uri).bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Waits until the servers' client directory has `id` (it reloads every 200 ms in tests).
async fn until_known(app: &TestApp, id: &str) {
    app.eventually(Duration::from_secs(10), || async {
        app.core.directory.client(id).is_some()
    })
    .await;
}

async fn registered_client_signs_in_and_gets_tokens(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let app = &f.app;
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["registration_endpoint"],
        format!("{}/oauth2/register", app.issuer)
    );
    let token = initial_token(&f.d, &["--max-uses", "1", "--expires-in", "600"]).await;
    let body = json!({
        "redirect_uris": [CB],
        "client_name": "Partner <App>",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
        "scope": "openid profile offline_access",
        "logo_uri": "https://partner.example.com/logo.png",
        "policy_uri": "https://partner.example.com/privacy",
        "tos_uri": "https://partner.example.com/terms",
        "contacts": ["ops@partner.example.com"],
        "post_logout_redirect_uris": ["https://app.example.com/bye"],
        "id_token_signed_response_alg": "RS256",
        "software_statement_unknown_member": "ignored"
    });
    let (status, reg) = post_register(app, Some(&token), &body.to_string()).await;
    assert_eq!(status, 201, "{reg}");
    let id = reg["client_id"].as_str().unwrap().to_string();
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 43, "256-bit secret");
    assert!(reg["client_id_issued_at"].as_i64().unwrap() > 0);
    assert!(reg["registration_access_token"].as_str().unwrap().len() >= 43);
    assert_eq!(
        reg["registration_client_uri"],
        format!("{}/oauth2/register/{id}", app.issuer)
    );
    assert_eq!(reg["client_name"], "Partner <App>");
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(
        reg["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(reg["response_types"], json!(["code"]));
    assert_eq!(reg["logo_uri"], "https://partner.example.com/logo.png");
    assert_eq!(reg["contacts"], json!(["ops@partner.example.com"]));
    assert!(reg.get("software_statement_unknown_member").is_none());

    // The operator sees it, without secrets.
    let shown = f.d.cli_json(&["client", "show", &id]).await;
    assert_eq!(shown["dynamically_registered"], true);
    assert_eq!(shown["tos_uri"], "https://partner.example.com/terms");
    assert!(shown.get("client_secret").is_none());

    // The token was for one use only.
    let (status, err) = post_register(app, Some(&token), &body.to_string()).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_token"))
    );

    until_known(app, &id).await;
    let mut b = Browser::new();
    // Sign in by hand to look at the consent page: logo and links, https only, escaped.
    let r = b
        .get(&authorize_url(app, &id, "openid offline_access", ""))
        .await;
    let html = r.text().await.unwrap();
    // The answer to the login form is the consent page.
    let page = b
        .post(
            &app.url("/login"),
            &[
                ("ir", &hidden(&html, "ir")),
                ("csrf", &hidden(&html, "csrf")),
                ("username", "ada"),
                ("password", crate::authorize::PASSWORD),
            ],
        )
        .await;
    let csp = page
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("img-src 'self' https:"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(
            r#"<img src="https://partner.example.com/logo.png" alt="Logo of Partner &#60;App&#62;""#
        ) || html.contains(
            r#"<img src="https://partner.example.com/logo.png" alt="Logo of Partner &lt;App&gt;""#
        ),
        "{html}"
    );
    assert!(!html.contains("Partner <App>"), "the name is escaped");
    assert!(
        html.contains(r#"href="https://partner.example.com/privacy" target="_blank" rel="noopener noreferrer""#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="https://partner.example.com/terms""#),
        "{html}"
    );
    let r = crate::authorize::allow(&mut b, app, &html).await;
    let back = crate::browser::location(&r);
    assert!(back.starts_with(CB), "{back}");
    let code = param(&back, "code").unwrap();
    // client_secret_post is registered: Basic is refused, the body works.
    let (status, _) = redeem(app, &id, &secret, &code, VERIFIER).await;
    assert_eq!(status, 401, "the registered auth method is enforced");
    // Signed in and consented already: straight back with a code.
    let r = b
        .get(&authorize_url(app, &id, "openid offline_access", ""))
        .await;
    let back = crate::browser::location(&r);
    let code = param(&back, "code").unwrap();
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    assert!(tokens["id_token"].is_string(), "{tokens}");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
}

async fn registration_refuses_bad_metadata(backend: Backend) {
    let d = Deployment::new(backend);
    let app = d.start().await;
    let token = initial_token(&d, &["--max-uses", "1"]).await;
    let ok = json!({"redirect_uris": [CB]});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b.to_string()
    };
    let cases: Vec<(String, &str, &str)> = vec![
        // redirect URIs
        (with("redirect_uris", json!(["http://app.example.com/cb"])), "invalid_redirect_uri", "plain http"),
        (with("redirect_uris", json!(["javascript:alert(1)"])), "invalid_redirect_uri", "javascript"),
        (with("redirect_uris", json!(["https://app.example.com/cb#f"])), "invalid_redirect_uri", "fragment"),
        (with("redirect_uris", json!([])), "invalid_redirect_uri", "code needs a redirect"),
        // types
        (with("redirect_uris", json!(CB)), "invalid_client_metadata", "string for array"),
        (with("redirect_uris", json!([1])), "invalid_client_metadata", "number in array"),
        (with("client_name", json!(["x"])), "invalid_client_metadata", "array for string"),
        (with("scope", json!(7)), "invalid_client_metadata", "number for string"),
        (with("jwks", json!("{}")), "invalid_client_metadata", "string for object"),
        ("[]".into(), "invalid_client_metadata", "not an object"),
        ("{".into(), "invalid_client_metadata", "not JSON"),
        (
            format!(r#"{{"redirect_uris":["{CB}"],"client_name":"a","client_name":"b"}}"#),
            "invalid_client_metadata",
            "duplicate key",
        ),
        (
            format!(r#"{{"redirect_uris":["{CB}"],"jwks":{{"keys":[{{"kty":"EC","kty":"RSA"}}]}}}}"#),
            "invalid_client_metadata",
            "nested duplicate key",
        ),
        // auth methods
        (with("token_endpoint_auth_method", json!("magic")), "invalid_client_metadata", "unknown auth method"),
        (with("token_endpoint_auth_method", json!("private_key_jwt")), "invalid_client_metadata", "private_key_jwt without keys"),
        (with("token_endpoint_auth_method", json!("tls_client_auth")), "invalid_client_metadata", "mTLS is not offered"),
        (with("token_endpoint_auth_signing_alg", json!("none")), "invalid_client_metadata", "assertion alg none"),
        (with("token_endpoint_auth_signing_alg", json!("HS256")), "invalid_client_metadata", "assertion alg for a secret method"),
        // grant / response type consistency
        (with("response_types", json!(["token"])), "invalid_client_metadata", "implicit"),
        (with("response_types", json!([])), "invalid_client_metadata", "authorization_code without code"),
        (with("grant_types", json!(["password"])), "invalid_client_metadata", "password grant"),
        (
            json!({"redirect_uris": [CB], "grant_types": ["client_credentials"], "response_types": ["code"]}).to_string(),
            "invalid_client_metadata",
            "code without authorization_code",
        ),
        (with("scope", json!("openid offline_access")), "invalid_client_metadata", "offline_access without refresh_token"),
        (with("scope", json!("bad\"scope")), "invalid_client_metadata", "bad scope token"),
        // URLs and keys
        (with("logo_uri", json!("http://partner.example.com/logo.png")), "invalid_client_metadata", "http logo"),
        (with("policy_uri", json!("javascript:alert(1)")), "invalid_client_metadata", "javascript policy"),
        (with("tos_uri", json!("data:text/html,x")), "invalid_client_metadata", "data tos"),
        (with("jwks_uri", json!("http://partner.example.com/jwks")), "invalid_client_metadata", "http jwks_uri"),
        (
            json!({"redirect_uris": [CB], "jwks_uri": "https://partner.example.com/jwks",
                   "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}}).to_string(),
            "invalid_client_metadata",
            "jwks and jwks_uri",
        ),
        (with("jwks", json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})), "invalid_client_metadata", "private key in jwks"),
        (with("contacts", json!("ops@example.com")), "invalid_client_metadata", "contacts string"),
        (with("post_logout_redirect_uris", json!(["http://app.example.com/bye"])), "invalid_client_metadata", "http post-logout"),
        (with("backchannel_logout_uri", json!("https://rp.example.com/bc#x")), "invalid_client_metadata", "backchannel fragment"),
        (with("backchannel_logout_uri", json!("http://127.0.0.1:9/bc")), "invalid_client_metadata", "backchannel on loopback (outbound.allow_private off)"),
        (with("backchannel_logout_uri", json!("https://192.168.1.10/bc")), "invalid_client_metadata", "backchannel on a private address"),
        (with("jwks_uri", json!("https://10.0.0.7/jwks")), "invalid_client_metadata", "jwks_uri on a private address"),
        (with("id_token_signed_response_alg", json!("none")), "invalid_client_metadata", "alg none"),
        (with("id_token_signed_response_alg", json!("ES256")), "invalid_client_metadata", "alg without a key"),
        (with("client_id", json!("chosen")), "invalid_client_metadata", "client_id is assigned"),
        (with("client_name", json!("x".repeat(70 * 1024))), "invalid_client_metadata", "over 64 KiB"),
    ];
    for (body, code, why) in &cases {
        let (status, err) = post_register(&app, Some(&token), body).await;
        assert_eq!(status, 400, "{why}: {err}");
        assert_eq!(err["error"], *code, "{why}: {err}");
    }
    // Not JSON at all.
    let r = app
        .http
        .post(app.url("/oauth2/register"))
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("redirect_uris=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // None of the refusals used up the one-use token.
    let (status, reg) = post_register(&app, Some(&token), &ok.to_string()).await;
    assert_eq!(status, 201, "{reg}");
}

async fn registration_tokens_are_required_and_limited(backend: Backend) {
    let d = Deployment::new(backend);
    let app = d.start().await;
    let body = json!({"redirect_uris": [CB]}).to_string();
    let (status, _) = post_register(&app, None, &body).await;
    assert_eq!(status, 401, "registration is closed by default");
    let (status, err) = post_register(&app, Some("made-up"), &body).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_token"))
    );

    let two = initial_token(&d, &["--max-uses", "2"]).await;
    assert!(two.len() >= 43);
    for _ in 0..2 {
        assert_eq!(post_register(&app, Some(&two), &body).await.0, 201);
    }
    assert_eq!(post_register(&app, Some(&two), &body).await.0, 401);

    let short = initial_token(&d, &["--expires-in", "1"]).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        post_register(&app, Some(&short), &body).await.0,
        401,
        "expired"
    );

    let unlimited = initial_token(&d, &[]).await;
    for _ in 0..3 {
        assert_eq!(post_register(&app, Some(&unlimited), &body).await.0, 201);
    }
    // Only a hash is stored: the token appears nowhere in the database file (SQLite tier).
    if backend == Backend::Sqlite {
        let db = std::fs::read(d.data_dir().join("tessera.db")).unwrap_or_default();
        let needle = unlimited.as_bytes();
        assert!(!db.windows(needle.len()).any(|w| w == needle));
    }
    for bad in [&["--max-uses", "0"][..], &["--expires-in", "0"][..]] {
        let mut all = vec!["client", "registration-token", "create"];
        all.extend_from_slice(bad);
        assert!(!d.cli(&all).await.status.success(), "{bad:?}");
    }
}

async fn registration_management_rotates_its_token(backend: Backend) {
    let d = Deployment::new(backend);
    let app = d.start().await;
    let token = initial_token(&d, &[]).await;
    let (status, reg) = post_register(
        &app,
        Some(&token),
        &json!({"redirect_uris": [CB], "client_name": "One"}).to_string(),
    )
    .await;
    assert_eq!(status, 201);
    let (_, other) = post_register(
        &app,
        Some(&token),
        &json!({"redirect_uris": [CB]}).to_string(),
    )
    .await;
    let id = reg["client_id"].as_str().unwrap().to_string();
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    let uri = reg["registration_client_uri"].as_str().unwrap().to_string();
    let rat = reg["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let get = reqwest::Method::GET;

    // Read.
    let (status, read) = manage(&app, get.clone(), &uri, &rat, None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["client_name"], "One");
    assert!(
        read.get("client_secret").is_none(),
        "the secret is shown once"
    );
    assert!(read.get("registration_access_token").is_none());
    // Wrong, missing or another client's token: 401 invalid_token.
    let (status, err) = manage(&app, get.clone(), &uri, "wrong", None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let r = app.http.get(&uri).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    let other_rat = other["registration_access_token"].as_str().unwrap();
    assert_eq!(
        manage(&app, get.clone(), &uri, other_rat, None).await.0,
        401
    );
    let (status, _) = manage(
        &app,
        get.clone(),
        &format!("{}/oauth2/register/nope", app.base),
        &rat,
        None,
    )
    .await;
    assert_eq!(status, 401, "an unknown client looks the same");
    // The initial access token is not a registration access token.
    assert_eq!(manage(&app, get.clone(), &uri, &token, None).await.0, 401);

    // Update: client_id required, client_secret if given must match; the token rotates.
    let mut new_meta =
        json!({"redirect_uris": [CB, "https://app.example.com/cb2"], "client_name": "Two"});
    let (status, err) = manage(&app, reqwest::Method::PUT, &uri, &rat, Some(&new_meta)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    new_meta["client_id"] = json!(id);
    new_meta["client_secret"] = json!("not-the-secret");
    let (status, _) = manage(&app, reqwest::Method::PUT, &uri, &rat, Some(&new_meta)).await;
    assert_eq!(status, 400);
    new_meta["client_secret"] = json!(secret);
    let mut bad = new_meta.clone();
    bad["redirect_uris"] = json!(["http://evil.example.com/cb"]);
    let (status, err) = manage(&app, reqwest::Method::PUT, &uri, &rat, Some(&bad)).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_redirect_uri"))
    );
    let (status, updated) = manage(&app, reqwest::Method::PUT, &uri, &rat, Some(&new_meta)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_name"], "Two");
    assert_eq!(updated["client_id"], id);
    assert!(updated.get("client_secret").is_none(), "the secret stays");
    let rat2 = updated["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(rat2, rat);
    assert_eq!(
        manage(&app, get.clone(), &uri, &rat, None).await.0,
        401,
        "old token rotated out"
    );
    let (status, read) = manage(&app, get.clone(), &uri, &rat2, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        read["redirect_uris"],
        json!([CB, "https://app.example.com/cb2"])
    );

    // The secret still works at the token endpoint (client_credentials is not allowed, so the
    // answer is unauthorized_client rather than invalid_client).
    until_known(&app, &id).await;
    let (status, body) = app.client_credentials(&id, &secret, "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    // Delete.
    assert_eq!(
        manage(&app, reqwest::Method::DELETE, &uri, &rat, None)
            .await
            .0,
        401
    );
    let (status, _) = manage(&app, reqwest::Method::DELETE, &uri, &rat2, None).await;
    assert_eq!(status, 204);
    assert_eq!(manage(&app, get.clone(), &uri, &rat2, None).await.0, 401);
    app.eventually(Duration::from_secs(10), || async {
        app.client_credentials(&id, &secret, "").await.0 == 401
    })
    .await;
    assert!(!d.cli(&["client", "show", &id]).await.status.success());
}

async fn open_registration_needs_no_token(backend: Backend) {
    let mut d = Deployment::new(backend);
    d.extra_env
        .push(("TESSERA_REGISTRATION_OPEN".into(), "true".into()));
    let app = d.start().await;
    let (status, reg) = post_register(
        &app,
        None,
        &json!({"redirect_uris": ["com.example.app:/cb"], "token_endpoint_auth_method": "none"})
            .to_string(),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert!(reg.get("client_secret").is_none(), "a public client");
    // A presented token must still be valid.
    let (status, _) = post_register(
        &app,
        Some("made-up"),
        &json!({"redirect_uris": [CB]}).to_string(),
    )
    .await;
    assert_eq!(status, 401);
}
