//! `cargo imgpush` / `imgpush build CRATE`: Rust binaries cross-compiled per platform with
//! cargo-zigbuild (no emulation), pushed to a real registry and run on both CPUs.
//! All builds share one target directory, so std is compiled once per target.

mod support;

use serde_json::Value;
use support::*;

fn fixture(name: &str) -> String {
    repo_root()
        .join("fixtures/cargo")
        .join(name)
        .display()
        .to_string()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The config of one platform of a pushed index.
fn config_of(registry: &Registry, repo: &str, index: &Value, arch: &str) -> Value {
    let m = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap();
    let manifest = json(&skopeo_raw(
        &format!(
            "docker://{}/{repo}@{}",
            registry.host,
            m["digest"].as_str().unwrap()
        ),
        None,
    ));
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--config", "--raw", "--tls-verify=false"])
        .arg(format!(
            "docker://{}/{repo}@{}",
            registry.host,
            m["digest"].as_str().unwrap()
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    // skopeo prints the config blob as stored; it must be the one the manifest names.
    assert_eq!(
        manifest["config"]["digest"],
        format!("sha256:{}", sha256_hex(out.stdout.trim_ascii_end())).as_str()
    );
    json(&out.stdout)
}

#[test]
fn one_bin_crate_runs_on_amd64_and_arm64() {
    require_rust_cross();
    let registry = Registry::start();
    let target = shared_target_dir();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/one-bin", registry.host);
    let manifest = format!("{}/Cargo.toml", fixture("one-bin"));
    let out = imgpush.cargo_imgpush(&[
        "--manifest-path",
        &manifest,
        "--target-dir",
        target.to_str().unwrap(),
        "--repo",
        &repo,
        "--platform",
        "linux/amd64,linux/arm64",
        "-t",
        "{version}",
        "-t",
        "latest",
    ]);
    let line = success_line(&out);
    let err = stderr(&out);
    assert!(
        err.contains("cargo-zigbuild")
            && err.contains("x86_64-unknown-linux-musl, aarch64-unknown-linux-musl"),
        "{err}"
    );
    assert!(
        err.contains("Finished"),
        "cargo's own output reaches the user: {err}"
    );

    let raw = skopeo_raw(&format!("docker://{repo}:0.3.1"), None);
    assert!(line.ends_with(&sha256_hex(&raw)), "{line}");
    let index = json(&raw);
    let archs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    let mut tags = registry.tags("app/one-bin");
    tags.sort();
    assert_eq!(tags, ["0.3.1", "latest"]);

    let config = config_of(&registry, "app/one-bin", &index, "amd64");
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.title"], "one-bin");
    assert_eq!(labels["org.opencontainers.image.version"], "0.3.1");
    assert_eq!(
        labels["org.opencontainers.image.licenses"],
        "MIT OR Apache-2.0"
    );
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://example.com/acme/one-bin"
    );
    assert_eq!(
        labels["org.opencontainers.image.description"],
        "imgpush test fixture: one binary that prints its CPU"
    );
    assert_eq!(
        labels["org.opencontainers.image.revision"]
            .as_str()
            .map(str::len),
        Some(40),
        "git commit of the checkout"
    );
    assert_eq!(
        labels["org.example.fixture"], "one-bin",
        "from [package.metadata.imgpush]"
    );
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/app/one-bin"])
    );
    assert!(config["config"]["ExposedPorts"].get("8080/tcp").is_some());

    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{line}"), "amd64", work.path(), None);
    assert_eq!(
        runc_run(&bundle),
        "hello from x86_64\ngreeting from-metadata\n"
    );
    let bundle = unpack_platform(&format!("docker://{line}"), "arm64", work.path(), None);
    assert_eq!(
        qemu_arm64(&bundle.join("rootfs/app/one-bin")),
        "hello from aarch64\n"
    );

    // `imgpush build DIR` is the same code path: same inputs, same digest.
    let again = imgpush.run(&[
        "build",
        &fixture("one-bin"),
        "--target-dir",
        target.to_str().unwrap(),
        "--repo",
        &repo,
        "-t",
        "{version}",
        "-t",
        "latest",
    ]);
    assert_eq!(success_line(&again), line);
}

#[test]
fn workspace_member_bin_and_metadata_layers() {
    require_rust_cross();
    let registry = Registry::start();
    let target = shared_target_dir();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/api", registry.host);
    let out = imgpush.run(&[
        "build",
        &fixture("workspace"),
        "-p",
        "api",
        "--bin",
        "server",
        "--platform",
        "linux/amd64",
        "--target-dir",
        target.to_str().unwrap(),
        "--repo",
        &repo,
        "--env",
        "LEVEL=flag",
        "--label",
        "org.example.team=flag-team",
    ]);
    let line = success_line(&out);
    let raw = skopeo_raw(&format!("docker://{repo}:ws-2.0.0"), None);
    assert!(
        line.ends_with(&sha256_hex(&raw)),
        "tag from [workspace.metadata.imgpush] with {{version}}"
    );
    let index = json(&raw);
    let config = config_of(&registry, "app/api", &index, "amd64");
    let c = &config["config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/app/server"]));
    assert_eq!(c["User"], "65532", "workspace metadata");
    assert_eq!(c["WorkingDir"], "/srv", "package metadata");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"LEVEL=flag"),
        "flag over package over workspace: {env:?}"
    );
    assert!(env.contains(&"FROM_WORKSPACE=yes"), "{env:?}");
    assert_eq!(c["Labels"]["org.example.team"], "flag-team");
    assert_eq!(c["Labels"]["org.opencontainers.image.title"], "server");
    assert_eq!(c["Labels"]["org.opencontainers.image.version"], "2.0.0");
    assert_eq!(
        c["Labels"]["org.opencontainers.image.description"],
        "overridden by metadata"
    );

    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{line}"), "amd64", work.path(), None);
    let run = std::process::Command::new(bundle.join("rootfs/app/server"))
        .env("LEVEL", "x")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "server on x86_64\nLEVEL=x\nFROM_WORKSPACE=\n"
    );
}

