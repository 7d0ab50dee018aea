//! Every OAuth 2.0 / OpenID Connect rule as plain functions over typed values. No I/O, no clock
//! (time is passed in as `now`), no actix, diesel, redis or josekit.

pub mod authorize;
pub mod claims;
pub mod client;
pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod grants;
pub mod interaction;
pub mod jose;
pub mod keys;
pub mod logout;
pub mod params;
pub mod pkce;
pub mod redirect_uri;
pub mod registration;
pub mod scope;
pub mod token_request;
pub mod user;

pub use error::OAuthError;
