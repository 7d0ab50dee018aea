/* Where a P-256 ECDSA signature's time goes, in AWS-LC (which prepares Tessera's ES256 nonces)
 * and in the system OpenSSL (which computes Tessera's s). Built and run by bench/ecdsa-parts.
 *
 * Per signature: the whole ECDSA_do_sign, then the pieces it is made of — the nonce's
 * base-point multiplication k·G, its affine x coordinate (a field inversion), a multiplication
 * modulo the group order n, and a constant-time inversion modulo n by Fermat's little theorem
 * (one per signature in ECDSA_do_sign; one per 64 in Tessera's signer, src/crypto/p256.rs);
 * and, in OpenSSL, the last step alone — s from a prepared (k^-1, r) — which is what Tessera's
 * signer does per signature. CPU time of this process, pinned by the caller.
 * `ecdsa_parts N sign` runs the signing loop alone (for perf). */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef OPENSSL_IS_AWSLC
#define LIB "AWS-LC"
#define AFFINE_X(g, p, x, ctx) EC_POINT_get_affine_coordinates_GFp(g, p, x, NULL, ctx)
#define MONT_NEW(m, n, ctx) ((m) = BN_MONT_CTX_new_for_modulus(n, ctx))
#define RAND_RANGE BN_rand_range_ex_wrap
static int BN_rand_range_ex_wrap(BIGNUM *r, const BIGNUM *n) { return BN_rand_range_ex(r, 1, n); }
#else
#define LIB "OpenSSL"
#define AFFINE_X(g, p, x, ctx) EC_POINT_get_affine_coordinates(g, p, x, NULL, ctx)
#define MONT_NEW(m, n, ctx) ((m) = BN_MONT_CTX_new(), BN_MONT_CTX_set(m, n, ctx))
#define RAND_RANGE BN_priv_rand_range
#endif

static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define TIME(label, iters, body)                                                  \
    do {                                                                          \
        double t0 = cpu();                                                        \
        for (long i = 0; i < (iters); i++) { body; }                              \
        printf("%-8s %-48s %8.3f us\n", LIB, label, (cpu() - t0) / (iters) * 1e6); \
    } while (0)

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 20000;
    EC_KEY *key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    if (key == NULL || !EC_KEY_generate_key(key)) return 1;
    const EC_GROUP *g = EC_KEY_get0_group(key);
    const BIGNUM *n = EC_GROUP_get0_order(g);
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *k = BN_new(), *x = BN_new(), *a = BN_new(), *e = BN_new();
    EC_POINT *p = EC_POINT_new(g);
    BN_MONT_CTX *m;
    MONT_NEW(m, n, ctx);
    unsigned char digest[32] = {1, 2, 3};
    if (!ctx || !k || !x || !a || !e || !p || !m) return 1;

    TIME("ECDSA_do_sign (the whole signature)", iters, {
        ECDSA_SIG *s = ECDSA_do_sign(digest, 32, key);
        if (s == NULL) return 1;
        ECDSA_SIG_free(s);
    });
    if (argc > 2) return 0; /* "sign": the signing loop alone, for perf */
    TIME("random k + k*G (EC_POINT_mul)", iters, {
        if (!RAND_RANGE(k, n) || !EC_POINT_mul(g, p, k, NULL, NULL, ctx)) return 1;
    });
    TIME("affine x of k*G (a field inversion)", iters, {
        if (!AFFINE_X(g, p, x, ctx)) return 1;
    });
    if (!RAND_RANGE(a, n) || !RAND_RANGE(k, n)) return 1;
    TIME("a*b mod n (BN_mod_mul_montgomery)", iters * 10, {
        if (!BN_mod_mul_montgomery(a, a, k, m, ctx)) return 1;
    });
    if (!BN_copy(e, n) || !BN_sub_word(e, 2)) return 1;
#ifndef OPENSSL_IS_AWSLC
    BN_set_flags(k, BN_FLG_CONSTTIME); /* AWS-LC's exponentiation is constant-time anyway */
#endif
    TIME("k^-1 mod n, k^(n-2) (BN_mod_exp_mont_consttime)", iters / 10, {
        if (!BN_mod_exp_mont_consttime(a, k, e, n, ctx, m)) return 1;
    });
#ifndef OPENSSL_IS_AWSLC
    /* What Tessera's ES256 signer asks of OpenSSL per signature (src/crypto/p256.rs). */
    BIGNUM *kinv = NULL, *r = NULL;
    if (!ECDSA_sign_setup(key, ctx, &kinv, &r)) return 1;
    TIME("ECDSA_do_sign_ex with a prepared (k^-1, r)", iters, {
        ECDSA_SIG *s = ECDSA_do_sign_ex(digest, 32, kinv, r, key);
        if (s == NULL) return 1;
        ECDSA_SIG_free(s);
    });
#endif
    return 0;
}
