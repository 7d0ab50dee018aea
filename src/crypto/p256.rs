//! ES256 signatures: ECDSA over P-256 with nonces prepared in batches.
//!
//! An ECDSA signature is `r = x(k·G) mod n` and `s = k⁻¹·(z + r·d) mod n` for a fresh secret
//! nonce `k`. Only `s` depends on the message; `k`, `k·G` and `k⁻¹` can be computed before it
//! is known — what OpenSSL's `ECDSA_sign_setup` / `ECDSA_do_sign_ex` pair exists for. Computed
//! one signature at a time, the inversion `k⁻¹ mod n` (Fermat's little theorem: ≈ 256
//! squarings) is over a third of a P-256 signature in AWS-LC and OpenSSL alike
//! (`bench/ecdsa-parts`; docs/BENCHMARKS.md, change 33). Here nonces are made 64 at a time and
//! inverted together (Montgomery's trick: one inversion and three multiplications each), which
//! takes ≈ a third off an ES256 signature's CPU.
//!
//! Who does what — our code composes vetted primitives and computes nothing secret itself:
//! - AWS-LC draws each `k` uniformly from `[1, n)` (`BN_rand_range_ex`, its fork-safe DRBG),
//!   computes `k·G` and its affine `x` (constant-time base-point comb and field inversion),
//!   and does the batch inversion with constant-time Montgomery multiplications and one
//!   constant-time exponentiation (`BN_mod_exp_mont_consttime`).
//! - OpenSSL computes `s` from the digest, the key and a prepared `(k⁻¹, r)` in its
//!   constant-time code (`ECDSA_do_sign_ex`); computing `z + r·d mod n` with ordinary bignum
//!   arithmetic leaks the key through timing (CVE-2018-0495), so that stays in the library.
//!
//! A prepared nonce lives in one place — the key's pool, then the stack of the one signing call
//! that took it out under the lock — and is zeroed when dropped, so no nonce signs twice. The
//! pool holds what a batch left over (≤ 63 per refilling thread); a thread that finds it empty
//! makes a batch without holding the lock and puts the rest back. The pool lives in this
//! process only: Tessera never forks without exec (a child process, if any, runs another
//! program), so no copy of it can sign.
//!
//! Safety: every pointer comes from AWS-LC or OpenSSL, is checked for NULL where the library
//! may return one, and is owned by a wrapper below that frees it exactly once. The key is only
//! read once built (`ECDSA_do_sign_ex` does not modify it), which OpenSSL allows from several
//! threads at once.

use std::ffi::{c_int, c_uchar, c_void};
use std::ptr::{null, null_mut};
use std::sync::Mutex;

use aws_lc_sys as sys;
use foreign_types::ForeignType;
use openssl::bn::BigNum;
use openssl::ec::EcKey;
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Private;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

unsafe extern "C" {
    /// OpenSSL's ECDSA with a precomputed `k⁻¹` and `r` (libcrypto, deprecated in 3.0 with the
    /// rest of the `EC_KEY` API but present and maintained; the `openssl` crate does not bind
    /// it). Fails when `s` would be 0 (probability ≈ 2⁻²⁵⁶), asking for another nonce.
    fn ECDSA_do_sign_ex(
        dgst: *const c_uchar,
        dgst_len: c_int,
        kinv: *const c_void,
        rp: *const c_void,
        eckey: *mut c_void,
    ) -> *mut c_void;
}

/// Nonces prepared per batch: the inversion is shared by this many signatures.
const BATCH: usize = 64;

/// One prepared nonce: `k⁻¹ mod n` and `r = x(k·G) mod n`, big-endian. `k` itself is gone.
/// Deliberately neither `Clone` nor `Copy`: a nonce moves, it is never duplicated. `k⁻¹` sits
/// in a heap block of its own, written there once and zeroed when the nonce is dropped: moving
/// a nonce (into the pool, out of it) copies the pointer, not the secret, so no stale copy is
/// left in a vector's old buffer or on a stack.
struct Nonce {
    kinv: Zeroizing<Box<[u8]>>,
    r: [u8; 32],
}

