//! `--toolchain-cache REG/REPO` (issue 15, "Cold runners, warm in seconds") against a
//! real registry, with `fixtures/cargo/one-bin` for linux/arm64:
//!
//! - a machine that has std (the suite's std cache) stores std and zig's cache in the
//!   cache repository as artifacts whose one layer is a zstd tar;
//! - a cold runner (empty imgpush cache, empty target dir) pulls both, builds no std
//!   (a cargo shim sees no `-Zbuild-std` build), compiles nothing into zig's cache (its
//!   objects are exactly the artifact's), and gives the same index digest;
//! - a warm run sends no request to the cache repository;
//! - an artifact that is not the entry's (std's manifest under the zig tag) is rejected
//!   with a warning, zig's cache is built here (from objects this runner has, so zig
//!   compiles nothing) and pushed in its place: the next cold runner pulls it, no warning;
//! - a damaged blob (tampered with in the registry's storage) is rejected by the digest
//!   check while it streams in, and the build goes on;
//! - a cache that cannot be reached is a warning, never a failed build: what is here is
//!   used, and a piece missing here is built here.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::*;

struct Runner {
    imgpush: Imgpush,
    cache: PathBuf,
    target: tempfile::TempDir,
    shim: PathBuf,
    log: PathBuf,
    /// Holds `cache` of a cold runner (removed with it).
    _home: Option<tempfile::TempDir>,
}

impl Runner {
    /// A runner with its own imgpush cache (`cache`), target dir and cargo log.
    fn new(cache: PathBuf) -> Runner {
        let imgpush = Imgpush::new();
        let (shim, log) = cargo_shim(imgpush.cwd.path());
        Runner {
            imgpush,
            cache,
            target: tempfile::tempdir().unwrap(),
            shim,
            log,
            _home: None,
        }
    }

    /// A cold runner: an empty imgpush cache of its own.
    fn cold() -> Runner {
        let home = tempfile::tempdir().unwrap();
        let mut runner = Runner::new(home.path().join("imgpush"));
        runner._home = Some(home);
        runner
    }

    /// Builds and pushes to `REPO:TAG` (given as `repo_tag`).
    /// A runner with an empty imgpush cache except for zig's objects, copied from
    /// `other` and not marked complete: it asks the toolchain cache for zig's cache, and
    /// when it builds that itself, zig compiles nothing.
    fn with_zig_objects_of(other: &Runner) -> Runner {
        let runner = Runner::cold();
        let zig_dir = other.zig_dir();
        let seeded = runner.cache.join(zig_dir.file_name().unwrap());
        std::fs::create_dir_all(&seeded).unwrap();
        copy_dir(&zig_dir.join("global"), &seeded.join("global"));
        runner
    }

    /// Builds and pushes to `REPO:TAG` (given as `repo_tag`).
    fn build(&self, toolchain_cache: &str, repo_tag: &str) -> std::process::Output {
        let (repo, tag) = repo_tag.rsplit_once(':').unwrap();
        let started = std::time::Instant::now();
        let manifest = repo_root().join("fixtures/cargo/one-bin/Cargo.toml");
        let out = self
            .imgpush
            .prepared(env!("CARGO_BIN_EXE_cargo-imgpush"))
            .env("IMGPUSH_CACHE_DIR", &self.cache)
            .env("IMGPUSH_CARGO", &self.shim)
            .env("IMGPUSH_RUSTC", "/usr/bin/rustc")
            .arg("imgpush")
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(self.target.path())
            .args(["--platform", "linux/arm64", "--repo", repo, "--tag", tag])
            .args(["--toolchain-cache", toolchain_cache])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        eprintln!("{tag}: {:.1} s", started.elapsed().as_secs_f64());
        out
    }

    fn built_std(&self) -> bool {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("build-std"))
    }

    /// imgpush's zig cache directory in this runner's imgpush cache.
    fn zig_dir(&self) -> PathBuf {
        let zig: Vec<PathBuf> = std::fs::read_dir(&self.cache)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("zig-"))
            .collect();
        assert_eq!(zig.len(), 1, "one zig cache: {zig:?}");
        zig[0].clone()
    }

    /// The `o/` entries of zig's cache in this runner's imgpush cache.
    fn zig_objects(&self) -> Vec<String> {
        let o = self.zig_dir().join("global/o");
        let mut names: Vec<String> = std::fs::read_dir(o)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        names
    }
}

