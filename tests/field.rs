//! Registries as they behave in the field (issue 11), through the field front
//! (`tests/support/field.rs`) in front of a real distribution registry: tokens that expire
//! or are revoked during a build, scope checks, 307 blob redirects to a storage host,
//! absolute upload Locations on another host, resets mid-blob, 5xx on the ping and the
//! token endpoint, 429 with Retry-After. Each test asserts the outcome and what the
//! registry holds afterwards.

mod support;

use std::collections::HashMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::field::checks::*;
use support::field::{FieldFront, FieldOptions, TokenFailure};
use support::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A Go build (6 s, longer than the front's 2 s tokens and than the client's own
/// minimum token lifetime) of a base in the front, pushed through the front.
fn slow_build_through(front: &FieldFront, registry: &Registry) -> Output {
    let imgpush = Imgpush::new();
    let module = imgpush.cwd.path().join("slow");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(
        module.join("go.mod"),
        "module example.com/slow\n\ngo 1.19\n",
    )
    .unwrap();
    std::fs::write(
        module.join("main.go"),
        "package main\n\nfunc main() { println(\"hello\") }\n",
    )
    .unwrap();
    let go = fake_go(imgpush.cwd.path(), 6);
    let out = imgpush
        .command()
        .env("GO", &go)
        .arg("build")
        .arg(&module)
        .args([
            "--repo",
            &format!("{}/app/slow", front.host),
            "--base",
            &format!("{}/base/busybox:latest", front.host),
            "-v",
        ])
        .output()
        .unwrap();
    let line = success_line(&out);
    let err = stderr(&out);
    assert_no_secrets(&err);
    assert!(
        renewals(&err, &front.host) >= 1,
        "the token that expired during the build was renewed (and said so):\n{err}"
    );
    assert!(
        front.token_requests().len() >= 2,
        "{:?}",
        front.token_requests()
    );
    assert_pushed(registry, "app/slow", &line);
    out
}

#[test]
fn a_token_that_expires_during_the_build_is_renewed() {
    let registry = Registry::start();
    registry.seed_busybox("base/busybox", &[]);
    let front = FieldOptions::new()
        .token_auth(secs(2))
        .start(&registry.host);
    slow_build_through(&front, &registry);
}

#[test]
fn a_token_without_expires_in_that_dies_during_the_build_is_renewed_on_401() {
    let registry = Registry::start();
    registry.seed_busybox("base/busybox", &[]);
    // The client assumes 60 s; the front accepts each token for 2 s.
    let front = FieldOptions::new()
        .token_auth(secs(2))
        .claim_expires_in(None)
        .start(&registry.host);
    slow_build_through(&front, &registry);
    assert!(front.rejected() >= 1, "the 401 path was taken");
}

#[test]
fn a_token_revoked_mid_push_is_renewed() {
    let registry = Registry::start();
    registry.seed_busybox("base/busybox", &[]);
    let front = FieldOptions::new()
        .token_auth(secs(300))
        .revoke_after(5)
        .start(&registry.host);
    let repo = format!("{}/app/revoked", front.host);
    let base = format!("{}/base/busybox:latest", front.host);
    let out = Imgpush::new().run_owned(&hello_build(&repo, &["--base", &base, "-v"]));
    let line = success_line(&out);
    let err = stderr(&out);
    assert!(front.revoked());
    assert!(front.rejected() >= 1, "{:?}", front.requests());
    assert!(renewals(&err, &front.host) >= 1, "{err}");
    assert_no_secrets(&err);
    assert_pushed(&registry, "app/revoked", &line);
}

#[test]
fn tokens_shorter_than_the_push_with_a_mount_and_four_jobs() {
    let registry = Registry::start();
    registry.seed_busybox("base/busybox", &[]);
    // 50 MiB at 10 MiB/s: the upload alone outlives two tokens.
    let front = FieldOptions::new()
        .token_auth(secs(2))
        .throttle(10 * 1024 * 1024)
        .start(&registry.host);
    let imgpush = Imgpush::new();
    let mut big = vec![0u8; 50 * 1024 * 1024];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut big))
        .unwrap();
    std::fs::write(imgpush.cwd.path().join("big.bin"), &big).unwrap();
    drop(big);
    let cache = tempfile::tempdir().unwrap();
    let repo = format!("{}/app/big", front.host);
    let base = format!("{}/base/busybox:latest", front.host);
    let args = hello_build(
        &repo,
        &[
            "--base",
            &base,
            "--file",
            "big.bin:/data/big.bin",
            "--jobs",
            "4",
            // zstd:1 layers random bytes in seconds even in the debug build under test
            // (gzip takes ~40 s there); the layer's compression does not matter here.
            "--compression",
            "zstd:1",
            "-v",
        ],
    );
    let run = || {
        imgpush
            .command()
            .env("IMGPUSH_CACHE_DIR", cache.path())
            .args(&args)
            .output()
            .unwrap()
    };
    let out = run();
    let line = success_line(&out);
    // The push's duration as the registry saw it: first request to last.
    let seen = front.requests();
    let elapsed = (seen.last().unwrap().at - seen[0].at).as_secs_f64();
    let err = stderr(&out);
    assert_no_secrets(&err);
    assert!(renewals(&err, &front.host) >= 1, "{err}");

    // Concurrent jobs share one renewal: per scope set, at most one token per lifetime.
    let tokens = front.token_requests();
    let mut per_set: HashMap<Vec<String>, usize> = HashMap::new();
    for t in &tokens {
        let mut s = t.scopes.clone();
        s.sort();
        *per_set.entry(s).or_default() += 1;
    }
    let allowed = elapsed / 2.0 + 1.0;
    eprintln!("push {elapsed:.1}s, token requests per scope set: {per_set:?}");
    for (set, n) in &per_set {
        assert!(
            *n as f64 <= allowed,
            "{n} token requests for {set:?} in {elapsed:.1}s"
        );
    }
    assert!(
        tokens
            .iter()
            .any(|t| t.scopes.iter().any(|s| s == "repository:base/busybox:pull")),
        "pull on the base's repository was asked for (the mount needs it): {tokens:?}"
    );

    // Base layers mounted, never uploaded; the big layer uploaded once.
    let mounts = registry
        .raw_requests()
        .iter()
        .filter(|(m, t)| m == "POST" && t.contains("mount=") && t.contains("from=base"))
        .count();
    assert!(mounts >= 1, "{:?}", registry.raw_requests());
    assert_pushed(&registry, "app/big", &line);
    let index: serde_json::Value =
        serde_json::from_slice(&skopeo_raw(&format!("docker://{repo}:latest"), None)).unwrap();
    let manifests = platform_manifests(&format!("{}/app/big", registry.host), &index);
    let layers = manifests[0].2["layers"].as_array().unwrap();
    assert_eq!(
        registry.uploads_of("app/big", layers[0]["digest"].as_str().unwrap()),
        0,
        "the base layer was mounted"
    );
    let big_layer = layers
        .iter()
        .find(|l| l["size"].as_u64().unwrap() > 40 * 1024 * 1024)
        .expect("the 50 MiB layer");
    assert_eq!(
        registry.uploads_of("app/big", big_layer["digest"].as_str().unwrap()),
        1
    );

    // A no-op re-push of the same build: still 3 registry requests.
    let before = front.requests().len();
    let again = run();
    assert_eq!(success_line(&again), line);
    let requests: Vec<String> = front.requests()[before..]
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    assert_eq!(requests.len(), 3, "{requests:?}");
}

