//! JWT client authentication (RFC 7523, OpenID Connect Core §9): `private_key_jwt` with keys
//! registered by value or fetched from a `jwks_uri`, and `client_secret_jwt`; every assertion
//! rule; single use of a `jti` across server processes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jws::{ES256, HS256, JwsSigner, RS256};
use serde_json::{Value, json};

use crate::authorize::{CB, VERIFIER, authorize_url, fixture, fixture_with, sign_in};
use crate::browser::{Browser, param};
use crate::helpers::{Backend, Deployment, ServerProcess, TestApp, unix_now};

tiers!(
    private_key_jwt_client_registers_signs_in_and_gets_tokens,
    bad_assertions_are_refused,
    client_secret_jwt_uses_the_sealed_secret,
    jwks_uri_is_fetched_under_the_outbound_rules,
    an_assertion_is_single_use_across_nodes,
);

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's key pair: the private signer and its public JWK (with `kid`).
struct ClientKey {
    signer: Box<dyn JwsSigner>,
    public: Value,
    alg: &'static str,
}

impl ClientKey {
    fn es256(kid: &str) -> ClientKey {
        let kp = ES256.generate_key_pair().unwrap();
        let mut public: Value = serde_json::from_str(&kp.to_jwk_public_key().to_string()).unwrap();
        public["kid"] = json!(kid);
        let signer = ES256.signer_from_der(kp.to_der_private_key()).unwrap();
        ClientKey {
            signer: Box::new(signer),
            public,
            alg: "ES256",
        }
    }

    fn rs256(kid: &str) -> ClientKey {
        let kp = RS256.generate_key_pair(2048).unwrap();
        let mut public: Value = serde_json::from_str(&kp.to_jwk_public_key().to_string()).unwrap();
        public["kid"] = json!(kid);
        let signer = RS256.signer_from_der(kp.to_der_private_key()).unwrap();
        ClientKey {
            signer: Box::new(signer),
            public,
            alg: "RS256",
        }
    }

    fn kid(&self) -> &str {
        self.public["kid"].as_str().unwrap()
    }

    /// An assertion with this key's `alg` and `kid`.
    fn assertion(&self, claims: &Value) -> String {
        jws(
            &json!({"alg": self.alg, "kid": self.kid(), "typ": "JWT"}),
            claims,
            self.signer.as_ref(),
        )
    }
}

