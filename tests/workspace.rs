//! `cargo imgpush --workspace` (issue 15, "Workspaces") against a real registry, with
//! `fixtures/cargo/fleet` (six binaries in five members, a library used by three):
//!
//! - one cargo build (a cargo shim counts the invocations) makes all six binaries for both
//!   platforms; each binary is its own image at `--repo PREFIX/<bin>` with both platforms,
//!   tagged, and runs (amd64 natively — static musl —, arm64 under qemu);
//! - each image's SBOM lists what its binary was built from: the shared library in the
//!   images that use it, not in the ones that do not;
//! - `--json` lists every image; stdout otherwise has one reference per image;
//! - `-p` twice is the same path for two images;
//! - a binary that fails to compile fails the run, the error says which, and no image is
//!   tagged;
//! - `imgpush resolve` with references to two members compiles both in one cargo build.

mod support;

use serde_json::Value;
use std::path::Path;
use support::*;

const BINS: [&str; 6] = ["api", "worker", "gateway", "cron", "migrate", "seed"];

fn fleet() -> String {
    repo_root()
        .join("fixtures/cargo/fleet/Cargo.toml")
        .display()
        .to_string()
}

fn run(imgpush: &Imgpush, shim: &Path, args: &[&str]) -> std::process::Output {
    let mut c = imgpush.prepared(env!("CARGO_BIN_EXE_cargo-imgpush"));
    c.env("IMGPUSH_CARGO", shim)
        .env("IMGPUSH_RUSTC", "/usr/bin/rustc")
        .arg("imgpush")
        .args(["--manifest-path", &fleet()])
        .arg("--target-dir")
        .arg(shared_target_dir())
        .args(args);
    c.output().unwrap()
}

