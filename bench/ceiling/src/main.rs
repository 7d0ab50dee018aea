//! argon2id hashes per CPU-second at Tessera's parameters (m = 19456 KiB, t = 2, p = 1; see
//! src/crypto/passwords.rs), on one thread, for `seconds` of CPU time (first argument, default 5),
//! or of wall time when the second argument is `wall` (bench/bench.py's paired runs, where it
//! shares the CPU with a server). Prints one JSON line. CPU time is read from /proc/self/stat
//! (utime + stime), as bench/bench.py reads the servers'.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
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

fn main() {
    let seconds: f64 = std::env::args().nth(1).map(|s| s.parse().expect("seconds")).unwrap_or(5.0);
    let wall_clock = std::env::args().nth(2).as_deref() == Some("wall");
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("params");
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(&[0x5a; 16]).expect("salt");
    let password = b"correct horse battery staple";
    // Warm up (first allocation of the 19 MiB block).
    let phc = argon.hash_password(password, &salt).expect("hash").to_string();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
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
            std::hint::black_box(argon.hash_password(password, &salt).expect("hash"));
            n += 1;
        }
    }
    let (cpu, wall) = (cpu_seconds() - c0, w0.elapsed().as_secs_f64());
    println!(
        "{{\"crate\":\"argon2 0.5.3\",\"params\":\"m=19456,t=2,p=1\",\"hashes\":{n},\"cpu_s\":{cpu:.3},\"wall_s\":{wall:.3},\"per_cpu_s\":{:.2},\"per_wall_s\":{:.2}}}",
        n as f64 / cpu,
        n as f64 / wall
    );
}