/// `--bin` repeated: both binaries from one cargo invocation in one image (at `--dest DIR/`,
/// the first one the entrypoint), and `--dist` packs the same bytes as a release tarball.
#[test]
fn several_bins_in_one_image_and_their_release_tarball() {
    require_rust_cross();
    let target = shared_target_dir();
    let imgpush = Imgpush::new();
    let layout = imgpush.cwd.path().join("layout");
    let dist = imgpush.cwd.path().join("dist");
    let build = |dest: &str| {
        imgpush.run(&[
            "build",
            &fixture("workspace"),
            "-p",
            "api",
            "--bin",
            "server",
            "--bin",
            "migrate",
            "--dest",
            dest,
            "--platform",
            "linux/amd64",
            "--target-dir",
            target.to_str().unwrap(),
            "--oci-layout",
            layout.to_str().unwrap(),
            "--dist",
            dist.to_str().unwrap(),
        ])
    };
    // Several binaries need a directory to go in.
    let refused = build("/srv/bin");
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains("with several binaries (server, migrate)") && err.contains("end it with `/`"),
        "{err}"
    );
    assert!(!dist.exists(), "nothing written for a refused plan");

    let line = success_line(&build("/srv/bin/"));
    assert!(line.starts_with(&format!("oci-layout:{}@sha256:", layout.display())));
    let work = tempfile::tempdir().unwrap();
    // The tag comes from the fixture's [workspace.metadata.imgpush].
    let bundle = unpack_platform(
        &format!("oci:{}:ws-2.0.0", layout.display()),
        "amd64",
        work.path(),
        None,
    );
    let config = json(&std::fs::read(bundle.join("config.json")).unwrap());
    assert_eq!(
        config["process"]["args"],
        serde_json::json!(["/srv/bin/server"])
    );
    let run = |bin: &str| {
        let o = std::process::Command::new(bundle.join("rootfs/srv/bin").join(bin))
            .env("LEVEL", "x")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(run("server"), "server on x86_64");
    assert!(run("migrate").contains("migrate"), "{}", run("migrate"));

    // The release tarball holds the very same binaries, and SHA256SUMS checks.
    let tarball = dist.join("api-2.0.0-x86_64-unknown-linux-musl.tar.gz");
    let unpacked = tempfile::tempdir().unwrap();
    let tar = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(unpacked.path())
        .output()
        .unwrap();
    assert!(tar.status.success(), "{}", stderr(&tar));
    for bin in ["server", "migrate"] {
        assert_eq!(
            std::fs::read(
                unpacked
                    .path()
                    .join("api-2.0.0-x86_64-unknown-linux-musl")
                    .join(bin)
            )
            .unwrap(),
            std::fs::read(bundle.join("rootfs/srv/bin").join(bin)).unwrap(),
            "{bin}"
        );
    }
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
}

