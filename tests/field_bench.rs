//! Benchmark, not a test (ignored by default): what token renewal costs a push. The same
//! image — the hello binaries plus a 30 MiB layer uploaded at 10 MiB/s — is pushed through
//! the field front (tests/support/field.rs) to a fresh registry with tokens that live 300 s
//! (never renewed) and 1 s (renewed several times during the upload), alternately, and the
//! medians are compared side by side. Run by `bench/run.sh`, or:
//!
//! ```text
//! cargo test --release --test field_bench -- --ignored --nocapture
//! ```

mod support;

use std::time::{Duration, Instant};
use support::field::FieldOptions;
use support::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
#[ignore = "benchmark: cargo test --release --test field_bench -- --ignored --nocapture"]
fn token_renewal_overhead() {
    let imgpush = Imgpush::new();
    let mut big = vec![0u8; 30 * 1024 * 1024];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut big))
        .unwrap();
    std::fs::write(imgpush.cwd.path().join("big.bin"), &big).unwrap();
    drop(big);
    // One warm layer cache for every run: layering is not what is measured.
    let cache = tempfile::tempdir().unwrap();
    let push = |lifetime: u64| {
        let registry = Registry::start();
        let front = FieldOptions::new()
            .token_auth(Duration::from_secs(lifetime))
            .throttle(10 * 1024 * 1024)
            .start(&registry.host);
        let repo = format!("{}/bench/app", front.host);
        let args = hello_build(
            &repo,
            &[
                "--file",
                "big.bin:/data/big.bin",
                "--compression",
                "zstd:1",
                "-v",
            ],
        );
        let started = Instant::now();
        let out = imgpush
            .command()
            .env("IMGPUSH_CACHE_DIR", cache.path())
            .args(&args)
            .output()
            .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        success_line(&out);
        let renewals = stderr(&out).matches("renewed").count();
        (seconds, renewals, front.token_requests().len())
    };
    push(300); // warms the layer cache
    let (mut long, mut short) = (Vec::new(), Vec::new());
    let (mut renewals, mut tokens) = (0, 0);
    for _ in 0..3 {
        long.push(push(300).0);
        let (s, r, t) = push(1);
        short.push(s);
        renewals = renewals.max(r);
        tokens = tokens.max(t);
    }
    let (l, s) = (median(long.clone()), median(short.clone()));
    eprintln!("| token lifetime | push seconds (median of 3) | renewals | token requests |");
    eprintln!("|---|---|---|---|");
    eprintln!("| 300 s | {l:.2} | 0 | 1 |");
    eprintln!("| 1 s | {s:.2} | {renewals} | {tokens} |");
    eprintln!(
        "renewal overhead: {:+.1} % ({long:.2?} vs {short:.2?})",
        (s / l - 1.0) * 100.0
    );
}
