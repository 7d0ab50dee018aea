//! Tessera: an OAuth 2.0 / OpenID Connect identity provider.
//!
//! Dependencies point inward: `http` → `flows` → `protocol`, with `flows` also using `storage`,
//! `session` and `crypto`. See ARCHITECTURE.md for the module map and request walkthroughs.
//!
//! * [`protocol`] — the RFC rules as pure functions (no I/O, no clock).
//! * [`flows`] — one use-case per endpoint or operator action.
//! * [`http`] — actix routes and the single error → response mapping.
//! * [`storage`] — diesel over PostgreSQL and SQLite; the in-memory directory feeds from it.
//! * [`session`] — short-lived shared state, in Redis or SQL.
//! * [`crypto`] — randomness, the key-encryption key, secret hashing, JWS.
//! * [`outbound`] — the only place that sends requests to other servers (back-channel logout).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod flows;
pub mod http;
pub mod outbound;
pub mod protocol;
pub mod session;
pub mod startup;
pub mod storage;
