//! Settings: built-in defaults → a TOML file (`config/tessera.toml`, or `--config PATH`) → `TESSERA_*`
//! environment variables. Built once at start-up and passed around as a value, never read from a
//! global, so that two servers with different settings can run in one test process.
//!
//! [`Settings::validate`] refuses anything unsafe or inconsistent with one line naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::protocol::jose::Alg;

/// Where the file settings come from when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/tessera.toml";

/// A configuration problem: which key, and why. Displays as one line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The issuer identifier: every absolute URL Tessera emits starts with it.
    pub issuer: String,
    /// Address and port to listen on.
    pub bind: String,
    /// Directory for the embedded database and the generated key-encryption key.
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL; `sqlite://PATH` or empty selects SQLite.
    pub database_url: String,
    /// Unset: session state lives in the SQL database. Set: Redis holds it.
    pub redis_url: String,
    /// Prefix of every Redis key this deployment writes.
    pub redis_key_prefix: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// `tracing` filter directive, e.g. `info` or `tessera=debug`.
    pub log: String,
    pub database: DatabaseSettings,
    pub keys: KeySettings,
    pub tokens: TokenSettings,
    pub http: HttpSettings,
    pub sessions: SessionSettings,
    pub outbound: OutboundSettings,
    pub registration: RegistrationSettings,
}

/// Dynamic client registration (RFC 7591).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationSettings {
    /// Allow registration without an initial access token.
    pub open: bool,
}

/// Requests Tessera makes to clients (back-channel logout).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundSettings {
    /// Allow loopback, private-network and other non-public addresses (tests and local
    /// development only).
    pub allow_private: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// Lifetime of a signed-in browser session, in seconds.
    pub lifetime: u64,
    /// How long a person may take to sign in and consent, in seconds.
    pub interaction_lifetime: u64,
    /// Password checks running at once (each takes ~19 MiB and tens of milliseconds);
    /// 0 means one per CPU core.
    pub max_concurrent_password_checks: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            lifetime: 8 * 3600,
            interaction_lifetime: 1800,
            max_concurrent_password_checks: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connections in the pool of each process.
    pub pool_size: u32,
    /// How often each node looks for changed clients and keys, in milliseconds.
    pub reload_interval_ms: u64,
}

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeySettings {
    /// Base64 of 32 random bytes. Prefer the environment variable to the file.
    pub key_encryption_key: String,
    /// A file holding the base64 key-encryption key.
    pub key_encryption_key_file: String,
    /// Algorithm of the key that signs access tokens.
    pub access_token_alg: String,
    /// Algorithms with keys (RS256 always; the access-token algorithm always). Clients may pick
    /// any of these for their ID tokens.
    pub algorithms: Vec<String>,
    /// Rotation period of every algorithm's key, in seconds.
    pub rotation_period: u64,
    /// Per-algorithm overrides of `rotation_period`, e.g. `{ ES256 = 604800 }`.
    pub rotation_periods: std::collections::BTreeMap<String, u64>,
    /// How often each node runs the key schedule, in seconds.
    pub check_interval: u64,
    /// Previous key-encryption keys (base64), still accepted for opening during a re-key.
    pub previous_key_encryption_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// Lifetime of access tokens, in seconds.
    pub access_token_ttl: u64,
    /// `aud` of an access token whose client registered no audience and named no resource.
    /// Empty: the issuer.
    pub default_audience: String,
    /// Lifetime of ID tokens, in seconds.
    pub id_token_ttl: u64,
    /// Lifetime of authorization codes, in seconds (at most 60).
    pub code_ttl: u64,
    /// A refresh token unused for this long expires, in seconds.
    pub refresh_idle_ttl: u64,
    /// A grant's refresh tokens end this long after sign-in, however used, in seconds.
    pub refresh_absolute_ttl: u64,
    /// Seconds during which the same client re-presenting a just-rotated refresh token gets the
    /// same successor instead of triggering reuse detection; 0 turns it off.
    pub refresh_retry_window: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// `Cache-Control: max-age` of the JWKS and discovery documents, in seconds.
    pub jwks_max_age: u64,
    /// Largest request body accepted by form endpoints, in bytes.
    pub max_form_bytes: usize,
    /// Peers (IP addresses) whose `X-Forwarded-For` is believed for the client address.
    pub trusted_proxies: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            redis_url: String::new(),
            redis_key_prefix: "tessera:".into(),
            workers: 0,
            log: "info".into(),
            database: DatabaseSettings::default(),
            keys: KeySettings::default(),
            tokens: TokenSettings::default(),
            http: HttpSettings::default(),
            sessions: SessionSettings::default(),
            outbound: OutboundSettings::default(),
            registration: RegistrationSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            pool_size: 8,
            reload_interval_ms: 1000,
        }
    }
}

