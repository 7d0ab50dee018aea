//! End-user passwords: argon2id (RFC 9106) at m = 19456 KiB, t = 2, p = 1, the OWASP minimum,
//! stored as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) with a 16-byte salt
//! from the CSPRNG.
//!
//! One hash costs about 19 MiB of memory and tens of milliseconds of CPU, so the server never
//! runs it on an async worker: [`PasswordHasher`] runs it on a small dedicated pool of threads
//! (one per permitted concurrent hash), so a flood of logins cannot starve the token endpoint or
//! exhaust memory. Each pool thread keeps its 19 MiB block array from one hash to the next
//! (`hash_password_into_with_memory`; argon2 writes every block before it reads it, so the
//! array needs no clearing): no allocation, no page faults and no zeroing per login, and the
//! memory stays at 19 MiB × threads, allocated at the first login rather than at start-up.
//! Unknown users (and users without a password) are checked against a dummy hash, so that they
//! cost the same time as a wrong password.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{
    Output, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, oneshot};

/// Memory cost in KiB.
pub const M_COST_KIB: u32 = 19_456;
/// Number of passes.
pub const T_COST: u32 = 2;
/// Degree of parallelism.
pub const P_COST: u32 = 1;
/// Salt length in bytes.
pub const SALT_LEN: usize = 16;

/// What every hash made here starts with.
pub const PHC_PREFIX: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

fn hasher() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_with_salt(password: &str, salt: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(salt).map_err(|e| anyhow::anyhow!("argon2 salt: {e}"))?;
    let hash = hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

/// Hashes a password with a fresh random salt; returns the PHC string. Blocking and slow: call
/// it from a blocking context (the CLI) or through [`PasswordHasher::hash`].
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    hash_with_salt(password, &super::random::bytes::<SALT_LEN>()?)
}

/// Checks a password against a stored PHC string, with the parameters the string names.
/// `false` on a wrong password and on a malformed or unsupported hash. Blocking and slow.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let Ok(argon) = hasher() else { return false };
    argon.verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A hash of a password no one knows, made once with the current parameters, for checking
/// unknown users at the same cost as known ones.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_with_salt("tessera dummy password, never matches", &[0x5a; SALT_LEN])
            .unwrap_or_default()
    })
}

/// Checks `password` against `stored` like [`verify_password`], in `memory` (grown to the
/// block count once, then reused) when `stored` has Tessera's own parameters.
fn verify_in(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let own = parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() == M_COST_KIB && p.t_cost() == T_COST && p.p_cost() == P_COST
        });
    let (true, Some(salt), Some(expected)) = (own, parsed.salt, parsed.hash) else {
        // Other parameters (an older hash): the allocating path, which reads them.
        return verify_password(password, stored);
    };
    let Ok(argon) = hasher() else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map(|p| p.block_count())
        .unwrap_or(0);
    if memory.len() < blocks {
        *memory = block_array(blocks);
    }
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    if argon
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
        .is_err()
    {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(out).is_ok_and(|o| o == expected)
}

