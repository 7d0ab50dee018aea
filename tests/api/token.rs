//! The token endpoint, client-credentials grant (RFC 6749 §4.4, §5; RFC 9068; RFC 8707).

use std::collections::HashSet;

use base64::Engine;
use serde_json::Value;

use crate::helpers::{Backend, Deployment, form, unix_now, verify_jwt};

tiers!(
    client_credentials_tokens_verify_against_the_jwks,
    audience_follows_resource_then_registration_then_default,
    errors_follow_rfc6749,
    malformed_requests_get_oauth_errors_never_500,
);

async fn client_credentials_tokens_verify_against_the_jwks(backend: Backend) {
    let d = Deployment::new(backend);
    let (id, secret) = d
        .create_client(&[
            "--name",
            "svc",
            "--scope",
            "read write",
            "--audience",
            "https://api.example.com",
        ])
        .await;
    let (post_id, post_secret) = d
        .create_client(&[
            "--name",
            "post",
            "--auth-method",
            "client_secret_post",
            "--scope",
            "read",
        ])
        .await;
    let app = d.start().await;
    let jwks = app.jwks().await;

    // client_secret_basic
    let r = app
        .token_raw(
            Some((&id, &secret)),
            "grant_type=client_credentials&scope=read",
        )
        .await;
    assert_eq!(r.status(), 200);
    // RFC 6749 §5.1: a JSON body, never cached.
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "read");
    let before = unix_now();
    let (header, claims) = verify_jwt(body["access_token"].as_str().unwrap(), &jwks).unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["aud"], "https://api.example.com");
    assert_eq!(claims["scope"], "read");
    let iat = claims["iat"].as_i64().unwrap();
    assert!((iat - before).abs() <= 5);
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 600);
    assert!(claims["jti"].as_str().unwrap().len() >= 16);

    // Without scope: every scope the client is allowed.
    let (s, body) = app.client_credentials(&id, &secret, "").await;
    assert_eq!(s, 200);
    assert_eq!(body["scope"], "read write");

    // client_secret_post, and the secret is URL-decoded on the way in.
    let r = app
        .token_raw(
            None,
            &format!(
                "grant_type=client_credentials&client_id={}&client_secret={}",
                form(&post_id),
                form(&post_secret)
            ),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let (_, claims) = verify_jwt(body["access_token"].as_str().unwrap(), &jwks).unwrap();
    assert_eq!(claims["sub"], post_id.as_str());
    // Without registered audiences, the default audience: the issuer.
    assert_eq!(claims["aud"], app.issuer.as_str());

    // Every token has its own jti.
    let mut jtis = HashSet::new();
    for _ in 0..20 {
        let (_, body) = app.client_credentials(&id, &secret, "").await;
        let (_, claims) = verify_jwt(body["access_token"].as_str().unwrap(), &jwks).unwrap();
        assert!(jtis.insert(claims["jti"].as_str().unwrap().to_string()));
    }

    // A tampered token does not verify.
    let token = body["access_token"].as_str().unwrap();
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut c: Value = crate::helpers::b64json(&parts[1]);
    c["scope"] = "admin".into();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
    assert!(verify_jwt(&parts.join("."), &jwks).is_err());
}

