//! Discovery (OIDC Discovery §3, RFC 8414), the JWKS, health and readiness.

use serde_json::Value;

use crate::helpers::{Backend, Deployment};

tiers!(
    discovery_documents_agree_and_advertise_only_what_works,
    jwks_publishes_public_keys_only,
    health_and_readiness
);

async fn discovery_documents_agree_and_advertise_only_what_works(backend: Backend) {
    let d = Deployment::new(backend);
    let app = d.start().await;
    let oidc = app.get("/.well-known/openid-configuration").await;
    assert_eq!(oidc.status(), 200);
    let cache = oidc.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(cache, "public, max-age=900");
    assert!(
        oidc.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let oidc: Value = oidc.json().await.unwrap();
    let rfc8414: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(oidc, rfc8414, "the two documents must agree");
    assert_eq!(oidc["issuer"], app.issuer.as_str());
    assert_eq!(
        oidc["token_endpoint"],
        format!("{}/oauth2/token", app.issuer)
    );
    assert_eq!(oidc["jwks_uri"], format!("{}/oauth2/jwks", app.issuer));
    assert_eq!(
        oidc["grant_types_supported"],
        serde_json::json!(["authorization_code", "client_credentials", "refresh_token"])
    );
    assert_eq!(
        oidc["authorization_endpoint"],
        format!("{}/oauth2/authorize", app.issuer)
    );
    assert_eq!(
        oidc["userinfo_endpoint"],
        format!("{}/oauth2/userinfo", app.issuer)
    );
    assert_eq!(
        oidc["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        oidc["response_modes_supported"],
        serde_json::json!(["query", "form_post"])
    );
    assert_eq!(
        oidc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(oidc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(oidc["request_parameter_supported"], false);
    assert_eq!(
        oidc["revocation_endpoint"],
        format!("{}/oauth2/revoke", app.issuer)
    );
    assert_eq!(
        oidc["introspection_endpoint"],
        format!("{}/oauth2/introspect", app.issuer)
    );
    // A real relying-party library accepts the document.
    let parsed: openidconnect::core::CoreProviderMetadata =
        serde_json::from_value(oidc.clone()).expect("openidconnect parses the discovery document");
    assert_eq!(parsed.issuer().as_str(), app.issuer);
    assert_eq!(
        oidc["token_endpoint_auth_methods_supported"],
        serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "none"
        ])
    );
    assert_eq!(
        oidc["token_endpoint_auth_signing_alg_values_supported"],
        serde_json::json!(["RS256", "PS256", "ES256", "EdDSA", "HS256"])
    );
    assert_eq!(
        oidc["introspection_endpoint_auth_methods_supported"],
        serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        oidc["registration_endpoint"],
        format!("{}/oauth2/register", app.issuer)
    );
    // Every advertised endpoint answers.
    let jwks = app
        .http
        .get(oidc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    let token = app
        .http
        .post(oidc["token_endpoint"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_ne!(token.status(), 404);
}

async fn jwks_publishes_public_keys_only(backend: Backend) {
    let d = Deployment::new(backend);
    let app = d.start().await;
    let text = app.jwks().await;
    let v: Value = serde_json::from_str(&text).unwrap();
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    for k in keys {
        for m in ["kid", "kty", "use", "alg"] {
            assert!(k.get(m).is_some(), "{m} missing");
        }
        assert_eq!(k["use"], "sig");
        assert_eq!(k["alg"], "RS256");
        assert_eq!(k["kty"], "RSA");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(
                k.get(private).is_none(),
                "private member {private} published"
            );
        }
    }
    // An independent JOSE library accepts the set.
    let set: openidconnect::core::CoreJsonWebKeySet = serde_json::from_str(&text).unwrap();
    assert_eq!(set.keys().len(), 1);
}

async fn health_and_readiness(backend: Backend) {
    let d = Deployment::new(backend);
    let app = d.start().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    if backend == Backend::PgRedis {
        assert_eq!(body["redis"], "ok");
        // A node whose Redis is unreachable is alive but not ready.
        let broken = d
            .start_with(|s| s.redis_url = "redis://127.0.0.1:1".into())
            .await;
        assert_eq!(broken.get("/healthz").await.status(), 200);
        let r = broken.get("/readyz").await;
        assert_eq!(r.status(), 503);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["redis"], "unavailable");
        assert_eq!(body["database"], "ok");
    } else {
        assert!(body.get("redis").is_none());
    }
    assert_eq!(app.get("/nope").await.status(), 404);
}
