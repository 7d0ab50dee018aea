//! Cryptography at the edge: randomness, the key-encryption key, client-secret hashing, password
//! hashing (argon2id), JWS signing and verification (`jws`, the only place that touches
//! josekit), ES256 signatures with AWS-LC (`p256`, the signing path's only FFI), and the
//! signature checks of client assertions (`assertion`, through `jws`).

pub mod assertion;
pub mod jws;
pub mod kek;
pub mod p256;
pub mod passwords;
pub mod random;
pub mod secrets;
