//! The client-management CLI against a running server's database.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, Deployment};

tiers!(
    running_server_follows_client_changes_made_by_the_cli,
    cli_validates_and_never_half_creates,
    migrate_is_idempotent,
    registration_token_commands,
    user_update_command,
);

/// How long a running server may take to see a client change (documented bound: the reload
/// interval, 1 s by default and 200 ms in these tests, plus the reload itself).
const BOUND: Duration = Duration::from_secs(5);

async fn running_server_follows_client_changes_made_by_the_cli(backend: Backend) {
    let d = Deployment::new(backend);
    let app = d.start().await;

    // create → usable
    let created = d
        .cli_json(&[
            "client",
            "create",
            "--name",
            "Billing",
            "--id",
            "billing",
            "--scope",
            "read write",
        ])
        .await;
    assert_eq!(created["client_id"], "billing");
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 43, "256 bits of randomness");
    let took = app
        .eventually(BOUND, || async {
            app.client_credentials("billing", &secret, "").await.0 == 200
        })
        .await;
    eprintln!("server saw the new client after {took:?}");

    // show / list never reveal the secret or its hash
    let shown = d.cli_json(&["client", "show", "billing"]).await;
    assert_eq!(shown["client_name"], "Billing");
    assert!(shown.get("client_secret").is_none());
    let listed = d.cli_json(&["client", "list"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let raw = serde_json::to_string(&listed).unwrap();
    assert!(!raw.contains(&secret) && !raw.contains("hs256"));

    // update → scope narrowed
    d.cli_json(&["client", "update", "billing", "--scope", "read"])
        .await;
    app.eventually(BOUND, || async {
        app.client_credentials("billing", &secret, "&scope=write")
            .await
            .1["error"]
            == "invalid_scope"
    })
    .await;

    // rotate-secret → old secret refused, new one works
    let rotated = d.cli_json(&["client", "rotate-secret", "billing"]).await;
    let new_secret = rotated["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    app.eventually(BOUND, || async {
        app.client_credentials("billing", &new_secret, "").await.0 == 200
    })
    .await;
    assert_eq!(app.client_credentials("billing", &secret, "").await.0, 401);

    // delete → invalid_client
    let deleted = d.cli_json(&["client", "delete", "billing"]).await;
    assert_eq!(deleted["deleted"], "billing");
    app.eventually(BOUND, || async {
        app.client_credentials("billing", &new_secret, "").await.0 == 401
    })
    .await;
}

async fn cli_validates_and_never_half_creates(backend: Backend) {
    let d = Deployment::new(backend);
    let count = || async {
        d.cli_json(&["client", "list"])
            .await
            .as_array()
            .unwrap()
            .len()
    };

    let refused: &[&[&str]] = &[
        &["client", "create", "--name", "x", "--secret", "too-short"],
        &[
            "client",
            "create",
            "--name",
            "x",
            "--id",
            "6f1c2a52-9a0e-4b7e-8a43-1d2c3b4a5e6f",
        ],
        &["client", "create", "--name", "x", "--id", "has space"],
        &[
            "client",
            "create",
            "--name",
            "x",
            "--redirect-uri",
            "javascript:alert(1)",
        ],
        &[
            "client",
            "create",
            "--name",
            "x",
            "--redirect-uri",
            "http://evil.example/cb",
        ],
        &[
            "client",
            "create",
            "--name",
            "x",
            "--redirect-uri",
            "https://app.example.com/cb#frag",
        ],
        &[
            "client",
            "create",
            "--name",
            "x",
            "--public",
            "--grant-type",
            "client_credentials",
        ],
        &[
            "client",
            "create",
            "--name",
            "x",
            "--grant-type",
            "password",
        ],
        &[
            "client",
            "create",
            "--name",
            "x",
            "--grant-type",
            "authorization_code",
        ],
        &["client", "create", "--name", "x", "--scope", "bad\"scope"],
        &[
            "client",
            "create",
            "--name",
            "x",
            "--auth-method",
            "private_key_jwt",
        ],
        &["client", "create", "--name", ""],
        &["client", "create"],
        &["client", "show", "nobody"],
        &["client", "delete", "nobody"],
        &["client", "rotate-secret", "nobody"],
    ];
    for args in refused {
        let out = d.cli(args).await;
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{args:?} says why");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert_eq!(count().await, 0, "nothing half-created");

    // A hand-given secret of 32+ characters works and is printed once.
    let long = "s".repeat(32);
    let v = d
        .cli_json(&[
            "client", "create", "--name", "x", "--id", "svc", "--secret", &long,
        ])
        .await;
    assert_eq!(v["client_secret"], long.as_str());
    // A taken id is refused and the existing client is unchanged.
    let out = d
        .cli(&["client", "create", "--name", "y", "--id", "svc"])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("taken"));
    let shown: Value = d.cli_json(&["client", "show", "svc"]).await;
    assert_eq!(shown["client_name"], "x");
    assert_eq!(count().await, 1);

    // A public client has no secret.
    let v = d
        .cli_json(&[
            "client",
            "create",
            "--name",
            "spa",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1:5000/cb",
        ])
        .await;
    assert!(v.get("client_secret").is_none());
    assert_eq!(v["token_endpoint_auth_method"], "none");
    assert_eq!(v["grant_types"], serde_json::json!(["authorization_code"]));
}

