//! The signing-key lifecycle with an injected clock: several periods, several nodes, and a
//! relying party that caches the JWKS exactly as `Cache-Control` allows and never fails a
//! token. Plus two real server processes with periods of seconds, re-keying, PS256 and
//! per-client ID-token algorithms.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tessera::clock::{Clock, FixedClock};
use tessera::startup::run_key_schedule;

use crate::helpers::{Backend, Deployment, TestApp, try_start_clocked, verify_jwt};

tiers!(
    lifecycle_over_many_periods_never_fails_a_caching_verifier,
    rekey_moves_every_key_to_a_new_key_encryption_key,
    ps256_access_tokens_and_per_client_id_token_algorithms,
);

/// A relying party that caches the JWKS for exactly `max-age` and never refetches early (not
/// even for an unknown `kid`): the strictest verifier the publish-ahead rule must satisfy.
struct CachingVerifier {
    jwks: String,
    fetched_at: i64,
    max_age: i64,
    fetches: u32,
}

impl CachingVerifier {
    async fn jwks(&mut self, from: &TestApp, now: i64) -> &str {
        if self.fetches == 0 || now >= self.fetched_at + self.max_age {
            let r = from.get("/oauth2/jwks").await;
            let cc = r.headers()["cache-control"].to_str().unwrap().to_string();
            self.max_age = cc.split("max-age=").nth(1).unwrap().parse().unwrap();
            self.jwks = r.text().await.unwrap();
            self.fetched_at = now;
            self.fetches += 1;
        }
        &self.jwks
    }
}

fn active_kids(app: &TestApp) -> Vec<String> {
    app.core
        .store
        .list_keys()
        .unwrap()
        .into_iter()
        .filter(|k| k.state == tessera::storage::KeyState::Active)
        .map(|k| k.kid)
        .collect()
}

async fn lifecycle_over_many_periods_never_fails_a_caching_verifier(backend: Backend) {
    let d = Deployment::new(backend);
    let (id, secret) = d.create_client(&["--name", "svc"]).await;
    let clock = Arc::new(FixedClock::new(1_800_000_000));
    // period 100 s; publish ahead = max-age 10 + reload 1 + 1 = 12 s; retire_keep = 30 + 60 + 1.
    let tweak = |s: &mut tessera::config::Settings| {
        s.keys.rotation_period = 100;
        s.keys.check_interval = 3600;
        s.http.jwks_max_age = 10;
        s.tokens.access_token_ttl = 30;
        s.tokens.id_token_ttl = 30;
    };
    let a = try_start_clocked(d.settings(), tweak, clock.clone())
        .await
        .unwrap();
    let b = try_start_clocked(d.settings(), tweak, clock.clone())
        .await
        .unwrap();
    let nodes = [&a, &b];
    let mut rp = CachingVerifier {
        jwks: String::new(),
        fetched_at: 0,
        max_age: 0,
        fetches: 0,
    };
    let mut live_tokens: Vec<(String, i64)> = Vec::new();
    let mut kids_seen = std::collections::BTreeSet::new();
    let mut transitions = 0;
    for step in 0..180 {
        clock.advance(4);
        let now = clock.now();
        // Both nodes run the schedule at once: one makes each transition.
        let (ra, rb) = tokio::join!(run_key_schedule(&a.core), run_key_schedule(&b.core));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(
            ra.is_empty() || rb.is_empty() || ra != rb,
            "a transition made twice: {ra:?} {rb:?}"
        );
        transitions += ra.len() + rb.len();
        for n in nodes {
            n.core
                .directory
                .refresh(&n.core.store, &n.core.kek)
                .await
                .unwrap();
        }
        let active = active_kids(&a);
        assert_eq!(active.len(), 1, "exactly one active key at step {step}");
        assert_eq!(a.jwks().await, b.jwks().await, "the nodes agree");

        let node = nodes[step % 2];
        let (s, body) = node.client_credentials(&id, &secret, "").await;
        assert_eq!(s, 200);
        let token = body["access_token"].as_str().unwrap().to_string();
        let jwks = rp.jwks(nodes[(step + 1) % 2], now).await.to_string();
        let (h, c) = verify_jwt(&token, &jwks)
            .unwrap_or_else(|e| panic!("step {step}: a fresh token failed: {e}"));
        assert_eq!(
            h["kid"],
            active[0].as_str(),
            "signed by the active key only"
        );
        kids_seen.insert(h["kid"].as_str().unwrap().to_string());
        live_tokens.push((token, c["exp"].as_i64().unwrap()));
        // Every token issued so far that has not expired still verifies.
        live_tokens.retain(|(_, exp)| *exp > now);
        for (t, _) in &live_tokens {
            verify_jwt(t, &jwks)
                .unwrap_or_else(|e| panic!("step {step}: an unexpired token failed: {e}"));
        }
    }
    assert!(kids_seen.len() >= 6, "several rotations: {kids_seen:?}");
    assert!(
        transitions >= 15,
        "create, promote and remove happened: {transitions}"
    );
    let keys = a.core.store.list_keys().unwrap();
    assert!(
        keys.iter()
            .any(|k| k.state == tessera::storage::KeyState::Removed),
        "old keys were removed"
    );
    let published: Value = serde_json::from_str(&a.jwks().await).unwrap();
    assert!(
        published["keys"].as_array().unwrap().len() <= 3,
        "removed keys leave the JWKS"
    );
}

