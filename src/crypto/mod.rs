//! Cryptography at the edge: randomness, the key-encryption key, client-secret hashing, and JWS
//! signing (the only place that touches josekit).

pub mod jws;
pub mod kek;
pub mod random;
pub mod secrets;
