//! Randomness from OpenSSL's CSPRNG.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `N` bytes from the CSPRNG.
pub fn bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(buf)
}

/// A URL-safe token carrying `N` random bytes (43 characters for 32 bytes).
pub fn token<const N: usize>() -> anyhow::Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(bytes::<N>()?))
}

/// A token identifier (`jti`): 128 random bits, base64url (22 characters). From OpenSSL's
/// user-space DRBG (seeded from the OS, reseeded by OpenSSL), so it costs no system call —
/// unlike `uuid::Uuid::new_v4`, which asks the kernel for every token.
pub fn jti() -> anyhow::Result<String> {
    token::<16>()
}