fn spdx_names(registry: &Registry, repo: &str, manifest: &str) -> Vec<String> {
    let docs = attached(registry, repo, manifest);
    let (_, _, spdx) = docs
        .iter()
        .find(|(t, _, _)| t == "application/spdx+json")
        .expect("an SPDX SBOM");
    let v: Value = serde_json::from_slice(spdx).unwrap();
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_workspace_is_one_cargo_build_and_one_image_per_binary() {
    require_rust_cross();
    require("qemu-aarch64-static", "qemu-user-static");
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let (shim, log) = cargo_shim(imgpush.cwd.path());
    let prefix = format!("{}/fleet", registry.host);

    let out = run(
        &imgpush,
        &shim,
        &["--workspace", "--repo", &prefix, "-t", "v1", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let builds = program_builds(&log);
    assert_eq!(builds.len(), 1, "one cargo build: {builds:#?}");
    for bin in BINS {
        assert!(builds[0].contains(&format!("--bin {bin}")), "{}", builds[0]);
    }
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let images = result["images"].as_array().unwrap();
    let bins: Vec<&str> = images.iter().map(|i| i["bin"].as_str().unwrap()).collect();
    assert_eq!(bins, BINS, "every binary, in workspace order");
    let work = tempfile::tempdir().unwrap();
    let mut references = Vec::new();
    for image in images {
        let bin = image["bin"].as_str().unwrap();
        let repo = format!("fleet/{bin}");
        let digest = image["digest"].as_str().unwrap();
        assert_eq!(
            image["reference"],
            format!("{}/{repo}@{digest}", registry.host).as_str()
        );
        references.push(image["reference"].as_str().unwrap().to_string());
        let index: Value =
            serde_json::from_slice(&skopeo_raw(&format!("docker://{prefix}/{bin}:v1"), None))
                .unwrap();
        assert_eq!(
            format!(
                "sha256:{}",
                sha256_hex(&skopeo_raw(&format!("docker://{prefix}/{bin}:v1"), None))
            ),
            digest,
            "{bin}: the tag names the image"
        );
        let platforms = platform_manifests(&format!("{prefix}/{bin}"), &index);
        let mut arches: Vec<&str> = platforms.iter().map(|(a, _, _)| a.as_str()).collect();
        arches.sort();
        assert_eq!(arches, ["amd64", "arm64"], "{bin}");

        // What the SBOM says it was built from.
        let (_, amd64_manifest, _) = platforms.iter().find(|p| p.0 == "amd64").unwrap();
        let names = spdx_names(&registry, &repo, amd64_manifest);
        let uses_common = ["api", "worker", "migrate", "seed"].contains(&bin);
        assert_eq!(
            names.iter().any(|n| n == "common"),
            uses_common,
            "{bin}: {names:?}"
        );
        let cron_or_gateway = ["cron", "gateway"];
        for other in cron_or_gateway.iter().filter(|o| **o != bin) {
            assert!(
                !names.iter().any(|n| n == other),
                "{bin}'s SBOM lists another image's package {other}: {names:?}"
            );
        }

        // The provenance says which packages the one cargo call built with it (cargo
        // unifies their features).
        let docs = attached(&registry, &repo, amd64_manifest);
        let (_, _, statement) = docs
            .iter()
            .find(|(t, _, _)| t == "application/vnd.in-toto+json")
            .expect("a provenance statement");
        let statement: Value = serde_json::from_slice(statement).unwrap();
        assert_eq!(
            statement["predicate"]["buildDefinition"]["externalParameters"]["builtWith"],
            serde_json::json!(["api", "cron", "gateway", "tools", "worker"]),
            "{bin}"
        );

        // It runs, on both CPUs.
        for arch in ["amd64", "arm64"] {
            let bundle = unpack_platform(
                &format!("docker://{prefix}/{bin}:v1"),
                arch,
                &{
                    let dir = work.path().join(bin);
                    std::fs::create_dir_all(&dir).unwrap();
                    dir
                },
                None,
            );
            let program = bundle.join("rootfs/app").join(bin);
            let printed = if arch == "amd64" {
                let o = std::process::Command::new(&program).output().unwrap();
                String::from_utf8(o.stdout).unwrap()
            } else {
                qemu_arm64(&program)
            };
            let cpu = if arch == "amd64" { "x86_64" } else { "aarch64" };
            assert_eq!(printed, format!("{bin} on {cpu}\n"), "{bin} on {arch}");
        }
    }

    // Again, as text: nothing to compile or push, one reference per image.
    let out = run(
        &imgpush,
        &shim,
        &["--workspace", "--repo", &prefix, "-t", "v1"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines, references);
    assert_eq!(program_builds(&log).len(), 2, "again one build");

    // `-p` twice: the same path, two images.
    let out = run(
        &imgpush,
        &shim,
        &[
            "-p", "gateway", "-p", "tools", "--repo", &prefix, "-t", "v1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let picked: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    let expected: Vec<String> = references
        .iter()
        .filter(|r| {
            ["gateway", "migrate", "seed"]
                .iter()
                .any(|b| r.contains(&format!("/fleet/{b}@")))
        })
        .cloned()
        .collect();
    assert_eq!(picked, expected, "the same images as part of the workspace");
    let builds = program_builds(&log);
    assert_eq!(builds.len(), 3);
    assert!(
        builds[2]
            .contains("--package gateway --package tools --bin gateway --bin migrate --bin seed"),
        "{}",
        builds[2]
    );

    // One binary fails to build: the run fails naming it, and no image gets the tag.
    let out = run(
        &imgpush,
        &shim,
        &[
            "--workspace",
            "--features",
            "cron/broken",
            "--repo",
            &prefix,
            "-t",
            "broken",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("could not compile `cron`"), "{err}");
    assert_eq!(program_builds(&log).len(), 4, "still one build");
    for bin in BINS {
        let tags = registry.tags(&format!("fleet/{bin}"));
        assert!(!tags.contains(&"broken".to_string()), "{bin}: {tags:?}");
    }
}

#[test]
fn workspace_selections_that_cannot_work_are_refused_before_building() {
    let imgpush = Imgpush::new();
    let (shim, log) = cargo_shim(imgpush.cwd.path());
    for (args, expect) in [
        (
            vec!["--workspace", "--oci-layout", "out"],
            "--oci-layout names one output",
        ),
        (
            vec!["-p", "api", "-p", "nope"],
            "no workspace member `nope`",
        ),
        (
            vec!["--workspace", "--exclude", "nope"],
            "no workspace member `nope` (--exclude",
        ),
        (
            vec!["-p", "api", "-p", "common"],
            "package `common` (-p) has no binary target",
        ),
        (
            vec!["--workspace", "--bin", "nope"],
            "no selected workspace member has this binary",
        ),
    ] {
        let out = run(&imgpush, &shim, &args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(expect), "{args:?}: {}", stderr(&out));
    }
    assert!(program_builds(&log).is_empty(), "nothing was built");
}

#[test]
fn resolve_compiles_the_members_it_references_in_one_cargo_build() {
    require_rust_cross();
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let (shim, log) = cargo_shim(imgpush.cwd.path());
    // A copy: the members' own target directory is the workspace's.
    let copy = imgpush.cwd.path().join("fleet");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(repo_root().join("fixtures/cargo/fleet"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        imgpush.cwd.path().join("deploy.yaml"),
        "containers:\n  - image: imgpush://fleet/api\n  - image: imgpush://fleet/gateway\n",
    )
    .unwrap();
    let prefix = format!("{}/r", registry.host);
    let out = imgpush
        .command()
        .env("IMGPUSH_CARGO", &shim)
        .env("IMGPUSH_RUSTC", "/usr/bin/rustc")
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .args(["resolve", "-f", "deploy.yaml", "--repo", &prefix])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let resolved = stdout(&out);
    for bin in ["api", "gateway"] {
        assert!(
            resolved.contains(&format!("image: {prefix}/{bin}@sha256:")),
            "{resolved}"
        );
    }
    let builds = program_builds(&log);
    assert_eq!(builds.len(), 1, "{builds:#?}");
    assert!(
        builds[0].contains("--package api --package gateway --bin api --bin gateway"),
        "{}",
        builds[0]
    );
}
