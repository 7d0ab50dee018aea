//! argon2id hashes per CPU-second at Tessera's parameters (m = 19456 KiB, t = 2, p = 1; see
//! src/crypto/passwords.rs), on one thread, for `seconds` of CPU time (first argument, default 5),
//! or of wall time when the second argument is `wall` (bench/bench.py's paired runs, where it
//! shares the CPU with a server). Prints one JSON line. CPU time is read from /proc/self/stat
//! (utime + stime), as bench/bench.py reads the servers'.
//!
//! With `reuse` as the third argument (`tessera-bench-ceiling 5 cpu reuse`), it hashes the way
//! Tessera's server does instead (src/crypto/passwords.rs): into one block array kept from hash
//! to hash, advised for transparent huge pages before first touch. That is not the ceiling (the
//! ceiling is the crate's own API, which allocates and zeroes the array per hash); it measures
//! how much of the difference between the two is the server's memory handling
//! (docs/BENCHMARKS.md).

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::time::Instant;

const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

/// A block array advised for transparent huge pages before first touch: the same steps as
/// `block_array` in src/crypto/passwords.rs (this tool does not link Tessera, so it repeats them).
fn block_array(blocks: usize) -> Vec<Block> {
    let mut memory: Vec<Block> = Vec::with_capacity(blocks);
    let start = memory.as_mut_ptr() as usize;
    let end = start + blocks * std::mem::size_of::<Block>();
    let aligned = start.next_multiple_of(4096);
    if end > aligned {
        // SAFETY: inside the vector's allocation, nothing written yet; advice only.
        unsafe {
            libc::madvise(
                aligned as *mut libc::c_void,
                end - aligned,
                libc::MADV_HUGEPAGE,
            )
        };
    }
    memory.resize(blocks, Block::default());
    memory
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("seconds"))
        .unwrap_or(5.0);
    let wall_clock = std::env::args().nth(2).as_deref() == Some("wall");
    let reuse = std::env::args().nth(3).as_deref() == Some("reuse");
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("params");
    let blocks = params.block_count();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(&[0x5a; 16]).expect("salt");
    let password = b"correct horse battery staple";
    // Warm up (first allocation of the 19 MiB block).
    let phc = argon
        .hash_password(password, &salt)
        .expect("hash")
        .to_string();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    let mut memory = if reuse {
        block_array(blocks)
    } else {
        Vec::new()
    };
    let mut out = [0u8; 32];
    let mut hash = || {
        if reuse {
            argon
                .hash_password_into_with_memory(password, &[0x5a; 16], &mut out, &mut memory[..])
                .expect("hash");
            std::hint::black_box(&out);
        } else {
            std::hint::black_box(argon.hash_password(password, &salt).expect("hash"));
        }
    };
    hash();
    let (c0, w0) = (cpu_seconds(), Instant::now());
    let mut n = 0u64;
    let elapsed = || {
        if wall_clock {
            w0.elapsed().as_secs_f64()
        } else {
            cpu_seconds() - c0
        }
    };
    while elapsed() < seconds {
        // Check the clock after every hash when sharing the CPU (the paired run ends on time).
        for _ in 0..if wall_clock { 1 } else { 4 } {
            hash();
            n += 1;
        }
    }
    let (cpu, wall) = (cpu_seconds() - c0, w0.elapsed().as_secs_f64());
    let style = if reuse { "reuse" } else { "api" };
    println!(
        "{{\"crate\":\"argon2 0.5.3\",\"params\":\"m=19456,t=2,p=1\",\"style\":\"{style}\",\"hashes\":{n},\"cpu_s\":{cpu:.3},\"wall_s\":{wall:.3},\"per_cpu_s\":{:.2},\"per_wall_s\":{:.2}}}",
        n as f64 / cpu,
        n as f64 / wall
    );
}