/// A compact JWS with exactly this header and payload.
fn jws(header: &Value, claims: &Value, signer: &dyn JwsSigner) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// The claims of a good assertion for `client_id` with audience `aud`.
fn claims(client_id: &str, aud: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

async fn initial_token(d: &Deployment) -> String {
    let v = d
        .cli_json(&["client", "registration-token", "create"])
        .await;
    v["initial_access_token"].as_str().unwrap().to_string()
}

async fn register_at(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    body: &Value,
) -> (u16, Value) {
    let r = http
        .post(format!("{base}/oauth2/register"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn register(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    register_at(&app.http, &app.base, token, body).await
}

async fn until_known(app: &TestApp, id: &str) {
    app.eventually(Duration::from_secs(10), || async {
        app.core.directory.client(id).is_some()
    })
    .await;
}

/// POSTs `form` to `endpoint` (a full URL); returns status and JSON body.
async fn post(http: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http.post(endpoint).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A client-credentials request authenticated by `assertion`.
async fn cc(app: &TestApp, assertion: &str) -> (u16, Value) {
    post(
        &app.http,
        &app.url("/oauth2/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ],
    )
    .await
}

fn token_endpoint(app: &TestApp) -> String {
    format!("{}/oauth2/token", app.issuer)
}

async fn private_key_jwt_client_registers_signs_in_and_gets_tokens(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let app = &f.app;
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    for field in [
        "token_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
    ] {
        let methods = discovery[field].as_array().unwrap();
        assert!(methods.contains(&json!("private_key_jwt")), "{field}");
        assert!(methods.contains(&json!("client_secret_jwt")), "{field}");
    }
    let key = ClientKey::es256("partner-1");
    let token = initial_token(&f.d).await;
    let (status, reg) = register(
        app,
        &token,
        &json!({
            "client_name": "Key Partner",
            "redirect_uris": [CB],
            "grant_types": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": {"keys": [key.public]},
            "scope": "openid profile"
        }),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(reg["token_endpoint_auth_signing_alg"], "ES256");
    assert!(reg.get("client_secret").is_none(), "no secret: {reg}");
    let id = reg["client_id"].as_str().unwrap().to_string();
    // The operator sees the keys and the pinned algorithm (never a secret: there is none).
    let shown = f.d.cli_json(&["client", "show", &id]).await;
    assert_eq!(shown["token_endpoint_auth_signing_alg"], "ES256");
    assert_eq!(shown["jwks"]["keys"][0]["kid"], "partner-1");
    until_known(app, &id).await;
    // ...and so does the admin API.
    let (admin_id, admin_secret) =
        f.d.create_client(&["--name", "Admin", "--scope", "admin:read"])
            .await;
    let admin_token = app
        .eventually_value(Duration::from_secs(10), || async {
            let (status, body) = app.client_credentials(&admin_id, &admin_secret, "").await;
            (status == 200).then(|| body["access_token"].as_str().unwrap().to_string())
        })
        .await;
    let resource: Value = app
        .http
        .get(app.url(&format!("/admin/v1/clients/{id}")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resource["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(resource["token_endpoint_auth_signing_alg"], "ES256");
    assert_eq!(resource["jwks"]["keys"][0]["kid"], "partner-1");
    assert_eq!(resource["dynamically_registered"], true);

    // Sign in, then redeem the code with an assertion (aud = the token endpoint).
    let mut b = Browser::new();
    let back = sign_in(&mut b, app, &authorize_url(app, &id, "openid profile", "")).await;
    let code = param(&back, "code").unwrap();
    let assertion = key.assertion(&claims(&id, &token_endpoint(app)));
    let (status, tokens) = post(
        &app.http,
        &app.url("/oauth2/token"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
            ("client_id", &id),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let (_, id_claims) =
        crate::helpers::verify_jwt(tokens["id_token"].as_str().unwrap(), &app.jwks().await)
            .unwrap();
    assert_eq!(id_claims["aud"], json!(id));

    // Client credentials with aud = the issuer.
    let assertion = key.assertion(&claims(&id, &app.issuer));
    let (status, body) = cc(app, &assertion).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let (_, at) = crate::helpers::verify_jwt(&access, &app.jwks().await).unwrap();
    assert_eq!(at["client_id"], json!(id));
    // The same assertion again: refused.
    let (status, body) = cc(app, &assertion).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );

    // Introspection and revocation accept the assertion too (aud = their own URL).
    let intro = format!("{}/oauth2/introspect", app.issuer);
    let (status, body) = post(
        &app.http,
        &app.url("/oauth2/introspect"),
        &[
            ("token", &access),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &key.assertion(&claims(&id, &intro))),
        ],
    )
    .await;
    assert_eq!(
        (status, body["active"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let (status, body) = post(
        &app.http,
        &app.url("/oauth2/revoke"),
        &[
            ("token", &access),
            ("client_assertion_type", JWT_BEARER),
            (
                "client_assertion",
                &key.assertion(&claims(&id, &format!("{}/oauth2/revoke", app.issuer))),
            ),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &app.http,
        &app.url("/oauth2/introspect"),
        &[
            ("token", &access),
            ("client_assertion_type", JWT_BEARER),
            (
                "client_assertion",
                &key.assertion(&claims(&id, &app.issuer)),
            ),
        ],
    )
    .await;
    assert_eq!(
        (status, body["active"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
}

async fn bad_assertions_are_refused(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let app = &f.app;
    let key = ClientKey::rs256("k1");
    let stranger = ClientKey::rs256("k1");
    let token = initial_token(&f.d).await;
    let (status, reg) = register(
        app,
        &token,
        &json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.public]},
        }),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    let id = reg["client_id"].as_str().unwrap().to_string();
    until_known(app, &id).await;
    let good = || claims(&id, &app.issuer);
    let (status, body) = cc(app, &key.assertion(&good())).await;
    assert_eq!(status, 200, "the control case works: {body}");

    let with = |change: Value| {
        let mut c = good();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let now = unix_now();
    // The public key's modulus used as an HMAC key (algorithm confusion).
    let n = URL_SAFE_NO_PAD
        .decode(key.public["n"].as_str().unwrap())
        .unwrap();
    let hmac_over_public = HS256.signer_from_bytes(&n).unwrap();
    let hmac_over_jwk = HS256
        .signer_from_bytes(key.public.to_string().as_bytes())
        .unwrap();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
        URL_SAFE_NO_PAD.encode(good().to_string())
    );
    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned),
        (
            "HS256 keyed with the public modulus",
            jws(
                &json!({"alg": "HS256", "kid": "k1"}),
                &good(),
                &hmac_over_public,
            ),
        ),
        (
            "HS256 keyed with the public JWK",
            jws(&json!({"alg": "HS256"}), &good(), &hmac_over_jwk),
        ),
        ("signed by another key", stranger.assertion(&good())),
        (
            "unknown kid",
            jws(
                &json!({"alg": "RS256", "kid": "nope"}),
                &good(),
                key.signer.as_ref(),
            ),
        ),
        (
            "jku header",
            jws(
                &json!({"alg": "RS256", "kid": "k1", "jku": "https://evil.example/jwks"}),
                &good(),
                key.signer.as_ref(),
            ),
        ),
        (
            "wrong aud",
            key.assertion(&with(json!({"aud": "https://other.example"}))),
        ),
        ("no aud", key.assertion(&with(json!({"aud": null})))),
        ("no exp", key.assertion(&with(json!({"exp": null})))),
        ("expired", key.assertion(&with(json!({"exp": now - 120})))),
        (
            "exp an hour ahead",
            key.assertion(&with(json!({"exp": now + 3600}))),
        ),
        (
            "not yet valid",
            key.assertion(&with(json!({"nbf": now + 600}))),
        ),
        ("no jti", key.assertion(&with(json!({"jti": null})))),
        (
            "iss is not sub",
            key.assertion(&with(json!({"iss": "someone-else"}))),
        ),
        (
            "sub of another client",
            key.assertion(&with(json!({"sub": "web", "iss": "web"}))),
        ),
        ("not a JWS", "abc.def".to_string()),
    ];
    for (what, assertion) in cases {
        let (status, body) = cc(app, &assertion).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{what}: {body}"
        );
    }
    // An oversized assertion is refused before anything else looks at it.
    let (status, body) = cc(app, &"a".repeat(20_000)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // Wrong assertion type, and an assertion mixed with another method.
    let a = key.assertion(&good());
    let (status, body) = post(
        &app.http,
        &app.url("/oauth2/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:saml"),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = post(
        &app.http,
        &app.url("/oauth2/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &a),
            ("client_secret", "x"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = post(
        &app.http,
        &app.url("/oauth2/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // A client_id that names another client than the assertion.
    let (status, body) = post(
        &app.http,
        &app.url("/oauth2/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "web"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // The untouched assertion still works: none of the refusals used up its jti.
    let (status, body) = cc(app, &a).await;
    assert_eq!(status, 200, "{body}");
    // A client registered for client_secret_basic cannot switch to an assertion.
    let (status, body) = cc(
        app,
        &jws(
            &json!({"alg": "HS256"}),
            &claims("web", &app.issuer),
            &HS256.signer_from_bytes(f.secret.as_bytes()).unwrap(),
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );

    // Registration refuses what cannot work.
    for (what, body) in [
        (
            "private_key_jwt without keys",
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}),
        ),
        (
            "an HMAC algorithm for private_key_jwt",
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
                   "token_endpoint_auth_signing_alg": "HS256", "jwks": {"keys": [key.public]}}),
        ),
        (
            "alg none",
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
                   "token_endpoint_auth_signing_alg": "none", "jwks": {"keys": [key.public]}}),
        ),
        (
            "a private key in jwks",
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
                   "jwks": {"keys": [with_member(&key.public, "d", "AAAA")]}}),
        ),
        (
            "both jwks and jwks_uri",
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
                   "jwks": {"keys": [key.public]}, "jwks_uri": "https://partner.example.com/jwks"}),
        ),
        (
            "a signing alg for client_secret_basic",
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic",
                   "token_endpoint_auth_signing_alg": "RS256"}),
        ),
    ] {
        let (status, err) = register(app, &token, &body).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{what}: {err}"
        );
    }
}

fn with_member(jwk: &Value, name: &str, value: &str) -> Value {
    let mut j = jwk.clone();
    j[name] = json!(value);
    j
}

async fn client_secret_jwt_uses_the_sealed_secret(backend: Backend) {
    let f = fixture(backend, &[]).await;
    let app = &f.app;
    let token = initial_token(&f.d).await;
    let (status, reg) = register(
        app,
        &token,
        &json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_jwt",
            "token_endpoint_auth_signing_alg": "HS256",
        }),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    let id = reg["client_id"].as_str().unwrap().to_string();
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    until_known(app, &id).await;
    let hs = |secret: &str| HS256.signer_from_bytes(secret.as_bytes()).unwrap();
    let a = jws(
        &json!({"alg": "HS256"}),
        &claims(&id, &app.issuer),
        &hs(&secret),
    );
    let (status, body) = cc(app, &a).await;
    assert_eq!(status, 200, "{body}");
    // The secret itself is not accepted for this client, nor an HMAC with another secret.
    let (status, _) = app.client_credentials(&id, &secret, "").await;
    assert_eq!(status, 401);
    let a = jws(
        &json!({"alg": "HS256"}),
        &claims(&id, &app.issuer),
        &hs("another-secret-of-at-least-32-bytes!!"),
    );
    assert_eq!(cc(app, &a).await.0, 401);
    // The database holds the secret only as a keyed hash and sealed under the KEK.
    let stored = {
        let id = id.clone();
        app.core
            .store
            .run(move |s| s.get_client(&id))
            .await
            .unwrap()
            .unwrap()
    };
    let sealed = stored.secret_sealed.as_deref().expect("sealed copy");
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
    assert_ne!(stored.secret_hash.as_deref(), Some(secret.as_str()));

    // The operator rotates the secret: the old HMAC stops working, the new one works.
    let rotated = f.d.cli_json(&["client", "rotate-secret", &id]).await;
    let new_secret = rotated["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    app.eventually(Duration::from_secs(10), || {
        let a = jws(
            &json!({"alg": "HS256"}),
            &claims(&id, &app.issuer),
            &hs(&new_secret),
        );
        async move { cc(app, &a).await.0 == 200 }
    })
    .await;
    let a = jws(
        &json!({"alg": "HS256"}),
        &claims(&id, &app.issuer),
        &hs(&secret),
    );
    assert_eq!(cc(app, &a).await.0, 401, "the old secret no longer signs");

    // The operator can also create such a client; private_key_jwt needs registered keys.
    let made =
        f.d.cli_json(&[
            "client",
            "create",
            "--name",
            "HMAC service",
            "--auth-method",
            "client_secret_jwt",
        ])
        .await;
    assert_eq!(
        made["token_endpoint_auth_method"], "client_secret_jwt",
        "{made}"
    );
    let out =
        f.d.cli(&[
            "client",
            "create",
            "--name",
            "Keys",
            "--auth-method",
            "private_key_jwt",
        ])
        .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dynamic client registration"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A JWK Set served over HTTP on 127.0.0.1, replaceable, counting its requests.
struct JwksServer {
    uri: String,
    set: Arc<std::sync::Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(initial: &Value) -> JwksServer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let set = Arc::new(std::sync::Mutex::new(initial.to_string()));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, h) = (set.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (s, h) = (s.clone(), h.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut read = 0;
                    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") && read < buf.len() {
                        match sock.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let body = s.lock().unwrap().clone();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        JwksServer {
            uri: format!("http://127.0.0.1:{port}/jwks.json"),
            set,
            hits,
        }
    }

    fn serve(&self, set: &Value) {
        *self.set.lock().unwrap() = set.to_string();
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn jwks_uri_is_fetched_under_the_outbound_rules(backend: Backend) {
    let k1 = ClientKey::es256("k1");
    let k2 = ClientKey::es256("k2");
    let keys = JwksServer::start(&json!({"keys": [k1.public]})).await;
    let f = fixture_with(backend, &[], |s| s.outbound.allow_private = true).await;
    let app = &f.app;
    let token = initial_token(&f.d).await;
    let body = json!({
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": keys.uri,
    });

    // A node that may not call private addresses refuses the registration outright.
    let strict = f.d.start().await;
    for uri in [
        keys.uri.as_str(),
        "https://127.0.0.1/jwks",
        "https://10.1.2.3/jwks",
        "https://localhost/jwks",
    ] {
        let mut b = body.clone();
        b["jwks_uri"] = json!(uri);
        let (status, err) = register(&strict, &token, &b).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{uri}: {err}"
        );
    }
    // http is for loopback development only.
    let mut b = body.clone();
    b["jwks_uri"] = json!("http://partner.example.com/jwks");
    let (status, err) = register(app, &token, &b).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    assert_eq!(keys.hits(), 0, "registration does not fetch");

    let (status, reg) = register(app, &token, &body).await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["jwks_uri"], json!(keys.uri));
    let id = reg["client_id"].as_str().unwrap().to_string();
    until_known(app, &id).await;
    let (status, res) = cc(app, &k1.assertion(&claims(&id, &app.issuer))).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(keys.hits(), 1);
    let (status, _) = cc(app, &k1.assertion(&claims(&id, &app.issuer))).await;
    assert_eq!(status, 200);
    assert_eq!(keys.hits(), 1, "the set is cached");

    // The partner rotates to k2: an assertion naming k2 makes the server look again, as soon
    // as the per-client refetch limit allows.
    keys.serve(&json!({"keys": [k2.public]}));
    app.eventually(Duration::from_secs(20), || async {
        cc(app, &k2.assertion(&claims(&id, &app.issuer))).await.0 == 200
    })
    .await;
    assert_eq!(keys.hits(), 2, "one refetch");
    // k1 is gone from the set now, and an unknown kid does not refetch again at once.
    let (status, _) = cc(app, &k1.assertion(&claims(&id, &app.issuer))).await;
    assert_eq!(status, 401);
    assert_eq!(keys.hits(), 2, "refetching is rate-limited");

    // The strict node accepts nothing from that jwks_uri: it never fetches it.
    let (status, _) = cc(&strict, &k2.assertion(&claims(&id, &strict.issuer))).await;
    assert_eq!(status, 401);
    assert_eq!(keys.hits(), 2);
}

async fn an_assertion_is_single_use_across_nodes(backend: Backend) {
    let d = Deployment::new(backend);
    let a = ServerProcess::start(&d, &[]).await;
    let b = ServerProcess::start(&d, &[]).await;
    let http = reqwest::Client::new();
    let issuer: String = {
        let v: Value = http
            .get(format!("{}/.well-known/openid-configuration", a.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["issuer"].as_str().unwrap().to_string()
    };
    let key = ClientKey::es256("k1");
    let token = initial_token(&d).await;
    let (status, reg) = register_at(
        &http,
        &a.base,
        &token,
        &json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key.public]},
        }),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    let id = reg["client_id"].as_str().unwrap().to_string();
    let cc_at = |base: String, assertion: String| {
        let http = http.clone();
        async move {
            post(
                &http,
                &format!("{base}/oauth2/token"),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &assertion),
                ],
            )
            .await
        }
    };
    // Both nodes know the client (each reloads its directory on its own).
    for node in [&a, &b] {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let (status, _) = cc_at(node.base.clone(), key.assertion(&claims(&id, &issuer))).await;
            if status == 200 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "node never knew the client"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let assertion = key.assertion(&claims(&id, &issuer));
    let (status, body) = cc_at(a.base.clone(), assertion.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = cc_at(b.base.clone(), assertion.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "refused as a replay: {body}"
    );
}
