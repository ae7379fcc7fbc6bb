//! Registries on bad days: a fault-injecting proxy between imgpush and a real registry.
//! Transient faults are retried (requests rebuilt, uploads restarted in a fresh session
//! from the layer file) and the push completes; persistent faults fail cleanly with no tag.

mod support;

use support::*;

fn rule(method: &'static str, path: &str, times: usize, fault: Fault) -> Rule {
    Rule {
        method,
        path: path.into(),
        after: 0,
        times,
        fault,
    }
}

fn push(imgpush: &Imgpush, host: &str, repo: &str, extra: &[&str]) -> std::process::Output {
    let mut extra = extra.to_vec();
    // The transport is under test: nothing may come from the local cache.
    extra.extend(["-v", "--no-cache"]);
    imgpush.run_owned(&hello_build(&format!("{host}/{repo}"), &extra))
}

#[test]
fn transient_faults_are_retried_and_the_push_completes() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(
        &registry.host,
        vec![
            rule("HEAD", "/blobs/sha256:", 1, Fault::Status(429, Some(1))),
            rule("POST", "/blobs/uploads/", 1, Fault::Status(502, None)),
            rule("PUT", "/blobs/uploads/", 2, Fault::Drop),
            rule("PUT", "/manifests/sha256:", 2, Fault::Status(503, None)),
            rule("PUT", "/manifests/latest", 1, Fault::Status(500, None)),
        ],
    );
    let imgpush = Imgpush::new();
    let started = std::time::Instant::now();
    let out = push(&imgpush, &proxy.host, "app/faulty", &[]);
    let elapsed = started.elapsed();
    let line = success_line(&out);
    let err = stderr(&out);
    let retries = err.lines().filter(|l| l.contains("; retry ")).count();
    eprintln!("fault scenario: 7 injected faults, {retries} retries, {elapsed:?}");
    assert_eq!(retries, 7, "each injected fault costs one retry:\n{err}");
    assert!(
        err.contains("429") && err.contains("retry 1 of 4 in 1.0s"),
        "Retry-After is honoured:\n{err}"
    );
    let log = proxy.log.lock().unwrap().clone();
    let injected = log.iter().filter(|l| !l.ends_with("forwarded")).count();
    assert_eq!(injected, 7, "every rule fired: {log:#?}");

    // What landed is complete and correct, checked against the registry directly.
    let digest = line.rsplit('@').next().unwrap();
    let raw = skopeo_raw(
        &format!("docker://{}/app/faulty:latest", registry.host),
        None,
    );
    assert_eq!(format!("sha256:{}", sha256_hex(&raw)), digest);
    let work = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{}/app/faulty@{digest}", registry.host),
        &format!("dir:{}", work.path().join("d").display()),
    ]);
    let bundle = unpack_platform(
        &format!("docker://{}/app/faulty@{digest}", registry.host),
        "amd64",
        work.path(),
        None,
    );
    assert_eq!(runc_run(&bundle), "hello from x86_64\n");
}

#[test]
fn persistent_faults_fail_cleanly_without_a_tag_and_a_rerun_completes() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(
        &registry.host,
        vec![rule(
            "PUT",
            "/manifests/latest",
            1000,
            Fault::Status(503, None),
        )],
    );
    let imgpush = Imgpush::new();
    let out = push(&imgpush, &proxy.host, "app/down", &["--retries", "2"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("503") && err.contains("retry 2 of 2"), "{err}");
    assert!(
        registry.tags("app/down").is_empty(),
        "no tag after giving up"
    );

    // When the registry recovers, a rerun finds the blobs and manifests already there.
    // (Not the attached documents: they name the image by the host it was pushed to, the
    // proxy before, the registry now.)
    let out = push(&imgpush, &registry.host, "app/down", &[]);
    success_line(&out);
    assert!(
        !stderr(&out)
            .lines()
            .any(|l| l.contains(": uploaded") && !l.contains("attachment")),
        "no layer or config uploaded twice:\n{}",
        stderr(&out)
    );
    assert_eq!(registry.tags("app/down"), ["latest"]);
}

