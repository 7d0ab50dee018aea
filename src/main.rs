use std::process::ExitCode;

use clap::Parser;
use tessera::cli::{Cli, Command};
use tessera::config::Settings;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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

fn main() -> ExitCode {
    // OpenSSL's first initialisation decides whether it frees its global state in an `atexit`
    // handler; libpq (PostgreSQL over TLS) would initialise it that way. The storage threads end
    // on their own when a store is dropped (`storage::sql::executor`), and one that has used TLS
    // frees its OpenSSL thread state as it exits — racing that handler when the process exits
    // at the same moment (a CLI command on PostgreSQL once aborted in CI with "free(): invalid
    // pointer"). `openssl::init` initialises it first, without the handler; the process's
    // memory goes with the process anyway.
    openssl::init();
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    tune_malloc(settings.workers);
    // `Settings::validate` has parsed the filter already.
    let filter = settings.log_filter().unwrap_or_default();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
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
