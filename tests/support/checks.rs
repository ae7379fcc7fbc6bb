//! Independent checkers of what imgpush produced: skopeo (copy, raw manifests, an index's
//! platform manifests), umoci unpacking, running the result with runc or qemu-user, and
//! sha256 of bytes.

use super::{Registry, free_port, require};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs skopeo and returns stdout, failing the test with its stderr if it fails.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    require("skopeo", "skopeo");
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn skopeo_raw(reference: &str, creds: Option<&(String, String)>) -> Vec<u8> {
    let mut args = vec!["inspect".to_string(), "--raw".to_string()];
    if reference.starts_with("docker://") {
        args.push("--tls-verify=false".into());
    }
    if let Some((u, p)) = creds {
        args.push(format!("--creds={u}:{p}"));
    }
    args.push(reference.to_string());
    skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The platform manifests an index in the registry lists, as `(architecture, digest,
/// manifest)`, fetched by digest with skopeo. `repo` is `HOST/REPO` (no tag).
pub fn platform_manifests(repo: &str, index: &Value) -> Vec<(String, String, Value)> {
    index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| {
            let digest = m["digest"].as_str().unwrap().to_string();
            let raw = skopeo_raw(&format!("docker://{repo}@{digest}"), None);
            (
                m["platform"]["architecture"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                digest,
                serde_json::from_slice(&raw).unwrap(),
            )
        })
        .collect()
}

/// The blobs of the documents attached to a platform manifest (its referrers tag's index
/// → each artifact manifest's config and layers), as `digest → size`.
pub fn referrer_blobs(repo: &str, manifest_digest: &str) -> Vec<(String, u64)> {
    let tag = manifest_digest.replacen("sha256:", "sha256-", 1);
    let raw = skopeo_raw(&format!("docker://{repo}:{tag}"), None);
    let index: Value = serde_json::from_slice(&raw).unwrap();
    let mut out = Vec::new();
    for (_, _, m) in platform_manifests(repo, &index) {
        for d in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
            out.push((
                d["digest"].as_str().unwrap().to_string(),
                d["size"].as_u64().unwrap(),
            ));
        }
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Copies one platform of `src` (a skopeo source reference) into an OCI layout and unpacks
/// it with umoci; returns the bundle directory (rootfs + runtime config.json).
pub fn unpack_platform(
    src: &str,
    arch: &str,
    work: &Path,
    creds: Option<&(String, String)>,
) -> PathBuf {
    require("umoci", "umoci");
    let layout = work.join(format!("layout-{arch}"));
    let mut args = vec!["copy".to_string(), format!("--override-arch={arch}")];
    if src.starts_with("docker://") {
        args.push("--src-tls-verify=false".into());
    }
    if let Some((u, p)) = creds {
        args.push(format!("--src-creds={u}:{p}"));
    }
    args.push(src.to_string());
    args.push(format!("oci:{}:{arch}", layout.display()));
    skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let bundle = work.join(format!("bundle-{arch}"));
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{arch}", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci unpack failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bundle
}

/// Runs an unpacked amd64 bundle with runc (no terminal) and returns its stdout.
pub fn runc_run(bundle: &Path) -> String {
    let config_path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["process"]["terminal"] = Value::Bool(false);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let (ok, stdout, stderr) = runc_try(bundle);
    assert!(ok, "runc run failed: {stderr}");
    stdout
}

/// Runs an unpacked bundle with runc as its config says; (success, stdout, stderr). The
/// container is deleted afterwards.
pub fn runc_try(bundle: &Path) -> (bool, String, String) {
    require("runc", "runc");
    let state = bundle.join("runc-state");
    let id = format!("imgpush-test-{}-{}", std::process::id(), free_port());
    let out = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "-b"])
        .arg(bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["delete", "-f", &id])
        .output();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Runs an arm64 binary under qemu-user (verification only, never used to build).
pub fn qemu_arm64(binary: &Path) -> String {
    require("qemu-aarch64-static", "qemu-user-static");
    let out = Command::new("qemu-aarch64-static")
        .arg(binary)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "qemu-aarch64-static failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A blob of `repo` fetched with curl, checked against its digest.
pub fn registry_blob(registry: &Registry, repo: &str, digest: &str) -> Vec<u8> {
    require("curl", "curl");
    let out = std::process::Command::new("curl")
        .args([
            "-sfL",
            &format!("http://{}/v2/{repo}/blobs/{digest}", registry.host),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "GET blob {digest}");
    assert_eq!(format!("sha256:{}", sha256_hex(&out.stdout)), digest);
    out.stdout
}

/// `(artifactType, artifact manifest digest, the document)` of each referrer of a
/// platform manifest, checked against the manifest's `subject`.
pub fn attached(registry: &Registry, repo: &str, manifest: &str) -> Vec<(String, String, Vec<u8>)> {
    let full = format!("{}/{repo}", registry.host);
    let tag = manifest.replacen("sha256:", "sha256-", 1);
    let index: Value =
        serde_json::from_slice(&skopeo_raw(&format!("docker://{full}:{tag}"), None)).unwrap();
    let mut out = Vec::new();
    for entry in index["manifests"].as_array().unwrap() {
        let digest = entry["digest"].as_str().unwrap();
        let m: Value =
            serde_json::from_slice(&skopeo_raw(&format!("docker://{full}@{digest}"), None))
                .unwrap();
        assert_eq!(
            m["subject"]["digest"], manifest,
            "the subject is the platform manifest"
        );
        assert_eq!(m["artifactType"], entry["artifactType"]);
        let layer = m["layers"][0]["digest"].as_str().unwrap();
        out.push((
            m["artifactType"].as_str().unwrap().to_string(),
            digest.to_string(),
            registry_blob(registry, repo, layer),
        ));
    }
    out.sort();
    out
}
