//! Refresh tokens (rotation, reuse detection, retry window), revocation (RFC 7009) and
//! introspection (RFC 7662), on both tiers.

use std::time::Duration;

use serde_json::Value;

use crate::authorize::{authorize_url, fixture, sign_in};
use crate::browser::{Browser, param};
use crate::helpers::{Backend, Deployment, TestApp, form, try_start, verify_jwt};

tiers!(
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    offline_access_and_scope_rules,
    concurrent_refreshes_never_both_succeed,
    retry_window_replays_the_same_successor_only_briefly,
    reuse_is_detected_across_a_restart_and_across_nodes,
    revocation_follows_rfc7009,
    introspection_follows_rfc7662,
    code_reuse_revokes_the_refresh_tokens_it_started,
    code_redemption_is_all_or_nothing,
    a_disabled_users_code_gets_no_tokens,
);

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CB: &str = "https://app.example.com/cb";
const OFFLINE: &[&str] = &[
    "--grant-type",
    "authorization_code",
    "--grant-type",
    "refresh_token",
];

/// Signs in through the pages and redeems the code; returns the token response.
async fn tokens(app: &TestApp, secret: &str, scope: &str) -> Value {
    let back = sign_in(
        &mut Browser::new(),
        app,
        &authorize_url(app, "web", scope, ""),
    )
    .await;
    let code = param(&back, "code").unwrap_or_else(|| panic!("{back}"));
    let r = app
        .token_raw(
            Some(("web", secret)),
            &format!("grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}", form(CB)),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn refresh(app: &TestApp, secret: &str, rt: &str, extra: &str) -> (u16, Value) {
    let r = app
        .token_raw(
            Some(("web", secret)),
            &format!("grant_type=refresh_token&refresh_token={}{extra}", form(rt)),
        )
        .await;
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The status of a userinfo request with `at` as the bearer token.
pub(crate) async fn userinfo_status(app: &TestApp, at: &str) -> u16 {
    app.http
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn introspect(app: &TestApp, id: &str, secret: &str, token: &str, hint: &str) -> Value {
    let r = app
        .http
        .post(app.url("/oauth2/introspect"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}{hint}", form(token)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "introspection answers 200");
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

async fn revoke(app: &TestApp, auth: Option<(&str, &str)>, body: &str) -> u16 {
    let mut req = app
        .http
        .post(app.url("/oauth2/revoke"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some((id, s)) = auth {
        req = req.basic_auth(id, Some(s));
    }
    req.send().await.unwrap().status().as_u16()
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(backend: Backend) {
    let f = fixture(backend, OFFLINE).await;
    let app = &f.app;
    let first = tokens(app, &f.secret, "openid offline_access profile").await;
    let rt1 = first["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    assert!(rt1.len() >= 43, "256 bits");
    let at1 = first["access_token"].as_str().unwrap().to_string();

    let (s, second) = refresh(app, &f.secret, &rt1, "").await;
    assert_eq!(s, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "rotated");
    let at2 = second["access_token"].as_str().unwrap().to_string();
    let jwks = app.jwks().await;
    let (_, claims) = verify_jwt(&at2, &jwks).unwrap();
    assert_eq!(claims["sub"], f.sub.as_str());
    assert_eq!(claims["scope"], "openid offline_access profile");
    let (_, idc) = verify_jwt(second["id_token"].as_str().unwrap(), &jwks).unwrap();
    assert_eq!(idc["sub"], f.sub.as_str());
    assert!(idc.get("nonce").is_none());
    assert_eq!(userinfo_status(app, &at2).await, 200);

    // The retired token presented again: invalid_grant, and the whole family is revoked —
    // the live refresh token and every access token issued from the family.
    let (s, v) = refresh(app, &f.secret, &rt1, "").await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _) = refresh(app, &f.secret, &rt2, "").await;
    assert_eq!(s, 400, "the successor died with the family");
    assert_eq!(userinfo_status(app, &at1).await, 401);
    assert_eq!(userinfo_status(app, &at2).await, 401);
    assert_eq!(
        introspect(app, "web", &f.secret, &at2, "").await,
        serde_json::json!({"active": false})
    );

    // Garbage and another client's token.
    let (s, v) = refresh(app, &f.secret, "garbage", "").await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    let fresh = tokens(app, &f.secret, "openid offline_access").await;
    let rt = fresh["refresh_token"].as_str().unwrap().to_string();
    let (other, other_secret) =
        f.d.create_client(&[
            "--name",
            "Other",
            "--redirect-uri",
            CB,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
        ])
        .await;
    app.eventually(Duration::from_secs(5), || async {
        app.token_raw(
            Some((&other, &other_secret)),
            "grant_type=refresh_token&refresh_token=x",
        )
        .await
        .status()
            == 400
    })
    .await;
    let r = app
        .token_raw(
            Some((&other, &other_secret)),
            &format!("grant_type=refresh_token&refresh_token={rt}"),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let (s, _) = refresh(app, &f.secret, &rt, "").await;
    assert_eq!(s, 200, "another client's attempt revoked nothing");
}

async fn offline_access_and_scope_rules(backend: Backend) {
    let f = fixture(backend, OFFLINE).await;
    let app = &f.app;
    // Without offline_access: no refresh token.
    let t = tokens(app, &f.secret, "openid profile").await;
    assert!(t.get("refresh_token").is_none());
    // Narrowing is fine; widening is invalid_scope and changes nothing.
    let t = tokens(app, &f.secret, "openid offline_access profile").await;
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    let (s, v) = refresh(app, &f.secret, &rt, "&scope=openid+email").await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_scope")));
    let (s, v) = refresh(app, &f.secret, &rt, "&scope=openid").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["scope"], "openid");
    let rt2 = v["refresh_token"].as_str().unwrap().to_string();
    // The refresh token keeps the original grant's scope.
    let (s, v) = refresh(app, &f.secret, &rt2, "").await;
    assert_eq!(s, 200);
    assert_eq!(v["scope"], "openid offline_access profile");

    // A client without the refresh_token grant may not ask for offline_access...
    let mut b = Browser::new();
    let d = &f.d;
    d.create_client(&[
        "--name",
        "NoRefresh",
        "--id",
        "norefresh",
        "--redirect-uri",
        CB,
    ])
    .await;
    app.eventually(Duration::from_secs(5), || async {
        Browser::new()
            .get(&authorize_url(app, "norefresh", "openid", ""))
            .await
            .status()
            == 200
    })
    .await;
    let r = b
        .get(&authorize_url(
            app,
            "norefresh",
            "openid offline_access",
            "",
        ))
        .await;
    assert_eq!(
        param(&crate::browser::location(&r), "error").as_deref(),
        Some("invalid_scope")
    );
    // ...nor use the grant.
    let secret_out = d.cli_json(&["client", "rotate-secret", "norefresh"]).await;
    let secret = secret_out["client_secret"].as_str().unwrap().to_string();
    app.eventually(Duration::from_secs(5), || async {
        app.token_raw(
            Some(("norefresh", &secret)),
            &format!("grant_type=refresh_token&refresh_token={rt2}"),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["error"]
            == "unauthorized_client"
    })
    .await;
}

async fn concurrent_refreshes_never_both_succeed(backend: Backend) {
    let f = fixture(backend, OFFLINE).await;
    let app = &f.app;
    let t = tokens(app, &f.secret, "openid offline_access").await;
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (url, secret, rt) = (app.url("/oauth2/token"), f.secret.clone(), rt.clone());
        tasks.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth("web", Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!(
                    "grant_type=refresh_token&refresh_token={}",
                    form(&rt)
                ))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (s, v) = t.await.unwrap();
        if s == 200 {
            winners.push(v["refresh_token"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(winners.len(), 1, "exactly one refresh wins");
    // The others were reuse: the family is revoked, so not even the winner's token lives on —
    // and there are never two live tokens.
    let active = introspect(app, "web", &f.secret, &winners[0], "").await;
    assert_eq!(active["active"], false);
}

async fn retry_window_replays_the_same_successor_only_briefly(backend: Backend) {
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
                "--password-stdin",
            ],
            &format!("{}\n", crate::authorize::PASSWORD),
        )
        .await;
    assert!(out.status.success());
    let (_, secret) = d
        .create_client(&[
            "--name",
            "Web App",
            "--id",
            "web",
            "--redirect-uri",
            CB,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
        ])
        .await;
    let app = d.start_with(|s| s.tokens.refresh_retry_window = 2).await;
    let t = tokens(&app, &secret, "openid offline_access").await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let (_, v) = refresh(&app, &secret, &rt1, "").await;
    let rt2 = v["refresh_token"].as_str().unwrap().to_string();
    // The response was "lost": the client retries with rt1 within the window.
    let (s, again) = refresh(&app, &secret, &rt1, "").await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        again["refresh_token"].as_str(),
        Some(rt2.as_str()),
        "the same successor"
    );
    assert_ne!(
        again["access_token"], v["access_token"],
        "a fresh access token"
    );
    assert_eq!(
        userinfo_status(&app, v["access_token"].as_str().unwrap()).await,
        200
    );
    // After the window, rt1 is plain reuse: the family is revoked.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (s, _) = refresh(&app, &secret, &rt1, "").await;
    assert_eq!(s, 400);
    let (s, _) = refresh(&app, &secret, &rt2, "").await;
    assert_eq!(s, 400, "reuse detection stayed on");
    assert_eq!(
        userinfo_status(&app, again["access_token"].as_str().unwrap()).await,
        401
    );
}

async fn reuse_is_detected_across_a_restart_and_across_nodes(backend: Backend) {
    let f = fixture(backend, OFFLINE).await;
    let t = tokens(&f.app, &f.secret, "openid offline_access").await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let (_, v) = refresh(&f.app, &f.secret, &rt1, "").await;
    let rt2 = v["refresh_token"].as_str().unwrap().to_string();
    let at2 = v["access_token"].as_str().unwrap().to_string();
    let settings = f.d.settings();
    drop(f.app);
    // A restart (a new node on the same storage), and a second node next to it.
    let a = try_start(settings.clone(), |_| {}).await.unwrap();
    let b = try_start(settings, |_| {}).await.unwrap();
    assert_eq!(
        introspect(&b, "web", &f.secret, &rt2, "").await["active"],
        true
    );
    let (s, _) = refresh(&a, &f.secret, &rt1, "").await;
    assert_eq!(s, 400, "reuse after a restart");
    // Revoked on node a, inactive on node b at once.
    assert_eq!(
        introspect(&b, "web", &f.secret, &rt2, "").await["active"],
        false
    );
    assert_eq!(
        introspect(&b, "web", &f.secret, &at2, "").await["active"],
        false
    );
    assert_eq!(userinfo_status(&b, &at2).await, 401);
}

async fn revocation_follows_rfc7009(backend: Backend) {
    let f = fixture(
        backend,
        &[
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--grant-type",
            "client_credentials",
        ],
    )
    .await;
    let app = &f.app;
    let web = Some(("web", f.secret.as_str()));
    let (other, other_secret) =
        f.d.create_client(&["--name", "Other", "--scope", "api"])
            .await;
    app.eventually(Duration::from_secs(5), || async {
        app.client_credentials(&other, &other_secret, "").await.0 == 200
    })
    .await;

    // Access token: revoked by jti, inactive at once; revoking twice is still 200.
    let t = tokens(app, &f.secret, "openid offline_access").await;
    let at = t["access_token"].as_str().unwrap().to_string();
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    // Another client cannot revoke it (200, nothing happens).
    assert_eq!(
        revoke(app, Some((&other, &other_secret)), &format!("token={at}")).await,
        200
    );
    assert_eq!(userinfo_status(app, &at).await, 200);
    // A lying hint changes nothing.
    assert_eq!(
        revoke(
            app,
            web,
            &format!("token={at}&token_type_hint=refresh_token")
        )
        .await,
        200
    );
    assert_eq!(userinfo_status(app, &at).await, 401);
    assert_eq!(
        introspect(app, "web", &f.secret, &at, "").await["active"],
        false
    );
    assert_eq!(revoke(app, web, &format!("token={at}")).await, 200);
    // The refresh token still works: revoking an access token does not end the grant.
    let (s, v) = refresh(app, &f.secret, &rt, "").await;
    assert_eq!(s, 200);
    let rt2 = v["refresh_token"].as_str().unwrap().to_string();
    let at2 = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        revoke(
            app,
            Some((&other, &other_secret)),
            &format!("token={}", form(&rt2))
        )
        .await,
        200
    );
    let (s, v) = refresh(app, &f.secret, &rt2, "").await;
    assert_eq!(s, 200, "a foreign client revoked nothing: {v}");
    // Presenting the now-retired rt2 again is reuse: the family, and at2 with it, is revoked.
    assert_eq!(refresh(app, &f.secret, &rt2, "").await.0, 400);
    assert_eq!(userinfo_status(app, &at2).await, 401);
    // Revoking a refresh token revokes its whole family, access tokens included.
    let t = tokens(app, &f.secret, "openid offline_access").await;
    let (rt, at) = (
        t["refresh_token"].as_str().unwrap().to_string(),
        t["access_token"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        revoke(
            app,
            web,
            &format!("token={}&token_type_hint=access_token", form(&rt))
        )
        .await,
        200
    );
    assert_eq!(refresh(app, &f.secret, &rt, "").await.0, 400);
    assert_eq!(
        userinfo_status(app, &at).await,
        401,
        "the family's access tokens are revoked"
    );
    // A client-credentials token.
    let (_, cc) = app.client_credentials("web", &f.secret, "&scope=api").await;
    let cc = cc["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        introspect(app, "web", &f.secret, &cc, "").await["active"],
        true
    );
    assert_eq!(revoke(app, web, &format!("token={cc}")).await, 200);
    assert_eq!(
        introspect(app, "web", &f.secret, &cc, "").await["active"],
        false
    );

    // Unknown tokens: 200. Errors: no client authentication, no token.
    assert_eq!(revoke(app, web, "token=garbage").await, 200);
    assert_eq!(revoke(app, web, "token=a.b.c").await, 200);
    assert_eq!(revoke(app, None, "token=garbage").await, 401);
    assert_eq!(
        revoke(app, Some(("web", "wrong")), "token=garbage").await,
        401
    );
    assert_eq!(revoke(app, web, "").await, 400);
    assert_eq!(revoke(app, web, "token=a&token=b").await, 400);
}

async fn introspection_follows_rfc7662(backend: Backend) {
    let f = fixture(backend, OFFLINE).await;
    let app = &f.app;
    let (rs, rs_secret) = f.d.create_client(&["--name", "Resource server"]).await;
    let (spa, _) =
        f.d.create_client(&["--name", "SPA", "--public", "--redirect-uri", CB])
            .await;
    app.eventually(Duration::from_secs(5), || async {
        app.client_credentials(&rs, &rs_secret, "").await.0 == 200
    })
    .await;
    let t = tokens(app, &f.secret, "openid offline_access email").await;
    let at = t["access_token"].as_str().unwrap().to_string();
    let rt = t["refresh_token"].as_str().unwrap().to_string();

    // A resource server introspects an access token.
    let v = introspect(app, &rs, &rs_secret, &at, "&token_type_hint=access_token").await;
    assert_eq!(v["active"], true);
    assert_eq!(v["sub"], f.sub.as_str());
    assert_eq!(v["client_id"], "web");
    assert_eq!(v["scope"], "openid offline_access email");
    assert_eq!(v["iss"], app.issuer.as_str());
    assert_eq!(v["token_type"], "Bearer");
    for k in ["aud", "exp", "iat", "jti"] {
        assert!(v.get(k).is_some(), "{k}");
    }
    // Refresh tokens only for their own client; a lying hint does not matter.
    let v = introspect(app, "web", &f.secret, &rt, "&token_type_hint=access_token").await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "refresh_token");
    assert_eq!(v["client_id"], "web");
    assert_eq!(
        introspect(app, &rs, &rs_secret, &rt, "").await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        introspect(app, &rs, &rs_secret, "garbage", "").await,
        serde_json::json!({"active": false})
    );
    // An ID token is not an access token.
    let id = t["id_token"].as_str().unwrap();
    assert_eq!(
        introspect(app, &rs, &rs_secret, id, "").await["active"],
        false
    );

    // Authentication is required; public clients cannot introspect.
    let r = app
        .http
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", at.as_str()), ("client_id", spa.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&rs, Some(&rs_secret))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A disabled user's tokens are inactive (the CLI is another process: within the reload
    // interval); so are a deleted client's.
    assert!(f.d.cli(&["user", "disable", "ada"]).await.status.success());
    app.eventually(Duration::from_secs(5), || async {
        introspect(app, &rs, &rs_secret, &at, "").await["active"] == false
    })
    .await;
    assert_eq!(
        introspect(app, "web", &f.secret, &rt, "").await["active"],
        false
    );
    assert!(f.d.cli(&["user", "enable", "ada"]).await.status.success());
    assert_eq!(
        introspect(app, "web", &f.secret, &rt, "").await["active"],
        false,
        "disabling revoked the grant for good"
    );
    assert_eq!(
        introspect(app, &rs, &rs_secret, &at, "").await["active"],
        false,
        "and its access tokens"
    );
    let (_, cc) = app.client_credentials(&rs, &rs_secret, "").await;
    let cc = cc["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        introspect(app, "web", &f.secret, &cc, "").await["active"],
        true
    );
    assert!(f.d.cli(&["client", "delete", &rs]).await.status.success());
    app.eventually(Duration::from_secs(5), || async {
        introspect(app, "web", &f.secret, &cc, "").await["active"] == false
    })
    .await;
}

/// Signs in with `offline_access`; the form body that redeems the code.
async fn offline_code_exchange(app: &TestApp) -> String {
    let back = sign_in(
        &mut Browser::new(),
        app,
        &authorize_url(app, "web", "openid offline_access", ""),
    )
    .await;
    let code = param(&back, "code").unwrap();
    format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}",
        form(CB)
    )
}

async fn code_reuse_revokes_the_refresh_tokens_it_started(backend: Backend) {
    let f = fixture(backend, OFFLINE).await;
    let app = &f.app;
    let body = offline_code_exchange(app).await;
    let first: Value = app
        .token_raw(Some(("web", &f.secret)), &body)
        .await
        .json()
        .await
        .unwrap();
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    let again = app.token_raw(Some(("web", &f.secret)), &body).await;
    assert_eq!(again.status(), 400);
    assert_eq!(
        refresh(app, &f.secret, &rt, "").await.0,
        400,
        "the refresh token of the first redemption is revoked"
    );
    assert_eq!(
        userinfo_status(app, first["access_token"].as_str().unwrap()).await,
        401
    );
}

/// Two real server processes sharing PostgreSQL + Redis: a token revoked through one is
/// inactive on that one at once, and on the other within its reload interval (each node keeps
/// the revoked `jti`s in memory, reloaded when the `revocations` change counter moves).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_on_one_process_is_seen_by_another() {
    if !crate::helpers::pg_tier_enabled() {
        return;
    }
    let d = Deployment::new(Backend::PgRedis);
    let (id, secret) = d.create_client(&["--name", "svc", "--scope", "api"]).await;
    let a = crate::helpers::ServerProcess::start(&d, &[]).await;
    let b = crate::helpers::ServerProcess::start(&d, &[]).await;
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/oauth2/token", a.base))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = token["access_token"].as_str().unwrap().to_string();
    let introspect_b = || async {
        http.post(format!("{}/oauth2/introspect", b.base))
            .basic_auth(&id, Some(&secret))
            .form(&[("token", at.as_str())])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["active"]
            .clone()
    };
    assert_eq!(introspect_b().await, true);
    let r = http
        .post(format!("{}/oauth2/revoke", a.base))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let introspect_a = http
        .post(format!("{}/oauth2/introspect", a.base))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        introspect_a["active"], false,
        "the process that revoked sees it at once"
    );
    // The other process: within its reload interval (1 s by default; generous limit here).
    let start = std::time::Instant::now();
    while introspect_b().await != false {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "the other process never saw the revocation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The code exchange's durable step (`Store::redeem_code`; on PostgreSQL one statement): the
/// redemption record, the family and its first refresh token are written together for an active
/// user, or nothing is.
async fn code_redemption_is_all_or_nothing(backend: Backend) {
    use tessera::storage::sql::{Family, NewRefreshToken, Redeemed, Redemption};
    let f = fixture(backend, OFFLINE).await;
    let s = &f.app.core.store;
    let ada = s.get_active_user(&f.sub).unwrap().expect("ada");
    let now = crate::helpers::unix_now();
    let family = |id: &str, client: &str, user: &str| {
        (
            Family {
                id: id.into(),
                client_id: client.into(),
                user_id: user.into(),
                scope: "openid offline_access".into(),
                sid: Some(format!("sid-{id}")),
                auth_time: now - 5,
                created_at: now,
                absolute_expires_at: now + 86_400,
                revoked_at: None,
            },
            NewRefreshToken {
                hash: format!("hash-{id}"),
                sealed: None,
                expires_at: now + 3_600,
                access_jti: format!("jti-{id}"),
                access_expires_at: now + 300,
            },
        )
    };
    let record = |jti: &str| Redemption {
        access_token_jti: jti.into(),
        expires_at: now + 360,
    };
    let stored = |hash: &str| s.find_refresh_token(hash).unwrap();

    let (f1, t1) = family("f1", "web", &f.sub);
    let r = s.redeem_code(
        "code-a",
        "web",
        &f.sub,
        &record("a1"),
        Some((&f1, &t1)),
        now,
    );
    assert_eq!(r.unwrap(), Redeemed::Recorded(ada.clone()));
    assert_eq!(s.find_redemption("code-a").unwrap(), Some(record("a1")));
    let info = stored(&t1.hash).expect("the first refresh token");
    assert_eq!((info.family, info.state.as_str()), (f1.clone(), "active"));
    assert!(
        s.revoke_family_of_access_token(&t1.access_jti, now)
            .unwrap(),
        "the access token is linked to its family"
    );

    // Redeemed before: nothing written, the first record stays.
    let (f2, t2) = family("f2", "web", &f.sub);
    let r = s.redeem_code(
        "code-a",
        "web",
        &f.sub,
        &record("a2"),
        Some((&f2, &t2)),
        now,
    );
    assert_eq!(r.unwrap(), Redeemed::Before);
    assert_eq!(s.find_redemption("code-a").unwrap(), Some(record("a1")));
    assert!(stored(&t2.hash).is_none(), "no second family");

    // A family that cannot be written (its client does not exist): no record either, so the
    // code is not "already used" with no tokens to show for it.
    let (f3, t3) = family("f3", "gone", &f.sub);
    let r = s.redeem_code(
        "code-b",
        "web",
        &f.sub,
        &record("b1"),
        Some((&f3, &t3)),
        now,
    );
    assert!(r.is_err(), "{r:?}");
    assert_eq!(s.find_redemption("code-b").unwrap(), None);
    assert!(stored(&t3.hash).is_none());

    // Without offline access: the record alone.
    let r = s.redeem_code("code-c", "web", &f.sub, &record("c1"), None, now);
    assert_eq!(r.unwrap(), Redeemed::Recorded(ada));
    assert_eq!(s.find_redemption("code-c").unwrap(), Some(record("c1")));

    // An unknown or disabled user: nothing written.
    let (f4, t4) = family("f4", "web", "nobody");
    let r = s.redeem_code(
        "code-d",
        "web",
        "nobody",
        &record("d1"),
        Some((&f4, &t4)),
        now,
    );
    assert_eq!(r.unwrap(), Redeemed::Inactive);
    assert!(f.d.cli(&["user", "disable", "ada"]).await.status.success());
    let (f5, t5) = family("f5", "web", &f.sub);
    let r = s.redeem_code(
        "code-e",
        "web",
        &f.sub,
        &record("e1"),
        Some((&f5, &t5)),
        now,
    );
    assert_eq!(r.unwrap(), Redeemed::Inactive);
    for (code, t) in [("code-d", &t4), ("code-e", &t5)] {
        assert_eq!(s.find_redemption(code).unwrap(), None, "{code}");
        assert!(stored(&t.hash).is_none(), "{code}");
    }
}

/// A code whose user was disabled after consenting gets no tokens, and its exchange records no
/// redemption: once the user is enabled again the code is simply spent, not "already used".
async fn a_disabled_users_code_gets_no_tokens(backend: Backend) {
    let f = fixture(backend, OFFLINE).await;
    let app = &f.app;
    let body = offline_code_exchange(app).await;
    assert!(f.d.cli(&["user", "disable", "ada"]).await.status.success());
    let r = app.token_raw(Some(("web", &f.secret)), &body).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["error"].as_str(), v["error_description"].as_str()),
        (Some("invalid_grant"), Some("the user is no longer active")),
        "{v}"
    );
    assert!(f.d.cli(&["user", "enable", "ada"]).await.status.success());
    let v: Value = app
        .token_raw(Some(("web", &f.secret)), &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["error_description"], "invalid or expired authorization code",
        "{v}"
    );
}
