//! What a registry may not make the client do (issue 11): send credentials to a token
//! realm over plain http, follow https → http, read without bound, overflow on a token
//! lifetime; and a 429 on an upload step is waited out. Through the field front
//! (`tests/support/field.rs`) or, where HTTPS is needed, `fixtures/https-fake`. Each test
//! asserts the outcome and what the registry holds afterwards.

mod support;

use std::process::Output;
use std::time::Duration;
use support::field::checks::*;
use support::field::https_fake::{HttpsFake, HttpsFakeMode};
use support::field::{FieldOptions, Framing};
use support::*;

const PLAIN_REALM: &str = "http://token.example.invalid/token";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Runs imgpush with its own empty cache, so nothing cached by another test (the
/// busybox configs, say) spares a request.
fn run_uncached(args: &[String]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let (out, elapsed, killed) = {
        let imgpush = Imgpush::new();
        let mut cmd = imgpush.command();
        cmd.env("IMGPUSH_CACHE_DIR", cache.path()).args(args);
        run_with_limit(cmd, secs(20))
    };
    assert!(
        !killed,
        "imgpush {args:?} ran {elapsed:?}:\n{}",
        stderr(&out)
    );
    out
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Fails, with `needle` in the error, and nothing secret printed.
fn failed_with(out: &Output, needle: &str) -> String {
    let err = stderr(out);
    assert!(!out.status.success(), "must fail:\n{err}");
    assert!(err.contains(needle), "`{needle}` not in:\n{err}");
    assert_no_secrets(&err);
    err
}

/// Nothing was written to `repo` in `registry`: no tag, no upload, no manifest.
fn assert_untouched(registry: &Registry, repo: &str) {
    assert!(registry.tags(repo).is_empty(), "{:?}", registry.tags(repo));
    let writes = registry.writes();
    assert!(
        writes.iter().all(|w| !w.contains(&format!("/v2/{repo}/"))),
        "{writes:?}"
    );
}

#[test]
fn a_token_realm_over_plain_http_elsewhere_is_refused_before_any_request() {
    let registry = Registry::start();
    let front = FieldOptions::new()
        .token_auth(secs(300))
        .advertise_realm(PLAIN_REALM)
        .start(&registry.host);
    let repo = format!("{}/app/realm", front.host);
    let out = run_uncached(&hello_build(&repo, &["-vv"]));
    let err = failed_with(
        &out,
        &format!("sends credentials to a token service over plain http ({PLAIN_REALM}); refusing"),
    );
    assert!(
        err.contains(&format!("--insecure-registry {}", front.host)),
        "{err}"
    );
    assert!(
        !err.contains("token request to"),
        "no token was asked for:\n{err}"
    );
    assert!(front.token_requests().is_empty());
    let seen = front.requests();
    assert!(
        seen.iter().all(|r| r.path == "/v2/" && !r.authorization),
        "only the ping reached the registry: {seen:?}"
    );
    assert_untouched(&registry, "app/realm");
}

#[test]
fn with_the_realm_host_insecure_the_plain_realm_is_tried_and_does_not_resolve() {
    let registry = Registry::start();
    let front = FieldOptions::new()
        .token_auth(secs(300))
        .advertise_realm(PLAIN_REALM)
        .start(&registry.host);
    let repo = format!("{}/app/realm", front.host);
    // The registry's own --insecure-registry does not open plain http to another host.
    let out = run_uncached(&hello_build(
        &repo,
        &["--insecure-registry", &front.host, "--retries", "0"],
    ));
    failed_with(&out, "sends credentials to a token service over plain http");
    // Naming the realm's host does.
    let out = run_uncached(&hello_build(
        &repo,
        &[
            "--insecure-registry",
            &front.host,
            "--insecure-registry",
            "token.example.invalid",
            "--retries",
            "0",
        ],
    ));
    let err = failed_with(&out, &format!("token request to {PLAIN_REALM}"));
    assert!(!err.contains("sends credentials"), "{err}");
    let lower = err.to_ascii_lowercase();
    assert!(
        lower.contains("connection") && (lower.contains("dns") || lower.contains("lookup")),
        "a connection (name resolution) error:\n{err}"
    );
    assert!(front.token_requests().is_empty());
    assert_untouched(&registry, "app/realm");
}

/// The downgrade error, its hint, and no query string of the target in the output.
fn assert_downgrade_refused(out: &Output, fake: &HttpsFake, target: &str) {
    let err = failed_with(
        out,
        &format!("sent us from https to plain http ({target}); refusing to follow"),
    );
    assert!(
        err.contains(&format!("--insecure-registry {}", fake.host)),
        "{err}"
    );
    for secret in ["sig=", "_state", "secret"] {
        assert!(!err.contains(secret), "`{secret}` in the output:\n{err}");
    }
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .all(|r| !r.contains("/manifests/") || !r.starts_with("PUT")),
        "no manifest was pushed: {requests:?}"
    );
}

#[test]
fn a_manifest_redirect_from_https_to_plain_http_is_refused() {
    let fake = HttpsFake::start(HttpsFakeMode::RedirectManifests);
    let ca = fake.ca_pem.display().to_string();
    let out = run_uncached(&args(&[
        "inspect",
        &format!("{}/base/app:latest", fake.host),
        "--ca-cert",
        &ca,
        "-vv",
    ]));
    assert_downgrade_refused(&out, &fake, "http://storage.example.invalid/blob");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r == "GET /v2/base/app/manifests/latest"),
        "{:?}",
        fake.requests()
    );
    // The fake is gone with its handle.
    let pid = fake.pid();
    drop(fake);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn a_blob_redirect_from_https_to_plain_http_is_refused() {
    let fake = HttpsFake::start(HttpsFakeMode::RedirectBlobs);
    let ca = fake.ca_pem.display().to_string();
    let out = run_uncached(&args(&[
        "inspect",
        &format!("{}/base/app:latest", fake.host),
        "--ca-cert",
        &ca,
        "-vv",
    ]));
    assert_downgrade_refused(&out, &fake, "http://storage.example.invalid/blob");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.starts_with("GET /v2/base/app/blobs/sha256:")),
        "the config was asked for: {:?}",
        fake.requests()
    );
}

