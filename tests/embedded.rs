//! The embedded default: no registry, the `static` base built in-process, an OCI layout
//! that independent tools read offline — and digests that do not depend on where or when.

mod support;

use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use support::*;

#[test]
fn default_output_is_a_layout_on_the_static_base_that_runs() {
    let hello = hello();
    let imgpush = Imgpush::new();
    let out = imgpush.run(&[
        "build",
        "--artifact",
        &format!("linux/amd64={}", hello.amd64.display()),
        "--artifact",
        &format!("linux/arm64={}", hello.arm64.display()),
        "--dest",
        "/app/hello",
    ]);
    let line = success_line(&out);
    let layout = imgpush.cwd.path().join("imgpush-out");
    assert!(
        line.starts_with(&format!("oci-layout:{}@sha256:", layout.display())),
        "{line}"
    );

    let index: Value = serde_json::from_slice(&skopeo_raw(
        &format!("oci:{}:latest", layout.display()),
        None,
    ))
    .unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    assert!(
        index["annotations"]
            .get("org.opencontainers.image.base.name")
            .is_none(),
        "the embedded base has no pullable name"
    );

    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(
        &format!("oci:{}:latest", layout.display()),
        "amd64",
        work.path(),
        None,
    );
    let rootfs = bundle.join("rootfs");
    let certs = std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(
        certs.matches("-----BEGIN CERTIFICATE-----").count() > 100,
        "Mozilla roots as PEM"
    );
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd.contains("root:x:0:0:") && passwd.contains("nonroot:x:65532:65532:"),
        "{passwd}"
    );
    assert!(
        std::fs::read_to_string(rootfs.join("etc/group"))
            .unwrap()
            .contains("nonroot:x:65532:")
    );
    let tmp = std::fs::metadata(rootfs.join("tmp")).unwrap();
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
    let home = std::fs::metadata(rootfs.join("home/nonroot")).unwrap();
    assert_eq!(
        (home.permissions().mode() & 0o7777, home.uid(), home.gid()),
        (0o700, 65532, 65532)
    );
    let bin = std::fs::metadata(rootfs.join("app/hello")).unwrap();
    assert_eq!(
        (bin.permissions().mode() & 0o7777, bin.uid(), bin.mtime()),
        (0o755, 0, 0)
    );

    let runtime: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        runtime["process"]["user"]["uid"], 65532,
        "runs as nonroot by default"
    );
    assert_eq!(runc_run(&bundle), "hello from x86_64\n");
    let bundle = unpack_platform(
        &format!("oci:{}:latest", layout.display()),
        "arm64",
        work.path(),
        None,
    );
    assert_eq!(
        qemu_arm64(&bundle.join("rootfs/app/hello")),
        "hello from aarch64\n"
    );
}

/// Copies the golden fixture into `dir` with the given mode and mtime.
fn place_fixture(dir: &std::path::Path, mode: u32, mtime: &str) {
    let src = repo_root().join("fixtures/golden/hello.sh");
    let dest = dir.join("hello.sh");
    std::fs::copy(&src, &dest).unwrap();
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).unwrap();
    let ok = std::process::Command::new("touch")
        .args(["-d", mtime])
        .arg(&dest)
        .status()
        .unwrap();
    assert!(ok.success());
}

fn build_golden(imgpush: &Imgpush, extra_env: &[(&str, &str)]) -> String {
    let mut cmd = imgpush.command();
    cmd.args([
        "build",
        "--artifact",
        "linux/amd64=hello.sh",
        "--artifact",
        "linux/arm64=hello.sh",
        "--dest",
        "/usr/local/bin/hello",
        "--oci-layout",
        "out",
    ]);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let line = success_line(&cmd.output().unwrap());
    line.rsplit('@').next().unwrap().to_string()
}

