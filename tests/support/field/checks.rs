//! What the field tests check after a run: renewal lines, secrets in the output, what a
//! registry holds (tags, blobs, upload PUTs by status); plus a run with a time limit and a
//! slow fake `go`.

use crate::support::{Registry, hello, platform_manifests, sha256_hex, skopeo_raw};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Lines of `-v` output that report a token renewal for `host`.
pub fn renewals(err: &str, host: &str) -> usize {
    let needle = format!("token for {host} renewed");
    err.lines().filter(|l| l.contains(&needle)).count()
}

/// Nothing secret or session-bound in what imgpush printed: no upload state, no storage
/// signature, no token.
pub fn assert_no_secrets(err: &str) {
    for secret in ["_state", "X-Amz-Signature", "secret-sig", "ftok"] {
        assert!(!err.contains(secret), "`{secret}` in the output:\n{err}");
    }
}

/// Runs `cmd`, killing it if it outlives `limit`; returns its output, how long it ran and
/// whether it had to be killed.
pub fn run_with_limit(mut cmd: Command, limit: Duration) -> (Output, Duration, bool) {
    use std::io::Read;
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut killed = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            killed = true;
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed();
    let output = Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    (output, elapsed, killed)
}

/// The digest a `REF@sha256:…` line names.
pub fn digest_of(line: &str) -> String {
    line.rsplit('@').next().unwrap().to_string()
}

/// The tag's digest in a registry, asked directly (not through the front).
pub fn tag_digest(registry: &Registry, repo: &str, tag: &str) -> String {
    let raw = skopeo_raw(&format!("docker://{}/{repo}:{tag}", registry.host), None);
    format!("sha256:{}", sha256_hex(&raw))
}

/// `HEAD /v2/<repo>/blobs/<digest>` on the registry directly: the status.
pub fn blob_status(registry: &Registry, repo: &str, digest: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-I"])
        .arg(format!("http://{}/v2/{repo}/blobs/{digest}", registry.host))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Upload-session PUTs of `digest` into `repo` that the registry answered `status` (the
/// access log shows aborted and rejected PUTs too, with their status).
pub fn upload_puts(registry: &Registry, repo: &str, digest: &str, status: u16) -> usize {
    let hex = digest.trim_start_matches("sha256:");
    let prefix = format!("\"PUT /v2/{repo}/blobs/uploads/");
    registry
        .log()
        .lines()
        .filter(|l| {
            l.contains(&prefix)
                && (l.contains(&format!("sha256%3A{hex}")) || l.contains(&format!("sha256:{hex}")))
                && l.contains(&format!("\" {status} "))
        })
        .count()
}

/// Asserts `repo:latest` in `registry` is the image `line` names, an index of the two
/// hello platforms whose manifests are all there.
pub fn assert_pushed(registry: &Registry, repo: &str, line: &str) {
    assert_eq!(registry.tags(repo), ["latest"]);
    assert_eq!(tag_digest(registry, repo, "latest"), digest_of(line));
    let raw = skopeo_raw(&format!("docker://{}/{repo}:latest", registry.host), None);
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let platforms = platform_manifests(&format!("{}/{repo}", registry.host), &index);
    let mut arches: Vec<&str> = platforms.iter().map(|(a, _, _)| a.as_str()).collect();
    arches.sort();
    assert_eq!(arches, ["amd64", "arm64"]);
}

/// A `go` that answers `version`/`env` and, for `build`, sleeps `seconds` and then
/// places the prebuilt hello binary for `$GOARCH` at `-o`: a compile that outlasts a token.
pub fn fake_go(dir: &Path, seconds: u64) -> PathBuf {
    let hello = hello();
    let script = format!(
        r#"#!/bin/sh
case "$1" in
  version)
    # `go version -m BINARY`: the build info imgpush's SBOM reads from a Go binary.
    if [ "$2" = "-m" ]; then
      printf '%s: go1.19.8\n\tpath\texample.com/slow\n\tmod\texample.com/slow\t(devel)\t\n' "$3"
    else
      echo "go version go1.19.8 linux/amd64"
    fi
    exit 0 ;;
  env) echo "$GOARCH"; exit 0 ;;
  build) ;;
  *) echo "fake go: unsupported $*" >&2; exit 2 ;;
esac
out=""
while [ $# -gt 0 ]; do
  if [ "$1" = "-o" ]; then out="$2"; shift; fi
  shift
done
sleep {seconds}
mkdir -p "$(dirname "$out")"
case "$GOARCH" in
  amd64) cp "{amd64}" "$out" ;;
  arm64) cp "{arm64}" "$out" ;;
  *) echo "fake go: no binary for $GOARCH" >&2; exit 3 ;;
esac
"#,
        amd64 = hello.amd64.display(),
        arm64 = hello.arm64.display()
    );
    let path = dir.join("fake-go");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
