//! Signing keys: encryption at rest, immediate rotation followed by running servers, other
//! algorithms.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Backend, Deployment, verify_jwt};

tiers!(
    rotation_is_followed_by_a_running_server,
    es256_and_eddsa_access_tokens_verify
);

async fn rotation_is_followed_by_a_running_server(backend: Backend) {
    let d = Deployment::new(backend);
    let (id, secret) = d.create_client(&["--name", "svc"]).await;
    let app = d.start().await;
    let (_, before) = app.client_credentials(&id, &secret, "").await;
    let old_token = before["access_token"].as_str().unwrap().to_string();
    let (old_header, _) = verify_jwt(&old_token, &app.jwks().await).unwrap();
    let old_kid = old_header["kid"].as_str().unwrap().to_string();

    let out = d.cli(&["keys", "rotate", "--now"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_kid = rotated["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);

    // The server signs with the new key within 10 s, without a restart.
    let took = app
        .eventually(Duration::from_secs(10), || async {
            let (_, body) = app.client_credentials(&id, &secret, "").await;
            let t = body["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            verify_jwt(&t, &app.jwks().await).is_ok_and(|(h, _)| h["kid"] == new_kid.as_str())
        })
        .await;
    eprintln!("rotation followed after {took:?}");
    // Both keys are published; the token signed before the rotation still verifies.
    let jwks = app.jwks().await;
    let kids: Vec<String> = serde_json::from_str::<Value>(&jwks).unwrap()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    verify_jwt(&old_token, &jwks).unwrap();

    // keys list shows one active and one retired RS256 key.
    let out = d.cli(&["keys", "list"]).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success());
    assert_eq!(
        text.lines().filter(|l| l.starts_with("active")).count(),
        1,
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("retired") && l.contains(&old_kid)),
        "{text}"
    );

    // Staged rotation: the next key is published now and activates one JWKS cache lifetime
    // (plus the reload interval) later; signing stays with the active key meanwhile.
    let staged = d.cli_json(&["keys", "rotate"]).await;
    assert_eq!(staged["state"], "next");
    let next_kid = staged["kid"].as_str().unwrap().to_string();
    let activates_at = staged["activates_at"].as_i64().unwrap();
    assert!(
        activates_at >= crate::helpers::unix_now() + 900,
        "published at least max-age ahead"
    );
    app.eventually(Duration::from_secs(10), || async {
        app.jwks().await.contains(&next_kid)
    })
    .await;
    let (_, body) = app.client_credentials(&id, &secret, "").await;
    let (h, _) = verify_jwt(body["access_token"].as_str().unwrap(), &app.jwks().await).unwrap();
    assert_eq!(
        h["kid"],
        new_kid.as_str(),
        "the staged key does not sign yet"
    );
    let out = d.cli(&["keys", "rotate"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already staged"));
    let out = d.cli(&["keys", "rotate", "--now", "--alg", "HS256"]).await;
    assert!(!out.status.success());

    // Emergency revocation of the active key: unpublished at once, a new key signs, and tokens
    // the revoked key signed stop verifying.
    let (_, body) = app.client_credentials(&id, &secret, "").await;
    let before = body["access_token"].as_str().unwrap().to_string();
    let revoked = d.cli_json(&["keys", "revoke", &new_kid]).await;
    assert_eq!(revoked["previous_state"], "active");
    app.eventually(Duration::from_secs(10), || async {
        !app.jwks().await.contains(&new_kid)
    })
    .await;
    assert!(verify_jwt(&before, &app.jwks().await).is_err());
    let (s, body) = app.client_credentials(&id, &secret, "").await;
    assert_eq!(s, 200);
    let (h, _) = verify_jwt(body["access_token"].as_str().unwrap(), &app.jwks().await).unwrap();
    assert_eq!(h["kid"], next_kid.as_str(), "the staged key took over");
    let out = d.cli(&["keys", "revoke", "no-such-kid"]).await;
    assert!(!out.status.success());
    // A kid is base64url and may start with `-`: it is still a kid, not an option.
    let out = d.cli(&["keys", "revoke", "-no-such-kid"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no key with kid `-no-such-kid`"), "{err}");
}

async fn es256_and_eddsa_access_tokens_verify(backend: Backend) {
    for alg in ["ES256", "EdDSA"] {
        let d = Deployment::new(backend);
        let (id, secret) = d.create_client(&["--name", "svc"]).await;
        let app = d.start_with(|s| s.keys.access_token_alg = alg.into()).await;
        let (s, body) = app.client_credentials(&id, &secret, "").await;
        assert_eq!(s, 200);
        let jwks = app.jwks().await;
        let (header, claims) = verify_jwt(body["access_token"].as_str().unwrap(), &jwks).unwrap();
        assert_eq!(header["alg"], alg);
        assert_eq!(claims["sub"], id.as_str());
        // No algorithm confusion: the same token with its header claiming another algorithm
        // does not verify against any published key.
        let token = body["access_token"].as_str().unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut h = header.clone();
        h["alg"] = "RS256".into();
        let forged = format!(
            "{}.{}.{}",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                h.to_string()
            ),
            parts[1],
            parts[2]
        );
        assert!(verify_jwt(&forged, &jwks).is_err());
        // rotate --alg ALG adds a second key of that algorithm; the ID-token key (RS256) stays.
        let out = d.cli(&["keys", "rotate", "--now", "--alg", alg]).await;
        assert!(out.status.success());
        app.eventually(Duration::from_secs(10), || async {
            let v: Value = serde_json::from_str(&app.jwks().await).unwrap();
            let keys = v["keys"].as_array().unwrap();
            keys.iter().filter(|k| k["alg"] == alg).count() == 2
                && keys.iter().any(|k| k["alg"] == "RS256")
        })
        .await;
    }
}
