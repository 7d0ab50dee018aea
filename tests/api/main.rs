//! The one integration-test binary. Every test starts the real server on port 0, against the
//! embedded default (SQLite) and against PostgreSQL + Redis, with storage of its own.

#![allow(clippy::type_complexity, clippy::field_reassign_with_default)]
mod helpers;

/// Generates, for each `async fn name(backend: Backend)` of the calling module, a test per
/// storage tier: `sqlite::name` and `pg_redis::name`.
macro_rules! tiers {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod pg_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !$crate::helpers::pg_tier_enabled() {
                        return;
                    }
                    super::$name($crate::helpers::Backend::PgRedis).await
                }
            )*
        }
    };
}

mod admin;
mod authorize;
mod browser;
mod chromium;
mod cli;
mod client_assertions;
mod discovery;
mod key_lifecycle;
mod keys;
mod logout;
mod refresh;
mod registration;
mod sessions;
mod startup;
mod token;
mod users;