#[test]
fn blobs_redirected_to_storage_are_fetched_without_credentials() {
    let source = Registry::start();
    source.seed_busybox("base/busybox", &[]);
    let front = FieldOptions::new()
        .token_auth(secs(300))
        .redirect_blobs()
        .start(&source.host);
    let dest = Registry::start();
    let out = Imgpush::new().run(&[
        "copy",
        "-v",
        &format!("{}/base/busybox:latest", front.host),
        &format!("{}/mirror/busybox:latest", dest.host),
    ]);
    let line = success_line(&out);
    assert_no_secrets(&stderr(&out));
    let redirects = front.requests().iter().filter(|r| r.status == 307).count();
    let storage = front.storage_requests();
    assert!(redirects > 0 && !storage.is_empty(), "{storage:?}");
    assert!(
        storage.iter().all(|r| !r.authorization && r.status == 200),
        "credentials reached the storage host: {storage:?}"
    );
    assert!(
        front
            .requests()
            .iter()
            .filter(|r| r.status != 401)
            .all(|r| r.authorization),
        "the registry itself got the token"
    );
    assert_eq!(
        tag_digest(&dest, "mirror/busybox", "latest"),
        tag_digest(&source, "base/busybox", "latest")
    );
    assert_eq!(
        digest_of(&line),
        tag_digest(&source, "base/busybox", "latest")
    );
}

