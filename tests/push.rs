//! End-to-end pushes to a real distribution registry, checked with skopeo, umoci, runc and
//! qemu-user — tools that share no code with imgpush.

mod support;

use flate2::read::GzDecoder;
use serde_json::Value;
use std::io::Read;
use support::*;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Checks every blob skopeo copied into `dir:` against its descriptor: sha256 of the layer
/// equals its digest, sha256 of the decompressed layer equals the config's diff_id.
fn check_dir_copy(dir: &std::path::Path, manifest_digest: &str) {
    let manifest_bytes = std::fs::read(manifest_path(dir, manifest_digest)).unwrap();
    assert_eq!(
        sha256_hex(&manifest_bytes),
        manifest_digest.trim_start_matches("sha256:")
    );
    let manifest = json(&manifest_bytes);
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let config_bytes = std::fs::read(dir.join(config_digest)).unwrap();
    assert_eq!(sha256_hex(&config_bytes), config_digest);
    let config = json(&config_bytes);
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(diff_ids.len(), layers.len());
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        let digest = layer["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        let bytes = std::fs::read(dir.join(digest)).unwrap();
        assert_eq!(
            sha256_hex(&bytes),
            digest,
            "layer bytes hash to the descriptor digest"
        );
        assert_eq!(bytes.len() as u64, layer["size"].as_u64().unwrap());
        let mut tar = Vec::new();
        GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(
            format!("sha256:{}", sha256_hex(&tar)),
            diff_id.as_str().unwrap(),
            "diff_id"
        );
    }
}

/// skopeo's `dir:` stores each child manifest of a list as `<hex>.manifest.json`.
fn manifest_path(dir: &std::path::Path, digest: &str) -> std::path::PathBuf {
    dir.join(format!(
        "{}.manifest.json",
        digest.trim_start_matches("sha256:")
    ))
}

