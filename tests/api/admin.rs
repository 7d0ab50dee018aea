//! The admin REST API (`/admin/v1`): bearer-token guard and scopes, CRUD and lifecycle actions
//! through the same flows as the CLI, pagination, JSON errors, and the generated OpenAPI
//! document covering every route.

use std::time::Duration;

use serde_json::{Value, json};

use crate::authorize::{authorize_url, fixture, sign_in};
use crate::browser::{Browser, assert_status};
use crate::helpers::{Backend, Deployment, TestApp};

tiers!(
    tokens_and_scopes_guard_the_api,
    clients_crud_pagination_and_bad_input,
    users_consents_and_sessions,
    keys_rotate_and_revoke,
    registration_tokens_list_show_and_revoke,
    user_profile_update,
);

const WAIT: Duration = Duration::from_secs(10);

/// Creates a client with the CLI and returns (id, secret).
async fn client(d: &Deployment, name: &str, scope: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["--name", name, "--scope", scope];
    args.extend_from_slice(extra);
    d.create_client(&args).await
}

/// A client-credentials token for `id`, waiting for the nodes to load the client.
async fn token(app: &TestApp, id: &str, secret: &str) -> String {
    app.eventually_value(WAIT, || async {
        let (status, body) = app.client_credentials(id, secret, "").await;
        (status == 200).then(|| body["access_token"].as_str().unwrap().to_string())
    })
    .await
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app
        .http
        .request(method, app.url(&format!("/admin/v1{path}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (status, v, headers)
}

async fn raw(
    app: &TestApp,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(&format!("/admin/v1{path}")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn www_authenticate(h: &reqwest::header::HeaderMap) -> String {
    h.get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A started deployment with an `admin:read admin:write` client; returns it with its token.
async fn admin_app(backend: Backend) -> (Deployment, TestApp, String) {
    let d = Deployment::new(backend);
    let (id, secret) = client(&d, "Admin", "admin:read admin:write", &[]).await;
    let app = d.start().await;
    let t = token(&app, &id, &secret).await;
    (d, app, t)
}

async fn tokens_and_scopes_guard_the_api(backend: Backend) {
    let d = Deployment::new(backend);
    let (admin_id, admin_secret) = client(&d, "Admin", "admin:read admin:write", &[]).await;
    let (reader_id, reader_secret) = client(&d, "Reader", "admin:read", &[]).await;
    let (plain_id, plain_secret) = client(&d, "Plain", "api", &[]).await;
    let (aud_id, aud_secret) = client(
        &d,
        "Elsewhere",
        "admin:read admin:write",
        &["--audience", "https://api.example.com"],
    )
    .await;
    let app = d.start().await;
    let admin = token(&app, &admin_id, &admin_secret).await;
    let reader = token(&app, &reader_id, &reader_secret).await;
    let plain = token(&app, &plain_id, &plain_secret).await;
    let elsewhere = token(&app, &aud_id, &aud_secret).await;

    // No token, a malformed one, one for another audience: 401 invalid_token.
    for t in [None, Some("not-a-jwt"), Some(elsewhere.as_str())] {
        let (s, body, h) = call(&app, "GET", "/clients", t, None).await;
        assert_eq!(s, 401, "{t:?}: {body}");
        assert_eq!(body["error"], "unauthorized");
        assert!(
            www_authenticate(&h).contains("error=\"invalid_token\""),
            "{h:?}"
        );
    }
    // A valid token without admin scopes: 403 insufficient_scope, for reads and writes.
    for (m, body) in [("GET", None), ("POST", Some(json!({"client_name": "x"})))] {
        let (s, b, h) = call(&app, m, "/clients", Some(&plain), body).await;
        assert_eq!(s, 403, "{b}");
        assert_eq!(b["error"], "forbidden");
        assert!(www_authenticate(&h).contains("error=\"insufficient_scope\""));
    }
    // A client's own token cannot touch another client (nor itself) without admin scopes.
    for (m, path, body) in [
        ("GET", format!("/clients/{admin_id}"), None),
        (
            "PATCH",
            format!("/clients/{admin_id}"),
            Some(json!({"client_name": "mine now"})),
        ),
        ("POST", format!("/clients/{admin_id}/rotate-secret"), None),
        ("DELETE", format!("/clients/{admin_id}"), None),
        (
            "PATCH",
            format!("/clients/{plain_id}"),
            Some(json!({"scope": "admin:write"})),
        ),
    ] {
        let (s, b, _) = call(&app, m, &path, Some(&plain), body).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (403, Some("forbidden")),
            "{m} {path}: {b}"
        );
    }
    // admin:read lists but cannot write.
    let (s, b, _) = call(&app, "GET", "/clients", Some(&reader), None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["items"].as_array().unwrap().len(), 4);
    let (s, b, h) = call(
        &app,
        "POST",
        "/clients",
        Some(&reader),
        Some(json!({"client_name": "x"})),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (403, Some("forbidden")), "{b}");
    assert!(www_authenticate(&h).contains("scope=\"admin:write\""));
    let (s, _, _) = call(
        &app,
        "DELETE",
        &format!("/clients/{plain_id}"),
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _, _) = call(
        &app,
        "GET",
        &format!("/clients/{plain_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 200, "the client is still there");

    // A revoked admin token stops working at once.
    let r = app
        .http
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&reader_id, Some(&reader_secret))
        .form(&[("token", reader.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, _, _) = call(&app, "GET", "/clients", Some(&reader), None).await;
    assert_eq!(s, 401);

    // Taking admin:write away from a client ends its tokens' write rights (after a reload),
    // though the token still carries the scope.
    let (s, b, _) = call(
        &app,
        "PATCH",
        &format!("/clients/{admin_id}"),
        Some(&admin),
        Some(json!({"scope": "admin:read"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    app.eventually(WAIT, || async {
        // An unknown client: 404 while writes pass, 403 once they do not.
        let (s, _, _) = call(
            &app,
            "POST",
            "/clients/nope/rotate-secret",
            Some(&admin),
            None,
        )
        .await;
        s == 403
    })
    .await;

    // The OpenAPI document: JSON, OpenAPI 3.1, every route with its method and nothing else.
    let (s, doc, _) = call(&app, "GET", "/openapi.json", Some(&admin), None).await;
    assert_eq!(s, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.clone(), p.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut routed: Vec<(String, String)> = tessera::http::admin::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), format!("/admin/v1{p}")))
        .collect();
    documented.sort();
    routed.sort();
    assert_eq!(documented, routed);
    assert!(doc["components"]["schemas"]["ClientResource"].is_object());
    let (s, _, _) = call(&app, "GET", "/openapi.json", None, None).await;
    assert_eq!(s, 401);
}

async fn clients_crud_pagination_and_bad_input(backend: Backend) {
    let (_d, app, admin) = admin_app(backend).await;
    let t = Some(admin.as_str());

    // Create: 201 with the secret, once; the new client gets tokens.
    let (s, c, h) = call(
        &app,
        "POST",
        "/clients",
        t,
        Some(json!({"client_name": "Billing", "scope": "invoices:read", "audiences": ["https://billing.example.com"]})),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    let id = c["client_id"].as_str().unwrap().to_string();
    let secret = c["client_secret"].as_str().unwrap().to_string();
    assert!(id.starts_with("tc_"));
    assert_eq!(c["grant_types"], json!(["client_credentials"]));
    let at = token(&app, &id, &secret).await;
    assert!(!at.is_empty());

    // Read never shows the secret or its hash.
    let (s, shown, _) = call(&app, "GET", &format!("/clients/{id}"), t, None).await;
    assert_eq!(s, 200);
    assert!(shown.get("client_secret").is_none(), "{shown}");
    assert!(!shown.to_string().contains("hs256$"));
    assert_eq!(shown["client_name"], "Billing");

    // Update: only the fields given change.
    let (s, u, _) = call(
        &app,
        "PATCH",
        &format!("/clients/{id}"),
        t,
        Some(json!({"client_name": "Billing v2"})),
    )
    .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(
        (u["client_name"].as_str(), u["scope"].as_str()),
        (Some("Billing v2"), Some("invoices:read"))
    );
    assert!(u.get("client_secret").is_none());

    // Rotate the secret: the new one works, the old one stops.
    let (s, r, _) = call(
        &app,
        "POST",
        &format!("/clients/{id}/rotate-secret"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let new_secret = r["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    token(&app, &id, &new_secret).await;
    assert_eq!(app.client_credentials(&id, &secret, "").await.0, 401);

    // Invalid metadata, a taken id, an unknown client.
    let (s, b, _) = call(
        &app,
        "POST",
        "/clients",
        t,
        Some(json!({"redirect_uris": ["javascript:alert(1)"]})),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_request")),
        "{b}"
    );
    let (s, b, _) = call(
        &app,
        "POST",
        "/clients",
        t,
        Some(json!({"client_id": "dup", "client_name": "Dup"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b, _) = call(
        &app,
        "POST",
        "/clients",
        t,
        Some(json!({"client_id": "dup", "client_name": "Dup"})),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (409, Some("conflict")), "{b}");
    let (s, b, _) = call(
        &app,
        "PATCH",
        &format!("/clients/{id}"),
        t,
        Some(json!({"id_token_signed_response_alg": "ES256"})),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_request")),
        "ES256 has no keys: {b}"
    );
    let (s, b, _) = call(&app, "GET", "/clients/nope", t, None).await;
    assert_eq!((s, b["error"].as_str()), (404, Some("not_found")), "{b}");

    // Bad JSON, wrong types, unknown fields, a wrong content type, a body too large: 4xx with
    // a stable code, never a 500.
    for body in [
        b"{not json".to_vec(),
        br#"{"client_name": 5}"#.to_vec(),
        br#"{"redirect_uris": "https://a.example.com/cb"}"#.to_vec(),
        br#"{"colour": "blue"}"#.to_vec(),
        br#"[]"#.to_vec(),
    ] {
        let (s, b) = raw(&app, "/clients", &admin, "application/json", body.clone()).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_request")),
            "{}: {b}",
            String::from_utf8_lossy(&body)
        );
    }
    let (s, b) = raw(&app, "/clients", &admin, "text/plain", b"{}".to_vec()).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (415, Some("invalid_request")),
        "{b}"
    );
    let big = format!(r#"{{"client_name": "{}"}}"#, "a".repeat(70 * 1024));
    let (s, b) = raw(
        &app,
        "/clients",
        &admin,
        "application/json",
        big.into_bytes(),
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (413, Some("invalid_request")),
        "{b}"
    );
    for q in [
        "?limit=0",
        "?limit=201",
        "?limit=x",
        "?cursor=bad!",
        "?colour=blue",
    ] {
        let (s, b, _) = call(&app, "GET", &format!("/clients{q}"), t, None).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_request")),
            "{q}: {b}"
        );
    }
    let (s, b, _) = call(&app, "GET", "/nothing-here", t, None).await;
    assert_eq!((s, b["error"].as_str()), (404, Some("not_found")), "{b}");

    // Pagination: pages of 2 walk every client exactly once.
    for i in 0..4 {
        let (s, _, _) = call(
            &app,
            "POST",
            "/clients",
            t,
            Some(json!({"client_name": format!("c{i}")})),
        )
        .await;
        assert_eq!(s, 201);
    }
    let (_, all, _) = call(&app, "GET", "/clients?limit=200", t, None).await;
    let all: Vec<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), 7, "{all:?}");
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let q = match &cursor {
            Some(c) => format!("/clients?limit=2&cursor={c}"),
            None => "/clients?limit=2".to_string(),
        };
        let (s, page, _) = call(&app, "GET", &q, t, None).await;
        assert_eq!(s, 200, "{page}");
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|c| c["client_id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!((seen, pages), (all, 4));

    // An initial access token for dynamic registration: shown once, good for one client.
    for bad in [
        json!({"max_uses": 0}),
        json!({"expires_in": -1}),
        json!({"max_uses": "1"}),
    ] {
        let (s, b, _) = call(&app, "POST", "/registration-tokens", t, Some(bad.clone())).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_request")),
            "{bad}: {b}"
        );
    }
    let (s, it, h) = call(
        &app,
        "POST",
        "/registration-tokens",
        t,
        Some(json!({"max_uses": 1, "expires_in": 600})),
    )
    .await;
    assert_eq!(s, 201, "{it}");
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    assert_eq!(it["max_uses"], 1);
    let initial = it["initial_access_token"].as_str().unwrap();
    let register = |tok: String| {
        app.http
            .post(app.url("/oauth2/register"))
            .bearer_auth(tok)
            .json(&json!({"redirect_uris": ["https://app.example.com/cb"]}))
            .send()
    };
    assert_eq!(register(initial.to_string()).await.unwrap().status(), 201);
    assert_eq!(
        register(initial.to_string()).await.unwrap().status(),
        401,
        "one use only"
    );

    // Delete: 204, then 404, and the client's tokens stop being issued.
    let (s, _, _) = call(&app, "DELETE", &format!("/clients/{id}"), t, None).await;
    assert_eq!(s, 204);
    let (s, _, _) = call(&app, "DELETE", &format!("/clients/{id}"), t, None).await;
    assert_eq!(s, 404);
    app.eventually(WAIT, || async {
        app.client_credentials(&id, &new_secret, "").await.0 == 401
    })
    .await;
}

async fn users_consents_and_sessions(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let (d, app) = (&f.d, &f.app);
    let (admin_id, admin_secret) = client(d, "Admin", "admin:read admin:write", &[]).await;
    let admin = token(app, &admin_id, &admin_secret).await;
    let t = Some(admin.as_str());

    // A browser session for ada (login + consent).
    let mut b = Browser::new();
    let url = authorize_url(app, &f.client_id, "openid api", "");
    let back = sign_in(&mut b, app, &url).await;
    assert!(back.contains("code="), "{back}");

    let (s, page, _) = call(app, "GET", "/sessions?user=ADA", t, None).await;
    assert_eq!(s, 200, "{page}");
    let sessions = page["items"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{page}");
    assert_eq!(sessions[0]["sub"], f.sub.as_str());
    assert_eq!(sessions[0]["clients"], json!(["web"]));
    let sid = sessions[0]["sid"].as_str().unwrap().to_string();
    let (s, one, _) = call(app, "GET", &format!("/sessions/{sid}"), t, None).await;
    assert_eq!((s, one["sid"].as_str()), (200, Some(sid.as_str())));
    let (s, _, _) = call(app, "GET", "/sessions?user=nobody", t, None).await;
    assert_eq!(s, 404);

    // Consents: ada allowed `web`; withdrawing it shows the page again.
    let (s, one, _) = call(
        app,
        "GET",
        &format!("/consents/ADA/{}", f.client_id),
        t,
        None,
    )
    .await;
    assert_eq!((s, one["client_id"].as_str()), (200, Some("web")), "{one}");
    assert_eq!(one["sub"], f.sub.as_str());
    for path in ["/consents/ada/nope", "/consents/nobody/web"] {
        let (s, b, _) = call(app, "GET", path, t, None).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (404, Some("not_found")),
            "{path}: {b}"
        );
    }
    let (s, consents, _) = call(app, "GET", "/consents?user=ada", t, None).await;
    assert_eq!(s, 200, "{consents}");
    assert_eq!(consents["items"][0]["client_id"], "web");
    assert_eq!(consents["items"][0]["sub"], f.sub.as_str());
    assert!(
        consents["items"][0]["scope"]
            .as_str()
            .unwrap()
            .contains("api")
    );

    // Revoke the session: the browser is signed out; a second revoke is 404.
    let (s, ended, _) = call(app, "POST", &format!("/sessions/{sid}/revoke"), t, None).await;
    assert_eq!(s, 200, "{ended}");
    assert_eq!(ended["sid"], sid.as_str());
    let (s, b2, _) = call(app, "POST", &format!("/sessions/{sid}/revoke"), t, None).await;
    assert_eq!((s, b2["error"].as_str()), (404, Some("not_found")));
    let r = b.get(&url).await;
    assert_status(&r, 200, "authorize after the revoke");
    let html = r.text().await.unwrap();
    assert!(html.contains("action=\"/login\""), "the login form: {html}");

    let (s, b3, _) = call(
        app,
        "DELETE",
        &format!("/consents/ada/{}", f.client_id),
        t,
        None,
    )
    .await;
    assert_eq!(s, 200, "{b3}");
    let (s, _, _) = call(
        app,
        "DELETE",
        &format!("/consents/ada/{}", f.client_id),
        t,
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (_, consents, _) = call(app, "GET", "/consents", t, None).await;
    assert_eq!(consents["items"], json!([]));
    let (s, _, _) = call(
        app,
        "GET",
        &format!("/consents/ada/{}", f.client_id),
        t,
        None,
    )
    .await;
    assert_eq!(s, 404, "withdrawn");

    // Users: create, read, list, disable, enable, password, delete.
    let (s, u, _) = call(
        app,
        "POST",
        "/users",
        t,
        Some(json!({"username": "Grace", "email": "grace@example.com", "name": "Grace Hopper", "password": "a long password"})),
    )
    .await;
    assert_eq!(s, 201, "{u}");
    assert_eq!(u["username"], "grace");
    assert!(!u.to_string().contains("argon2") && !u.to_string().contains("password"));
    let sub = u["sub"].as_str().unwrap().to_string();
    let (s, shown, _) = call(app, "GET", &format!("/users/{sub}"), t, None).await;
    assert_eq!((s, shown["username"].as_str()), (200, Some("grace")));
    let (s, b4, _) = call(
        app,
        "POST",
        "/users",
        t,
        Some(json!({"username": "grace", "email": "g@example.com", "password": "a long password"})),
    )
    .await;
    assert_eq!((s, b4["error"].as_str()), (409, Some("conflict")));
    let (s, b5, _) = call(
        app,
        "POST",
        "/users",
        t,
        Some(json!({"username": "x", "email": "x@example.com", "password": "short"})),
    )
    .await;
    assert_eq!((s, b5["error"].as_str()), (400, Some("invalid_request")));
    let (s, b6, _) = call(app, "POST", "/users", t, Some(json!({"username": "x"}))).await;
    assert_eq!(
        (s, b6["error"].as_str()),
        (400, Some("invalid_request")),
        "missing fields"
    );
    let (_, list, _) = call(app, "GET", "/users?limit=1", t, None).await;
    assert_eq!(list["items"][0]["username"], "ada");
    assert!(list["next_cursor"].is_string());

    // Disable ada: she can no longer sign in (and any session would end).
    let mut b = Browser::new();
    sign_in(&mut b, app, &url).await;
    let (s, dis, _) = call(app, "POST", "/users/ada/disable", t, None).await;
    assert_eq!((s, dis["disabled"].as_bool()), (200, Some(true)), "{dis}");
    let (_, live, _) = call(app, "GET", "/sessions", t, None).await;
    assert_eq!(live["items"], json!([]), "disabling ends her sessions");
    let (s, en, _) = call(app, "POST", "/users/ada/enable", t, None).await;
    assert_eq!((s, en["disabled"].as_bool()), (200, Some(false)));

    // Logout: ends every session of a user.
    let mut b = Browser::new();
    sign_in(&mut b, app, &url).await;
    let (s, out, _) = call(app, "POST", "/users/ada/logout", t, None).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["ended"].as_array().unwrap().len(), 1, "{out}");

    let (s, _, _) = call(
        app,
        "POST",
        "/users/grace/password",
        t,
        Some(json!({"password": "another long one"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = call(app, "DELETE", "/users/grace", t, None).await;
    assert_eq!(s, 204);
    let (s, _, _) = call(app, "GET", "/users/grace", t, None).await;
    assert_eq!(s, 404);
}

async fn keys_rotate_and_revoke(backend: Backend) {
    let (_d, app, admin) = admin_app(backend).await;
    let t = Some(admin.as_str());
    let (s, keys, _) = call(&app, "GET", "/keys", t, None).await;
    assert_eq!(s, 200, "{keys}");
    let active: Vec<&Value> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] == "active")
        .collect();
    assert_eq!(active.len(), 1);
    assert!(active[0]["public_jwk"].get("d").is_none());
    assert!(!keys.to_string().contains("private"));

    // Staged rotation: a next key, published now; a second one is refused.
    let (s, next, _) = call(
        &app,
        "POST",
        "/keys/rotate",
        t,
        Some(json!({"alg": "ES256", "now": false})),
    )
    .await;
    assert_eq!(s, 201, "{next}");
    assert_eq!(
        (next["state"].as_str(), next["alg"].as_str()),
        (Some("next"), Some("ES256"))
    );
    assert!(next["activates_at"].as_i64().unwrap() > next["created_at"].as_i64().unwrap());
    let kid = next["kid"].as_str().unwrap().to_string();
    let (s, again, _) = call(
        &app,
        "POST",
        "/keys/rotate",
        t,
        Some(json!({"alg": "ES256"})),
    )
    .await;
    assert_eq!(
        (s, again["error"].as_str()),
        (409, Some("conflict")),
        "{again}"
    );
    app.eventually(WAIT, || async { app.jwks().await.contains(&kid) })
        .await;
    let (s, shown, _) = call(&app, "GET", &format!("/keys/{kid}"), t, None).await;
    assert_eq!((s, shown["state"].as_str()), (200, Some("next")));

    // Immediate rotation of RS256: the new key is active at once.
    let (s, now, _) = call(&app, "POST", "/keys/rotate", t, Some(json!({"now": true}))).await;
    assert_eq!(
        (s, now["state"].as_str(), now["alg"].as_str()),
        (201, Some("active"), Some("RS256")),
        "{now}"
    );

    // Revoke the staged key: it leaves the JWKS.
    let (s, r, _) = call(&app, "POST", &format!("/keys/{kid}/revoke"), t, None).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (r["previous_state"].as_str(), r["state"].as_str()),
        (Some("next"), Some("removed"))
    );
    app.eventually(WAIT, || async { !app.jwks().await.contains(&kid) })
        .await;
    let (s, _, _) = call(&app, "POST", "/keys/unknown-kid/revoke", t, None).await;
    assert_eq!(s, 404);

    // Bad input.
    for body in [
        json!({"alg": "HS256"}),
        json!({"alg": 5}),
        json!({"now": "yes"}),
    ] {
        let (s, b, _) = call(&app, "POST", "/keys/rotate", t, Some(body.clone())).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_request")),
            "{body}: {b}"
        );
    }
}

/// Registers a client at `POST /oauth2/register` with an initial access token; the status.
async fn register_with(app: &TestApp, initial: &str) -> u16 {
    app.http
        .post(app.url("/oauth2/register"))
        .bearer_auth(initial)
        .json(&json!({"redirect_uris": ["https://app.example.com/cb"]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn registration_tokens_list_show_and_revoke(backend: Backend) {
    let d = Deployment::new(backend);
    let (admin_id, admin_secret) = client(&d, "Admin", "admin:read admin:write", &[]).await;
    let (reader_id, reader_secret) = client(&d, "Reader", "admin:read", &[]).await;
    let (plain_id, plain_secret) = client(&d, "Plain", "api", &[]).await;
    // One token from the CLI (unlimited, no expiry); two from the API.
    let cli_made = d
        .cli_json(&["client", "registration-token", "create"])
        .await;
    let app = d.start().await;
    let admin = token(&app, &admin_id, &admin_secret).await;
    let reader = token(&app, &reader_id, &reader_secret).await;
    let plain = token(&app, &plain_id, &plain_secret).await;
    let t = Some(admin.as_str());

    let (s, once, _) = call(
        &app,
        "POST",
        "/registration-tokens",
        t,
        Some(json!({"max_uses": 1})),
    )
    .await;
    assert_eq!(s, 201, "{once}");
    let (s, timed, _) = call(
        &app,
        "POST",
        "/registration-tokens",
        t,
        Some(json!({"expires_in": 3600, "max_uses": 5})),
    )
    .await;
    assert_eq!(s, 201, "{timed}");
    let once_id = once["id"].as_str().unwrap().to_string();
    let timed_id = timed["id"].as_str().unwrap().to_string();
    let cli_id = cli_made["id"].as_str().unwrap().to_string();
    for id in [&once_id, &timed_id, &cli_id] {
        assert!(uuid::Uuid::try_parse(id).is_ok(), "{id}");
    }
    assert_eq!(
        timed["expires_at"].as_i64().unwrap() - timed["created_at"].as_i64().unwrap(),
        3600
    );
    let secrets: Vec<String> = [&once, &timed, &cli_made]
        .iter()
        .map(|v| v["initial_access_token"].as_str().unwrap().to_string())
        .collect();

    // List (paginated, newest first by creation time): ids and limits, never a token or hash.
    let (s, all, _) = call(&app, "GET", "/registration-tokens", Some(&reader), None).await;
    assert_eq!(s, 200, "{all}");
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{all}");
    let text = all.to_string();
    for secret in &secrets {
        let hash = tessera::flows::registration::token_hash(secret);
        assert!(
            !text.contains(secret.as_str()) && !text.contains(&hash),
            "{text}"
        );
    }
    for item in items {
        let mut keys: Vec<&String> = item.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "created_at",
                "expires_at",
                "id",
                "remaining_uses",
                "state",
                "usable"
            ],
            "{item}"
        );
        assert_eq!(
            (item["state"].as_str(), item["usable"].as_bool()),
            (Some("usable"), Some(true))
        );
    }
    let mut ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    ids.sort();
    let mut want = vec![once_id.as_str(), timed_id.as_str(), cli_id.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let (s, p1, _) = call(&app, "GET", "/registration-tokens?limit=2", t, None).await;
    assert_eq!(s, 200);
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2, _) = call(
        &app,
        "GET",
        &format!("/registration-tokens?limit=2&cursor={cursor}"),
        t,
        None,
    )
    .await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert!(p2.get("next_cursor").is_none(), "{p2}");
    for q in ["?limit=0", "?cursor=nope!", "?user=ada"] {
        let (s, b, _) = call(&app, "GET", &format!("/registration-tokens{q}"), t, None).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_request")),
            "{q}: {b}"
        );
    }

    // Read: the CLI's token is unlimited and never expires.
    let (s, one, _) = call(
        &app,
        "GET",
        &format!("/registration-tokens/{cli_id}"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(
        (
            one["expires_at"].clone(),
            one["remaining_uses"].clone(),
            one["usable"].clone()
        ),
        (Value::Null, Value::Null, json!(true))
    );
    // Using up the one-use token shows in its state.
    assert_eq!(register_with(&app, &secrets[0]).await, 201);
    let (_, used, _) = call(
        &app,
        "GET",
        &format!("/registration-tokens/{once_id}"),
        t,
        None,
    )
    .await;
    assert_eq!(
        (
            used["state"].as_str(),
            used["usable"].as_bool(),
            used["remaining_uses"].as_i64()
        ),
        (Some("used_up"), Some(false), Some(0)),
        "{used}"
    );
    let (_, timed_now, _) = call(
        &app,
        "GET",
        &format!("/registration-tokens/{timed_id}"),
        t,
        None,
    )
    .await;
    assert_eq!(timed_now["remaining_uses"], 5);

    // Revoke: 204; the token registers nothing any more; it is gone from reads and lists.
    let (s, _, _) = call(
        &app,
        "DELETE",
        &format!("/registration-tokens/{timed_id}"),
        t,
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(register_with(&app, &secrets[1]).await, 401, "revoked");
    let (s, b, _) = call(
        &app,
        "GET",
        &format!("/registration-tokens/{timed_id}"),
        t,
        None,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (404, Some("not_found")), "{b}");
    let (s, b, _) = call(
        &app,
        "DELETE",
        &format!("/registration-tokens/{timed_id}"),
        t,
        None,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (404, Some("not_found")), "{b}");
    let (_, all, _) = call(&app, "GET", "/registration-tokens", t, None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    // The others still work.
    assert_eq!(register_with(&app, &secrets[2]).await, 201);

    // Scopes: no admin scope → 403 everywhere; admin:read reads but cannot create or revoke.
    let cli_path = format!("/registration-tokens/{cli_id}");
    for (m, path, body) in [
        ("GET", "/registration-tokens", None),
        ("POST", "/registration-tokens", Some(json!({}))),
        ("GET", cli_path.as_str(), None),
        ("DELETE", cli_path.as_str(), None),
    ] {
        let (s, b, h) = call(&app, m, path, Some(&plain), body).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (403, Some("forbidden")),
            "{m} {path}: {b}"
        );
        assert!(www_authenticate(&h).contains("insufficient_scope"));
    }
    for (m, body) in [("POST", Some(json!({}))), ("DELETE", None)] {
        let path = if m == "POST" {
            "/registration-tokens"
        } else {
            cli_path.as_str()
        };
        let (s, b, h) = call(&app, m, path, Some(&reader), body).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (403, Some("forbidden")),
            "{m}: {b}"
        );
        assert!(www_authenticate(&h).contains("scope=\"admin:write\""));
    }
    let (s, _, _) = call(&app, "GET", &cli_path, Some(&reader), None).await;
    assert_eq!(s, 200, "still there");
    let (s, _, _) = call(&app, "GET", &cli_path, None, None).await;
    assert_eq!(s, 401);
}

async fn user_profile_update(backend: Backend) {
    let (d, app, admin) = admin_app(backend).await;
    let t = Some(admin.as_str());
    let (plain_id, plain_secret) = client(&d, "Plain", "api", &[]).await;
    let (reader_id, reader_secret) = client(&d, "Reader", "admin:read", &[]).await;
    let plain = token(&app, &plain_id, &plain_secret).await;
    let reader = token(&app, &reader_id, &reader_secret).await;
    let (s, u, _) = call(
        &app,
        "POST",
        "/users",
        t,
        Some(
            json!({"username": "lin", "email": "lin@example.com", "email_verified": true,
                    "name": "Lin", "given_name": "Lin", "password": "a long password"}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{u}");
    let sub = u["sub"].as_str().unwrap().to_string();

    // Only the fields given change; "" removes a name.
    let (s, v, _) = call(
        &app,
        "PATCH",
        "/users/LIN",
        t,
        Some(json!({"name": "Lin Wei", "family_name": "Wei", "given_name": ""})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["name"].as_str(),
            v["family_name"].as_str(),
            v["given_name"].clone()
        ),
        (Some("Lin Wei"), Some("Wei"), Value::Null)
    );
    assert_eq!(
        (v["email"].as_str(), v["email_verified"].as_bool()),
        (Some("lin@example.com"), Some(true))
    );
    assert_eq!(
        (v["username"].as_str(), v["sub"].as_str()),
        (Some("lin"), Some(sub.as_str()))
    );
    assert!(v["updated_at"].as_i64() >= u["updated_at"].as_i64());
    // A new address is unverified unless said otherwise.
    let (s, v, _) = call(
        &app,
        "PATCH",
        &format!("/users/{sub}"),
        t,
        Some(json!({"email": "wei@example.com"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["email"].as_str(), v["email_verified"].as_bool()),
        (Some("wei@example.com"), Some(false))
    );
    let (s, v, _) = call(
        &app,
        "PATCH",
        "/users/lin",
        t,
        Some(json!({"email_verified": true})),
    )
    .await;
    assert_eq!((s, v["email_verified"].as_bool()), (200, Some(true)));
    let (_, shown, _) = call(&app, "GET", "/users/lin", t, None).await;
    assert_eq!(shown, v, "the change is stored");
    assert!(!v.to_string().contains("argon2"));

    // Bad input: a stable code, nothing changed.
    for bad in [
        json!({}),
        json!({"email": "not-an-email"}),
        json!({"email": "a b@example.com"}),
        json!({"name": "bad\u{7}name"}),
        json!({"name": "   "}),
        json!({"family_name": "x".repeat(201)}),
        json!({"email_verified": "yes"}),
        json!({"name": 5}),
        json!({"username": "other"}),
        json!({"password": "a new long password"}),
    ] {
        let (s, b, _) = call(&app, "PATCH", "/users/lin", t, Some(bad.clone())).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_request")),
            "{bad}: {b}"
        );
    }
    for (ct, body) in [("application/json", "{\"name\": "), ("text/plain", "{}")] {
        let r = app
            .http
            .patch(app.url("/admin/v1/users/lin"))
            .bearer_auth(&admin)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let b: Value = r.json().await.unwrap();
        assert!(matches!(status, 400 | 415), "{ct} {body}: {status}");
        assert_eq!(b["error"], "invalid_request", "{ct} {body}: {b}");
    }
    let (_, after, _) = call(&app, "GET", "/users/lin", t, None).await;
    assert_eq!(after, v, "refusals changed nothing");
    let (s, b, _) = call(
        &app,
        "PATCH",
        "/users/nobody",
        t,
        Some(json!({"name": "X"})),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (404, Some("not_found")), "{b}");

    // Scopes.
    let (s, b, _) = call(
        &app,
        "PATCH",
        "/users/lin",
        Some(&plain),
        Some(json!({"name": "X"})),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (403, Some("forbidden")), "{b}");
    let (s, b, h) = call(
        &app,
        "PATCH",
        "/users/lin",
        Some(&reader),
        Some(json!({"name": "X"})),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (403, Some("forbidden")), "{b}");
    assert!(www_authenticate(&h).contains("scope=\"admin:write\""));
    let (s, _, _) = call(
        &app,
        "PATCH",
        "/users/lin",
        None,
        Some(json!({"name": "X"})),
    )
    .await;
    assert_eq!(s, 401);
    let (_, after, _) = call(&app, "GET", "/users/lin", t, None).await;
    assert_eq!(after["name"], "Lin Wei");
}