/// A client-credentials request authenticated by a fresh HS256 assertion (`client_secret_jwt`).
async fn hmac_assertion_status(app: &crate::helpers::TestApp, id: &str, secret: &str) -> u16 {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use josekit::jws::{HS256, JwsSigner};
    let now = crate::helpers::unix_now();
    let claims = serde_json::json!({
        "iss": id, "sub": id, "aud": app.issuer, "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = HS256
        .signer_from_bytes(secret.as_bytes())
        .unwrap()
        .sign(input.as_bytes())
        .unwrap();
    let assertion = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
    app.http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn rekey_moves_every_key_to_a_new_key_encryption_key(backend: Backend) {
    let d = Deployment::new(backend);
    let (id, secret) = d.create_client(&["--name", "svc"]).await;
    // A client_secret_jwt client: its secret is sealed under the KEK, so rekey re-seals it.
    let (hid, hsecret) = d
        .create_client(&["--name", "hmac", "--auth-method", "client_secret_jwt"])
        .await;
    let app = d.start().await;
    let (_, before) = app.client_credentials(&id, &secret, "").await;
    assert_eq!(hmac_assertion_status(&app, &hid, &hsecret).await, 200);
    let jwks_before = app.jwks().await;
    drop(app);
    let new = tessera::crypto::kek::Kek::generate().unwrap().to_base64();
    let out = d
        .cli_stdin(&["keys", "rekey", "--new-key-stdin"], &format!("{new}\n"))
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let old = d.kek.clone();
    match backend {
        Backend::PgRedis => {
            // The old key alone no longer opens anything; the new one does, with or without the
            // old one as a previous key (a rolling restart).
            let mut s = d.settings();
            s.keys.key_encryption_key = old.clone();
            assert!(crate::helpers::try_start(s, |_| {}).await.is_err());
            let mut s = d.settings();
            s.keys.key_encryption_key = new.clone();
            s.keys.previous_key_encryption_keys = vec![old];
            drop(crate::helpers::try_start(s, |_| {}).await.unwrap());
            let mut s = d.settings();
            s.keys.key_encryption_key = new.clone();
            let app = crate::helpers::try_start(s, |_| {}).await.unwrap();
            assert_eq!(app.jwks().await, jwks_before, "same keys");
            assert_eq!(
                app.client_credentials(&id, &secret, "").await.0,
                200,
                "client secrets still verify"
            );
            assert_eq!(
                hmac_assertion_status(&app, &hid, &hsecret).await,
                200,
                "sealed client secrets were re-sealed"
            );
            verify_jwt(before["access_token"].as_str().unwrap(), &app.jwks().await).unwrap();
        }
        Backend::Sqlite => {
            // The embedded default's key file now holds the new key.
            let file = d.data_dir().join("key-encryption-key");
            assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), new);
            assert_eq!(crate::helpers::path_mode(&file), 0o600);
            let app = d.start().await;
            assert_eq!(app.jwks().await, jwks_before);
            assert_eq!(app.client_credentials(&id, &secret, "").await.0, 200);
            assert_eq!(hmac_assertion_status(&app, &hid, &hsecret).await, 200);
        }
    }
    let out = d
        .cli_stdin(&["keys", "rekey", "--new-key-stdin"], "not-a-key\n")
        .await;
    assert!(!out.status.success());
}

async fn ps256_access_tokens_and_per_client_id_token_algorithms(backend: Backend) {
    let mut d = Deployment::new(backend);
    d.extra_env
        .push(("TESSERA_KEY_ALGORITHMS".into(), "RS256,PS256,ES256".into()));
    d.extra_env
        .push(("TESSERA_ACCESS_TOKEN_ALG".into(), "PS256".into()));
    let (id, secret) = d.create_client(&["--name", "svc"]).await;
    let app = d.start().await;
    let jwks: Value = serde_json::from_str(&app.jwks().await).unwrap();
    let mut algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    algs.sort();
    assert_eq!(
        algs,
        ["ES256", "PS256", "RS256"],
        "a key per enabled algorithm"
    );
    let disco: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        disco["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "PS256", "ES256"])
    );
    let (_, body) = app.client_credentials(&id, &secret, "").await;
    let (h, _) = verify_jwt(body["access_token"].as_str().unwrap(), &app.jwks().await).unwrap();
    assert_eq!(h["alg"], "PS256");

    // A client choosing ES256 ID tokens gets them; an algorithm without keys is refused.
    let out = d
        .cli(&[
            "client",
            "create",
            "--name",
            "x",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--id-token-alg",
            "EdDSA",
        ])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("key algorithms"));
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
    d.create_client(&[
        "--name",
        "Web App",
        "--id",
        "web",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--id-token-alg",
        "ES256",
        "--skip-consent",
    ])
    .await;
    app.eventually(Duration::from_secs(5), || async {
        crate::browser::Browser::new()
            .get(&crate::authorize::authorize_url(&app, "web", "openid", ""))
            .await
            .status()
            == 200
    })
    .await;
    let secret = d.cli_json(&["client", "rotate-secret", "web"]).await["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let back = crate::authorize::sign_in(
        &mut crate::browser::Browser::new(),
        &app,
        &crate::authorize::authorize_url(&app, "web", "openid", ""),
    )
    .await;
    let code = crate::browser::param(&back, "code").unwrap();
    let tokens = app
        .eventually_value(Duration::from_secs(5), || async {
            let r = app
                .token_raw(
                    Some(("web", &secret)),
                    &format!(
                        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                        crate::helpers::form("https://app.example.com/cb")
                    ),
                )
                .await;
            (r.status() == 200).then_some(r)
        })
        .await
        .json::<Value>()
        .await
        .unwrap();
    let (h, _) = verify_jwt(tokens["id_token"].as_str().unwrap(), &app.jwks().await).unwrap();
    assert_eq!(h["alg"], "ES256");
}

