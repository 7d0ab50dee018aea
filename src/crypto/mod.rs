//! Cryptography at the edge: randomness, the key-encryption key, client-secret hashing, password
//! hashing (argon2id), and JWS signing (the only place that touches josekit).

pub mod jws;
pub mod kek;
pub mod passwords;
pub mod random;
pub mod secrets;
