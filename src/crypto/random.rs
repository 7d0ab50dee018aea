//! Randomness from OpenSSL's CSPRNG.

use std::cell::RefCell;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `N` bytes from the CSPRNG, straight from OpenSSL (for keys, salts and nonces).
pub fn bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(buf)
}

/// Size of each thread's block of DRBG output for [`token`].
const BLOCK: usize = 512;

thread_local! {
    /// DRBG output not handed out yet (from `.1` on).
    static BLOCK_BUF: RefCell<([u8; BLOCK], usize)> = const { RefCell::new(([0; BLOCK], BLOCK)) };
}

/// Fills `out` from this thread's block of DRBG output, drawing a new block when it runs out.
/// Every byte is handed out once and zeroed in the block when it is. OpenSSL's DRBG re-keys
/// its AES state on every call (≈ 1 µs here, whatever the length), so one call per 512 bytes
/// instead of one per token is what makes a token cheap. (Tessera never forks without `exec`,
/// so no two processes share a block.)
fn fill(out: &mut [u8]) -> anyhow::Result<()> {
    if out.len() > BLOCK {
        openssl::rand::rand_bytes(out)?;
        return Ok(());
    }
    BLOCK_BUF.with_borrow_mut(|(block, pos)| {
        if BLOCK - *pos < out.len() {
            openssl::rand::rand_bytes(block)?;
            *pos = 0;
        }
        let taken = &mut block[*pos..*pos + out.len()];
        out.copy_from_slice(taken);
        taken.fill(0);
        *pos += out.len();
        Ok(())
    })
}

/// A URL-safe token carrying `N` random bytes (43 characters for 32 bytes): session cookies,
/// codes, CSRF tokens, identifiers.
pub fn token<const N: usize>() -> anyhow::Result<String> {
    let mut buf = [0u8; N];
    fill(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// A token identifier (`jti`): 128 random bits, base64url (22 characters), from OpenSSL's
/// user-space DRBG (seeded from the OS, reseeded by OpenSSL) — no system call, unlike
/// `uuid::Uuid::new_v4`.
pub fn jti() -> anyhow::Result<String> {
    token::<16>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_of_the_right_length() {
        let mut seen = std::collections::HashSet::new();
        // Several blocks' worth, so refills are crossed.
        for _ in 0..200 {
            let t = token::<32>().unwrap();
            assert_eq!(t.len(), 43);
            assert!(seen.insert(t), "a token repeated");
        }
        assert_eq!(jti().unwrap().len(), 22);
        let mut big = [0u8; BLOCK + 1];
        fill(&mut big).unwrap();
        assert!(big.iter().any(|b| *b != 0));
    }

    #[test]
    fn handed_out_bytes_are_zeroed_in_the_block() {
        let _ = token::<16>().unwrap();
        BLOCK_BUF.with_borrow(|(block, pos)| {
            assert!(*pos >= 16);
            assert!(block[..*pos].iter().all(|b| *b == 0));
        });
    }
}