async fn migrate_is_idempotent(backend: Backend) {
    let d = Deployment::new(backend);
    let first = d.cli(&["migrate"]).await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied"));
    let second = d.cli(&["migrate"]).await;
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("up to date"));
    // A server starts on the migrated database and serves.
    let app = d.start().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
}

async fn registration_token_commands(backend: Backend) {
    let d = Deployment::new(backend);
    let made = d
        .cli_json(&[
            "client",
            "registration-token",
            "create",
            "--max-uses",
            "2",
            "--expires-in",
            "600",
        ])
        .await;
    let other = d
        .cli_json(&["client", "registration-token", "create"])
        .await;
    let id = made["id"].as_str().unwrap().to_string();
    let secret = made["initial_access_token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("tri_"));

    // list: both, by id, with limits and state; never the token or its hash.
    let listed = d.cli_json(&["client", "registration-token", "list"]).await;
    let items = listed.as_array().unwrap();
    assert_eq!(items.len(), 2, "{listed}");
    let text = listed.to_string();
    let hash = tessera::flows::registration::token_hash(&secret);
    assert!(!text.contains(&secret) && !text.contains(&hash) && !text.contains("tri_"));
    let shown = d
        .cli_json(&["client", "registration-token", "show", &id])
        .await;
    assert_eq!(shown["remaining_uses"], 2);
    assert_eq!(
        shown["expires_at"].as_i64().unwrap() - shown["created_at"].as_i64().unwrap(),
        600
    );
    assert_eq!(
        (shown["state"].as_str(), shown["usable"].as_bool()),
        (Some("usable"), Some(true))
    );
    assert!(items.contains(&shown), "{listed}");

    // revoke: the token registers nothing; show and a second revoke fail and say why.
    let app = d.start().await;
    let register = |tok: String| {
        app.http
            .post(app.url("/oauth2/register"))
            .bearer_auth(tok)
            .json(&json!({"redirect_uris": ["https://app.example.com/cb"]}))
            .send()
    };
    assert_eq!(register(secret.clone()).await.unwrap().status(), 201);
    let shown = d
        .cli_json(&["client", "registration-token", "show", &id])
        .await;
    assert_eq!(shown["remaining_uses"], 1);
    let revoked = d
        .cli_json(&["client", "registration-token", "revoke", &id])
        .await;
    assert_eq!(revoked["revoked"], id.as_str());
    assert_eq!(
        register(secret.clone()).await.unwrap().status(),
        401,
        "revoked"
    );
    for args in [
        &["client", "registration-token", "show", id.as_str()][..],
        &["client", "registration-token", "revoke", id.as_str()][..],
        &["client", "registration-token", "show", "nope"][..],
        &["client", "registration-token", "create", "--max-uses", "0"][..],
        &["client", "registration-token", "revoke"][..],
    ] {
        let out = d.cli(args).await;
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.trim().is_empty() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    let listed = d.cli_json(&["client", "registration-token", "list"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], other["id"]);
    assert_eq!(
        register(other["initial_access_token"].as_str().unwrap().to_string())
            .await
            .unwrap()
            .status(),
        201
    );
}

async fn user_update_command(backend: Backend) {
    let d = Deployment::new(backend);
    let out = d
        .cli_stdin(
            &[
                "user",
                "create",
                "--username",
                "mo",
                "--email",
                "mo@example.com",
                "--email-verified",
                "--name",
                "Mo",
                "--given-name",
                "Mo",
                "--password-stdin",
            ],
            "a long password\n",
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();

    let v = d
        .cli_json(&[
            "user",
            "update",
            "MO",
            "--name",
            "Mo Salah",
            "--given-name",
            "",
            "--family-name",
            "Salah",
        ])
        .await;
    assert_eq!(
        (
            v["name"].as_str(),
            v["given_name"].clone(),
            v["family_name"].as_str()
        ),
        (Some("Mo Salah"), Value::Null, Some("Salah"))
    );
    assert_eq!(
        (v["email_verified"].as_bool(), v["sub"].clone()),
        (Some(true), created["sub"].clone())
    );
    let v = d
        .cli_json(&["user", "update", "mo", "--email", "salah@example.com"])
        .await;
    assert_eq!(
        (v["email"].as_str(), v["email_verified"].as_bool()),
        (Some("salah@example.com"), Some(false))
    );
    let v = d
        .cli_json(&["user", "update", "mo", "--email-verified"])
        .await;
    assert_eq!(v["email_verified"], true);
    let v = d
        .cli_json(&["user", "update", "mo", "--email-verified=false"])
        .await;
    assert_eq!(v["email_verified"], false);

    // Refused with the creation rules; nothing changes.
    for args in [
        &["user", "update", "mo"][..],
        &["user", "update", "mo", "--email", "nope"][..],
        &["user", "update", "mo", "--name", "   "][..],
        &["user", "update", "mo", "--name", "tab\there"][..],
        &["user", "update", "mo", "--email-verified=maybe"][..],
        &["user", "update", "nobody", "--name", "X"][..],
    ] {
        let out = d.cli(args).await;
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.trim().is_empty() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    let shown = d.cli_json(&["user", "show", "mo"]).await;
    assert_eq!(shown, v, "refusals changed nothing");
}