/// Two real server processes sharing PostgreSQL + Redis, with a rotation period of seconds:
/// they agree on the keys, and every token either one issues verifies against the other's JWKS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_real_processes_rotate_together() {
    if !crate::helpers::pg_tier_enabled() {
        return;
    }
    let d = Deployment::new(Backend::PgRedis);
    let (id, secret) = d.create_client(&["--name", "svc"]).await;
    let env = [
        ("TESSERA_KEY_ROTATION_PERIOD", "8"),
        ("TESSERA_KEY_CHECK_INTERVAL", "1"),
        ("TESSERA_JWKS_MAX_AGE", "1"),
        ("TESSERA_RELOAD_INTERVAL_MS", "200"),
        ("TESSERA_ACCESS_TOKEN_TTL", "10"),
        ("TESSERA_ID_TOKEN_TTL", "10"),
    ];
    let p1 = crate::helpers::ServerProcess::start(&d, &env).await;
    let p2 = crate::helpers::ServerProcess::start(&d, &env).await;
    let http = reqwest::Client::new();
    let mut kids = std::collections::BTreeSet::new();
    let start = std::time::Instant::now();
    let mut i = 0;
    while start.elapsed() < Duration::from_secs(22) {
        let (from, other) = if i % 2 == 0 { (&p1, &p2) } else { (&p2, &p1) };
        let r = http
            .post(format!("{}/oauth2/token", from.base))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let token = r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let jwks = http
            .get(format!("{}/oauth2/jwks", other.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let (h, _) = verify_jwt(&token, &jwks)
            .unwrap_or_else(|e| panic!("after {:?}: {e}", start.elapsed()));
        kids.insert(h["kid"].as_str().unwrap().to_string());
        i += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(kids.len() >= 2, "rotations happened: {kids:?}");
    let out = d.cli(&["keys", "list"]).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("active")).count(),
        1,
        "{text}"
    );
}