/// `cp -a FROM TO`.
fn copy_dir(from: &Path, to: &Path) {
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        copied.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

/// The digest of the one layer of the cache artifact tagged `tag`, and its manifest.
fn artifact_layer(registry: &Registry, tag: &str) -> (String, Value) {
    let (_, m) = manifest_bytes(registry, tag);
    (m["layers"][0]["digest"].as_str().unwrap().to_string(), m)
}

/// The manifest tagged `tag` in the cache repository, as bytes and parsed.
fn manifest_bytes(registry: &Registry, tag: &str) -> (Vec<u8>, Value) {
    let raw = skopeo_raw(&format!("docker://{}/cache:{tag}", registry.host), None);
    let m = serde_json::from_slice(&raw).unwrap();
    (raw, m)
}

/// Puts `manifest` under `tag` in the cache repository, with curl.
fn put_manifest(registry: &Registry, tag: &str, manifest: &[u8]) {
    require("curl", "curl");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), manifest).unwrap();
    let status = std::process::Command::new("curl")
        .args(["-sf", "-X", "PUT", "-H"])
        .arg("Content-Type: application/vnd.oci.image.manifest.v1+json")
        .arg("--data-binary")
        .arg(format!("@{}", file.path().display()))
        .arg(format!("http://{}/v2/cache/manifests/{tag}", registry.host))
        .status()
        .unwrap();
    assert!(status.success(), "PUT manifest {tag}");
}

/// The `o/<hash>` directories a zig cache archive holds.
fn archive_objects(bytes: &[u8]) -> Vec<String> {
    let tar = zstd::decode_all(bytes).unwrap();
    let mut names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().to_string())
        .filter_map(|p| {
            let rest = p.strip_prefix("zig/o/")?.trim_end_matches('/').to_string();
            (!rest.is_empty() && !rest.contains('/')).then_some(rest)
        })
        .collect();
    names.sort();
    names
}

fn tag_with(registry: &Registry, prefix: &str) -> String {
    let tags = registry.tags("cache");
    let found: Vec<&String> = tags.iter().filter(|t| t.starts_with(prefix)).collect();
    assert_eq!(found.len(), 1, "{tags:?}");
    found[0].clone()
}

fn cache_requests(registry: &Registry) -> usize {
    registry
        .requests()
        .iter()
        .filter(|r| r.contains("/v2/cache/"))
        .count()
}