async fn audience_follows_resource_then_registration_then_default(backend: Backend) {
    let d = Deployment::new(backend);
    let (id, secret) = d
        .create_client(&[
            "--name",
            "svc",
            "--audience",
            "https://a.example",
            "--audience",
            "https://b.example",
        ])
        .await;
    let app = d
        .start_with(|s| s.tokens.default_audience = "https://default.example".into())
        .await;
    let jwks = app.jwks().await;
    let aud = |body: &Value| {
        verify_jwt(body["access_token"].as_str().unwrap(), &jwks)
            .unwrap()
            .1["aud"]
            .clone()
    };

    let (s, body) = app.client_credentials(&id, &secret, "").await;
    assert_eq!(s, 200);
    assert_eq!(
        aud(&body),
        serde_json::json!(["https://a.example", "https://b.example"])
    );

    let (s, body) = app
        .client_credentials(&id, &secret, "&resource=https%3A%2F%2Fb.example")
        .await;
    assert_eq!(s, 200);
    assert_eq!(aud(&body), "https://b.example");

    let (s, body) = app
        .client_credentials(
            &id,
            &secret,
            "&resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example",
        )
        .await;
    assert_eq!(s, 200, "resource may repeat: {body}");
    assert_eq!(
        aud(&body),
        serde_json::json!(["https://a.example", "https://b.example"])
    );

    for bad in [
        "https%3A%2F%2Fc.example",
        "not-a-uri",
        "https%3A%2F%2Fa.example%23frag",
    ] {
        let (s, body) = app
            .client_credentials(&id, &secret, &format!("&resource={bad}"))
            .await;
        assert_eq!(
            (s, body["error"].as_str().unwrap()),
            (400, "invalid_target"),
            "{bad}"
        );
    }

    let (plain, plain_secret) = d.create_client(&["--name", "plain"]).await;
    app.eventually(std::time::Duration::from_secs(5), || async {
        app.client_credentials(&plain, &plain_secret, "").await.0 == 200
    })
    .await;
    let (_, body) = app.client_credentials(&plain, &plain_secret, "").await;
    assert_eq!(aud(&body), "https://default.example");
}