impl std::fmt::Debug for KeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = if self.key_encryption_key.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("KeySettings")
            .field("key_encryption_key", &redacted)
            .field("key_encryption_key_file", &self.key_encryption_key_file)
            .field("access_token_alg", &self.access_token_alg)
            .field("algorithms", &self.algorithms)
            .field("rotation_period", &self.rotation_period)
            .field("rotation_periods", &self.rotation_periods)
            .field("check_interval", &self.check_interval)
            .field(
                "previous_key_encryption_keys",
                &self.previous_key_encryption_keys.len(),
            )
            .finish()
    }
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            key_encryption_key: String::new(),
            key_encryption_key_file: String::new(),
            access_token_alg: "RS256".into(),
            algorithms: vec!["RS256".into()],
            rotation_period: 30 * 86_400,
            rotation_periods: std::collections::BTreeMap::new(),
            check_interval: 30,
            previous_key_encryption_keys: Vec::new(),
        }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_token_ttl: 600,
            default_audience: String::new(),
            id_token_ttl: 600,
            code_ttl: 60,
            refresh_idle_ttl: 14 * 86_400,
            refresh_absolute_ttl: 90 * 86_400,
            refresh_retry_window: 0,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            jwks_max_age: 900,
            max_form_bytes: 16 * 1024,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Which SQL backend, resolved from `database_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseTarget {
    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseTarget::Postgres(_))
    }
}

/// Every environment variable Tessera reads, with the setting it overrides.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("TESSERA_ISSUER", "issuer"),
    ("TESSERA_BIND", "bind"),
    ("TESSERA_DATA_DIR", "data_dir"),
    ("TESSERA_DATABASE_URL", "database_url"),
    ("TESSERA_REDIS_URL", "redis_url"),
    ("TESSERA_REDIS_KEY_PREFIX", "redis_key_prefix"),
    ("TESSERA_WORKERS", "workers"),
    ("TESSERA_LOG", "log"),
    ("TESSERA_DB_POOL_SIZE", "database.pool_size"),
    ("TESSERA_RELOAD_INTERVAL_MS", "database.reload_interval_ms"),
    ("TESSERA_KEY_ENCRYPTION_KEY", "keys.key_encryption_key"),
    (
        "TESSERA_KEY_ENCRYPTION_KEY_FILE",
        "keys.key_encryption_key_file",
    ),
    ("TESSERA_ACCESS_TOKEN_ALG", "keys.access_token_alg"),
    ("TESSERA_KEY_ALGORITHMS", "keys.algorithms"),
    ("TESSERA_KEY_ROTATION_PERIOD", "keys.rotation_period"),
    ("TESSERA_KEY_CHECK_INTERVAL", "keys.check_interval"),
    (
        "TESSERA_PREVIOUS_KEY_ENCRYPTION_KEYS",
        "keys.previous_key_encryption_keys",
    ),
    ("TESSERA_ACCESS_TOKEN_TTL", "tokens.access_token_ttl"),
    ("TESSERA_DEFAULT_AUDIENCE", "tokens.default_audience"),
    ("TESSERA_JWKS_MAX_AGE", "http.jwks_max_age"),
    ("TESSERA_MAX_FORM_BYTES", "http.max_form_bytes"),
    ("TESSERA_TRUSTED_PROXIES", "http.trusted_proxies"),
    ("TESSERA_ID_TOKEN_TTL", "tokens.id_token_ttl"),
    ("TESSERA_CODE_TTL", "tokens.code_ttl"),
    ("TESSERA_REFRESH_IDLE_TTL", "tokens.refresh_idle_ttl"),
    (
        "TESSERA_REFRESH_ABSOLUTE_TTL",
        "tokens.refresh_absolute_ttl",
    ),
    (
        "TESSERA_REFRESH_RETRY_WINDOW",
        "tokens.refresh_retry_window",
    ),
    ("TESSERA_SESSION_LIFETIME", "sessions.lifetime"),
    (
        "TESSERA_INTERACTION_LIFETIME",
        "sessions.interaction_lifetime",
    ),
    ("TESSERA_OUTBOUND_ALLOW_PRIVATE", "outbound.allow_private"),
    ("TESSERA_REGISTRATION_OPEN", "registration.open"),
];

impl Settings {
    /// Loads defaults, then the file, then the environment, then validates.
    ///
    /// `path` is `--config`; when absent, [`DEFAULT_CONFIG_PATH`] is read if it exists.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(path, &env)
    }

    /// [`Settings::load`] with an explicit environment (for tests).
    pub fn load_from(path: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut settings = match path {
            Some(p) => Self::from_file(p)?,
            None if Path::new(DEFAULT_CONFIG_PATH).is_file() => {
                Self::from_file(Path::new(DEFAULT_CONFIG_PATH))?
            }
            None => Settings::default(),
        };
        settings.apply_env(env)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Applies the `TESSERA_*` variables among `env` (without validating).
    pub fn apply_env(&mut self, env: &[(String, String)]) -> Result<(), ConfigError> {
        for (name, value) in env {
            if let Some((_, key)) = ENV_VARS.iter().find(|(n, _)| n == name) {
                self.set(key, value)
                    .map_err(|reason| ConfigError::new(name, reason))?;
            }
        }
        Ok(())
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let key = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&key, format!("cannot read the file: {e}")))?;
        toml::from_str(&text).map_err(|e| {
            let reason = e.message().to_string();
            let at = e
                .span()
                .map(|s| format!(" (line {})", text[..s.start].lines().count().max(1)))
                .unwrap_or_default();
            ConfigError::new(key, format!("{reason}{at}"))
        })
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn list(v: &str) -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect()
        }
        fn num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
            v.trim()
                .parse()
                .map_err(|_| format!("`{v}` is not a valid non-negative number"))
        }
        match key {
            "issuer" => self.issuer = value.into(),
            "bind" => self.bind = value.into(),
            "data_dir" => self.data_dir = value.into(),
            "database_url" => self.database_url = value.into(),
            "redis_url" => self.redis_url = value.into(),
            "redis_key_prefix" => self.redis_key_prefix = value.into(),
            "workers" => self.workers = num(value)?,
            "log" => self.log = value.into(),
            "database.pool_size" => self.database.pool_size = num(value)?,
            "database.reload_interval_ms" => self.database.reload_interval_ms = num(value)?,
            "keys.key_encryption_key" => self.keys.key_encryption_key = value.into(),
            "keys.key_encryption_key_file" => self.keys.key_encryption_key_file = value.into(),
            "keys.access_token_alg" => self.keys.access_token_alg = value.into(),
            "keys.algorithms" => self.keys.algorithms = list(value),
            "keys.rotation_period" => self.keys.rotation_period = num(value)?,
            "keys.check_interval" => self.keys.check_interval = num(value)?,
            "keys.previous_key_encryption_keys" => {
                self.keys.previous_key_encryption_keys = list(value)
            }
            "tokens.access_token_ttl" => self.tokens.access_token_ttl = num(value)?,
            "tokens.default_audience" => self.tokens.default_audience = value.into(),
            "http.jwks_max_age" => self.http.jwks_max_age = num(value)?,
            "http.max_form_bytes" => self.http.max_form_bytes = num(value)?,
            "http.trusted_proxies" => self.http.trusted_proxies = list(value),
            "tokens.id_token_ttl" => self.tokens.id_token_ttl = num(value)?,
            "tokens.code_ttl" => self.tokens.code_ttl = num(value)?,
            "tokens.refresh_idle_ttl" => self.tokens.refresh_idle_ttl = num(value)?,
            "tokens.refresh_absolute_ttl" => self.tokens.refresh_absolute_ttl = num(value)?,
            "tokens.refresh_retry_window" => self.tokens.refresh_retry_window = num(value)?,
            "sessions.lifetime" => self.sessions.lifetime = num(value)?,
            "sessions.interaction_lifetime" => self.sessions.interaction_lifetime = num(value)?,
            "outbound.allow_private" => {
                self.outbound.allow_private = match value.trim() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(format!("`{value}` is not true or false")),
                }
            }
            "registration.open" => {
                self.registration.open = match value.trim() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(format!("`{value}` is not true or false")),
                }
            }
            other => return Err(format!("unknown setting {other}")),
        }
        Ok(())
    }

    /// The log filter: comma-separated `target=level` directives and a bare default level
    /// (`info`, `warn,tessera=debug`, `info,tessera::access=off`). A plain target filter rather
    /// than `EnvFilter`, whose directive parser compiles regular expressions at every start.
    pub fn log_filter(&self) -> Result<tracing_subscriber::filter::Targets, String> {
        self.log.parse().map_err(|e| {
            format!("{e}; expected comma-separated `target=level` directives or a level")
        })
    }

    /// Checks every setting; the error names the first offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_issuer(&self.issuer).map_err(|r| ConfigError::new("issuer", r))?;
        self.bind.parse::<SocketAddr>().map_err(|_| {
            ConfigError::new("bind", format!("`{}` is not an IP:port address", self.bind))
        })?;
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("data_dir", "must not be empty"));
        }
        self.database_target()?;
        if !self.redis_url.is_empty() {
            let u = Url::parse(&self.redis_url)
                .map_err(|e| ConfigError::new("redis_url", format!("not a URL: {e}")))?;
            if !matches!(u.scheme(), "redis" | "rediss") {
                return Err(ConfigError::new(
                    "redis_url",
                    "must start with redis:// or rediss://",
                ));
            }
        }
        self.log_filter()
            .map_err(|e| ConfigError::new("log", format!("`{}`: {e}", self.log)))?;
        if self.redis_key_prefix.is_empty() {
            return Err(ConfigError::new("redis_key_prefix", "must not be empty"));
        }
        if !(1..=256).contains(&self.database.pool_size) {
            return Err(ConfigError::new(
                "database.pool_size",
                "must be between 1 and 256",
            ));
        }
        if !(50..=10_000).contains(&self.database.reload_interval_ms) {
            return Err(ConfigError::new(
                "database.reload_interval_ms",
                "must be between 50 and 10000 (running servers must see key rotations within 10 s)",
            ));
        }
        if !self.keys.key_encryption_key.is_empty() && !self.keys.key_encryption_key_file.is_empty()
        {
            return Err(ConfigError::new(
                "keys.key_encryption_key",
                "give either the key or a key file, not both",
            ));
        }
        if !self.keys.key_encryption_key.is_empty() {
            crate::crypto::kek::Kek::from_base64(&self.keys.key_encryption_key)
                .map_err(|reason| ConfigError::new("keys.key_encryption_key", reason))?;
        }
        for k in &self.keys.previous_key_encryption_keys {
            crate::crypto::kek::Kek::from_base64(k)
                .map_err(|reason| ConfigError::new("keys.previous_key_encryption_keys", reason))?;
        }
        for a in self
            .keys
            .algorithms
            .iter()
            .chain(self.keys.rotation_periods.keys())
        {
            Alg::parse(a).ok_or_else(|| {
                ConfigError::new(
                    "keys.algorithms",
                    format!("`{a}` is not one of RS256, PS256, ES256, EdDSA"),
                )
            })?;
        }
        let publish_ahead = self.key_policy(Alg::RS256).publish_ahead as u64;
        for (alg, period) in std::iter::once(("all", &self.keys.rotation_period)).chain(
            self.keys
                .rotation_periods
                .iter()
                .map(|(a, p)| (a.as_str(), p)),
        ) {
            if *period <= 2 * publish_ahead || *period > 10 * 366 * 86_400 {
                return Err(ConfigError::new(
                    "keys.rotation_period",
                    format!(
                        "{alg}: {period} s must be more than twice the publish-ahead time ({publish_ahead} s = http.jwks_max_age + reload interval + 1) and at most 10 years"
                    ),
                ));
            }
        }
        if !(1..=3600).contains(&self.keys.check_interval) {
            return Err(ConfigError::new(
                "keys.check_interval",
                "must be between 1 and 3600 seconds",
            ));
        }
        Alg::parse(&self.keys.access_token_alg).ok_or_else(|| {
            ConfigError::new(
                "keys.access_token_alg",
                format!(
                    "`{}` is not one of RS256, PS256, ES256, EdDSA",
                    self.keys.access_token_alg
                ),
            )
        })?;
        if !(10..=86_400).contains(&self.tokens.access_token_ttl) {
            return Err(ConfigError::new(
                "tokens.access_token_ttl",
                "must be between 10 and 86400 seconds",
            ));
        }
        if self.tokens.default_audience.chars().any(char::is_control) {
            return Err(ConfigError::new(
                "tokens.default_audience",
                "contains control characters",
            ));
        }
        if !(10..=86_400).contains(&self.tokens.id_token_ttl) {
            return Err(ConfigError::new(
                "tokens.id_token_ttl",
                "must be between 10 and 86400 seconds",
            ));
        }
        if !(1..=60).contains(&self.tokens.code_ttl) {
            return Err(ConfigError::new(
                "tokens.code_ttl",
                "must be between 1 and 60 seconds",
            ));
        }
        let t = &self.tokens;
        if !(60..=366 * 86_400).contains(&t.refresh_idle_ttl) {
            return Err(ConfigError::new(
                "tokens.refresh_idle_ttl",
                "must be between 60 seconds and 366 days",
            ));
        }
        if !(t.refresh_idle_ttl..=3 * 366 * 86_400).contains(&t.refresh_absolute_ttl) {
            return Err(ConfigError::new(
                "tokens.refresh_absolute_ttl",
                "must be at least tokens.refresh_idle_ttl and at most 3 years",
            ));
        }
        if t.refresh_retry_window > 60 {
            return Err(ConfigError::new(
                "tokens.refresh_retry_window",
                "must be between 0 (off) and 60 seconds",
            ));
        }
        if !(60..=30 * 86_400).contains(&self.sessions.lifetime) {
            return Err(ConfigError::new(
                "sessions.lifetime",
                "must be between 60 seconds and 30 days",
            ));
        }
        if !(60..=86_400).contains(&self.sessions.interaction_lifetime) {
            return Err(ConfigError::new(
                "sessions.interaction_lifetime",
                "must be between 60 and 86400 seconds",
            ));
        }
        for p in &self.http.trusted_proxies {
            p.parse::<std::net::IpAddr>().map_err(|_| {
                ConfigError::new(
                    "http.trusted_proxies",
                    format!("`{p}` is not an IP address"),
                )
            })?;
        }
        if self.http.jwks_max_age > 86_400 {
            return Err(ConfigError::new(
                "http.jwks_max_age",
                "must be at most 86400 seconds",
            ));
        }
        if !(1024..=1024 * 1024).contains(&self.http.max_form_bytes) {
            return Err(ConfigError::new(
                "http.max_form_bytes",
                "must be between 1024 and 1048576",
            ));
        }
        Ok(())
    }

    /// The SQL backend named by `database_url` (SQLite in the data dir when empty).
    pub fn database_target(&self) -> Result<DatabaseTarget, ConfigError> {
        let url = self.database_url.trim();
        if url.is_empty() {
            return Ok(DatabaseTarget::Sqlite(self.data_dir.join("tessera.db")));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Url::parse(url)
                .map_err(|e| ConfigError::new("database_url", format!("not a valid URL: {e}")))?;
            return Ok(DatabaseTarget::Postgres(url.to_string()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(ConfigError::new(
                    "database_url",
                    "sqlite: URL without a file path",
                ));
            }
            return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
        }
        Err(ConfigError::new(
            "database_url",
            "must start with postgres://, postgresql:// or sqlite://",
        ))
    }

    /// Every algorithm that has keys: RS256, the access-token algorithm, and `keys.algorithms`.
    pub fn key_algorithms(&self) -> Vec<Alg> {
        let mut out = vec![Alg::RS256, self.access_token_alg()];
        out.extend(self.keys.algorithms.iter().filter_map(|a| Alg::parse(a)));
        out.sort();
        out.dedup();
        out
    }

    /// The key schedule's timings for `alg`: publish a next key one JWKS cache lifetime (plus
    /// the nodes' reload interval) before it signs; keep a retired key until the longest-lived
    /// token it signed has expired (plus leeway).
    pub fn key_policy(&self, alg: Alg) -> crate::protocol::keys::Policy {
        let reload = self.database.reload_interval_ms.div_ceil(1000) as i64;
        let period = self
            .keys
            .rotation_periods
            .get(alg.as_str())
            .copied()
            .unwrap_or(self.keys.rotation_period);
        crate::protocol::keys::Policy {
            period: period as i64,
            publish_ahead: self.http.jwks_max_age as i64 + reload + 1,
            retire_keep: self.tokens.access_token_ttl.max(self.tokens.id_token_ttl) as i64
                + 60
                + reload,
        }
    }

    /// The algorithm that signs access tokens (validated).
    pub fn access_token_alg(&self) -> Alg {
        Alg::parse(&self.keys.access_token_alg).unwrap_or(Alg::RS256)
    }

    /// Does the issuer use https (so cookies get `Secure` and the `__Host-` prefix)?
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// The issuer's origin, for checking `Origin` on form posts.
    pub fn issuer_origin(&self) -> String {
        Url::parse(&self.issuer)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    /// The issuer without any trailing slash, for building endpoint URLs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `aud` used when neither the request nor the client names one.
    pub fn default_audience(&self) -> &str {
        if self.tokens.default_audience.is_empty() {
            &self.issuer
        } else {
            &self.tokens.default_audience
        }
    }
}

/// OpenID Connect Discovery §2 / RFC 8414 §2: https, no query, no fragment. Plain http is
/// accepted only on a loopback host, for development and tests.
fn validate_issuer(issuer: &str) -> Result<(), String> {
    let url = Url::parse(issuer).map_err(|e| format!("`{issuer}` is not an absolute URL: {e}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    if issuer.ends_with('/') {
        return Err("must not end with `/`".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err("plain http is allowed only for a loopback host (127.0.0.1, [::1], localhost); use https".into()),
        other => Err(format!("scheme `{other}` is not https")),
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::default();
        s.validate().unwrap();
        assert_eq!(
            s.database_target().unwrap(),
            DatabaseTarget::Sqlite(PathBuf::from("./data/tessera.db"))
        );
        assert_eq!(s.default_audience(), "http://127.0.0.1:8080");
    }

    #[test]
    fn environment_overrides_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(
            &file,
            "issuer = \"https://file.example\"\n[tokens]\naccess_token_ttl = 120\n",
        )
        .unwrap();
        let s = Settings::load_from(
            Some(&file),
            &env(&[
                ("TESSERA_ISSUER", "https://env.example"),
                ("TESSERA_DATABASE_URL", "postgres://u@h/db"),
            ]),
        )
        .unwrap();
        assert_eq!(s.issuer, "https://env.example");
        assert_eq!(s.tokens.access_token_ttl, 120);
        assert!(s.database_target().unwrap().is_postgres());
    }

    #[test]
    fn errors_name_the_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("TESSERA_ISSUER", "http://id.example.com")], "issuer"),
            (&[("TESSERA_ISSUER", "https://id.example.com/")], "issuer"),
            (
                &[("TESSERA_ISSUER", "https://id.example.com?x=1")],
                "issuer",
            ),
            (&[("TESSERA_BIND", "nonsense")], "bind"),
            (&[("TESSERA_DATABASE_URL", "mysql://x")], "database_url"),
            (&[("TESSERA_REDIS_URL", "http://x")], "redis_url"),
            (&[("TESSERA_WORKERS", "-1")], "TESSERA_WORKERS"),
            (
                &[("TESSERA_ACCESS_TOKEN_ALG", "HS256")],
                "keys.access_token_alg",
            ),
            (
                &[("TESSERA_ACCESS_TOKEN_TTL", "0")],
                "tokens.access_token_ttl",
            ),
            (&[("TESSERA_LOG", "tessera=loud")], "log"),
            (&[("TESSERA_LOG", "info,tessera=chatty")], "log"),
        ];
        for (vars, key) in cases {
            let err = Settings::load_from(None, &env(vars)).unwrap_err();
            assert_eq!(&err.key, key, "{vars:?}");
            let line = err.to_string();
            assert!(
                !line.contains('\n') && line.starts_with("invalid configuration: "),
                "{line}"
            );
        }
    }

    #[test]
    fn log_filters_set_levels_per_target() {
        use tracing::Level;
        use tracing_subscriber::filter::LevelFilter;
        let with = |log: &str| Settings {
            log: log.into(),
            ..Settings::default()
        };
        let f = with("info,tessera::access=off").log_filter().unwrap();
        assert!(f.would_enable("tessera::flows", &Level::INFO));
        assert!(!f.would_enable("tessera::flows", &Level::DEBUG));
        assert!(!f.would_enable("tessera::access", &Level::ERROR));
        let f = with("warn,tessera=debug").log_filter().unwrap();
        assert!(f.would_enable("tessera::storage", &Level::DEBUG));
        assert!(!f.would_enable("actix_server", &Level::INFO));
        assert!(f.would_enable("actix_server", &Level::WARN));
        assert_eq!(
            with("off").log_filter().unwrap().default_level(),
            Some(LevelFilter::OFF)
        );
    }

    #[test]
    fn debug_output_never_shows_the_key_encryption_key() {
        let mut s = Settings::default();
        s.keys.key_encryption_key = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg==".into();
        assert!(!format!("{s:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "isuer = \"https://x\"\n").unwrap();
        let err = Settings::load_from(Some(&file), &[]).unwrap_err();
        assert!(err.to_string().contains("isuer"), "{err}");
    }

    #[test]
    fn shipped_config_file_is_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_PATH);
        let s = Settings::load_from(Some(&path), &[]).unwrap();
        let d = Settings::default();
        assert_eq!(format!("{s:?}"), format!("{d:?}"));
    }
}