#[test]
fn an_upload_location_from_https_to_plain_http_is_refused() {
    let fake = HttpsFake::start(HttpsFakeMode::Upload);
    let ca = fake.ca_pem.display().to_string();
    let repo = format!("{}/app/x", fake.host);
    let out = run_uncached(&hello_build(&repo, &["--ca-cert", &ca, "-vv"]));
    assert_downgrade_refused(&out, &fake, "http://upload.example.invalid/u");
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .any(|r| r == "POST /v2/app/x/blobs/uploads/"),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| !r.starts_with("PUT") && !r.starts_with("PATCH")),
        "nothing was sent to an upload session: {requests:?}"
    );
}

#[test]
fn a_manifest_over_4_mib_is_refused_with_or_without_a_length() {
    let registry = Registry::start();
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let front = FieldOptions::new()
            .oversized_manifests(framing)
            .start(&registry.host);
        let repo = format!("{}/app/bigmanifest", front.host);
        let base = format!("{}/base/huge:latest", front.host);
        let out = run_uncached(&hello_build(&repo, &["--base", &base]));
        let err = failed_with(&out, "sent more than 4194304 bytes; refusing to read it");
        assert!(err.contains("base/huge"), "{framing:?}: {err}");
        let gets = front
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/manifests/"))
            .count();
        assert_eq!(gets, 1, "{framing:?}: not retried");
        assert_untouched(&registry, "app/bigmanifest");
    }
}

#[test]
fn a_token_answer_over_256_kib_is_refused_with_or_without_a_length() {
    let registry = Registry::start();
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let front = FieldOptions::new()
            .token_auth(secs(300))
            .oversized_tokens(framing)
            .start(&registry.host);
        let repo = format!("{}/app/bigtoken", front.host);
        let out = run_uncached(&hello_build(&repo, &[]));
        let err = failed_with(&out, "sent more than 262144 bytes; refusing to read it");
        assert!(err.contains("token request to"), "{framing:?}: {err}");
        assert_eq!(front.token_requests().len(), 1, "{framing:?}: not retried");
        assert_untouched(&registry, "app/bigtoken");
    }
}

#[test]
fn a_config_longer_than_its_descriptor_is_refused() {
    let registry = Registry::start();
    registry.seed_busybox("base/busybox", &[]);
    let raw = skopeo_raw(
        &format!("docker://{}/base/busybox:latest", registry.host),
        None,
    );
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let manifests = platform_manifests(&format!("{}/base/busybox", registry.host), &index);
    let config = &manifests[0].2["config"];
    let (digest, size) = (
        config["digest"].as_str().unwrap().to_string(),
        config["size"].as_u64().unwrap(),
    );
    let front = FieldOptions::new()
        .padded_blob(&digest, 4096)
        .start(&registry.host);
    let repo = format!("{}/app/padded", front.host);
    let base = format!("{}/base/busybox:latest", front.host);
    let out = run_uncached(&hello_build(&repo, &["--base", &base]));
    let err = failed_with(
        &out,
        &format!("more than the {size} bytes its descriptor gives"),
    );
    assert!(err.contains(&digest), "the error names the config:\n{err}");
    assert_untouched(&registry, "app/padded");
}

