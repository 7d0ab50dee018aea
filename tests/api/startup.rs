//! Start-up: restarts, the key-encryption key, several nodes at once, configuration errors,
//! and the real binary with graceful shutdown.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::Value;
use tessera::config::DatabaseTarget;

use crate::helpers::{Backend, Deployment, path_mode, try_start, verify_jwt};

tiers!(
    restart_keeps_keys_clients_and_tokens,
    a_wrong_or_missing_key_encryption_key_refuses_to_start,
    nodes_starting_together_agree_on_one_key,
    private_keys_are_encrypted_at_rest,
);

async fn restart_keeps_keys_clients_and_tokens(backend: Backend) {
    let d = Deployment::new(backend);
    let (id, secret) = d.create_client(&["--name", "svc"]).await;
    let app = d.start().await;
    let (_, body) = app.client_credentials(&id, &secret, "").await;
    let token = body["access_token"].as_str().unwrap().to_string();
    let jwks_before = app.jwks().await;
    drop(app);
    let again = d.start().await;
    let jwks_after = again.jwks().await;
    assert_eq!(jwks_before, jwks_after, "same keys after a restart");
    verify_jwt(&token, &jwks_after).unwrap();
    assert_eq!(again.client_credentials(&id, &secret, "").await.0, 200);
}

async fn a_wrong_or_missing_key_encryption_key_refuses_to_start(backend: Backend) {
    let d = Deployment::new(backend);
    let first = d.start().await;
    drop(first);
    let other = tessera::crypto::kek::Kek::generate().unwrap().to_base64();
    let mut wrong = d.settings();
    wrong.keys.key_encryption_key = other.clone();
    let err = try_start(wrong, |_| {})
        .await
        .err()
        .expect("must refuse a wrong key");
    assert!(format!("{err:#}").contains("does not match"), "{err:#}");

    let out = d.cli(&["client", "list"]).await;
    assert!(out.status.success());
    // The deployment's environment with another KEK (the extra variable wins).
    let out = d
        .cli_with_env(
            &["client", "list"],
            &[("TESSERA_KEY_ENCRYPTION_KEY", other.as_str())],
        )
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match"));

    match backend {
        Backend::PgRedis => {
            let mut missing = d.settings();
            missing.keys.key_encryption_key = String::new();
            let err = try_start(missing, |_| {})
                .await
                .err()
                .expect("PostgreSQL needs a key");
            assert!(
                format!("{err:#}").contains("required with PostgreSQL"),
                "{err:#}"
            );
        }
        Backend::Sqlite => {
            let file = d.data_dir().join("key-encryption-key");
            assert_eq!(path_mode(&file), 0o600);
            assert_eq!(
                path_mode(&d.data_dir().join("tessera.db")) & 0o077 & 0o002,
                0,
                "not world-writable"
            );
            std::fs::write(
                &file,
                tessera::crypto::kek::Kek::generate().unwrap().to_base64(),
            )
            .unwrap();
            let err = try_start(d.settings(), |_| {})
                .await
                .err()
                .expect("must refuse a replaced key file");
            assert!(format!("{err:#}").contains("does not match"), "{err:#}");
        }
    }
}

async fn nodes_starting_together_agree_on_one_key(backend: Backend) {
    let d = Deployment::new(backend);
    let (a, b, c) = tokio::join!(d.start(), d.start(), d.start());
    let (ja, jb, jc) = (a.jwks().await, b.jwks().await, c.jwks().await);
    let keys: Value = serde_json::from_str(&ja).unwrap();
    assert_eq!(
        keys["keys"].as_array().unwrap().len(),
        1,
        "exactly one key: {ja}"
    );
    assert_eq!(ja, jb);
    assert_eq!(ja, jc);
}

async fn private_keys_are_encrypted_at_rest(backend: Backend) {
    use tessera::storage::sql::schema::signing_keys::dsl::*;
    let d = Deployment::new(backend);
    let app = d.start().await;
    drop(app);
    let target = d.settings().database_target().unwrap();
    let rows: Vec<(String, Vec<u8>)> = match &target {
        DatabaseTarget::Postgres(url) => {
            let mut c = PgConnection::establish(url).unwrap();
            signing_keys
                .select((kid, private_key))
                .load(&mut c)
                .unwrap()
        }
        DatabaseTarget::Sqlite(path) => {
            let mut c = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            signing_keys
                .select((kid, private_key))
                .load(&mut c)
                .unwrap()
        }
    };
    assert_eq!(rows.len(), 1);
    let (k, sealed) = &rows[0];
    // Not DER (which starts with a SEQUENCE, 0x30), not PEM, not JSON.
    assert_eq!(sealed[0], 1, "sealed format version");
    assert!(!sealed.windows(5).any(|w| w == b"BEGIN" || w == b"\"d\":\""));
    // And it opens only with the deployment's KEK, bound to its row.
    let kek = match backend {
        Backend::PgRedis => tessera::crypto::kek::Kek::from_base64(&d.kek).unwrap(),
        Backend::Sqlite => {
            tessera::crypto::kek::Kek::read_file(&d.data_dir().join("key-encryption-key")).unwrap()
        }
    };
    let der = kek.open(&tessera::storage::key_aad(k), sealed).unwrap();
    assert_eq!(der[0], 0x30);
    assert!(kek.open(b"signing_key:other", sealed).is_err());
}

#[test]
fn invalid_configuration_stops_startup_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[(&str, &str)], &[&str], &str)] = &[
        (&[("TESSERA_BIND", "nonsense")], &["serve"], "bind"),
        (
            &[("TESSERA_ISSUER", "http://id.example.com")],
            &["serve"],
            "issuer",
        ),
        (
            &[("TESSERA_DATABASE_URL", "mysql://x")],
            &["client", "list"],
            "database_url",
        ),
        (
            &[("TESSERA_ACCESS_TOKEN_TTL", "abc")],
            &["serve"],
            "TESSERA_ACCESS_TOKEN_TTL",
        ),
        (
            &[],
            &["--config", "/nonexistent/tessera.toml", "serve"],
            "/nonexistent/tessera.toml",
        ),
    ];
    for (env, args, key) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(*args)
            .current_dir(dir.path())
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{env:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(key) && err.starts_with("invalid configuration"),
            "{err}"
        );
    }
    // --config is accepted on every subcommand, before or after it.
    let file = dir.path().join("t.toml");
    std::fs::write(&file, "bind = \"bad\"\n").unwrap();
    for args in [
        vec!["--config", file.to_str().unwrap(), "keys", "list"],
        vec!["client", "list", "--config", file.to_str().unwrap()],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(&args)
            .current_dir(dir.path())
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("bind"));
    }
}

/// The real binary on the embedded default: serves, then exits cleanly on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_on_the_embedded_default_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("TESSERA_BIND", "127.0.0.1:0")
        .env("TESSERA_WORKERS", "1")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let port = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("port=").nth(1) {
                return rest
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<u16>()
                    .unwrap();
            }
        }
        panic!("server exited before serving")
    })
    .await
    .unwrap();
    let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = log_tx.send(line);
        }
    });
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // The default log level (info) shows the access log: one line per request.
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = log_rx.recv().await {
            if line.contains("tessera::access") && line.contains("/healthz 200") {
                return;
            }
        }
        panic!("no access-log line for GET /healthz")
    })
    .await
    .expect("an access-log line for GET /healthz");
    // The embedded default keeps everything in the data dir.
    assert!(dir.path().join("data/tessera.db").exists());
    assert_eq!(
        path_mode(&dir.path().join("data/key-encryption-key")),
        0o600
    );
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