#[test]
fn two_processes_pushing_the_same_image_at_once_both_succeed() {
    let registry = Registry::start();
    let base = registry.seed_busybox("base/busybox", &[]);
    let hello = hello();
    let args = |n: &str| {
        vec![
            "build".to_string(),
            "--repo".into(),
            format!("{}/app/race", registry.host),
            "--base".into(),
            base.clone(),
            "--dest".into(),
            "/app/hello".into(),
            "-t".into(),
            "latest".into(),
            "-t".into(),
            n.to_string(),
            "--artifact".into(),
            format!("linux/amd64={}", hello.amd64.display()),
            "--artifact".into(),
            format!("linux/arm64={}", hello.arm64.display()),
        ]
        .into_iter()
        .map(|s| s.to_string())
        .collect::<Vec<String>>()
    };
    let (a, b) = (Imgpush::new(), Imgpush::new());
    let ca = a
        .command()
        .args(args("a"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let cb = b
        .command()
        .args(args("b"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (oa, ob) = (
        ca.wait_with_output().unwrap(),
        cb.wait_with_output().unwrap(),
    );
    let (la, lb) = (success_line(&oa), success_line(&ob));
    assert_eq!(la, lb, "the same image, the same digest");
    let mut tags = registry.tags("app/race");
    tags.sort();
    assert_eq!(tags, ["a", "b", "latest"]);
    let raw = skopeo_raw(&format!("docker://{}/app/race:latest", registry.host), None);
    assert!(la.ends_with(&sha256_hex(&raw)));
}

#[test]
fn slow_and_truncated_answers_are_survived() {
    let registry = Registry::start();
    registry.seed_busybox("base/busybox", &[]);
    let proxy = FaultProxy::start(
        &registry.host,
        vec![
            rule("GET", "/v2/base/busybox/manifests/", 1, Fault::Truncate),
            rule("GET", "/v2/base/busybox/blobs/sha256:", 1, Fault::Truncate),
            rule("HEAD", "/blobs/sha256:", 2, Fault::Delay(1500)),
        ],
    );
    let imgpush = Imgpush::new();
    let base = format!("{}/base/busybox:latest", proxy.host);
    let out = push(&imgpush, &proxy.host, "app/slow", &["--base", &base]);
    let line = success_line(&out);
    let err = stderr(&out);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("broke off") && l.contains("; retry "))
            .count(),
        2,
        "{err}"
    );
    let raw = skopeo_raw(&format!("docker://{}/app/slow:latest", registry.host), None);
    assert!(line.ends_with(&sha256_hex(&raw)));
}

#[test]
fn a_flipped_byte_in_a_manifest_is_rejected_and_nothing_is_pushed() {
    let registry = Registry::start();
    registry.seed_busybox("base/busybox", &[]);
    let proxy = FaultProxy::start(
        &registry.host,
        vec![rule(
            "GET",
            "/v2/base/busybox/manifests/latest",
            1,
            Fault::Flip,
        )],
    );
    let before = registry.writes().len();
    let out = push(
        &Imgpush::new(),
        &proxy.host,
        "app/flipped",
        &["--base", &format!("{}/base/busybox:latest", proxy.host)],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    let index = skopeo_raw(
        &format!("docker://{}/base/busybox:latest", registry.host),
        None,
    );
    let digest = format!("sha256:{}", sha256_hex(&index));
    assert!(
        err.contains("does not match its digest") && err.contains(&digest),
        "{err}"
    );
    assert_eq!(registry.writes().len(), before, "nothing was pushed");
}

#[test]
fn a_stalled_answer_times_out_and_is_retried() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(
        &registry.host,
        vec![rule("PUT", "/manifests/sha256:", 1, Fault::Delay(4000))],
    );
    let started = std::time::Instant::now();
    let out = push(
        &Imgpush::new(),
        &proxy.host,
        "app/stall",
        &["--timeout", "1"],
    );
    let line = success_line(&out);
    let err = stderr(&out);
    assert!(err.contains("; retry 1 of 4"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "did not wait for the stalled answer"
    );
    let raw = skopeo_raw(
        &format!("docker://{}/app/stall:latest", registry.host),
        None,
    );
    assert!(line.ends_with(&sha256_hex(&raw)));
}

/// The first contact with a registry is retried like any request, a refused connection
/// included (a registry still starting), and on loopback the error reports the HTTPS and
/// the plain-HTTP attempt (issue 17).
#[test]
fn a_refused_first_contact_is_retried_and_both_schemes_are_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let out = push(&Imgpush::new(), &host, "app/refused", &["--retries", "2"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("retry 1 of 2") && err.contains("retry 2 of 2"),
        "retried within --retries:\n{err}"
    );
    assert!(
        err.contains(&format!("https://{host}/v2/"))
            && err.contains(&format!("plain HTTP was tried too: http://{host}/v2/")),
        "both attempts reported:\n{err}"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "waited before retrying"
    );

    let out = push(&Imgpush::new(), &host, "app/refused", &["--retries", "0"]);
    assert!(!stderr(&out).contains("retry 1"), "{}", stderr(&out));
}