#[test]
fn a_cold_runner_pulls_std_and_zig_and_builds_the_same_image() {
    require_rust_cross();
    let registry = Registry::start();
    let cache = format!("{}/cache", registry.host);
    let app = format!("{}/app", registry.host);

    // A warm machine (the suite's std cache) fills the toolchain cache.
    let seeder = Runner::new(test_cache_dir());
    let first = seeder.build(&cache, &format!("{app}:seeder"));
    let text = stderr(&first);
    assert!(
        text.contains("std for aarch64-unknown-linux-musl stored in the toolchain cache"),
        "{text}"
    );
    let std_tag = tag_with(&registry, "std-aarch64-unknown-linux-musl-");
    let zig_tag = tag_with(&registry, "zig-");
    for (tag, kind) in [
        (&std_tag, "application/vnd.imgpush.rust-std.v1"),
        (&zig_tag, "application/vnd.imgpush.zig-cache.v1"),
    ] {
        let (_, m) = artifact_layer(&registry, tag);
        assert_eq!(m["artifactType"], kind);
        assert_eq!(
            m["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        let identity = m["annotations"]["dev.imgpush.toolchain-cache.identity"]
            .as_str()
            .unwrap();
        for machine in ["/root", "/home", "/tmp", env!("CARGO_TARGET_TMPDIR")] {
            assert!(!identity.contains(machine), "{identity}");
        }
    }
    let index = success_line(&first);

    // A cold runner: nothing of its own.
    let cold = Runner::cold();
    let out = cold.build(&cache, &format!("{app}:cold"));
    let text = stderr(&out);
    assert!(
        text.contains(&format!(
            "std for aarch64-unknown-linux-musl from the toolchain cache {cache}:{std_tag}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "zig's cache from the toolchain cache {cache}:{zig_tag}"
        )),
        "{text}"
    );
    assert!(!text.contains("warning"), "{text}");
    assert!(!cold.built_std(), "std was pulled, not built");
    let (zig_layer, _) = artifact_layer(&registry, &zig_tag);
    let pulled = archive_objects(&registry_blob(&registry, "cache", &zig_layer));
    assert!(!pulled.is_empty());
    assert_eq!(cold.zig_objects(), pulled, "zig compiled nothing new");
    assert_eq!(success_line(&out), index, "the same image");

    // Warm now: not one request to the cache repository.
    let before = cache_requests(&registry);
    let again = Runner::new(cold.cache.clone());
    again.build(&cache, &format!("{app}:again"));
    assert_eq!(cache_requests(&registry), before);

    // Another artifact under the zig tag (std's manifest): rejected, zig's cache built
    // here, and pushed in its place, so the next cold runner pulls a good one.
    let (std_manifest, _) = manifest_bytes(&registry, &std_tag);
    put_manifest(&registry, &zig_tag, &std_manifest);
    let wrong = Runner::with_zig_objects_of(&cold);
    let text = stderr(&wrong.build(&cache, &format!("{app}:wrong")));
    assert!(
        text.contains(&format!(
            "{zig_tag} rejected: it is a \"application/vnd.imgpush.rust-std.v1\" artifact"
        )) && text.contains("building zig's cache here"),
        "{text}"
    );
    assert!(
        text.contains("zig's cache stored in the toolchain cache"),
        "{text}"
    );
    assert!(!wrong.built_std(), "std still came from the cache");
    let next = Runner::cold();
    let out = next.build(&cache, &format!("{app}:next"));
    let text = stderr(&out);
    assert!(!text.contains("warning"), "{text}");
    assert!(
        text.contains("zig's cache from the toolchain cache"),
        "{text}"
    );
    assert_eq!(success_line(&out), index);
    let (zig_layer, _) = artifact_layer(&registry, &zig_tag);

    // The zig artifact's blob damaged in the registry's storage: the digest check rejects
    // it as it streams in, and the build goes on.
    let hex = zig_layer.trim_start_matches("sha256:");
    let data = registry
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let damaged = Runner::with_zig_objects_of(&cold);
    let out = damaged.build(&cache, &format!("{app}:damaged"));
    let text = stderr(&out);
    assert!(
        text.contains(&format!("{zig_tag} rejected"))
            && text.contains("digest")
            && text.contains("building zig's cache here"),
        "{text}"
    );
    assert!(!damaged.built_std(), "std still came from the cache");
    assert_eq!(success_line(&out), index);

    // A cache nobody answers at: warnings, and the build goes on with what is here.
    let nowhere = format!("127.0.0.1:{}/cache", free_port());
    let out = seeder.build(&nowhere, &format!("{app}:offline"));
    let text = stderr(&out);
    assert!(
        text.contains(&format!("toolchain cache {nowhere}")),
        "{text}"
    );
    assert!(text.contains("not stored"), "{text}");
    assert_eq!(success_line(&out), index);

    // The same with a piece missing here (zig's cache not complete, std present): it is
    // built here, after one warning.
    let offline = Runner::with_zig_objects_of(&cold);
    let std_dirs = std::fs::read_dir(&cold.cache)
        .unwrap()
        .filter_map(Result::ok);
    for dir in std_dirs.filter(|d| d.file_name().to_string_lossy().starts_with("std-")) {
        copy_dir(&dir.path(), &offline.cache.join(dir.file_name()));
    }
    let out = offline.build(&nowhere, &format!("{app}:offline-cold"));
    let text = stderr(&out);
    assert!(
        text.contains(&format!("toolchain cache {nowhere}: unreachable"))
            && text.contains("building zig's cache here"),
        "{text}"
    );
    assert!(!offline.built_std(), "std was here");
    assert!(
        offline.zig_dir().join("imgpush-complete").exists(),
        "zig's cache complete now"
    );
    assert_eq!(success_line(&out), index);
}

#[test]
fn toolchain_cache_values_are_checked_where_they_are_written() {
    let imgpush = Imgpush::new();
    let out = imgpush
        .prepared(env!("CARGO_BIN_EXE_cargo-imgpush"))
        .args(["imgpush", "--toolchain-cache", "reg.example/cache:v1"])
        .arg("--manifest-path")
        .arg(repo_root().join("fixtures/cargo/one-bin/Cargo.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(text.contains("--toolchain-cache"), "{text}");
    assert!(text.contains("expected REGISTRY/REPO or none"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let file = Path::new(dir.path()).join("imgpush.toml");
    std::fs::write(&file, "toolchain-cache = \"a b\"\n").unwrap();
    let out = imgpush
        .prepared(env!("CARGO_BIN_EXE_imgpush"))
        .current_dir(dir.path())
        .args(["build", "--platform", "linux/amd64"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("imgpush.toml") && text.contains("toolchain-cache"),
        "{text}"
    );
}