/// A P-256 private key (held by OpenSSL) with its pool of prepared nonces.
pub struct P256Key {
    key: EcKey<Private>,
    nonces: Mutex<Vec<Nonce>>,
}

impl P256Key {
    /// Takes a P-256 private key parsed by OpenSSL; refuses any other curve and a key whose
    /// public point does not match its private scalar.
    pub fn from_ec_key(key: EcKey<Private>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            key.group().curve_name() == Some(Nid::X9_62_PRIME256V1),
            "ES256 needs a P-256 key"
        );
        key.check_key()
            .map_err(|_| anyhow::anyhow!("the P-256 key is inconsistent"))?;
        Ok(P256Key {
            key,
            nonces: Mutex::new(Vec::new()),
        })
    }

    /// The ES256 signature of `input` (RFC 7518 §3.4): SHA-256, ECDSA, `R || S` (32 bytes each,
    /// big-endian, left-padded).
    pub fn sign(&self, input: &[u8]) -> anyhow::Result<[u8; 64]> {
        let digest = Sha256::digest(input);
        // A second nonce only if the first gave s = 0 (never, in practice) or failed.
        for _ in 0..2 {
            let nonce = self.take_nonce()?;
            if let Some(sig) = self.sign_with(&digest, &nonce)? {
                return Ok(sig);
            }
        }
        anyhow::bail!("ES256 signing failed")
    }

    /// `s` for `digest` with `nonce`, by OpenSSL; `None` when OpenSSL refused the nonce.
    fn sign_with(&self, digest: &[u8], nonce: &Nonce) -> anyhow::Result<Option<[u8; 64]>> {
        let r = BigNum::from_slice(&nonce.r)?;
        // Cleared below, before any early return.
        let mut kinv = BigNum::from_slice(&nonce.kinv[..])?;
        kinv.set_const_time();
        // SAFETY: `digest` is 32 readable bytes; `kinv`, `r` and the key are valid OpenSSL
        // objects for the whole call (OpenSSL only reads them); the returned signature, if not
        // NULL, is owned by `EcdsaSig` from here on and freed once.
        let sig = unsafe {
            let p = ECDSA_do_sign_ex(
                digest.as_ptr(),
                digest.len() as c_int,
                kinv.as_ptr().cast(),
                r.as_ptr().cast(),
                self.key.as_ptr().cast(),
            );
            (!p.is_null()).then(|| EcdsaSig::from_ptr(p.cast()))
        };
        kinv.clear();
        let Some(sig) = sig else {
            // Drop the reason (s = 0 asks for new setup values) from this thread's error queue.
            let _ = openssl::error::ErrorStack::get();
            return Ok(None);
        };
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&sig.r().to_vec_padded(32)?);
        out[32..].copy_from_slice(&sig.s().to_vec_padded(32)?);
        Ok(Some(out))
    }

    /// A prepared nonce, taken out of the pool; a new batch when the pool is empty.
    fn take_nonce(&self) -> anyhow::Result<Nonce> {
        if let Some(n) = self.nonces.lock().ok().and_then(|mut pool| pool.pop()) {
            return Ok(n);
        }
        let mut batch = prepare_nonces(BATCH)?;
        let mine = batch
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no nonce prepared"))?;
        if let Ok(mut pool) = self.nonces.lock() {
            pool.append(&mut batch);
        }
        Ok(mine)
    }
}

