//! Micro-benchmarks of the hot pieces of a request, with criterion (issue #6, step 5):
//! JWT signing per algorithm, client-secret verification, parameter parsing and redirect-URI
//! matching. Run by hand, never by CI:
//!
//! ```sh
//! cargo bench --bench hot_paths                 # all
//! cargo bench --bench hot_paths -- jwt_sign     # a filter
//! ```
//!
//! The end-to-end figures (requests per CPU-second against the ceilings) come from `bench/run`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tessera::crypto::jws::{Signer, generate};
use tessera::crypto::secrets::SecretHasher;
use tessera::protocol::jose::Alg;
use tessera::protocol::params::Params;
use tessera::protocol::redirect_uri::matches_registered;

/// The claims of a typical client-credentials access token (RFC 9068).
fn access_token_claims() -> serde_json::Value {
    json!({
        "iss": "https://id.example.com",
        "sub": "tc_3q2hX9bLw0c2o6Jm",
        "aud": "https://billing.example.com",
        "client_id": "tc_3q2hX9bLw0c2o6Jm",
        "scope": "invoices:read invoices:write",
        "iat": 1_790_000_000,
        "exp": 1_790_000_600,
        "jti": "0193a6f2-5c1e-7d3a-9b8e-2f4c6a8d0e1f",
    })
}

fn jwt_sign(c: &mut Criterion) {
    let claims = access_token_claims();
    let mut g = c.benchmark_group("jwt_sign");
    for alg in [Alg::RS256, Alg::ES256, Alg::EdDSA] {
        let key = generate(alg).expect("generate key");
        let signer = Signer::from_der(alg, &key.kid, &key.private_der).expect("signer");
        g.bench_function(alg.as_str(), |b| {
            b.iter(|| signer.sign_access_token(black_box(&claims)).expect("sign"))
        });
    }
    g.finish();
}

fn client_secret(c: &mut Criterion) {
    let hasher = SecretHasher::new([7u8; 32]);
    let secret = "m1H8wq1yN2d3cY3k0qvVQ4m8o0R7r4Xb2c9fJ6tUu5E";
    let stored = hasher.hash(secret);
    let mut g = c.benchmark_group("client_secret");
    g.bench_function("verify_ok", |b| {
        b.iter(|| hasher.verify(black_box(secret), black_box(&stored)))
    });
    g.bench_function("verify_wrong", |b| {
        b.iter(|| {
            hasher.verify(
                black_box("m1H8wq1yN2d3cY3k0qvVQ4m8o0R7r4Xb2c9fJ6tUu5F"),
                black_box(&stored),
            )
        })
    });
    g.finish();
}

fn params(c: &mut Criterion) {
    let token_request: &[u8] =
        b"grant_type=client_credentials&scope=invoices%3Aread%20invoices%3Awrite&resource=https%3A%2F%2Fbilling.example.com";
    let authorize: &[u8] = b"response_type=code&client_id=sample&redirect_uri=http%3A%2F%2F127.0.0.1%3A9000%2Fcallback\
&scope=openid%20profile%20email&state=xyz&nonce=n1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
&code_challenge_method=S256&prompt=consent";
    let mut g = c.benchmark_group("params_parse");
    g.bench_function("token_request", |b| {
        b.iter(|| Params::parse(black_box(token_request), &["resource"]).expect("parse"))
    });
    g.bench_function("authorize_query", |b| {
        b.iter(|| Params::parse(black_box(authorize), &["resource"]).expect("parse"))
    });
    g.finish();
}

fn redirect_uris(c: &mut Criterion) {
    let registered: Vec<String> = [
        "https://app.example.com/callback",
        "https://app.example.com/silent-renew",
        "com.example.app:/oauth2redirect",
        "http://127.0.0.1/native",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut g = c.benchmark_group("redirect_uri");
    g.bench_function("exact", |b| {
        b.iter(|| {
            matches_registered(
                black_box("https://app.example.com/silent-renew"),
                &registered,
            )
        })
    });
    g.bench_function("loopback_any_port", |b| {
        b.iter(|| matches_registered(black_box("http://127.0.0.1:53123/native"), &registered))
    });
    g.bench_function("near_miss", |b| {
        b.iter(|| matches_registered(black_box("https://app.example.com/callback/"), &registered))
    });
    g.finish();
}

criterion_group!(benches, jwt_sign, client_secret, params, redirect_uris);
criterion_main!(benches);
