//! The `tessera` command line. Every operator command calls the same flows the server uses, on
//! the same database, so it works while servers run (they pick changes up within a reload
//! interval).

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::crypto::kek::Kek;
use crate::flows::clients::{self, ClientChanges};
use crate::flows::directory::Directory;
use crate::flows::sessions::{self, Env};
use crate::flows::users::{self, ProfileChanges, UserSpec};
use crate::flows::{bootstrap, keys, registration};
use crate::protocol::client_auth::AuthMethod;
use crate::protocol::jose::Alg;
use crate::session::SessionStore;

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "An OAuth 2.0 / OpenID Connect identity provider"
)]
pub struct Cli {
    /// Configuration file (default: config/tessera.toml when it exists).
    #[arg(long, global = true, value_name = "PATH", env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(Box<ClientCommand>),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage end-users.
    #[command(subcommand)]
    User(Box<UserCommand>),
    /// Manage signed-in browser sessions.
    #[command(subcommand)]
    Session(SessionCommand),
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List live browser sessions as JSON, newest first.
    List {
        /// Only this user's sessions (username or subject).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
    },
    /// End one session now (by its `sid`); the clients that took part are told through
    /// back-channel logout.
    Revoke {
        #[arg(value_name = "SID", allow_hyphen_values = true)]
        sid: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints JSON with the client_id and, once, the client_secret.
    Create(ClientArgs),
    /// List clients as JSON.
    List,
    /// Show one client as JSON.
    Show {
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Change a client; only the flags given change.
    Update {
        #[arg(value_name = "ID", allow_hyphen_values = true)]
        client_id: String,
        #[command(flatten)]
        args: ClientArgs,
    },
    /// Replace a client's secret with a new generated one (printed once).
    RotateSecret {
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Delete a client.
    Delete {
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Initial access tokens for dynamic client registration (POST /oauth2/register).
    #[command(subcommand)]
    RegistrationToken(RegistrationTokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum RegistrationTokenCommand {
    /// Create an initial access token; prints JSON with the token (shown once, stored hashed).
    Create {
        /// Lifetime in seconds (default: no expiry).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
        /// How many clients it may register (default: unlimited).
        #[arg(long, value_name = "N")]
        max_uses: Option<u64>,
    },
    /// List initial access tokens as JSON, newest first: id, created, expiry, remaining uses
    /// and whether each is still usable (never the token or its hash).
    List,
    /// Show one initial access token by its id.
    Show {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Revoke (delete) an initial access token by its id: it registers no client from now on.
    Revoke {
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, Args, Default)]
pub struct ClientArgs {
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Client id (default: generated). Letters, digits, - . _ ~; never a UUID.
    #[arg(long)]
    pub id: Option<String>,
    /// A public client (no secret; token_endpoint_auth_method none).
    #[arg(long)]
    pub public: bool,
    /// Redirect URI (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed grant type (repeatable): authorization_code, client_credentials, refresh_token.
    #[arg(long = "grant-type", value_name = "TYPE")]
    pub grant_types: Vec<String>,
    /// Space-separated scopes the client may request.
    #[arg(long)]
    pub scope: Option<String>,
    /// Audience of its access tokens (repeatable); resource indicators must be among these.
    #[arg(long = "audience", value_name = "AUD")]
    pub audiences: Vec<String>,
    /// client_secret_basic (default), client_secret_post, client_secret_jwt, or none
    /// (private_key_jwt clients are registered with their keys through dynamic registration).
    #[arg(long = "auth-method", value_name = "METHOD")]
    pub auth_method: Option<String>,
    /// A secret chosen by hand (at least 32 characters) instead of a generated one.
    #[arg(long)]
    pub secret: Option<String>,
    /// First-party client: users are not asked for consent (`--skip-consent=false` to undo).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub skip_consent: Option<bool>,
    /// Browser origin allowed to call the token and userinfo endpoints (repeatable; the
    /// origins of https redirect URIs are allowed anyway).
    #[arg(long = "web-origin", value_name = "ORIGIN")]
    pub web_origins: Vec<String>,
    /// Back-channel logout URI: Tessera POSTs a logout token here when a session the client
    /// took part in ends (absolute http(s) URI; `""` removes it on update).
    #[arg(long = "backchannel-logout-uri", value_name = "URI")]
    pub backchannel_logout_uri: Option<String>,
    /// Algorithm of the client's ID tokens: RS256 (default), PS256, ES256 or EdDSA — one of the
    /// server's key algorithms (`keys.algorithms`).
    #[arg(long = "id-token-alg", value_name = "ALG")]
    pub id_token_alg: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints JSON with the subject (`sub`, a new UUID).
    Create(UserCreateArgs),
    /// List users as JSON, ordered by username.
    List,
    /// Show one user as JSON.
    Show {
        /// Username or subject.
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// Change a user's profile; only the flags given change (`""` removes a name). A new e-mail
    /// address is unverified unless `--email-verified` is given too.
    Update(UserUpdateArgs),
    /// Disable a user: they can no longer log in, and their sessions end now.
    Disable {
        /// Username or subject.
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Username or subject.
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// Delete a user (their sessions end first).
    Delete {
        /// Username or subject.
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// End all of a user's browser sessions (with back-channel logout).
    Logout {
        /// Username or subject.
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
    },
    /// Replace a user's password, read from standard input.
    SetPassword {
        /// Username or subject.
        #[arg(value_name = "USER", allow_hyphen_values = true)]
        user: String,
        /// Read the password from the first line of standard input (required).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    /// Login name: 1 to 64 of letters, digits and . _ - @ +; stored lower-cased.
    #[arg(long)]
    pub username: String,
    /// E-mail address.
    #[arg(long)]
    pub email: String,
    /// Mark the e-mail address as verified.
    #[arg(long)]
    pub email_verified: bool,
    /// Full display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Given name.
    #[arg(long)]
    pub given_name: Option<String>,
    /// Family name.
    #[arg(long)]
    pub family_name: Option<String>,
    /// Read the password from the first line of standard input (required; a password is never
    /// taken as an argument, where it would show in the process list and shell history).
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct UserUpdateArgs {
    /// Username or subject.
    #[arg(value_name = "USER", allow_hyphen_values = true)]
    pub user: String,
    /// New e-mail address.
    #[arg(long)]
    pub email: Option<String>,
    /// Whether the e-mail address is verified (`--email-verified=false` to clear it).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub email_verified: Option<bool>,
    /// Full display name (`""` removes it).
    #[arg(long)]
    pub name: Option<String>,
    /// Given name (`""` removes it).
    #[arg(long)]
    pub given_name: Option<String>,
    /// Family name (`""` removes it).
    #[arg(long)]
    pub family_name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys: state, algorithm, kid, dates.
    List,
    /// Rotate the signing key of an algorithm: stage the next key on the published-ahead
    /// timeline, or (`--now`) activate a new key at once.
    Rotate {
        /// RS256, PS256, ES256 or EdDSA.
        #[arg(long, default_value = "RS256")]
        alg: String,
        /// Activate the new key immediately (an emergency measure: verifiers that cached the
        /// JWKS see an unknown kid until they refetch it).
        #[arg(long)]
        now: bool,
    },
    /// Emergency: unpublish a key at once. Tokens it signed stop verifying.
    Revoke {
        // Key ids are base64url thumbprints: one in 64 starts with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Re-encrypt every private key and server secret under a new key-encryption key, read
    /// (base64) from the first line of standard input.
    Rekey {
        /// Read the new key-encryption key from standard input (required).
        #[arg(long)]
        new_key_stdin: bool,
    },
    /// Print a new random key-encryption key (base64 of 32 bytes).
    GenerateKek,
}

impl ClientArgs {
    fn into_changes(self, for_update: bool) -> anyhow::Result<ClientChanges> {
        let some_list = |v: Vec<String>| {
            if v.is_empty() && for_update {
                None
            } else {
                Some(v)
            }
        };
        let auth_method = match self.auth_method.as_deref() {
            None => None,
            Some(m) => Some(AuthMethod::parse(m).ok_or_else(|| {
                anyhow::anyhow!(
                    "--auth-method must be client_secret_basic, client_secret_post, client_secret_jwt or none"
                )
            })?),
        };
        Ok(ClientChanges {
            name: self.name,
            id: self.id,
            public: self.public.then_some(true),
            auth_method,
            redirect_uris: some_list(self.redirect_uris),
            post_logout_redirect_uris: some_list(self.post_logout_redirect_uris),
            grant_types: some_list(self.grant_types),
            scope: self.scope,
            audiences: some_list(self.audiences),
            skip_consent: self.skip_consent,
            web_origins: some_list(self.web_origins),
            backchannel_logout_uri: self.backchannel_logout_uri,
            id_token_alg: self.id_token_alg,
            secret: self.secret,
        })
    }
}

/// A client's ID-token algorithm must be one this server holds keys for.
fn checked_alg(changes: ClientChanges, settings: &Settings) -> anyhow::Result<ClientChanges> {
    clients::check_id_token_alg(&changes, settings)?;
    Ok(changes)
}

/// Prints JSON on standard output. A closed pipe (`tessera client list | head`) ends the output
/// quietly instead of panicking.
fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(v)?;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Reads a password from the first line of standard input, without its line ending.
fn read_password_stdin(flag: bool) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Read};
    if !flag {
        anyhow::bail!(
            "--password-stdin is required: pipe the password in (it is never taken as an argument)"
        );
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Password (one line; it is echoed, pipe it in to avoid that):");
    }
    let mut line = Vec::new();
    // A bound well above the longest password allowed (1024 characters of up to 4 bytes).
    stdin.lock().take(8192).read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let password = String::from_utf8(line)
        .map_err(|_| anyhow::anyhow!("the password on standard input is not UTF-8"))?;
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    Ok(password)
}

/// Runs a command other than `serve`.
pub fn run(command: Command, settings: &Settings) -> anyhow::Result<()> {
    let clock = SystemClock;
    let now = clock.now();
    match command {
        Command::Serve => anyhow::bail!("serve is run by main"),
        Command::Migrate => {
            let target = settings.database_target()?;
            let applied = crate::storage::sql::migrate(&target)?;
            if applied.is_empty() {
                println!("database is up to date");
            } else {
                for m in applied {
                    println!("applied {m}");
                }
            }
            Ok(())
        }
        Command::Keys(KeysCommand::GenerateKek) => {
            println!("{}", Kek::generate()?.to_base64());
            Ok(())
        }
        Command::Client(cmd) => {
            let o = bootstrap::open(settings, now, bootstrap::Role::Command)?;
            let store = &o.store;
            match *cmd {
                ClientCommand::Create(args) => {
                    if args.name.is_none() {
                        anyhow::bail!("--name is required");
                    }
                    print_json(&clients::create(
                        store,
                        &o.hasher,
                        checked_alg(args.into_changes(false)?, settings)?,
                        now,
                    )?)
                }
                ClientCommand::List => print_json(&clients::list(store)?),
                ClientCommand::Show { id } => print_json(&clients::show(store, &id)?),
                ClientCommand::Update { client_id, args } => print_json(&clients::update(
                    store,
                    &o.hasher,
                    &client_id,
                    checked_alg(args.into_changes(true)?, settings)?,
                    now,
                )?),
                ClientCommand::RotateSecret { id } => {
                    print_json(&clients::rotate_secret(store, &o.hasher, &id, now)?)
                }
                ClientCommand::Delete { id } => {
                    clients::delete(store, &id)?;
                    print_json(&serde_json::json!({"deleted": id}))
                }
                ClientCommand::RegistrationToken(cmd) => match cmd {
                    RegistrationTokenCommand::Create {
                        expires_in,
                        max_uses,
                    } => print_json(&registration::create_initial_token(
                        store, now, expires_in, max_uses,
                    )?),
                    RegistrationTokenCommand::List => {
                        print_json(&registration::list_initial_tokens(store, now)?)
                    }
                    RegistrationTokenCommand::Show { id } => {
                        print_json(&registration::show_initial_token(store, &id, now)?)
                    }
                    RegistrationTokenCommand::Revoke { id } => {
                        let revoked = registration::revoke_initial_token(store, &id, now)?;
                        print_json(&serde_json::json!({"revoked": revoked.id}))
                    }
                },
            }
        }
        Command::User(cmd) => {
            // Read the password before touching the database.
            let password = match &*cmd {
                UserCommand::Create(a) => Some(read_password_stdin(a.password_stdin)?),
                UserCommand::SetPassword { password_stdin, .. } => {
                    Some(read_password_stdin(*password_stdin)?)
                }
                _ => None,
            };
            let password = password.as_deref().unwrap_or_default();
            let o = bootstrap::open(settings, now, bootstrap::Role::Command)?;
            let store = &o.store;
            match *cmd {
                UserCommand::Create(a) => {
                    let spec = UserSpec {
                        username: a.username,
                        email: a.email,
                        email_verified: a.email_verified,
                        name: a.name,
                        given_name: a.given_name,
                        family_name: a.family_name,
                    };
                    print_json(&users::create(store, spec, password, now)?)
                }
                UserCommand::List => print_json(&users::list(store)?),
                UserCommand::Show { user } => print_json(&users::show(store, &user)?),
                UserCommand::Disable { user } => {
                    let admin = SessionAdmin::open(&o, settings)?;
                    let env = admin.env(settings);
                    print_json(&block_on(users::disable(&env, &user, now))??)
                }
                UserCommand::Update(a) => {
                    let changes = ProfileChanges {
                        email: a.email,
                        email_verified: a.email_verified,
                        name: a.name,
                        given_name: a.given_name,
                        family_name: a.family_name,
                    };
                    print_json(&users::update(store, &a.user, changes, now)?)
                }
                UserCommand::Enable { user } => print_json(&users::enable(store, &user, now)?),
                UserCommand::Delete { user } => {
                    let admin = SessionAdmin::open(&o, settings)?;
                    let env = admin.env(settings);
                    let gone = block_on(users::delete(&env, &user, now))??;
                    print_json(&serde_json::json!({"deleted": gone.username}))
                }
                UserCommand::Logout { user } => {
                    let admin = SessionAdmin::open(&o, settings)?;
                    let env = admin.env(settings);
                    let (who, ended) = block_on(sessions::logout_user(&env, &user, now))??;
                    print_json(&serde_json::json!({
                        "user": who.username,
                        "sub": who.sub,
                        "ended": ended,
                    }))
                }
                UserCommand::SetPassword { user, .. } => {
                    print_json(&users::set_password(store, &user, password, now)?)
                }
            }
        }
        Command::Session(cmd) => {
            let o = bootstrap::open(settings, now, bootstrap::Role::Command)?;
            let admin = SessionAdmin::open(&o, settings)?;
            let env = admin.env(settings);
            match cmd {
                SessionCommand::List { user } => {
                    print_json(&block_on(sessions::list(&env, user.as_deref(), now))??)
                }
                SessionCommand::Revoke { sid } => {
                    let ended = block_on(sessions::revoke(&env, &sid, now))??;
                    print_json(&serde_json::json!({
                        "revoked": ended.sid,
                        "notified": ended.notified,
                        "deliveries": ended.deliveries,
                    }))
                }
            }
        }
        Command::Keys(cmd) => {
            let o = bootstrap::open(settings, now, bootstrap::Role::Command)?;
            match cmd {
                KeysCommand::List => {
                    let row = |cols: [&str; 7]| {
                        println!(
                            "{:<8} {:<6} {:<44} {:<20} {:<20} {:<20} {:<20}",
                            cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6]
                        )
                    };
                    row([
                        "STATE",
                        "ALG",
                        "KID",
                        "CREATED",
                        "ACTIVATES",
                        "RETIRED",
                        "REMOVES",
                    ]);
                    for k in o.store.list_keys()? {
                        let activates = date(k.activated_at.or(k.activates_at));
                        let removes = date(k.removed_at.or(k.remove_after));
                        row([
                            k.state.as_str(),
                            k.alg.as_str(),
                            &k.kid,
                            &date(Some(k.created_at)),
                            &activates,
                            &date(k.retired_at),
                            &removes,
                        ]);
                    }
                    Ok(())
                }
                KeysCommand::Rotate {
                    alg,
                    now: immediate,
                } => {
                    let alg = Alg::parse(&alg).ok_or_else(|| {
                        anyhow::anyhow!("--alg must be RS256, PS256, ES256 or EdDSA")
                    })?;
                    if immediate {
                        let k = keys::rotate_now(&o.store, &o.kek, settings, alg, now)?;
                        eprintln!(
                            "immediate rotation (emergency): the new key signs as soon as servers reload (within seconds), before verifiers' JWKS caches expire; the previous key stays published until its tokens expire"
                        );
                        print_json(
                            &serde_json::json!({"kid": k.kid, "alg": alg.as_str(), "state": "active"}),
                        )
                    } else {
                        let k = keys::stage(&o.store, &o.kek, settings, alg, now)?;
                        print_json(&serde_json::json!({
                            "kid": k.kid,
                            "alg": alg.as_str(),
                            "state": "next",
                            "activates_at": k.activates_at,
                        }))
                    }
                }
                KeysCommand::Revoke { kid } => {
                    let (alg, previous) = keys::revoke(&o.store, &o.kek, settings, &kid, now)?;
                    eprintln!("key {kid} is unpublished; tokens it signed no longer verify");
                    print_json(
                        &serde_json::json!({"kid": kid, "alg": alg.as_str(), "previous_state": previous.as_str(), "state": "removed"}),
                    )
                }
                KeysCommand::Rekey { new_key_stdin } => {
                    if !new_key_stdin {
                        anyhow::bail!(
                            "--new-key-stdin is required: the new key-encryption key is read from standard input"
                        );
                    }
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    let new = Kek::from_base64(line.trim())
                        .map_err(|e| anyhow::anyhow!("the new key-encryption key {e}"))?;
                    let n = keys::rekey(&o.store, &o.kek, &new)?;
                    bootstrap::after_rekey(settings, &o.target, &new)?;
                    print_json(&serde_json::json!({"resealed": n}))
                }
                KeysCommand::GenerateKek => unreachable!("handled above"),
            }
        }
    }
}

/// What the commands that end sessions need, opened the way a server opens them: the session
/// store the settings select (SQL or Redis) and the directory of clients and signing keys (for
/// back-channel logout).
struct SessionAdmin {
    store: Arc<crate::storage::Store>,
    sessions: SessionStore,
    directory: Directory,
}

impl SessionAdmin {
    fn open(o: &bootstrap::Opened, settings: &Settings) -> anyhow::Result<SessionAdmin> {
        Ok(SessionAdmin {
            store: o.store.clone(),
            sessions: SessionStore::from_settings(settings, o.store.clone())?,
            directory: Directory::load(&o.store, &o.kek)?,
        })
    }

    /// A command waits for back-channel deliveries before it exits.
    fn env<'a>(&'a self, settings: &'a Settings) -> Env<'a> {
        Env {
            settings,
            store: &self.store,
            sessions: &self.sessions,
            directory: &self.directory,
            wait_for_delivery: true,
        }
    }
}

/// Runs an async flow to completion on a one-off runtime.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), or `-`.
fn date(ts: Option<i64>) -> String {
    let Some(ts) = ts else { return "-".into() };
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Runs `serve` until SIGTERM / SIGINT.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app =
        crate::startup::Application::build_with_clock(settings.clone(), Arc::new(SystemClock))
            .await?;
    tracing::info!(issuer = %settings.issuer, bind = %settings.bind, port = app.port(), "tessera is serving");
    app.run_until_stopped().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::date(Some(0)), "1970-01-01 00:00:00");
        assert_eq!(super::date(Some(1_795_000_000)), "2026-11-18 11:06:40");
        assert_eq!(super::date(None), "-");
    }
}

#[cfg(test)]
mod clap_tests {
    #[test]
    fn command_definitions_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