/// `count` nonces: for each a uniform `k` in `[1, n)`, `r = x(k·G) mod n` (`r ≠ 0`), and `k⁻¹`
/// by Montgomery's trick — the product of all `k` inverted once (`a⁻¹ = a^(n−2)`, `n` prime),
/// then unwound with two multiplications per nonce. All arithmetic modulo `n` is in Montgomery
/// form with AWS-LC's constant-time multiplication; every `k` and intermediate is cleared when
/// freed.
fn prepare_nonces(count: usize) -> anyhow::Result<Vec<Nonce>> {
    anyhow::ensure!(count > 0, "no nonce asked for");
    // SAFETY: the group is AWS-LC's static P-256 (never freed); every other object is created
    // here, checked for NULL, owned by a wrapper that frees it once, and only passed to AWS-LC
    // functions while alive. `BN_bn2bin_padded` writes exactly 32 bytes into 32-byte buffers.
    unsafe {
        let group = sys::EC_group_p256();
        anyhow::ensure!(!group.is_null(), "AWS-LC has no P-256");
        let order = sys::EC_GROUP_get0_order(group);
        let ctx = BnCtx::new()?;
        let mont = Mont::new(order, &ctx)?;
        let point = Point::new(group)?;
        let x = Bn::new()?;
        // k_i in Montgomery form (k_i·R mod n), and r_i.
        let mut ks = Vec::with_capacity(count);
        let mut rs = Vec::with_capacity(count);
        while ks.len() < count {
            let k = Bn::new()?;
            check(sys::BN_rand_range_ex(k.0, 1, order), "random k")?;
            check(
                sys::EC_POINT_mul(group, point.0, k.0, null(), null(), ctx.0),
                "k·G",
            )?;
            check(
                sys::EC_POINT_get_affine_coordinates_GFp(group, point.0, x.0, null_mut(), ctx.0),
                "x(k·G)",
            )?;
            check(sys::BN_nnmod(x.0, x.0, order, ctx.0), "r")?;
            if sys::BN_is_zero(x.0) == 1 {
                continue; // r = 0 cannot sign: another k (FIPS 186-5 §6.4.1)
            }
            let mut r = [0u8; 32];
            check(
                sys::BN_bn2bin_padded(r.as_mut_ptr(), r.len(), x.0),
                "r bytes",
            )?;
            check(sys::BN_to_montgomery(k.0, k.0, mont.0, ctx.0), "k·R")?;
            ks.push(k);
            rs.push(r);
        }
        // prefix[i] = k_0·…·k_i (Montgomery form).
        let mut prefix: Vec<Bn> = Vec::with_capacity(count);
        for (i, k) in ks.iter().enumerate() {
            let p = Bn::new()?;
            match i.checked_sub(1).and_then(|j| prefix.get(j)) {
                Some(before) => check(
                    sys::BN_mod_mul_montgomery(p.0, before.0, k.0, mont.0, ctx.0),
                    "prefix product",
                )?,
                None => {
                    check_ptr(sys::BN_copy(p.0, k.0), "prefix product")?;
                }
            }
            prefix.push(p);
        }
        // inv = (k_0·…·k_{count−1})⁻¹, back in Montgomery form.
        let last = prefix.last().ok_or_else(|| anyhow::anyhow!("no nonce"))?;
        let product = Bn::new()?;
        check(
            sys::BN_from_montgomery(product.0, last.0, mont.0, ctx.0),
            "product",
        )?;
        let exponent = Bn::new()?;
        check_ptr(sys::BN_copy(exponent.0, order), "n − 2")?;
        check(sys::BN_sub_word(exponent.0, 2), "n − 2")?;
        let inv = Bn::new()?;
        check(
            sys::BN_mod_exp_mont_consttime(inv.0, product.0, exponent.0, order, ctx.0, mont.0),
            "inversion",
        )?;
        check(sys::BN_to_montgomery(inv.0, inv.0, mont.0, ctx.0), "inv·R")?;
        // Unwind: with inv = (k_0·…·k_i)⁻¹, k_i⁻¹ = inv·prefix[i−1], then inv ← inv·k_i.
        let t = Bn::new()?;
        let mut out = Vec::with_capacity(count);
        for (i, (k, r)) in ks.iter().zip(rs).enumerate().rev() {
            match i.checked_sub(1).and_then(|j| prefix.get(j)) {
                Some(before) => {
                    check(
                        sys::BN_mod_mul_montgomery(t.0, inv.0, before.0, mont.0, ctx.0),
                        "k⁻¹",
                    )?;
                    check(
                        sys::BN_mod_mul_montgomery(inv.0, inv.0, k.0, mont.0, ctx.0),
                        "unwind",
                    )?;
                }
                None => {
                    check_ptr(sys::BN_copy(t.0, inv.0), "k⁻¹")?;
                }
            }
            check(sys::BN_from_montgomery(t.0, t.0, mont.0, ctx.0), "k⁻¹")?;
            let mut kinv = Zeroizing::new(vec![0u8; 32].into_boxed_slice());
            check(
                sys::BN_bn2bin_padded(kinv.as_mut_ptr(), kinv.len(), t.0),
                "k⁻¹ bytes",
            )?;
            out.push(Nonce { kinv, r });
        }
        Ok(out)
    }
}

