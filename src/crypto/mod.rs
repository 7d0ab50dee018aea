//! Cryptography at the edge: randomness, the key-encryption key, client-secret hashing, password
//! hashing (argon2id), JWS signing, and the signature checks of client assertions (`jws` and
//! `assertion` are the only places that touch josekit).

pub mod assertion;
pub mod jws;
pub mod kek;
pub mod passwords;
pub mod random;
pub mod secrets;
