use std::process::ExitCode;

use clap::Parser;
use tessera::cli::{Cli, Command};
use tessera::config::Settings;

/// glibc gives each thread that allocates under contention an arena of its own, up to eight per
/// core, and keeps what each arena grew. Tessera's threads are a few async workers, the blocking
/// pool and the password-hashing threads, and glibc's per-thread caches serve most small
/// allocations without the arena lock: one arena per four workers (at least one) keeps the idle
/// and peak RSS down and deterministic. `MALLOC_ARENA_MAX` in the environment still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc(workers: usize) {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let arenas = i32::try_from((workers / 4).max(1)).unwrap_or(1);
        // SAFETY: mallopt only sets a glibc malloc parameter; no other thread runs yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
    // No fastbins: the per-thread caches serve the small sizes anyway, and with fastbins glibc
    // consolidates them whenever a larger block is asked for — every request's handler future
    // (≈ 2 KiB) is one (≈ 0.5 µs per token measured).
    // `GLIBC_TUNABLES=glibc.malloc.mxfast=…` in the environment still wins.
    if !std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("mxfast")) {
        // SAFETY: as above.
        unsafe {
            libc::mallopt(libc::M_MXFAST, 0);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc(_workers: usize) {}

/// libpq links libldap, and Debian's libldap links GnuTLS, whose library constructor initialises
/// GnuTLS (and loads p11-kit's modules) in every process that loads it — about 1.6 MiB of RSS
/// in a server that never uses it (libldap initialises GnuTLS itself if an LDAP lookup ever
/// needs TLS). Constructors run before `main`, so `serve` starts itself again once with
/// `GNUTLS_NO_IMPLICIT_INIT=1` (same process id, a few milliseconds). If the exec fails, it
/// simply carries on.
#[cfg(target_os = "linux")]
fn without_implicit_gnutls_init() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("GNUTLS_NO_IMPLICIT_INIT").is_some() {
        return;
    }
    let mut args = std::env::args_os();
    let Some(arg0) = args.next() else { return };
    let _failed = std::process::Command::new("/proc/self/exe")
        .arg0(arg0)
        .args(args)
        .env("GNUTLS_NO_IMPLICIT_INIT", "1")
        .exec();
}

#[cfg(not(target_os = "linux"))]
fn without_implicit_gnutls_init() {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve) {
        without_implicit_gnutls_init();
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    tune_malloc(settings.workers);
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Serve => actix_web::rt::System::new().block_on(tessera::cli::serve(settings)),
        other => tessera::cli::run(other, &settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