fn check(ret: c_int, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(ret == 1, "ES256 nonce preparation failed ({what})");
    Ok(())
}

/// `ret` when the library returned an object, else an error naming the call (AWS-LC returns
/// NULL only when it could not make one).
fn check_ptr<T>(ret: *mut T, what: &str) -> anyhow::Result<*mut T> {
    anyhow::ensure!(!ret.is_null(), "ES256 nonce preparation failed ({what})");
    Ok(ret)
}

/// An AWS-LC bignum, cleared and freed once.
struct Bn(*mut sys::BIGNUM);

impl Bn {
    fn new() -> anyhow::Result<Bn> {
        // SAFETY: BN_new returns an owned bignum or NULL (checked).
        let p = unsafe { sys::BN_new() };
        check_ptr(p, "BN_new").map(Bn)
    }
}

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: owned, non-NULL, freed only here; BN_clear_free zeroes the words first.
        unsafe { sys::BN_clear_free(self.0) }
    }
}

/// An AWS-LC `BN_CTX`, freed once.
struct BnCtx(*mut sys::BN_CTX);

impl BnCtx {
    fn new() -> anyhow::Result<BnCtx> {
        // SAFETY: BN_CTX_new returns an owned context or NULL (checked).
        let p = unsafe { sys::BN_CTX_new() };
        check_ptr(p, "BN_CTX_new").map(BnCtx)
    }
}

impl Drop for BnCtx {
    fn drop(&mut self) {
        // SAFETY: owned, non-NULL, freed only here.
        unsafe { sys::BN_CTX_free(self.0) }
    }
}

/// AWS-LC's Montgomery context for the group order, freed once.
struct Mont(*mut sys::BN_MONT_CTX);

impl Mont {
    /// # Safety
    /// `modulus` must be a valid, odd AWS-LC bignum.
    unsafe fn new(modulus: *const sys::BIGNUM, ctx: &BnCtx) -> anyhow::Result<Mont> {
        // SAFETY: per the contract; returns an owned context or NULL (checked).
        let p = unsafe { sys::BN_MONT_CTX_new_for_modulus(modulus, ctx.0) };
        check_ptr(p, "BN_MONT_CTX_new_for_modulus").map(Mont)
    }
}

impl Drop for Mont {
    fn drop(&mut self) {
        // SAFETY: owned, non-NULL, freed only here.
        unsafe { sys::BN_MONT_CTX_free(self.0) }
    }
}

/// An AWS-LC point on P-256, cleared and freed once.
struct Point(*mut sys::EC_POINT);

impl Point {
    /// # Safety
    /// `group` must be a valid AWS-LC group that outlives the point.
    unsafe fn new(group: *const sys::EC_GROUP) -> anyhow::Result<Point> {
        // SAFETY: per the contract; returns an owned point or NULL (checked).
        let p = unsafe { sys::EC_POINT_new(group) };
        check_ptr(p, "EC_POINT_new").map(Point)
    }
}