async fn errors_follow_rfc6749(backend: Backend) {
    let d = Deployment::new(backend);
    let (id, secret) = d.create_client(&["--name", "svc", "--scope", "read"]).await;
    let (code_only, code_secret) = d
        .create_client(&[
            "--name",
            "web",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--grant-type",
            "authorization_code",
        ])
        .await;
    let (public, _) = d
        .create_client(&[
            "--name",
            "spa",
            "--public",
            "--redirect-uri",
            "https://spa.example.com/cb",
        ])
        .await;
    let app = d.start().await;
    let b64 = |raw: &[u8]| base64::engine::general_purpose::STANDARD.encode(raw);

    // (description, Authorization header, body, status, error, expects WWW-Authenticate)
    let cases: Vec<(&str, Option<String>, String, u16, &str, bool)> = vec![
        (
            "unknown client",
            Some(format!(
                "Basic {}",
                b64(b"nobody:secretsecretsecretsecretsecret")
            )),
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
            true,
        ),
        (
            "wrong secret",
            Some(format!("Basic {}", b64(format!("{id}:wrong").as_bytes()))),
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
            true,
        ),
        (
            "bad base64",
            Some("Basic %%%".into()),
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
            true,
        ),
        (
            "no colon",
            Some(format!("Basic {}", b64(id.as_bytes()))),
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
            true,
        ),
        (
            "not UTF-8",
            Some(format!("Basic {}", b64(&[0xff, 0xfe, b':', 0xfd]))),
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
            true,
        ),
        (
            "other scheme",
            Some("Bearer abc".into()),
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
            true,
        ),
        (
            "no authentication",
            None,
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
            true,
        ),
        (
            "registered basic, used post",
            None,
            format!(
                "grant_type=client_credentials&client_id={id}&client_secret={}",
                form(&secret)
            ),
            401,
            "invalid_client",
            true,
        ),
        (
            "two methods",
            Some(format!(
                "Basic {}",
                b64(format!("{id}:{secret}").as_bytes())
            )),
            format!(
                "grant_type=client_credentials&client_secret={}",
                form(&secret)
            ),
            400,
            "invalid_request",
            false,
        ),
        (
            "missing grant_type",
            Some(format!(
                "Basic {}",
                b64(format!("{id}:{secret}").as_bytes())
            )),
            "scope=read".into(),
            400,
            "invalid_request",
            false,
        ),
        (
            "duplicated grant_type",
            Some(format!(
                "Basic {}",
                b64(format!("{id}:{secret}").as_bytes())
            )),
            "grant_type=client_credentials&grant_type=client_credentials".into(),
            400,
            "invalid_request",
            false,
        ),
        (
            "duplicated scope",
            Some(format!(
                "Basic {}",
                b64(format!("{id}:{secret}").as_bytes())
            )),
            "grant_type=client_credentials&scope=read&scope=read".into(),
            400,
            "invalid_request",
            false,
        ),
        (
            "password grant",
            Some(format!(
                "Basic {}",
                b64(format!("{id}:{secret}").as_bytes())
            )),
            "grant_type=password&username=a&password=b".into(),
            400,
            "unsupported_grant_type",
            false,
        ),
        (
            "unknown grant",
            Some(format!(
                "Basic {}",
                b64(format!("{id}:{secret}").as_bytes())
            )),
            "grant_type=urn%3Aexample%3Ax".into(),
            400,
            "unsupported_grant_type",
            false,
        ),
        (
            "scope not allowed",
            Some(format!(
                "Basic {}",
                b64(format!("{id}:{secret}").as_bytes())
            )),
            "grant_type=client_credentials&scope=admin".into(),
            400,
            "invalid_scope",
            false,
        ),
        (
            "malformed scope",
            Some(format!(
                "Basic {}",
                b64(format!("{id}:{secret}").as_bytes())
            )),
            "grant_type=client_credentials&scope=%22x%22".into(),
            400,
            "invalid_scope",
            false,
        ),
        (
            "user scope",
            Some(format!(
                "Basic {}",
                b64(format!("{id}:{secret}").as_bytes())
            )),
            "grant_type=client_credentials&scope=openid".into(),
            400,
            "invalid_scope",
            false,
        ),
        (
            "grant not allowed",
            Some(format!(
                "Basic {}",
                b64(format!("{code_only}:{code_secret}").as_bytes())
            )),
            "grant_type=client_credentials".into(),
            400,
            "unauthorized_client",
            false,
        ),
        (
            "public client",
            None,
            format!("grant_type=client_credentials&client_id={public}"),
            400,
            "unauthorized_client",
            false,
        ),
    ];
    for (what, auth, body, status, error, www) in cases {
        let mut req = app
            .http
            .post(app.url("/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{what}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{what}");
        assert_eq!(r.headers().contains_key("www-authenticate"), www, "{what}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], error, "{what}: {v}");
        assert!(v["error_description"].is_string(), "{what}");
    }
}

async fn malformed_requests_get_oauth_errors_never_500(backend: Backend) {
    let d = Deployment::new(backend);
    let (id, secret) = d.create_client(&["--name", "svc", "--scope", "read"]).await;
    let app = d.start().await;
    let url = app.url("/oauth2/token");

    // Wrong or missing content type.
    for ct in [Some("application/json"), Some("text/plain"), None] {
        let mut req = app
            .http
            .post(&url)
            .basic_auth(&id, Some(&secret))
            .body("grant_type=client_credentials");
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 400, "{ct:?}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    }
    // A content type with a charset parameter is fine.
    let r = app
        .http
        .post(&url)
        .basic_auth(&id, Some(&secret))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A 1 MiB scope is refused quickly, as is an over-long value or a body over the limit.
    let huge = format!(
        "grant_type=client_credentials&scope={}",
        "a".repeat(1 << 20)
    );
    let r = app.token_raw(Some((&id, &secret)), &huge).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let long = format!("grant_type=client_credentials&scope={}", "a".repeat(5000));
    let r = app.token_raw(Some((&id, &secret)), &long).await;
    assert_eq!(r.status(), 400);

    // Bad encodings.
    for body in [
        "grant_type=client_credentials&scope=%FF",
        "grant_type=%",
        "=x&grant_type=client_credentials",
    ] {
        let r = app.token_raw(Some((&id, &secret)), body).await;
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "invalid_request",
            "{body}"
        );
    }
    // Over-long credentials.
    let long_id = "x".repeat(5000);
    let r = app
        .token_raw(Some((&long_id, &secret)), "grant_type=client_credentials")
        .await;
    assert_eq!(r.status(), 401);
    let r = app
        .token_raw(
            None,
            &format!(
                "grant_type=client_credentials&client_id={}",
                "y".repeat(300)
            ),
        )
        .await;
    assert_eq!(r.status(), 401);

    // Only POST.
    let r = app.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");

    // Still serving.
    let (s, _) = app.client_credentials(&id, &secret, "").await;
    assert_eq!(s, 200);
}