#[test]
fn a_wrong_blob_from_storage_is_rejected_and_never_reaches_the_destination() {
    let source = Registry::start();
    source.seed_busybox("base/busybox", &[]);
    let raw = skopeo_raw(
        &format!("docker://{}/base/busybox:latest", source.host),
        None,
    );
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let manifests = platform_manifests(&format!("{}/base/busybox", source.host), &index);
    let layer = manifests[0].2["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let front = FieldOptions::new()
        .token_auth(secs(300))
        .redirect_blobs()
        .wrong_storage_body(&layer)
        .start(&source.host);
    let dest = Registry::start();
    let out = Imgpush::new().run(&[
        "copy",
        "-v",
        &format!("{}/base/busybox:latest", front.host),
        &format!("{}/mirror/bad:latest", dest.host),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&layer), "the error names the digest:\n{err}");
    assert!(
        err.contains(&front.host),
        "the error names the source:\n{err}"
    );
    assert_no_secrets(&err);
    assert!(front.storage_requests().iter().all(|r| !r.authorization));
    assert!(
        dest.tags("mirror/bad").is_empty(),
        "no tag after a bad blob"
    );
    assert_eq!(blob_status(&dest, "mirror/bad", &layer), "404");
    assert_eq!(
        upload_puts(&dest, "mirror/bad", &layer, 201),
        0,
        "{}",
        dest.log()
    );
    // A 400 (DIGEST_INVALID) would mean the whole wrong body reached the destination,
    // which judged it: the client must stop before releasing the last chunk.
    assert_eq!(
        upload_puts(&dest, "mirror/bad", &layer, 400),
        0,
        "{}",
        dest.log()
    );
}

#[test]
fn uploads_to_another_host_get_no_credentials_and_no_upload_state_is_printed() {
    let registry = Registry::start();
    let front = FieldOptions::new()
        .token_auth(secs(300))
        .require_login("pusher", "hunter2")
        .absolute_upload_locations()
        .start(&registry.host);
    let repo = format!("{}/app/elsewhere", front.host);
    let out = Imgpush::new()
        .command()
        .env("IMGPUSH_USERNAME", "pusher")
        .env("IMGPUSH_PASSWORD", "hunter2")
        .args(hello_build(&repo, &["-vv", "--no-cache"]))
        .output()
        .unwrap();
    let line = success_line(&out);
    assert_no_secrets(&stderr(&out));
    assert!(!stderr(&out).contains("hunter2"));
    let tokens = front.token_requests();
    assert!(
        !tokens.is_empty() && tokens.iter().all(|t| t.basic && t.status == 200),
        "the realm got the login: {tokens:?}"
    );
    let uploads = front.upload_requests();
    assert!(!uploads.is_empty(), "uploads went to the upload host");
    assert!(
        uploads.iter().all(|r| !r.authorization),
        "credentials followed an upload Location to another host: {uploads:?}"
    );
    assert_pushed(&registry, "app/elsewhere", &line);

    // An upload host that resets every request: the push fails, and the error (with
    // -vv) still shows no upload state.
    let broken = FieldOptions::new()
        .token_auth(secs(300))
        .absolute_upload_locations()
        .upload_resets(1000)
        .start(&registry.host);
    let repo = format!("{}/app/nowhere", broken.host);
    let out = Imgpush::new().run_owned(&hello_build(
        &repo,
        &["-vv", "--no-cache", "--retries", "1"],
    ));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(!broken.upload_requests().is_empty());
    assert_no_secrets(&err);
    assert!(registry.tags("app/nowhere").is_empty());
}

#[test]
fn a_token_endpoint_failing_twice_is_retried() {
    let registry = Registry::start();
    let front = FieldOptions::new()
        .token_auth(secs(300))
        .token_failures(2, TokenFailure::Status(503))
        .start(&registry.host);
    let repo = format!("{}/app/tokenretry", front.host);
    let out = Imgpush::new().run_owned(&hello_build(&repo, &["-v"]));
    let line = success_line(&out);
    let tokens = front.token_requests();
    let statuses: Vec<u16> = tokens.iter().map(|t| t.status).collect();
    assert_eq!(statuses.get(..3), Some(&[503, 503, 200][..]), "{tokens:?}");
    assert_pushed(&registry, "app/tokenretry", &line);
}

#[test]
fn a_token_endpoint_reset_is_retried() {
    let registry = Registry::start();
    let front = FieldOptions::new()
        .token_auth(secs(300))
        .token_failures(1, TokenFailure::Reset)
        .start(&registry.host);
    let repo = format!("{}/app/tokenreset", front.host);
    let out = Imgpush::new().run_owned(&hello_build(&repo, &["-v"]));
    let line = success_line(&out);
    let statuses: Vec<u16> = front.token_requests().iter().map(|t| t.status).collect();
    assert_eq!(statuses.get(..2), Some(&[0, 200][..]));
    assert_pushed(&registry, "app/tokenreset", &line);
}

#[test]
fn a_ping_answered_503_twice_is_retried() {
    let registry = Registry::start();
    let front = FieldOptions::new().ping_failures(2).start(&registry.host);
    let repo = format!("{}/app/pingretry", front.host);
    let out = Imgpush::new().run_owned(&hello_build(&repo, &["-v"]));
    let line = success_line(&out);
    let pings: Vec<u16> = front
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/")
        .map(|r| r.status)
        .collect();
    assert_eq!(
        pings.get(..3),
        Some(&[503, 503, 200][..]),
        "{:?}",
        front.requests()
    );
    assert_pushed(&registry, "app/pingretry", &line);
}

#[test]
fn a_source_that_resets_mid_blob_is_reopened_and_the_copy_completes() {
    let source = Registry::start();
    source.seed_busybox("base/busybox", &[]);
    let front = FieldOptions::new().reset_blob_gets(1).start(&source.host);
    let dest = Registry::start();
    let out = Imgpush::new().run(&[
        "copy",
        "-v",
        &format!("{}/base/busybox:latest", front.host),
        &format!("{}/mirror/busybox:latest", dest.host),
    ]);
    let line = success_line(&out);
    assert_no_secrets(&stderr(&out));
    assert_eq!(front.blob_resets(), 1, "the reset happened");
    let want = tag_digest(&source, "base/busybox", "latest");
    assert_eq!(digest_of(&line), want);
    assert_eq!(tag_digest(&dest, "mirror/busybox", "latest"), want);
    // Every platform manifest and blob is in the destination, under the source's digests.
    let raw = skopeo_raw(
        &format!("docker://{}/mirror/busybox:latest", dest.host),
        None,
    );
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    for (_, _, manifest) in platform_manifests(&format!("{}/mirror/busybox", dest.host), &index) {
        for layer in manifest["layers"].as_array().unwrap() {
            let d = layer["digest"].as_str().unwrap();
            assert_eq!(blob_status(&dest, "mirror/busybox", d), "200", "{d}");
        }
    }
}

#[test]
fn a_short_retry_after_is_reported_and_honoured() {
    let registry = Registry::start();
    registry.seed_busybox("base/busybox", &[]);
    let front = FieldOptions::new()
        .too_many_requests("*", "/v2/base/busybox/manifests/", 1, 1)
        .start(&registry.host);
    let repo = format!("{}/app/limited", front.host);
    let base = format!("{}/base/busybox:latest", front.host);
    let imgpush = Imgpush::new();
    let mut cmd = imgpush.command();
    cmd.args(hello_build(&repo, &["--base", &base, "-v"]));
    let (out, elapsed, killed) = run_with_limit(cmd, secs(30));
    assert!(!killed);
    let line = success_line(&out);
    let err = stderr(&out);
    assert!(
        err.lines().any(|l| l.contains("Retry-After")),
        "the wait is reported:\n{err}"
    );
    let requests = front.requests();
    let limited: Vec<_> = requests.iter().filter(|r| r.status == 429).collect();
    assert_eq!(limited.len(), 1);
    // The same request again, no sooner than Retry-After allowed.
    let again = requests
        .iter()
        .find(|r| r.at > limited[0].at && r.path == limited[0].path)
        .expect("the limited request was sent again");
    assert!(
        again.at - limited[0].at >= Duration::from_millis(950),
        "the wait was honoured: {requests:?} ({elapsed:?} in all)"
    );
    assert_pushed(&registry, "app/limited", &line);
}

#[test]
fn a_retry_after_beyond_the_limit_fails_at_once_without_a_tag() {
    let registry = Registry::start();
    registry.seed_busybox("base/busybox", &[]);
    let front = FieldOptions::new()
        .too_many_requests("*", "/v2/base/busybox/manifests/", 1000, 3600)
        .start(&registry.host);
    let repo = format!("{}/app/overlimit", front.host);
    let base = format!("{}/base/busybox:latest", front.host);
    let imgpush = Imgpush::new();
    let mut cmd = imgpush.command();
    cmd.args(hello_build(&repo, &["--base", &base, "-v"]));
    let (out, elapsed, killed) = run_with_limit(cmd, secs(25));
    assert!(
        !killed && elapsed < secs(15),
        "a 3600 s Retry-After must fail at once, not wait ({elapsed:?}):\n{}",
        stderr(&out)
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("Retry-After") && err.contains("60"),
        "the error names the limit:\n{err}"
    );
    assert!(registry.tags("app/overlimit").is_empty());
    assert!(
        registry
            .writes()
            .iter()
            .all(|w| !w.contains("app/overlimit")),
        "{:?}",
        registry.writes()
    );
}

/// The front itself: a challenge naming the realm and scope, a token that opens the
/// door, a plain push with long-lived tokens, and skopeo reading through it.
#[test]
fn the_front_challenges_issues_tokens_and_serves_a_plain_push() {
    let registry = Registry::start();
    let front = FieldOptions::new()
        .token_auth(secs(300))
        .start(&registry.host);
    let curl = |args: &[&str]| {
        let out = Command::new("curl").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let head = curl(&[
        "-si",
        &format!("http://{}/v2/app/plain/tags/list", front.host),
    ]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let realm = format!("realm=\"http://{}/token\"", front.token_host);
    assert!(head.contains(&realm), "{head}");
    assert!(
        head.contains("scope=\"repository:app/plain:pull\""),
        "{head}"
    );
    assert!(head.contains("\"code\":\"UNAUTHORIZED\""), "{head}");
    let answer: serde_json::Value = serde_json::from_str(&curl(&[
        "-s",
        &format!(
            "http://{}/token?service=field-front&scope=repository%3Aapp%2Fplain%3Apull",
            front.token_host
        ),
    ]))
    .unwrap();
    assert_eq!(answer["expires_in"], 300);
    let token = answer["token"].as_str().unwrap();
    let bearer = format!("Authorization: Bearer {token}");
    let ok = curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &bearer,
        &format!("http://{}/v2/", front.host),
    ]);
    assert_eq!(ok, "200");
    // Pull only: a push is refused for lack of scope.
    let push = curl(&[
        "-si",
        "-X",
        "POST",
        "-H",
        &bearer,
        &format!("http://{}/v2/app/plain/blobs/uploads/", front.host),
    ]);
    assert!(
        push.starts_with("HTTP/1.1 401") && push.contains("insufficient_scope"),
        "{push}"
    );

    let (rejected, tokens) = (front.rejected(), front.token_requests().len());
    let repo = format!("{}/app/plain", front.host);
    let out = Imgpush::new().run_owned(&hello_build(&repo, &["-v"]));
    let line = success_line(&out);
    assert_no_secrets(&stderr(&out));
    assert_eq!(
        front.rejected() - rejected,
        1,
        "one challenge, then one token"
    );
    assert_eq!(front.token_requests().len() - tokens, 1);
    assert_pushed(&registry, "app/plain", &line);
    let through = skopeo_raw(&format!("docker://{repo}:latest"), None);
    assert_eq!(format!("sha256:{}", sha256_hex(&through)), digest_of(&line));

    // Dropping the front closes every listener.
    let hosts = [
        front.host.clone(),
        front.token_host.clone(),
        front.storage_host.clone(),
        front.upload_host.clone(),
    ];
    drop(front);
    let deadline = Instant::now() + secs(5);
    while hosts
        .iter()
        .any(|h| std::net::TcpStream::connect(h).is_ok())
    {
        assert!(Instant::now() < deadline, "a listener is still open");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The front's plumbing with curl: a chunked, throttled PATCH through an absolute upload
/// Location on the upload host, then the blob back through a 307 to the storage host.
#[test]
fn the_front_relays_chunked_throttled_uploads_and_redirected_downloads() {
    let registry = Registry::start();
    let front = FieldOptions::new()
        .absolute_upload_locations()
        .redirect_blobs()
        .throttle(1024 * 1024)
        .start(&registry.host);
    let work = tempfile::tempdir().unwrap();
    let blob: Vec<u8> = (0..2_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = work.path().join("blob");
    std::fs::write(&file, &blob).unwrap();
    let digest = format!("sha256:{}", sha256_hex(&blob));
    let curl = |args: &[&str]| {
        let out = Command::new("curl").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let location = |answer: &str| {
        answer
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap_or_else(|| panic!("no Location in {answer}"))
            .trim()
            .to_string()
    };
    let post = curl(&[
        "-si",
        "-X",
        "POST",
        &format!("http://{}/v2/app/chunked/blobs/uploads/", front.host),
    ]);
    let session = location(&post);
    assert!(
        session.starts_with(&format!(
            "http://{}/v2/app/chunked/blobs/uploads/",
            front.upload_host
        )) && session.contains("_state="),
        "{post}"
    );
    let started = Instant::now();
    let patch = curl(&[
        "-si",
        "-X",
        "PATCH",
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{}", file.display()),
        &session,
    ]);
    assert!(started.elapsed() >= secs(2), "throttled to 1 MiB/s");
    assert!(patch.starts_with("HTTP/1.1 202"), "{patch}");
    let next = location(&patch);
    assert!(
        next.starts_with(&format!("http://{}/", front.upload_host)),
        "{patch}"
    );
    let put = curl(&[
        "-si",
        "-X",
        "PUT",
        "-H",
        "Content-Length: 0",
        &format!("{next}&digest={digest}"),
    ]);
    assert!(put.starts_with("HTTP/1.1 201"), "{put}");
    let back = work.path().join("back");
    let status = curl(&[
        "-sL",
        "-o",
        back.to_str().unwrap(),
        "-w",
        "%{http_code}",
        &format!("http://{}/v2/app/chunked/blobs/{digest}", front.host),
    ]);
    assert_eq!(status, "200");
    assert_eq!(std::fs::read(&back).unwrap(), blob);
    let storage = front.storage_requests();
    assert_eq!(storage.len(), 1, "{storage:?}");
    assert_eq!(front.upload_requests().len(), 2);
    assert_eq!(registry.uploads_of("app/chunked", &digest), 1);
}