#[test]
fn same_inputs_give_the_same_digests_anywhere_and_a_golden_index() {
    let a = Imgpush::new();
    let b = Imgpush::new();
    place_fixture(a.cwd.path(), 0o755, "2001-01-01");
    place_fixture(b.cwd.path(), 0o700, "2024-06-30 12:34:56");
    let da = build_golden(&a, &[]);
    let db = build_golden(&b, &[]);
    assert_eq!(
        da, db,
        "different directory, mtime and permission bits → same image"
    );
    // Fails if anything in the byte format drifts: tar headers, gzip backend or level,
    // JSON canonicalization, the embedded base (CA bundle version), composition rules.
    assert_eq!(
        da,
        "sha256:7572eb9991772829c17448ea041f53a4789dfa458534cb81da67b549b187d0f0"
    );

    let c = Imgpush::new();
    place_fixture(c.cwd.path(), 0o755, "2001-01-01");
    let dc = build_golden(&c, &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_ne!(
        dc, da,
        "SOURCE_DATE_EPOCH changes created times and layer mtimes"
    );
    let layout = c.cwd.path().join("out");
    let index: Value = serde_json::from_slice(&skopeo_raw(
        &format!("oci:{}:latest", layout.display()),
        None,
    ))
    .unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(manifest_digest)).unwrap(),
    )
    .unwrap();
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let config: Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(config_digest)).unwrap(),
    )
    .unwrap();
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(config["history"][1]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(
        config["history"][0]["created"], "1970-01-01T00:00:00Z",
        "the embedded base does not move"
    );
}

#[test]
fn platform_all_means_the_base_platforms_that_have_an_artifact() {
    let imgpush = Imgpush::new();
    let out = imgpush.run(&[
        "build",
        "--platform",
        "all",
        "--oci-layout",
        "out",
        "--artifact",
        &format!("linux/amd64={}", hello().amd64.display()),
    ]);
    success_line(&out);
    let raw = skopeo_raw(
        &format!("oci:{}:latest", imgpush.cwd.path().join("out").display()),
        None,
    );
    let index: Value = serde_json::from_slice(&raw).unwrap();
    let archs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(
        archs,
        ["amd64"],
        "the static base has 8 platforms, but only amd64 has an artifact"
    );
}

/// `--platform all` with artifacts is the intersection of the base's platforms and the
/// artifacts'; an artifact for a platform the base lacks is an error that says so for
/// `all` (it names the artifact, not a platform the user never listed).
#[test]
fn platform_all_with_an_artifact_the_base_lacks_names_it() {
    let hello = hello();
    let imgpush = Imgpush::new();
    // A one-platform base: an amd64-only layout made from the embedded base.
    success_line(&imgpush.run(&[
        "build",
        "--oci-layout",
        "base",
        "--artifact",
        &format!("linux/amd64={}", hello.amd64.display()),
    ]));
    let out = imgpush.run(&[
        "build",
        "--base",
        "oci-layout:base",
        "--platform",
        "all",
        "--oci-layout",
        "out",
        "--artifact",
        &format!("linux/amd64={}", hello.amd64.display()),
        "--artifact",
        &format!("linux/arm64={}", hello.arm64.display()),
        "--dest",
        "/app/hello",
    ]);
    assert!(!out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for expected in [
        "--platform all",
        &hello.arm64.display().to_string(),
        "linux/arm64/v8",
        "it has: linux/amd64",
    ] {
        assert!(err.contains(expected), "stderr lacks `{expected}`:\n{err}");
    }
    assert!(!imgpush.cwd.path().join("out").exists());
}

#[test]
fn quiet_prints_only_the_result() {
    let imgpush = Imgpush::new();
    let args = [
        "build",
        "--oci-layout",
        "out",
        "--artifact",
        &format!("linux/amd64={}", hello().amd64.display()),
    ];
    let loud = imgpush.run(&args);
    assert!(!stderr(&loud).is_empty(), "progress lines without --quiet");
    let mut quiet_args = args.to_vec();
    quiet_args.push("--quiet");
    let quiet = imgpush.run(&quiet_args);
    let line = success_line(&quiet);
    assert_eq!(line, success_line(&loud), "the same result");
    assert_eq!(stderr(&quiet), "", "nothing but the result");
    quiet_args.push("-v");
    let both = imgpush.run(&quiet_args);
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        stderr(&both)
    );
}