#[test]
fn two_platforms_onto_a_registry_base_run_on_both_cpus() {
    let registry = Registry::start();
    let base = registry.seed_busybox("base/busybox", &[]);
    let hello = hello();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/hello", registry.host);
    let settings = [
        "--base",
        &base,
        "-t",
        "v1",
        "-t",
        "latest",
        "--env",
        "GREETING=hi",
        "--label",
        "org.example.team=core",
        "--annotation",
        "org.example.note=spine",
    ];
    let out = imgpush.run_owned(&hello_build(&repo, &settings));
    let line = success_line(&out);
    let digest = line
        .strip_prefix(&format!("{repo}@"))
        .expect("stdout is REPO@DIGEST")
        .to_string();

    // The index, as skopeo sees it, is what we printed, with both platforms.
    let raw = skopeo_raw(&format!("docker://{repo}:v1"), None);
    assert_eq!(format!("sha256:{}", sha256_hex(&raw)), digest);
    let index = json(&raw);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: Vec<(String, String, Option<String>)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            (
                p["os"].as_str().unwrap().into(),
                p["architecture"].as_str().unwrap().into(),
                p["variant"].as_str().map(String::from),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        vec![
            ("linux".into(), "amd64".into(), None),
            ("linux".into(), "arm64".into(), Some("v8".into())),
        ]
    );
    assert_eq!(index["annotations"]["org.example.note"], "spine");
    assert_eq!(
        index["annotations"]["org.opencontainers.image.base.name"],
        base.as_str()
    );
    let mut tags = registry.tags("app/hello");
    tags.sort();
    assert_eq!(tags, vec!["latest", "v1"]);

    // Every blob is what its descriptor says.
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("dir-copy");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{repo}@{digest}"),
        &format!("dir:{}", copy.display()),
    ]);
    for m in index["manifests"].as_array().unwrap() {
        let manifest_digest = m["digest"].as_str().unwrap();
        check_dir_copy(&copy, manifest_digest);
        let manifest = json(&std::fs::read(manifest_path(&copy, manifest_digest)).unwrap());
        assert_eq!(
            manifest["layers"].as_array().unwrap().len(),
            2,
            "base layer + ours"
        );
        assert!(
            manifest["annotations"]["org.opencontainers.image.base.digest"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        let config = json(
            &std::fs::read(
                copy.join(
                    manifest["config"]["digest"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("sha256:"),
                ),
            )
            .unwrap(),
        );
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/app/hello"])
        );
        assert!(
            config["config"].get("Cmd").is_none(),
            "an entrypoint alone clears the base's Cmd (sh)"
        );
        assert!(
            config["config"]["Env"]
                .as_array()
                .unwrap()
                .contains(&Value::from("GREETING=hi"))
        );
        assert_eq!(config["config"]["Labels"]["org.example.team"], "core");
        assert_eq!(config["created"], "1970-01-01T00:00:00Z");
        assert_eq!(config["history"].as_array().unwrap().len(), 2);
    }

    // Base layers were mounted inside the registry, never downloaded.
    let base_blob_gets: Vec<String> = registry
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /v2/base/busybox/blobs/"))
        .collect();
    let base_index = json(&skopeo_raw(&format!("docker://{base}"), None));
    let mut base_layers = Vec::new();
    for (_, _, mf) in platform_manifests(&format!("{}/base/busybox", registry.host), &base_index) {
        base_layers.extend(
            mf["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_string()),
        );
    }
    for layer in &base_layers {
        assert!(
            !base_blob_gets.iter().any(|g| g.ends_with(layer.as_str())),
            "base layer {layer} was downloaded: {base_blob_gets:?}"
        );
    }

    // The amd64 image runs (umoci + runc); the arm64 binary runs under qemu.
    let bundle = unpack_platform(
        &format!("docker://{repo}@{digest}"),
        "amd64",
        work.path(),
        None,
    );
    assert_eq!(runc_run(&bundle), "hello from x86_64\n");
    assert!(
        bundle.join("rootfs/bin/busybox").exists(),
        "the base's files are there"
    );
    let bundle = unpack_platform(
        &format!("docker://{repo}@{digest}"),
        "arm64",
        work.path(),
        None,
    );
    assert_eq!(
        qemu_arm64(&bundle.join("rootfs/app/hello")),
        "hello from aarch64\n"
    );

    // A second identical run: same digest, and every blob is found already present.
    // The artifacts in the other order: the digest must not depend on it.
    let arm = format!("linux/arm64={}", hello.arm64.display());
    let amd = format!("linux/amd64={}", hello.amd64.display());
    let mut reordered = vec![
        "build",
        "--repo",
        &repo,
        "-v",
        "--dest",
        "/app/hello",
        "--artifact",
        &arm,
        "--artifact",
        &amd,
    ];
    reordered.extend(settings);
    let again = imgpush.run(&reordered);
    assert_eq!(
        success_line(&again),
        line,
        "same inputs, any flag order → same digest"
    );
    let err = stderr(&again);
    assert!(
        !err.contains(": uploaded"),
        "nothing is uploaded twice:\n{err}"
    );
}

#[test]
fn json_output_describes_the_index_and_platforms() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/json", registry.host);
    let out = imgpush.run_owned(&hello_build(&repo, &["--json", "-t", "v2"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(v["repository"], repo.as_str());
    assert_eq!(v["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(v["tags"], serde_json::json!(["v2"]));
    let digest = v["digest"].as_str().unwrap();
    assert_eq!(v["reference"], format!("{repo}@{digest}").as_str());
    let raw = skopeo_raw(&format!("docker://{repo}:v2"), None);
    assert_eq!(format!("sha256:{}", sha256_hex(&raw)), digest);
    let platforms = v["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 2);
    let index = json(&raw);
    for (p, m) in platforms.iter().zip(index["manifests"].as_array().unwrap()) {
        assert_eq!(p["digest"], m["digest"]);
        assert_eq!(p["size"], m["size"]);
    }
    assert_eq!(platforms[0]["platform"], "linux/amd64");
    assert_eq!(platforms[1]["platform"], "linux/arm64/v8");
}

#[test]
fn htpasswd_registry_uses_docker_config_and_rejects_a_wrong_password() {
    let registry = Registry::start_with_htpasswd("alice", "s3cret-pass");
    let base = registry.seed_busybox("base/busybox", &[]);
    let hello = hello();
    let repo = format!("{}/app/private", registry.host);
    let args = |extra: &[&str]| {
        let mut a = vec![
            "build".to_string(),
            "--repo".into(),
            repo.clone(),
            "--base".into(),
            base.clone(),
            "--artifact".into(),
            format!("linux/amd64={}", hello.amd64.display()),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };

    // No credentials: 401 with a hint to log in; nothing tagged.
    let imgpush = Imgpush::new();
    let out = imgpush.command().args(args(&["-vv"])).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("401") && err.contains("docker login"), "{err}");

    // Wrong password: 401, the stored credentials named as rejected, never printed.
    let imgpush = Imgpush::new();
    registry.docker_config(imgpush.docker_config.path(), Some("wrong-pass"));
    let out = imgpush.command().args(args(&["-vv"])).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("401") && err.contains("rejected"), "{err}");
    assert!(
        !err.contains("wrong-pass") && !err.contains("s3cret"),
        "credentials leaked: {err}"
    );
    assert!(
        registry.tags("app/private").is_empty(),
        "a failed run leaves no tag"
    );

    // Right password from config.json: pushed; -vv shows requests but no secrets.
    let imgpush = Imgpush::new();
    registry.docker_config(imgpush.docker_config.path(), None);
    let out = imgpush.command().args(args(&["-vv"])).output().unwrap();
    let line = success_line(&out);
    let err = stderr(&out);
    assert!(err.contains("PUT "), "-vv traces requests: {err}");
    assert!(
        !err.contains("s3cret") && !err.contains("YWxpY2U"),
        "credentials leaked: {err}"
    );
    let raw = skopeo_raw(
        &format!("docker://{repo}:latest"),
        registry.credentials.as_ref(),
    );
    assert!(line.ends_with(&sha256_hex(&raw)));
}

#[test]
fn base_in_another_registry_is_streamed_and_docker_lists_are_accepted() {
    let source = Registry::start();
    // A Docker manifest list with schema2 manifests, as on Docker Hub.
    let base = source.seed_busybox("library/busybox", &["--format=v2s2"]);
    let base_raw = json(&skopeo_raw(&format!("docker://{base}"), None));
    assert_eq!(
        base_raw["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let target = Registry::start();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/hello", target.host);
    let out = imgpush.run_owned(&hello_build(&repo, &["--base", &base, "-v"]));
    let line = success_line(&out);
    assert!(
        stderr(&out).contains("copied from the base registry"),
        "{}",
        stderr(&out)
    );
    let index = json(&skopeo_raw(&format!("docker://{line}"), None));
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    for (_, _, manifest) in platform_manifests(&format!("{}/app/hello", target.host), &index) {
        for layer in manifest["layers"].as_array().unwrap() {
            assert_eq!(
                layer["mediaType"],
                "application/vnd.oci.image.layer.v1.tar+gzip"
            );
        }
    }
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{line}"), "amd64", work.path(), None);
    assert_eq!(runc_run(&bundle), "hello from x86_64\n");
}

#[test]
fn oci_layout_base_and_output_are_self_contained() {
    let hello = hello();
    let imgpush = Imgpush::new();
    let out_dir = imgpush.cwd.path().join("out");
    let out = imgpush.run(&[
        "build",
        "--base",
        &format!("oci-layout:{}:latest", busybox_layout().display()),
        "--oci-layout",
        out_dir.to_str().unwrap(),
        "-t",
        "v1",
        "--artifact",
        &format!("linux/arm64={}", hello.arm64.display()),
        "--artifact",
        &format!("linux/amd64={}", hello.amd64.display()),
        "--dest",
        "/app/hello",
    ]);
    let line = success_line(&out);
    assert!(
        line.starts_with(&format!("oci-layout:{}@sha256:", out_dir.display())),
        "{line}"
    );
    let raw = skopeo_raw(&format!("oci:{}:v1", out_dir.display()), None);
    assert!(line.ends_with(&sha256_hex(&raw)));
    // The layout holds every blob (the base's too): a full copy works offline.
    let work = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--all",
        &format!("oci:{}:v1", out_dir.display()),
        &format!("dir:{}", work.path().join("d").display()),
    ]);
    let bundle = unpack_platform(
        &format!("oci:{}:v1", out_dir.display()),
        "amd64",
        work.path(),
        None,
    );
    assert_eq!(runc_run(&bundle), "hello from x86_64\n");
}

#[test]
fn single_manifest_base_gives_its_one_platform_and_refuses_others() {
    let registry = Registry::start();
    let reference = format!("{}/base/amd64only:latest", registry.host);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:amd64", busybox_layout().display()),
        &format!("docker://{reference}"),
    ]);
    let hello = hello();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/one", registry.host);
    let out = imgpush.run(&[
        "build",
        "--repo",
        &repo,
        "--base",
        &reference,
        "--artifact",
        &format!("linux/amd64={}", hello.amd64.display()),
    ]);
    let line = success_line(&out);
    let index = json(&skopeo_raw(&format!("docker://{line}"), None));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);

    let out = imgpush.run(&[
        "build",
        "--repo",
        &repo,
        "--base",
        &reference,
        "-t",
        "arm",
        "--artifact",
        &format!("linux/arm64={}", hello.arm64.display()),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("has no linux/arm64/v8") && err.contains("it has: linux/amd64"),
        "{err}"
    );
    assert!(!registry.tags("app/one").contains(&"arm".to_string()));
}

#[test]
fn extra_files_are_one_layer_shared_by_every_platform_and_uploaded_once() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let site = imgpush.cwd.path().join("site");
    std::fs::create_dir_all(site.join("assets")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>hi</h1>\n").unwrap();
    std::fs::write(site.join("assets/app.js"), "console.log(1)\n").unwrap();
    std::os::unix::fs::symlink("assets/app.js", site.join("app.js")).unwrap();
    std::fs::write(imgpush.cwd.path().join("app.toml"), "port = 8080\n").unwrap();
    let repo = format!("{}/app/files", registry.host);
    let extra = [
        "--file",
        "site:/srv/www",
        "--file",
        "app.toml:/etc/app.toml:0600",
    ];
    let out = imgpush.run_owned(&hello_build(&repo, &extra));
    let line = success_line(&out);
    let index = json(&skopeo_raw(&format!("docker://{line}"), None));
    let mut shared = Vec::new();
    let mut documents = std::collections::BTreeSet::new();
    for m in index["manifests"].as_array().unwrap() {
        documents.extend(
            referrer_blobs(&repo, m["digest"].as_str().unwrap())
                .into_iter()
                .map(|(d, _)| d),
        );
        let manifest = json(&skopeo_raw(
            &format!("docker://{repo}@{}", m["digest"].as_str().unwrap()),
            None,
        ));
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3, "static base + shared files + the program");
        shared.push(layers[1]["digest"].as_str().unwrap().to_string());
    }
    assert_eq!(
        shared[0], shared[1],
        "the same files layer in both platforms"
    );
    let uploads = registry
        .requests()
        .iter()
        .filter(|r| r.starts_with("PUT /v2/app/files/blobs/uploads/"))
        .count();
    // 1 base layer + 1 shared files layer + 2 program layers + 2 configs, and the attached
    // documents with their empty config, each once.
    assert_eq!(uploads, 6 + documents.len(), "{:?}", registry.requests());
    assert!(documents.len() >= 3, "{documents:?}");

    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{line}"), "arm64", work.path(), None);
    let root = bundle.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(root.join("srv/www/index.html")).unwrap(),
        "<h1>hi</h1>\n"
    );
    assert_eq!(
        std::fs::read_link(root.join("srv/www/app.js")).unwrap(),
        std::path::Path::new("assets/app.js")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(root.join("etc/app.toml"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o600
    );
}
