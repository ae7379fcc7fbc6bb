//! Outputs that keep every platform (OCI archive, docker-archive, `--format docker`) and
//! the commands over pushed images: `inspect`, `index create`, `copy`. Checked with
//! skopeo, podman and the registry's own access log.

mod support;

use serde_json::Value;
use std::process::Command;
use support::*;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// `build` of one hello binary for one platform into `repo:tag` (a one-entry index).
fn push_one(registry: &Registry, repo: &str, arch: &str, extra: &[&str]) -> String {
    let hello = hello();
    let file = if arch == "amd64" {
        &hello.amd64
    } else {
        &hello.arm64
    };
    let mut args = vec![
        "build".to_string(),
        "--repo".into(),
        format!("{}/{repo}", registry.host),
        "--dest".into(),
        "/app/hello".into(),
        "--artifact".into(),
        format!("linux/{arch}={}", file.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    success_line(&Imgpush::new().run_owned(&args))
}

/// Digests of the platform manifests an index lists, by architecture.
fn children(index: &Value) -> Vec<(String, String)> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn oci_archive_holds_every_platform_and_is_reproducible() {
    let registry = Registry::start();
    let a = Imgpush::new();
    let b = Imgpush::new();
    // Same inputs from two working directories, at different times: same bytes.
    let tar_a = a.cwd.path().join("hello.tar");
    let out = a.run_owned(&hello_build_local(&["--tarball", "hello.tar"]));
    let line = success_line(&out);
    assert!(line.starts_with("oci-archive:"), "{line}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = b.run_owned(&hello_build_local(&["--tarball", "sub/dir/hello.tar"]));
    success_line(&out);
    let tar_b = b.cwd.path().join("sub/dir/hello.tar");
    let (bytes_a, bytes_b) = (
        std::fs::read(&tar_a).unwrap(),
        std::fs::read(&tar_b).unwrap(),
    );
    assert_eq!(sha256_hex(&bytes_a), sha256_hex(&bytes_b));
    assert!(
        !a.cwd.path().join("imgpush-out").exists(),
        "--tarball alone writes no default layout"
    );

    // The archive holds the image's tag and its referrers index (SBOM, provenance): skopeo
    // is told which to read.
    let src = format!("oci-archive:{}:latest", tar_a.display());
    let raw = skopeo_raw(&src, None);
    assert!(line.ends_with(&sha256_hex(&raw)), "{line}");
    let index = json(&raw);
    let archs: Vec<String> = children(&index).into_iter().map(|c| c.0).collect();
    assert_eq!(archs, ["amd64", "arm64"]);

    // skopeo copies it into the registry with every digest kept.
    let dest = format!("docker://{}/app/from-archive:v1", registry.host);
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &src,
        &dest,
    ]);
    let pushed = skopeo_raw(&dest, None);
    assert_eq!(sha256_hex(&pushed), sha256_hex(&raw));
    for (arch, digest) in children(&index) {
        let m = skopeo_raw(
            &format!("docker://{}/app/from-archive@{digest}", registry.host),
            None,
        );
        assert_eq!(format!("sha256:{}", sha256_hex(&m)), digest, "{arch}");
    }

    // The archive is also a base and a copy source.
    let out = a.run(&["inspect", "--json", &src]);
    assert!(out.status.success(), "{}", stderr(&out));
    let inspection = json(&out.stdout);
    assert_eq!(inspection["manifests"].as_array().unwrap().len(), 2);
}

/// `build --dest /app/hello --artifact … --artifact …` without a registry.
fn hello_build_local(extra: &[&str]) -> Vec<String> {
    let hello = hello();
    arg_list(
        &[
            "build",
            "--dest",
            "/app/hello",
            "--artifact",
            &format!("linux/amd64={}", hello.amd64.display()),
            "--artifact",
            &format!("linux/arm64={}", hello.arm64.display()),
        ],
        extra,
    )
}

#[test]
fn docker_archive_loads_and_runs_in_podman() {
    require("podman", "podman");
    let imgpush = Imgpush::new();
    let hello = hello();
    let build = |name: &str| {
        imgpush.run(&[
            "build",
            "--dest",
            "/app/hello",
            "--artifact",
            &format!("linux/amd64={}", hello.amd64.display()),
            "--tarball",
            name,
            "--format",
            "docker-archive",
            "-t",
            "v1",
        ])
    };
    success_line(&build("hello-docker.tar"));
    success_line(&build("again.tar"));
    let tar = imgpush.cwd.path().join("hello-docker.tar");
    assert_eq!(
        std::fs::read(&tar).unwrap(),
        std::fs::read(imgpush.cwd.path().join("again.tar")).unwrap(),
        "docker-archive output is reproducible"
    );

    let storage = tempfile::tempdir().unwrap();
    let podman = |args: &[&str]| {
        let out = Command::new("podman")
            .arg("--root")
            .arg(storage.path().join("root"))
            .arg("--runroot")
            .arg(storage.path().join("run"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--runtime",
                "runc",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let loaded = podman(&["load", "-i", tar.to_str().unwrap()]);
    assert!(loaded.contains("localhost/hello:v1"), "{loaded}");
    let output = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "localhost/hello:v1",
    ]);
    assert_eq!(output.trim(), "hello from x86_64");
}

#[test]
fn format_docker_pushes_a_manifest_list_of_schema2_manifests() {
    let registry = Registry::start();
    let repo = format!("{}/app/docker-format", registry.host);
    let line =
        success_line(&Imgpush::new().run_owned(&hello_build(&repo, &["--format", "docker"])));
    let raw = skopeo_raw(&format!("docker://{repo}:latest"), None);
    assert!(line.ends_with(&sha256_hex(&raw)));
    let list = json(&raw);
    assert_eq!(
        list["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    assert!(list.get("annotations").is_none());
    for (arch, _, m) in platform_manifests(&repo, &list) {
        assert_eq!(
            m["mediaType"], "application/vnd.docker.distribution.manifest.v2+json",
            "{arch}"
        );
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.docker.container.image.v1+json"
        );
        for layer in m["layers"].as_array().unwrap() {
            assert_eq!(
                layer["mediaType"],
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            );
        }
    }
    // The amd64 image runs, unpacked by tools that share no code with imgpush.
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(
        &format!("docker://{repo}:latest"),
        "amd64",
        work.path(),
        None,
    );
    assert_eq!(runc_run(&bundle).trim(), "hello from x86_64");
}

#[test]
fn inspect_shows_each_platform_and_raw_bytes_hash_to_the_digest() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/inspected", registry.host);
    let line = success_line(&imgpush.run_owned(&hello_build(
        &repo,
        &["--user", "1000:1000", "--cmd", "serve"],
    )));
    let digest = line.rsplit('@').next().unwrap().to_string();

    let out = imgpush.run(&["inspect", &format!("{repo}:latest")]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    for want in [
        &format!("Name:      {repo}:latest"),
        "MediaType: application/vnd.oci.image.index.v1+json",
        &format!("Digest:    {digest}"),
        "Platform:    linux/amd64",
        "Platform:    linux/arm64/v8",
        "Entrypoint:  [\"/app/hello\"]",
        "Cmd:         [\"serve\"]",
        "User:        1000:1000",
        "Created:     1970-01-01T00:00:00Z",
    ] {
        assert!(text.contains(want), "inspect lacks `{want}`:\n{text}");
    }

    // --json: the documented structure, checked against skopeo's view.
    let out = imgpush.run(&["inspect", "--json", &format!("{repo}:latest")]);
    let v = json(&out.stdout);
    assert_eq!(v["digest"], digest.as_str());
    let index = json(&skopeo_raw(&format!("docker://{repo}:latest"), None));
    let manifests = v["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2);
    for (m, (arch, child, manifest)) in manifests.iter().zip(platform_manifests(&repo, &index)) {
        assert_eq!(m["digest"], child.as_str());
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(m["layers"], layers.len(), "{arch}");
        let total: u64 = layers.iter().map(|l| l["size"].as_u64().unwrap()).sum();
        assert_eq!(m["compressedSize"], total);
        assert_eq!(m["user"], "1000:1000");
        assert_eq!(m["entrypoint"], serde_json::json!(["/app/hello"]));
    }

    // --raw prints the exact bytes: they hash to the digest, index or platform manifest.
    let out = imgpush.run(&["inspect", "--raw", &format!("{repo}:latest")]);
    assert_eq!(format!("sha256:{}", sha256_hex(&out.stdout)), digest);
    let out = imgpush.run(&[
        "inspect",
        "--raw",
        "--platform",
        "linux/arm64",
        &format!("{repo}:latest"),
    ]);
    let arm = children(&index)
        .into_iter()
        .find(|c| c.0 == "arm64")
        .unwrap()
        .1;
    assert_eq!(format!("sha256:{}", sha256_hex(&out.stdout)), arm);
    let out = imgpush.run(&[
        "inspect",
        "--platform",
        "linux/arm64",
        &format!("{repo}:latest"),
    ]);
    let text = stdout(&out);
    assert!(
        text.contains("linux/arm64/v8") && !text.contains("linux/amd64"),
        "{text}"
    );

    // A single manifest (one platform copied out of the index) and a Docker-format image.
    let single = format!("{}/app/single:v1", registry.host);
    success_line(&imgpush.run(&[
        "copy",
        "--platform",
        "linux/amd64",
        &format!("{repo}:latest"),
        &single,
    ]));
    let out = imgpush.run(&["inspect", "--json", &single]);
    let v = json(&out.stdout);
    assert_eq!(v["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(v["manifests"][0]["platform"], "linux/amd64");
    assert_eq!(v["digest"], v["manifests"][0]["digest"]);
    let text = stdout(&imgpush.run(&["inspect", &single]));
    assert!(text.contains("Platform:    linux/amd64"), "{text}");

    let docker = format!("{}/app/docker-inspected", registry.host);
    success_line(&imgpush.run_owned(&hello_build(&docker, &["--format", "docker"])));
    let out = imgpush.run(&["inspect", &docker]);
    let text = stdout(&out);
    assert!(
        text.contains("application/vnd.docker.distribution.manifest.list.v2+json")
            && text.contains("application/vnd.docker.distribution.manifest.v2+json")
            && text.contains("Entrypoint:  [\"/app/hello\"]"),
        "{text}"
    );
}

#[test]
fn index_create_merges_per_runner_images_by_mounting() {
    let registry = Registry::start();
    let amd = push_one(&registry, "ci/hello-amd64", "amd64", &["-t", "run-1"]);
    let arm = push_one(&registry, "ci/hello-arm64", "arm64", &["-t", "run-1"]);
    let before = registry.raw_requests().len();

    let imgpush = Imgpush::new();
    let target = format!("{}/app/hello-multi", registry.host);
    let line = success_line(&imgpush.run(&[
        "index",
        "create",
        "--tag",
        &format!("{target}:v1"),
        &format!("{}/ci/hello-amd64:run-1", registry.host),
        &format!("{}/ci/hello-arm64:run-1", registry.host),
    ]));
    let raw = skopeo_raw(&format!("docker://{target}:v1"), None);
    assert!(line.ends_with(&sha256_hex(&raw)), "{line}");
    let index = json(&raw);
    let kids = children(&index);
    assert_eq!(
        kids.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["amd64", "arm64"]
    );

    // Each platform manifest is the one its runner pushed, byte for byte.
    for (arch, src) in [("amd64", &amd), ("arm64", &arm)] {
        let repo = if arch == "amd64" {
            "ci/hello-amd64"
        } else {
            "ci/hello-arm64"
        };
        let src_index = json(&skopeo_raw(&format!("docker://{src}"), None));
        let (_, src_child) = children(&src_index).remove(0);
        let (_, merged_child) = kids.iter().find(|c| c.0 == arch).unwrap().clone();
        assert_eq!(src_child, merged_child, "{arch}: {repo}");
    }

    // No blob was downloaded: only manifests were read; blobs were mounted.
    let requests: Vec<(String, String)> = registry.raw_requests()[before..].to_vec();
    let blob_gets: Vec<_> = requests
        .iter()
        .filter(|(m, p)| m == "GET" && p.contains("/blobs/"))
        .collect();
    assert!(blob_gets.is_empty(), "blobs were downloaded: {blob_gets:?}");
    let mounts = requests
        .iter()
        .filter(|(m, p)| m == "POST" && p.contains("mount="))
        .count();
    assert!(mounts >= 3, "{requests:?}");
    assert_eq!(registry.uploads_of("app/hello-multi", &kids[0].1), 0);

    // Both platforms pass the spine's checks: every blob is there and the amd64 one runs.
    let work = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{target}:v1"),
        &format!("oci:{}:all", work.path().join("all").display()),
    ]);
    let bundle = unpack_platform(&format!("docker://{target}:v1"), "amd64", work.path(), None);
    assert_eq!(runc_run(&bundle).trim(), "hello from x86_64");
    let bundle = unpack_platform(&format!("docker://{target}:v1"), "arm64", work.path(), None);
    assert_eq!(
        qemu_arm64(&bundle.join("rootfs/app/hello")).trim(),
        "hello from aarch64"
    );

    // The same platform twice is an error, unless --replace.
    let other = push_one(&registry, "ci/hello-amd64-b", "amd64", &["--env", "B=1"]);
    let dup = imgpush.run(&[
        "index",
        "create",
        "--tag",
        &format!("{target}:v2"),
        &format!("{}/ci/hello-amd64:run-1", registry.host),
        &other,
    ]);
    assert!(!dup.status.success());
    assert!(
        stderr(&dup).contains("platform linux/amd64 is in both")
            && stderr(&dup).contains("--replace"),
        "{}",
        stderr(&dup)
    );
    assert!(registry.tags("app/hello-multi").iter().all(|t| t != "v2"));
    let replaced = imgpush.run(&[
        "index",
        "create",
        "--replace",
        "--tag",
        &format!("{target}:v2"),
        &format!("{}/ci/hello-amd64:run-1", registry.host),
        &other,
    ]);
    success_line(&replaced);
    let v2 = json(&skopeo_raw(&format!("docker://{target}:v2"), None));
    let other_child = children(&json(&skopeo_raw(&format!("docker://{other}"), None)))
        .remove(0)
        .1;
    assert_eq!(children(&v2), [("amd64".to_string(), other_child)]);

    // --append adds to what the tag holds.
    success_line(&imgpush.run(&[
        "index",
        "create",
        "--append",
        "--annotation",
        "org.opencontainers.image.revision=abc123",
        "--tag",
        &format!("{target}:v2"),
        &format!("{}/ci/hello-arm64:run-1", registry.host),
    ]));
    let v2 = json(&skopeo_raw(&format!("docker://{target}:v2"), None));
    assert_eq!(
        v2["annotations"]["org.opencontainers.image.revision"],
        "abc123"
    );
    assert_eq!(
        children(&v2)
            .iter()
            .map(|c| c.0.as_str())
            .collect::<Vec<_>>(),
        ["amd64", "arm64"]
    );
}

#[test]
fn copy_between_registries_and_layouts_keeps_digests() {
    let a = Registry::start();
    let b = Registry::start();
    let imgpush = Imgpush::new();
    let src = format!("{}/app/hello", a.host);
    let line = success_line(&imgpush.run_owned(&hello_build(&src, &["-t", "v3"])));
    let digest = line.rsplit('@').next().unwrap().to_string();

    // Registry → registry: streamed through, same digest, tag kept by default.
    let out = imgpush.run(&[
        "copy",
        &format!("{src}:v3"),
        &format!("{}/mirror/hello", b.host),
    ]);
    let copied = success_line(&out);
    assert_eq!(copied, format!("{}/mirror/hello@{digest}", b.host));
    assert_eq!(b.tags("mirror/hello"), ["v3"]);
    let raw = skopeo_raw(&format!("docker://{}/mirror/hello:v3", b.host), None);
    assert_eq!(format!("sha256:{}", sha256_hex(&raw)), digest);
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(
        &format!("docker://{}/mirror/hello:v3", b.host),
        "amd64",
        work.path(),
        None,
    );
    assert_eq!(runc_run(&bundle).trim(), "hello from x86_64");

    // Registry → OCI layout (one platform: its manifest, same digest) → registry.
    let layout = work.path().join("arm-only");
    let out = imgpush.run(&[
        "copy",
        "--platform",
        "linux/arm64",
        &format!("{src}:v3"),
        &format!("oci-layout:{}:arm", layout.display()),
    ]);
    let line = success_line(&out);
    let index = json(&skopeo_raw(&format!("docker://{src}:v3"), None));
    let arm = children(&index)
        .into_iter()
        .find(|c| c.0 == "arm64")
        .unwrap()
        .1;
    assert!(line.ends_with(&arm), "{line}");
    let raw = skopeo_raw(&format!("oci:{}:arm", layout.display()), None);
    assert_eq!(format!("sha256:{}", sha256_hex(&raw)), arm);
    let out = imgpush.run(&[
        "copy",
        &format!("oci-layout:{}:arm", layout.display()),
        &format!("{}/from-layout/hello:arm", b.host),
    ]);
    assert!(success_line(&out).ends_with(&arm));

    // Registry → OCI archive → registry, all platforms.
    let archive = work.path().join("all.tar");
    success_line(&imgpush.run(&[
        "copy",
        "--all",
        &format!("{src}:v3"),
        &format!("oci-archive:{}", archive.display()),
    ]));
    let out = imgpush.run(&[
        "copy",
        &format!("oci-archive:{}", archive.display()),
        &format!("{}/from-archive/hello:v3", b.host),
    ]);
    assert!(success_line(&out).ends_with(&digest));
}

#[test]
fn bad_inputs_fail_clearly() {
    let registry = Registry::start();
    let repo = format!("{}/app/exists", registry.host);
    success_line(&Imgpush::new().run_owned(&hello_build(&repo, &[])));
    let missing = format!("{repo}:no-such-tag");
    let hello = hello();
    let amd = format!("linux/amd64={}", hello.amd64.display());
    let arm = format!("linux/arm64={}", hello.arm64.display());
    assert_all_fail(&[
        (
            "inspect of a missing tag",
            vec!["inspect", &missing],
            vec!["not found", "no-such-tag"],
        ),
        (
            "inspect of a platform the image lacks",
            vec!["inspect", "--platform", "linux/s390x", &repo],
            vec!["has no linux/s390x", "it has: linux/amd64"],
        ),
        (
            "index create from an unreachable registry",
            vec![
                "index",
                "create",
                "--tag",
                &format!("{repo}:merged"),
                "127.0.0.1:1/ci/gone:v1",
            ],
            vec!["cannot reach registry 127.0.0.1:1"],
        ),
        (
            "index create into a layout",
            vec!["index", "create", "--tag", "oci-layout:x", &repo],
            vec!["REGISTRY/REPO:TAG"],
        ),
        (
            "copy to a digest",
            vec!["copy", &repo, &format!("{repo}@sha256:{}", "a".repeat(64))],
            vec!["by tag, not digest"],
        ),
        (
            "docker-archive of two platforms",
            vec![
                "build",
                "--dest",
                "/app/hello",
                "--artifact",
                &amd,
                "--artifact",
                &arm,
                "--tarball",
                "x.tar",
                "--format",
                "docker-archive",
            ],
            vec!["one platform", "--platform"],
        ),
        (
            "docker-archive without --tarball",
            vec!["build", "--artifact", &amd, "--format", "docker-archive"],
            vec!["--tarball"],
        ),
        (
            "an unknown --format",
            vec!["build", "--artifact", &amd, "--format", "tar"],
            vec!["oci, docker or docker-archive"],
        ),
        (
            "annotations in Docker format",
            vec![
                "build",
                "--artifact",
                &amd,
                "--format",
                "docker",
                "--annotation",
                "a=b",
            ],
            vec!["no annotations"],
        ),
    ]);
    assert!(
        registry.tags("app/exists").iter().all(|t| t == "latest"),
        "nothing was tagged"
    );
}

/// OCI layouts and tarballs are written with the user's umask (0644 files and 0755
/// directories under umask 022), not tempfile's 0600 (issue 17).
#[test]
fn layouts_and_tarballs_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    fn modes(root: &std::path::Path, out: &mut Vec<(std::path::PathBuf, u32)>) {
        for e in std::fs::read_dir(root).unwrap() {
            let p = e.unwrap().path();
            out.push((
                p.clone(),
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            ));
            if p.is_dir() {
                modes(&p, out);
            }
        }
    }
    let imgpush = Imgpush::new();
    let out = imgpush
        .command_with_umask("022")
        .args(hello_build_local(&[
            "--oci-layout",
            "layout",
            "--tarball",
            "hello.tar",
        ]))
        .output()
        .unwrap();
    success_line(&out);
    let mut found = Vec::new();
    modes(&imgpush.cwd.path().join("layout"), &mut found);
    assert!(found.len() > 4, "{found:?}");
    for (path, mode) in &found {
        let want = if path.is_dir() { 0o755 } else { 0o644 };
        assert_eq!(*mode, want, "{} is {mode:o}", path.display());
    }
    let tar = imgpush.cwd.path().join("hello.tar");
    assert_eq!(
        std::fs::metadata(&tar).unwrap().permissions().mode() & 0o777,
        0o644
    );

    let strict = Imgpush::new();
    let out = strict
        .command_with_umask("027")
        .args(hello_build_local(&["--tarball", "hello.tar"]))
        .output()
        .unwrap();
    success_line(&out);
    let tar = strict.cwd.path().join("hello.tar");
    assert_eq!(
        std::fs::metadata(&tar).unwrap().permissions().mode() & 0o777,
        0o640,
        "the umask is respected"
    );
}
