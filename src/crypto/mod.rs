//! Cryptography at the edge: randomness, the key-encryption key, client-secret hashing, password
//! hashing (argon2id), JWS signing and verification (`jws`, the only place that touches
//! josekit), and the signature checks of client assertions (`assertion`, through `jws`).

pub mod assertion;
pub mod jws;
pub mod kek;
pub mod passwords;
pub mod random;
pub mod secrets;