impl Drop for Point {
    fn drop(&mut self) {
        // SAFETY: owned, non-NULL, freed only here.
        unsafe { sys::EC_POINT_clear_free(self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::pkey::Public;
    use std::collections::HashSet;

    fn p256() -> (EcKey<Private>, EcKey<Public>) {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = EcKey::generate(&group).unwrap();
        let public = EcKey::from_public_key(&group, key.public_key()).unwrap();
        (key, public)
    }

    fn verifies(sig: &[u8; 64], input: &[u8], public: &EcKey<Public>) -> bool {
        EcdsaSig::from_private_components(
            BigNum::from_slice(&sig[..32]).unwrap(),
            BigNum::from_slice(&sig[32..]).unwrap(),
        )
        .unwrap()
        .verify(&Sha256::digest(input), public)
        .unwrap()
    }

    #[test]
    fn signatures_verify_with_openssl_and_differ() {
        let (key, public) = p256();
        let key = P256Key::from_ec_key(key).unwrap();
        let input = b"header.payload";
        let a = key.sign(input).unwrap();
        let b = key.sign(input).unwrap();
        assert_ne!(a, b, "a fresh nonce for every signature");
        assert!(verifies(&a, input, &public));
        assert!(verifies(&b, input, &public));
        let mut other = *input;
        other[0] ^= 1;
        assert!(!verifies(&a, &other, &public));
    }

    /// Every prepared nonce signs once: over several batches, each signature verifies and no
    /// `r` (so no `k`) comes back, from one thread or from several at once.
    #[test]
    fn every_nonce_signs_once_across_batches_and_threads() {
        let (key, public) = p256();
        let key = P256Key::from_ec_key(key).unwrap();
        let per_thread = 3 * BATCH + 7;
        let sigs: Vec<(Vec<u8>, [u8; 64])> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let key = &key;
                    s.spawn(move || {
                        (0..per_thread)
                            .map(|i| {
                                let input = format!("thread {t} token {i}").into_bytes();
                                let sig = key.sign(&input).unwrap();
                                (input, sig)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(sigs.len(), 4 * per_thread);
        let mut rs = HashSet::new();
        for (input, sig) in &sigs {
            assert!(verifies(sig, input, &public));
            assert!(rs.insert(sig[..32].to_vec()), "a nonce signed twice");
        }
    }

    /// The batch arithmetic: each k⁻¹ times k is 1. Checked by signing the same digest with
    /// a prepared nonce and recomputing s from k⁻¹, r and the key.
    #[test]
    fn prepared_nonces_are_consistent() {
        let (key, public) = p256();
        let nonces = prepare_nonces(5).unwrap();
        assert_eq!(nonces.len(), 5);
        let signer = P256Key::from_ec_key(key).unwrap();
        let digest = Sha256::digest(b"input");
        let mut seen = HashSet::new();
        for n in &nonces {
            assert!(seen.insert(n.r), "distinct r");
            assert_eq!(n.kinv.len(), 32);
            assert_ne!(n.kinv[..], [0u8; 32]);
            let sig = signer.sign_with(&digest, n).unwrap().unwrap();
            assert_eq!(sig[..32], n.r, "r is the prepared one");
            let parsed = EcdsaSig::from_private_components(
                BigNum::from_slice(&sig[..32]).unwrap(),
                BigNum::from_slice(&sig[32..]).unwrap(),
            )
            .unwrap();
            assert!(parsed.verify(&digest, &public).unwrap(), "k⁻¹ matches r");
        }
    }

    #[test]
    fn refuses_other_curves() {
        let p384 = EcKey::generate(&EcGroup::from_curve_name(Nid::SECP384R1).unwrap()).unwrap();
        assert!(P256Key::from_ec_key(p384).is_err());
    }
}