#[test]
fn bad_rust_inputs_fail_clearly_and_push_nothing() {
    require_rust_cross();
    let registry = Registry::start();
    let target = shared_target_dir();
    let t = target.to_str().unwrap();
    let repo = format!("{}/app/bad", registry.host);
    let r = repo.as_str();
    let ws = fixture("workspace");

    // No Cargo.toml: `cargo imgpush` in an empty directory.
    let empty = Imgpush::new();
    let out = empty.cargo_imgpush(&["--repo", r]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no Cargo.toml"), "{}", stderr(&out));

    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            "unknown --bin",
            vec!["build", &ws, "-p", "api", "--bin", "nope", "--repo", r],
            vec!["has no binary `nope`", "migrate, server"],
        ),
        (
            "several bins",
            vec!["build", &ws, "-p", "api", "--repo", r],
            vec!["several binaries (migrate, server)", "--bin"],
        ),
        (
            "several members",
            vec!["build", &ws, "--repo", r],
            vec![
                "several workspace members have binaries (api, worker)",
                "-p",
            ],
        ),
        (
            "unknown member",
            vec!["build", &ws, "-p", "nope", "--repo", r],
            vec!["no workspace member `nope`", "api, worker"],
        ),
    ];
    assert_all_fail(&cases);

    // A compile error: cargo's own message reaches the user, exit non-zero.
    let out = Imgpush::new().run(&[
        "build",
        &fixture("broken"),
        "--platform",
        "linux/amd64",
        "--target-dir",
        t,
        "--repo",
        r,
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("mismatched types") && err.contains("cargo-zigbuild failed"),
        "{err}"
    );

    // A target whose std is missing and may not be built: the doctor's fix is shown.
    let out = Imgpush::new().run(&[
        "build",
        &fixture("one-bin"),
        "--build-std",
        "never",
        "--target-dir",
        t,
        "--repo",
        r,
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("std for aarch64-unknown-linux-musl: not installed"),
        "{err}"
    );
    assert!(
        err.contains("rustup target add aarch64-unknown-linux-musl")
            || err.contains("rust-web-src"),
        "{err}"
    );

    // zig missing: a PATH with cargo and cargo-zigbuild but no zig anywhere.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        std::fs::canonicalize("/usr/local/bin/cargo-zigbuild").unwrap(),
        bin.path().join("cargo-zigbuild"),
    )
    .unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let imgpush = Imgpush::new();
    let out = imgpush
        .command()
        .env("PATH", &path)
        .env_remove("CARGO_ZIGBUILD_ZIG_PATH")
        .args(["build", &fixture("one-bin"), "--target-dir", t, "--repo", r])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("zig: not found") && err.contains("pip install ziglang"),
        "{err}"
    );

    assert!(registry.writes().is_empty(), "{:?}", registry.writes());
}

#[test]
fn doctor_reports_each_piece_and_its_fix() {
    require_rust_cross();
    let imgpush = Imgpush::new();
    let out = imgpush.run(&["doctor", "--platform", "linux/amd64,linux/arm64"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    for line in [
        "ok       cargo:",
        "ok       rustc:",
        "std for x86_64-unknown-linux-musl",
        "std for aarch64-unknown-linux-musl",
        "ok       cargo-zigbuild:",
        "ok       zig:",
    ] {
        assert!(text.contains(line), "doctor lacks `{line}`:\n{text}");
    }
    let out = imgpush
        .command()
        .env("PATH", "/usr/bin:/bin")
        .args(["doctor", "--platform", "linux/arm64"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("MISSING  cargo-zigbuild")
            && text.contains("fix: pip install cargo-zigbuild"),
        "{text}"
    );

    // The registry login: an htpasswd registry without stored credentials.
    let registry = Registry::start_with_htpasswd("u", "p");
    let out = imgpush.run(&["doctor", "--repo", &format!("{}/app/x", registry.host)]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("MISSING  registry login")
            && text.contains(&format!("docker login {}", registry.host)),
        "{text}"
    );
    registry.docker_config(imgpush.docker_config.path(), None);
    let out = imgpush.run(&["doctor", "--repo", &format!("{}/app/x", registry.host)]);
    assert!(
        stdout(&out).contains("ok       registry login"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn plain_cargo_builder_with_a_prebuilt_glibc_std() {
    require_rust_cross();
    let target = shared_target_dir();
    let imgpush = Imgpush::new();
    let layout = imgpush.cwd.path().join("out");
    let out = imgpush.run(&[
        "build",
        &fixture("one-bin"),
        "--builder",
        "cargo",
        "--libc",
        "gnu",
        "--platform",
        "linux/amd64",
        "--target-dir",
        target.to_str().unwrap(),
        "--oci-layout",
        layout.to_str().unwrap(),
    ]);
    success_line(&out);
    let err = stderr(&out);
    // The host's glibc std is prebuilt in every toolchain here: no std from source.
    assert!(
        err.contains("for x86_64-unknown-linux-gnu with cargo,")
            && !err.contains("std from source"),
        "{err}"
    );
    let bin = target.join("x86_64-unknown-linux-gnu/release/one-bin");
    let run = std::process::Command::new(&bin).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "hello from x86_64\n");
}