#[test]
fn an_expires_in_near_u64_max_is_clamped() {
    let registry = Registry::start();
    let front = FieldOptions::new()
        .token_auth(secs(300))
        .claim_expires_in(Some(u64::MAX))
        .start(&registry.host);
    let repo = format!("{}/app/forever", front.host);
    let out = run_uncached(&hello_build(&repo, &["-v"]));
    let line = success_line(&out);
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(renewals(&err, &front.host), 0, "{err}");
    // Neither overflowed nor clamped to nothing (a token renewed on every request).
    assert_eq!(
        front.token_requests().len(),
        1,
        "{:?}",
        front.token_requests()
    );
    assert_pushed(&registry, "app/forever", &line);
}

/// A push through `front` that meets one 429 (Retry-After: 1) on an upload step: it
/// succeeds, says it waited, and the registry holds the image.
fn push_past_one_429(
    front: &support::field::FieldFront,
    registry: &Registry,
    repo: &str,
) -> String {
    let out = run_uncached(&hello_build(&format!("{}/{repo}", front.host), &["-v"]));
    let line = success_line(&out);
    let err = stderr(&out);
    assert_no_secrets(&err);
    assert!(
        err.lines()
            .any(|l| l.contains("retry 1 of") && l.contains("Retry-After")),
        "the wait is reported:\n{err}"
    );
    let limited = front.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, 1, "{:?}", front.requests());
    assert_pushed(registry, repo, &line);
    err
}

#[test]
fn a_429_on_an_upload_put_is_waited_out() {
    let registry = Registry::start();
    let front = FieldOptions::new()
        .too_many_requests("PUT", "/blobs/uploads/", 1, 1)
        .start(&registry.host);
    push_past_one_429(&front, &registry, "app/limitedput");
    let requests = front.requests();
    let at = requests.iter().find(|r| r.status == 429).unwrap().at;
    // The next upload session opened after it, no sooner than Retry-After allowed: the
    // blob's new attempt (other blobs' uploads may run meanwhile, but none is retried).
    let reopened = requests
        .iter()
        .filter(|r| r.method == "POST" && r.at > at)
        .map(|r| r.at - at)
        .max()
        .expect("a new session after the 429");
    assert!(reopened >= Duration::from_millis(950), "{requests:?}");
}

#[test]
fn a_429_on_an_upload_patch_is_waited_out_and_the_upload_resumed() {
    let registry = Registry::start();
    // A 413 to a monolithic PUT of a layer (over 64 KiB; configs pass) sends the client
    // to chunked PATCHes.
    let front = FieldOptions::new()
        .refuse_monolithic(64 << 10)
        .too_many_requests("PATCH", "/blobs/uploads/", 1, 1)
        .start(&registry.host);
    push_past_one_429(&front, &registry, "app/limitedpatch");
    let requests = front.requests();
    let limited = requests.iter().find(|r| r.status == 429).unwrap();
    assert_eq!(limited.method, "PATCH");
    // The upload's status was asked for after the wait, and the PATCH sent again.
    let status = requests
        .iter()
        .find(|r| r.method == "GET" && r.path == limited.path && r.at > limited.at)
        .expect("the upload status was asked for");
    assert!(
        status.at - limited.at >= Duration::from_millis(950),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "PATCH" && r.status == 202 && r.at > status.at),
        "{requests:?}"
    );
    assert!(requests.iter().any(|r| r.status == 413));
}

#[test]
fn a_streamed_copy_refused_in_one_request_goes_on_in_chunks() {
    // Source: a plain registry holding an image with a layer of about 1 MiB. Destination:
    // a front that refuses bodies over 64 KiB in one PUT (a proxy's body limit), so the
    // layer streamed between registries must go in PATCH chunks, still verified.
    let source = Registry::start();
    let imgpush = Imgpush::new();
    let mut payload = vec![0u8; 1 << 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut payload))
        .unwrap();
    std::fs::write(imgpush.cwd.path().join("payload.bin"), &payload).unwrap();
    let src = format!("{}/src/app", source.host);
    success_line(&imgpush.run_owned(&hello_build(&src, &["--file", "payload.bin:/data/p.bin"])));
    let dest_registry = Registry::start();
    let front = FieldOptions::new()
        .refuse_monolithic(64 << 10)
        .start(&dest_registry.host);
    let out = run_uncached(&args(&[
        "copy",
        &format!("{src}:latest"),
        &format!("{}/dst/app:latest", front.host),
        "-v",
    ]));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("uploading in chunks"), "{err}");
    let requests = front.requests();
    assert!(requests.iter().any(|r| r.status == 413), "{requests:?}");
    assert!(
        requests
            .iter()
            .any(|r| r.method == "PATCH" && r.status == 202),
        "{requests:?}"
    );
    // Same digests on both sides.
    let src_raw = skopeo_raw(&format!("docker://{src}:latest"), None);
    let dst_raw = skopeo_raw(
        &format!("docker://{}/dst/app:latest", dest_registry.host),
        None,
    );
    assert_eq!(sha256_hex(&src_raw), sha256_hex(&dst_raw));
}
