//! Test harness: a real server on port 0 per test, on either storage tier, with its own SQLite
//! file or its own PostgreSQL database and Redis key prefix.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::{Connection, PgConnection, RunQueryDsl};
use openidconnect::JsonWebKey;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use serde_json::Value;
use tessera::clock::SystemClock;
use tessera::config::Settings;
use tessera::crypto::kek::Kek;
use tessera::startup::Application;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: SQLite for everything.
    Sqlite,
    /// PostgreSQL for data, Redis for session state.
    PgRedis,
}

pub fn pg_admin_url() -> String {
    std::env::var("TESSERA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("TESSERA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Whether the PostgreSQL + Redis tier runs. Under `CI=true` it always runs (and fails loudly
/// if the services are missing); elsewhere `TESSERA_TEST_SKIP_PG=1` skips it.
pub fn pg_tier_enabled() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if ci {
        return true;
    }
    if std::env::var("TESSERA_TEST_SKIP_PG").is_ok_and(|v| v == "1") {
        eprintln!("skipping the PostgreSQL + Redis tier (TESSERA_TEST_SKIP_PG=1)");
        return false;
    }
    true
}

/// A fresh PostgreSQL database, dropped when the value is.
pub struct PgDb {
    pub name: String,
    pub url: String,
}

impl PgDb {
    pub fn create() -> PgDb {
        let admin = pg_admin_url();
        let name = format!("tessera_t_{}", uuid::Uuid::new_v4().simple());
        let mut c = PgConnection::establish(&admin)
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        PgDb {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = PgConnection::establish(&pg_admin_url()) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut c);
        }
    }
}

/// The storage of one test deployment (shared by every server and CLI call of the test).
pub struct Deployment {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub pg: Option<PgDb>,
    pub kek: String,
    pub redis_prefix: String,
    /// `TESSERA_*` variables for both the nodes and the CLI of this deployment.
    pub extra_env: Vec<(String, String)>,
}

impl Deployment {
    pub fn new(backend: Backend) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let pg = (backend == Backend::PgRedis).then(PgDb::create);
        Deployment {
            backend,
            dir,
            pg,
            kek: Kek::generate().unwrap().to_base64(),
            redis_prefix: format!("tessera-test-{}:", uuid::Uuid::new_v4().simple()),
            extra_env: Vec::new(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Settings of a node of this deployment (issuer and bind are set when it starts).
    pub fn settings(&self) -> Settings {
        let mut s = Settings::default();
        s.data_dir = self.data_dir();
        s.workers = 2;
        s.log = "warn".into();
        s.database.reload_interval_ms = 200;
        s.database.pool_size = 4;
        s.apply_env(&self.extra_env).unwrap();
        match self.backend {
            Backend::Sqlite => {
                // The embedded default: no KEK given, the file in the data dir is generated.
            }
            Backend::PgRedis => {
                s.database_url = self.pg.as_ref().unwrap().url.clone();
                s.redis_url = redis_url();
                s.redis_key_prefix = self.redis_prefix.clone();
                s.keys.key_encryption_key = self.kek.clone();
            }
        }
        s
    }

    /// Environment for the CLI so that it opens this deployment.
    pub fn cli_env(&self) -> Vec<(String, String)> {
        let s = self.settings();
        let mut env = vec![
            (
                "TESSERA_DATA_DIR".to_string(),
                s.data_dir.display().to_string(),
            ),
            ("TESSERA_LOG".to_string(), "warn".to_string()),
        ];
        env.extend(self.extra_env.iter().cloned());
        if self.backend == Backend::PgRedis {
            env.push(("TESSERA_DATABASE_URL".into(), s.database_url.clone()));
            env.push(("TESSERA_REDIS_URL".into(), s.redis_url.clone()));
            env.push((
                "TESSERA_REDIS_KEY_PREFIX".into(),
                s.redis_key_prefix.clone(),
            ));
            env.push(("TESSERA_KEY_ENCRYPTION_KEY".into(), self.kek.clone()));
        }
        env
    }

    /// Runs the `tessera` binary against this deployment.
    pub async fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_env(args, &[]).await
    }

    /// [`Deployment::cli`] with extra environment variables.
    pub async fn cli_with_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
        cmd.args(args).current_dir(self.dir.path()).env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in self.cli_env() {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("CLI timed out")
            .unwrap()
    }

    /// Runs the `tessera` binary against this deployment with `stdin` piped to it.
    pub async fn cli_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
        cmd.args(args).current_dir(self.dir.path()).env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in self.cli_env() {
            cmd.env(k, v);
        }
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        // The CLI may exit before reading (a refused command); a broken pipe is fine then.
        let _ = pipe.write_all(stdin.as_bytes()).await;
        drop(pipe);
        tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("CLI timed out")
            .unwrap()
    }

    /// Runs the CLI and parses its JSON output; panics with stderr when it fails.
    pub async fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args).await;
        assert!(
            out.status.success(),
            "tessera {args:?} failed ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Creates a client with the CLI; returns (client_id, client_secret).
    pub async fn create_client(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["client", "create"];
        all.extend_from_slice(args);
        let v = self.cli_json(&all).await;
        (
            v["client_id"].as_str().unwrap().to_string(),
            v["client_secret"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// Starts a node of this deployment.
    pub async fn start(&self) -> TestApp {
        self.start_with(|_| {}).await
    }

    pub async fn start_with(&self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        try_start(self.settings(), tweak).await.unwrap()
    }
}

/// Binds port 0, sets the issuer to it, builds the app and serves it in the background.
pub async fn try_start(
    settings: Settings,
    tweak: impl FnOnce(&mut Settings),
) -> anyhow::Result<TestApp> {
    try_start_clocked(settings, tweak, Arc::new(SystemClock)).await
}

/// [`try_start`] with an injected clock.
pub async fn try_start_clocked(
    mut settings: Settings,
    tweak: impl FnOnce(&mut Settings),
    clock: Arc<dyn tessera::clock::Clock>,
) -> anyhow::Result<TestApp> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    settings.issuer = format!("http://127.0.0.1:{port}");
    settings.bind = format!("127.0.0.1:{port}");
    tweak(&mut settings);
    let app = Application::build_on(settings.clone(), listener, clock).await?;
    let handle = app.handle();
    let core = app.core();
    tokio::spawn(app.run_until_stopped());
    Ok(TestApp {
        base: format!("http://127.0.0.1:{port}"),
        issuer: settings.issuer.clone(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        core,
        handle,
    })
}

pub struct TestApp {
    pub base: String,
    pub issuer: String,
    pub http: reqwest::Client,
    pub core: Arc<tessera::flows::Core>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command now; the workers wind down on their own threads.
        drop(self.handle.stop(false));
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn jwks(&self) -> String {
        self.get("/oauth2/jwks").await.text().await.unwrap()
    }

    /// POSTs a raw form body to the token endpoint with optional Basic credentials.
    pub async fn token_raw(&self, basic: Option<(&str, &str)>, body: &str) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url("/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        if let Some((id, secret)) = basic {
            req = req.basic_auth(form(id), Some(form(secret)));
        }
        req.send().await.unwrap()
    }

    /// A client-credentials token with Basic auth; returns (status, body).
    pub async fn client_credentials(&self, id: &str, secret: &str, extra: &str) -> (u16, Value) {
        let r = self
            .token_raw(
                Some((id, secret)),
                &format!("grant_type=client_credentials{extra}"),
            )
            .await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// Polls until `check` returns a value or `limit` passes.
    pub async fn eventually_value<T, F, Fut>(&self, limit: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let start = Instant::now();
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                start.elapsed() < limit,
                "condition not met within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls until `check` holds or `limit` passes; returns how long it took.
    pub async fn eventually<F, Fut>(&self, limit: Duration, mut check: F) -> Duration
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        loop {
            if check().await {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "condition not met within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// application/x-www-form-urlencoded encoding of one value.
pub fn form(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

pub fn b64json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Verifies a JWS against a JWKS with openidconnect (an independent JOSE implementation):
/// the key is chosen by `kid`, and the key's own `alg` must match the header's. Returns
/// (header, claims).
pub fn verify_jwt(token: &str, jwks_json: &str) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err("not a compact JWS".into());
    }
    let header = b64json(parts[0]);
    let jwks: CoreJsonWebKeySet = serde_json::from_str(jwks_json).map_err(|e| e.to_string())?;
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let key = jwks
        .keys()
        .iter()
        .find(|k| k.key_id().map(|id| id.as_str()) == Some(kid))
        .ok_or_else(|| format!("kid {kid} not in JWKS"))?;
    let alg: CoreJwsSigningAlgorithm =
        serde_json::from_value(header["alg"].clone()).map_err(|e| e.to_string())?;
    match key.signing_alg() {
        openidconnect::JsonWebKeyAlgorithm::Algorithm(a) if *a == alg => {}
        _ => return Err("key algorithm does not match the header".into()),
    }
    let sig = URL_SAFE_NO_PAD
        .decode(parts[2])
        .map_err(|e| e.to_string())?;
    key.verify_signature(&alg, format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .map_err(|e| format!("signature: {e}"))?;
    Ok((header, b64json(parts[1])))
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn path_mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The real `tessera serve` binary on a port of its own, killed on drop.
pub struct ServerProcess {
    pub base: String,
    child: tokio::process::Child,
}

impl ServerProcess {
    /// Starts a node of `d` with extra environment `env`; waits until it serves.
    pub async fn start(d: &Deployment, env: &[(&str, &str)]) -> ServerProcess {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
        cmd.arg("serve").current_dir(d.dir.path()).env_clear();
        for (k, v) in d.cli_env() {
            cmd.env(k, v);
        }
        cmd.env("TESSERA_BIND", "127.0.0.1:0")
            .env("TESSERA_WORKERS", "1")
            .env("TESSERA_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(60), async {
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
        .expect("server start");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServerProcess {
            base: format!("http://127.0.0.1:{port}"),
            child,
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
