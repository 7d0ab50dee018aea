//! Building and running the server: open the deployment, make sure a signing key exists, load
//! the in-memory directory, start the background reloads, bind (port 0 in tests).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::flows::directory::Directory;
use crate::flows::{Core, bootstrap, keys};
use crate::protocol::discovery::ServerMetadata;
use crate::session::SessionStore;

/// How often expired session rows are purged from SQL.
const SESSION_PURGE_INTERVAL: Duration = Duration::from_secs(60);

pub struct Application {
    port: u16,
    server: Server,
    core: Arc<Core>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        Self::build_on(settings, listener, clock).await
    }

    /// Builds on a listener bound by the caller (tests bind port 0 first, so that the issuer can
    /// name the real port).
    pub async fn build_on(
        settings: Settings,
        listener: TcpListener,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        let core = Arc::new(Self::build_core(settings, clock).await?);
        let port = listener.local_addr()?.port();
        spawn_background(core.clone());
        let data = web::Data::from(core.clone());
        // The access log only when it is shown (`tessera::access` at info): actix's logger
        // renders its fields for every request, whether the record is then filtered out or not.
        let access_log = tracing::enabled!(target: "tessera::access", tracing::Level::INFO);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(crate::http::headers::security_headers())
                .wrap(actix_web::middleware::Condition::new(
                    access_log,
                    actix_web::middleware::Logger::new("%a %U %s %b %Dms")
                        .log_target("tessera::access"),
                ))
                .wrap(crate::http::coalesce::Coalesce)
                .configure(crate::http::routes)
                .default_service(web::to(crate::http::not_found))
        })
        .shutdown_timeout(10)
        .client_request_timeout(Duration::from_secs(10))
        .listen(listener)?;
        if core.settings.workers > 0 {
            server = server.workers(core.settings.workers);
        }
        Ok(Application {
            port,
            server: server.run(),
            core,
        })
    }

    async fn build_core(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Core> {
        let now = clock.now();
        let s = settings.clone();
        let (opened, directory) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let opened = bootstrap::open(&s, now, bootstrap::Role::Server)?;
            keys::ensure_active(&opened.store, &opened.kek, &s, now)?;
            let directory = Directory::load(&opened.store, &opened.kek)?;
            Ok((opened, directory))
        })
        .await??;
        let sessions = SessionStore::from_settings(&settings, opened.store.clone())?;
        let password_checks = match settings.sessions.max_concurrent_password_checks {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            n => n,
        };
        let metadata = ServerMetadata::new(settings.issuer(), &settings.key_algorithms());
        let doc = serde_json::to_vec(&metadata)?;
        Ok(Core {
            settings,
            store: opened.store,
            sessions,
            directory,
            hasher: opened.hasher,
            passwords: crate::crypto::passwords::PasswordHasher::new(password_checks),
            kek: opened.kek,
            clock,
            client_keys: Default::default(),
            openid_configuration: doc.clone(),
            oauth_metadata: doc,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn core(&self) -> Arc<Core> {
        self.core.clone()
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGTERM/SIGINT finish in-flight requests first).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Runs the key schedule once (every node does, every `keys.check_interval`; one of them makes
/// each transition) and reloads the key ring when something changed.
pub async fn run_key_schedule(core: &Arc<Core>) -> anyhow::Result<Vec<String>> {
    let c = core.clone();
    let now = core.clock.now();
    let done =
        tokio::task::spawn_blocking(move || keys::run_schedule(&c.store, &c.kek, &c.settings, now))
            .await??;
    if !done.is_empty() {
        core.directory.refresh(&core.store, &core.kek).await?;
    }
    Ok(done)
}

fn spawn_background(core: Arc<Core>) {
    let k = core.clone();
    tokio::spawn(async move {
        let interval = Duration::from_secs(k.settings.keys.check_interval);
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = run_key_schedule(&k).await {
                tracing::warn!(error = %format!("{e:#}"), "running the key schedule failed; will retry");
            }
        }
    });
    let c = core.clone();
    tokio::spawn(async move {
        let interval = Duration::from_millis(c.settings.database.reload_interval_ms);
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = c.directory.refresh(&c.store, &c.kek).await {
                tracing::warn!(error = %format!("{e:#}"), "reloading clients and keys failed; serving the previous copy");
            }
        }
    });
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SESSION_PURGE_INTERVAL).await;
            if let SessionStore::Sql(_) = core.sessions
                && let Err(e) = core.store.run(|s| s.purge_expired_sessions()).await
            {
                tracing::warn!(error = %e, "purging expired sessions failed");
            }
            let now = core.clock.now();
            if let Err(e) = core
                .store
                .run(move |s| s.purge_expired_refresh_tokens(now))
                .await
            {
                tracing::warn!(error = %e, "purging expired refresh tokens failed");
            }
            if let Err(e) = core.store.run(|s| s.purge_expired_grants()).await {
                tracing::warn!(error = %e, "purging expired code redemptions and revocations failed");
            }
            // The session registry keeps ended and expired sessions for a day.
            let before = core.clock.now() - 86_400;
            if let Err(e) = core
                .store
                .run(move |s| s.purge_browser_sessions(before))
                .await
            {
                tracing::warn!(error = %e, "purging old browser-session records failed");
            }
        }
    });
}