/// A block array of `blocks` blocks. On Linux its pages are advised for transparent huge pages
/// before they are first touched: argon2 reads blocks at data-dependent places all over its
/// 19 MiB, and with 4 KiB pages many such reads miss the TLB (a page walk, two in a virtual
/// machine). The kernel backs each 2 MiB-aligned stretch of it with one huge page
/// where it can, and with 4 KiB pages otherwise (docs/BENCHMARKS.md, change 15).
fn block_array(blocks: usize) -> Vec<Block> {
    let mut memory: Vec<Block> = Vec::with_capacity(blocks);
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = memory.as_mut_ptr() as usize;
        let end = start + blocks * std::mem::size_of::<Block>();
        let aligned = start.next_multiple_of(PAGE);
        if end > aligned {
            // SAFETY: the range lies inside the vector's allocation, which stays alive and
            // where it is; MADV_HUGEPAGE only changes how the kernel backs the pages, never
            // their contents (none yet: nothing has been written).
            unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    end - aligned,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    memory.resize(blocks, Block::default());
    memory
}

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The hashing threads: started at the first hash, each with its own reusable block array.
#[derive(Debug)]
struct Pool {
    jobs: mpsc::Sender<Job>,
}

impl Pool {
    fn start(threads: usize) -> anyhow::Result<Pool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("tessera-argon2-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Pool { jobs: tx })
    }
}

/// Password hashing for the server: argon2 runs on a dedicated pool of `max_concurrent`
/// threads, at most `max_concurrent` at a time; further requests wait for a permit.
#[derive(Debug)]
pub struct PasswordHasher {
    permits: Semaphore,
    threads: usize,
    pool: OnceLock<Mutex<Pool>>,
}

impl PasswordHasher {
    /// `max_concurrent` (at least 1) bounds the hashes running at once, and so the memory they
    /// take (about 19 MiB each). The number of CPU cores is a good value.
    pub fn new(max_concurrent: usize) -> Self {
        PasswordHasher {
            permits: Semaphore::new(max_concurrent.max(1)),
            threads: max_concurrent.max(1),
            pool: OnceLock::new(),
        }
    }

    /// Runs `f` on a pool thread with its block array; `None` if the pool is gone.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = tx.send(f(memory));
        });
        let pool = match self.pool.get() {
            Some(p) => p,
            None => {
                let started = Pool::start(self.threads)
                    .inspect_err(|e| {
                        tracing::error!("cannot start the password hashing threads: {e}")
                    })
                    .ok()?;
                self.pool.get_or_init(|| Mutex::new(started))
            }
        };
        pool.lock().ok()?.jobs.send(job).ok()?;
        rx.await.ok()
    }

    /// Checks `password` against a user's stored hash. With `None` (unknown user, or no password
    /// set) it checks against a dummy hash and returns `false`, so that costs the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        self.run(move |memory| match hash {
            Some(h) => verify_in(&password, &h, memory),
            None => {
                let _ = verify_in(&password, dummy_hash(), memory);
                false
            }
        })
        .await
        .unwrap_or(false)
    }

    /// Hashes a new password (see [`hash_password`]) off the async workers.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| anyhow::anyhow!("password hasher closed: {e}"))?;
        self.run(move |_| hash_password(&password))
            .await
            .ok_or_else(|| anyhow::anyhow!("password hashing thread failed"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_format() {
        let h = hash_password("correct horse battery staple").unwrap();
        assert!(h.starts_with(PHC_PREFIX), "{h}");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password("correct horse battery staple", &h));
        assert!(!verify_password("correct horse battery stapler", &h));
        assert!(!verify_password("", &h));
        // A fresh salt every time.
        let again = hash_password("correct horse battery staple").unwrap();
        assert_ne!(h, again);
        assert!(verify_password("correct horse battery staple", &again));
        // salt: 16 bytes = 22 base64 characters; output: 32 bytes = 43.
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[4].len(), 22);
        assert_eq!(parts[5].len(), 43);
    }

    #[test]
    fn malformed_or_foreign_hashes_never_verify() {
        let h = hash_password("password1").unwrap();
        let mut tampered = h.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        let argon2i = h.replacen("$argon2id$", "$argon2i$", 1);
        for bad in [
            "",
            "garbage",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$",
            "hs256$abc",
            "password1",
            tampered.as_str(),
            argon2i.as_str(),
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        ] {
            assert!(!verify_password("password1", bad), "{bad:?}");
        }
    }

    #[test]
    fn reused_memory_verifies_like_the_allocating_path() {
        let mut memory = Vec::new();
        let h = hash_password("password1").unwrap();
        for _ in 0..2 {
            assert!(verify_in("password1", &h, &mut memory));
            assert!(!verify_in("password2", &h, &mut memory));
        }
        // Other parameters take the allocating path.
        let params = Params::new(8192, 1, 1, None).unwrap();
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"password1", &SaltString::encode_b64(&[7; 16]).unwrap())
            .unwrap()
            .to_string();
        assert!(verify_in("password1", &other, &mut memory));
        assert!(!verify_in("password2", &other, &mut memory));
        assert!(!verify_in("password1", "garbage", &mut memory));
        let mut tampered = h.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(!verify_in("password1", &tampered, &mut memory));
    }

    #[test]
    fn dummy_hash_has_the_current_parameters() {
        assert!(dummy_hash().starts_with(PHC_PREFIX), "{}", dummy_hash());
        assert!(PasswordHash::new(dummy_hash()).is_ok());
    }

    #[tokio::test]
    async fn server_hasher() {
        let hasher = PasswordHasher::new(2);
        let h = hasher.hash("s3cret-password".into()).await.unwrap();
        assert!(h.starts_with(PHC_PREFIX));
        assert!(
            hasher
                .verify("s3cret-password".into(), Some(h.clone()))
                .await
        );
        assert!(!hasher.verify("wrong-password".into(), Some(h)).await);
        assert!(
            !hasher
                .verify("s3cret-password".into(), Some("not a hash".into()))
                .await
        );
        // Unknown user: always false, even for the dummy's own password.
        assert!(!hasher.verify("s3cret-password".into(), None).await);
        assert!(
            !hasher
                .verify("tessera dummy password, never matches".into(), None)
                .await
        );
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        use std::sync::Arc;
        let hasher = Arc::new(PasswordHasher::new(1));
        let permit = hasher.permits.acquire().await.unwrap();
        let h2 = hasher.clone();
        let waiting = tokio::spawn(async move { h2.hash("password1".into()).await });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "waits for a permit");
        drop(permit);
        assert!(waiting.await.unwrap().unwrap().starts_with(PHC_PREFIX));
    }
}
