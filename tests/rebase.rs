//! `imgpush outdated` and `imgpush rebase` (issue 14, "Rebase without rebuilding") against
//! a real registry: base v1 (busybox + a version layer, amd64 and arm64) is `base:latest`
//! when the app is built on it; then v2 (the version layer changed) moves `base:latest`.
//!
//! - `outdated` says so (text, `--json`, `--exit-code`), and says "up to date" and "no
//!   recorded base" where that is the answer.
//! - `rebase` gives an image whose own layers are the same digests on v2's layers, whose
//!   config diff_ids follow, that runs under runc (amd64) and qemu (arm64); the registry
//!   log shows the new base's layers mounted, no blob of the app uploaded and no layer
//!   downloaded.
//! - Refused, with nothing pushed: layers that are not the old base's (`--old-base`
//!   naming another image), a new base without one of the image's platforms, an image
//!   that records no base.

mod support;

use serde_json::Value;
use support::*;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn outdated_says_the_base_moved_and_rebase_moves_the_app_without_uploading_it() {
    let s = RebaseScene::new();
    let host = s.host().to_string();
    let app = format!("{host}/app:v1");
    let base_latest = format!("{host}/base:latest");
    let v1_index = s.digest_of(&base_latest);
    let before = s.platforms("app", &app);
    let old_app_digest = s.digest_of(&app);

    // The same image twice (by tag and by digest): one HEAD of the base between them.
    let mark = s.registry.requests().len();
    let out = s.run_str(&["outdated", &app, &format!("{host}/app@{old_app_digest}")]);
    assert!(out.status.success(), "{}", stderr(&out));
    for line in stdout(&out).lines() {
        assert!(
            line.ends_with(&format!(": up to date (base {base_latest}@{v1_index})")),
            "{line}"
        );
    }
    let heads = s.registry.requests()[mark..]
        .iter()
        .filter(|r| r.as_str() == "HEAD /v2/base/manifests/latest")
        .count();
    assert_eq!(heads, 1, "one HEAD per distinct base");

    // Rebasing onto the base it is on changes nothing: the config merge and the manifest
    // edits give back exactly what the build wrote.
    let mark = s.registry.requests().len();
    let same = success_line(&s.run_str(&["rebase", &app, "--base", &base_latest]));
    assert_eq!(same, format!("{host}/app@{old_app_digest}"));
    let writes: Vec<String> = s.registry.requests()[mark..]
        .iter()
        .filter(|r| !r.starts_with("GET") && !r.starts_with("HEAD"))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "nothing to write: {writes:?}");

    let base_v2 = s.push_base("v2", &["-t", "v2", "-t", "latest"]);
    let v2_index = s.digest_of(&base_latest);
    assert_ne!(v1_index, v2_index);
    assert!(base_v2.ends_with(&v2_index), "{base_v2} is base:latest now");

    // Text, one line per image: the app moved, base v1 (on busybox, which did not move) is
    // up to date, busybox itself (pushed by skopeo) records nothing.
    let busybox = format!("{host}/busybox:latest");
    let base_v1_tag = format!("{host}/base:v1");
    let out = s.run_str(&["outdated", &app, &base_v1_tag, &busybox]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("{app}: base {base_latest} moved {v1_index} → {v2_index}")
    );
    assert!(
        lines[1].starts_with(&format!(
            "{base_v1_tag}: up to date (base {busybox}@sha256:"
        )),
        "{text}"
    );
    assert!(
        lines[2].starts_with(&format!("{busybox}: no recorded base (")),
        "{text}"
    );
    assert_eq!(lines.len(), 3, "{text}");

    let out = s.run_str(&["outdated", "--json", "--exit-code", &app, &busybox]);
    assert_eq!(out.status.code(), Some(1), "--exit-code and a base moved");
    let list = json(&out.stdout);
    assert_eq!(list[0]["image"], app.as_str());
    assert_eq!(list[0]["base"], base_latest.as_str());
    assert_eq!(list[0]["recorded"], v1_index.as_str());
    assert_eq!(list[0]["current"], v2_index.as_str());
    assert_eq!(list[0]["outdated"], true);
    assert_eq!(list[1]["outdated"], false);
    assert!(
        list[1]["base"].is_null() && list[1]["current"].is_null(),
        "{list}"
    );
    assert_eq!(
        s.run_str(&["outdated", "--json", &app]).status.code(),
        Some(0)
    );

    // Rebase: only what happens from here on counts in the log.
    let mark = s.registry.raw_requests().len();
    let out = s.run_str(&["rebase", &app, "--base", &base_latest, "--json"]);
    assert!(out.status.success(), "rebase failed: {}", stderr(&out));
    let result = json(&out.stdout);
    let new_digest = result["digest"].as_str().unwrap().to_string();
    assert_eq!(
        result["reference"],
        format!("{host}/app@{new_digest}").as_str()
    );
    assert_eq!(result["base"], base_latest.as_str());
    assert_eq!(result["baseDigest"], v2_index.as_str());
    assert_eq!(result["previous"], old_app_digest.as_str());
    assert_eq!(
        s.digest_of(&app),
        new_digest,
        "the tag IMAGE was given with moved"
    );
    let requests: Vec<(String, String)> = s.registry.raw_requests()[mark..].to_vec();

    let v1 = s.platforms("base", &format!("{host}/base:v1"));
    let v2 = s.platforms("base", &format!("{host}/base:v2"));
    let after = s.platforms("app", &app);
    let index = s.index(&app);
    assert_eq!(
        index["annotations"]["org.opencontainers.image.base.digest"],
        v2_index.as_str()
    );
    assert_eq!(
        index["annotations"]["org.opencontainers.image.base.name"],
        base_latest.as_str()
    );
    let mut configs = Vec::new();
    for (arch, digest, manifest) in &after {
        let old = &before.iter().find(|b| &b.0 == arch).unwrap().2;
        let (_, v1_digest, v1_manifest) = v1.iter().find(|b| &b.0 == arch).unwrap();
        let (_, v2_digest, v2_manifest) = v2.iter().find(|b| &b.0 == arch).unwrap();
        let (old_layers, v1_layers, v2_layers) = (
            layer_digests(old),
            layer_digests(v1_manifest),
            layer_digests(v2_manifest),
        );
        let own = &old_layers[v1_layers.len()..];
        assert_eq!(
            &old_layers[..v1_layers.len()],
            v1_layers,
            "{arch}: built on v1"
        );
        assert!(!own.is_empty());
        let mut expected = v2_layers.clone();
        expected.extend(own.iter().cloned());
        assert_eq!(
            layer_digests(manifest),
            expected,
            "{arch}: v2's layers, then the app's own"
        );
        assert_ne!(v1_layers, v2_layers, "{arch}: v2 changed a layer");
        let a = &manifest["annotations"];
        assert_eq!(
            a["org.opencontainers.image.base.digest"],
            v2_digest.as_str()
        );
        assert_eq!(
            a["org.opencontainers.image.base.name"],
            base_latest.as_str()
        );
        assert_ne!(v1_digest, v2_digest);

        let (config, old_config) = (
            s.config("app", digest),
            s.config("app", &before.iter().find(|b| &b.0 == arch).unwrap().1),
        );
        let v1_config = s.config("base", v1_digest);
        let v2_config = s.config("base", v2_digest);
        let ids = strings(&config["rootfs"]["diff_ids"]);
        let old_ids = strings(&old_config["rootfs"]["diff_ids"]);
        let mut expected_ids = strings(&v2_config["rootfs"]["diff_ids"]);
        expected_ids.extend(
            old_ids[strings(&v1_config["rootfs"]["diff_ids"]).len()..]
                .iter()
                .cloned(),
        );
        assert_eq!(ids, expected_ids, "{arch}: diff_ids follow the layers");
        assert_eq!(ids.len(), manifest["layers"].as_array().unwrap().len());
        let env = strings(&config["config"]["Env"]);
        assert!(
            env.contains(&"BASE=v2".to_string()) && env.contains(&"APP=1".to_string()),
            "{arch}: {env:?}"
        );
        assert!(!env.contains(&"BASE=v1".to_string()), "{arch}: {env:?}");
        assert_eq!(config["config"]["Labels"]["base.version"], "v2");
        assert_eq!(config["config"]["Labels"]["app"], "hello");
        assert_eq!(
            config["config"]["Entrypoint"],
            old_config["config"]["Entrypoint"]
        );
        assert_eq!(config["created"], old_config["created"]);
        assert_eq!(config["architecture"], arch.as_str());
        configs.push(manifest["config"]["digest"].as_str().unwrap().to_string());
    }

    // Nothing of the app was uploaded and no layer was downloaded: the only blobs read are
    // configs and the old image's attached documents (its SBOMs, to move them), the only
    // uploads the two new configs and the documents attached to the new manifests, every
    // other blob placed by a mount from base/.
    let is_one_of = |t: &str, list: &[String]| {
        list.iter()
            .any(|c| t.contains(c.trim_start_matches("sha256:")))
    };
    let mut readable = configs.clone();
    for list in [&before, &v1, &v2] {
        for (_, _, m) in list.iter() {
            readable.push(m["config"]["digest"].as_str().unwrap().to_string());
        }
    }
    let documents = |list: &[(String, String, Value)]| -> Vec<String> {
        list.iter()
            .flat_map(|(_, digest, _)| referrer_blobs(&format!("{host}/app"), digest))
            .map(|(d, _)| d)
            .collect()
    };
    readable.extend(documents(&before));
    let mut uploadable = configs.clone();
    uploadable.extend(documents(&after));
    let mut uploads = 0;
    for (method, target) in &requests {
        let blob_get = method == "GET" && target.contains("/blobs/sha256:");
        assert!(
            !blob_get || is_one_of(target, &readable),
            "a layer was downloaded: {method} {target}"
        );
        assert!(method != "PATCH", "a chunked upload: {target}");
        if method == "PUT" && target.contains("/blobs/uploads/") {
            assert!(
                is_one_of(target, &uploadable),
                "a blob other than a new config or document was uploaded: {target}"
            );
            uploads += 1;
        }
        if method == "POST" && target.contains("/blobs/uploads/") && !target.contains("mount=") {
            // An upload session: only the configs and the documents need one.
            assert!(target.starts_with("/v2/app/"), "{target}");
        }
    }
    for c in &configs {
        assert!(
            requests
                .iter()
                .any(|(m, t)| m == "PUT" && t.contains(c.trim_start_matches("sha256:"))),
            "the new config {c} was uploaded"
        );
    }
    let posts = |mount: bool| {
        requests
            .iter()
            .filter(|(m, t)| {
                m == "POST" && t.contains("/blobs/uploads/") && t.contains("mount=") == mount
            })
            .count()
    };
    assert_eq!(posts(false), uploads, "{requests:?}");
    assert!(
        posts(true) >= 1,
        "the new base's layers are mounted: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .filter(|(m, t)| m == "POST" && t.contains("mount="))
            .all(|(_, t)| t.contains("from=base")),
        "{requests:?}"
    );

    // It runs: amd64 under runc, the arm64 binary under qemu; the root is v2's.
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{app}"), "amd64", work.path(), None);
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/etc/base/version")).unwrap(),
        "v2\n"
    );
    assert!(bundle.join("rootfs/bin/busybox").exists() || bundle.join("rootfs/bin/sh").exists());
    assert_eq!(runc_run(&bundle), "hello from x86_64\n");
    let arm = unpack_platform(&format!("docker://{app}"), "arm64", work.path(), None);
    assert_eq!(
        std::fs::read_to_string(arm.join("rootfs/etc/base/version")).unwrap(),
        "v2\n"
    );
    assert_eq!(
        qemu_arm64(&arm.join("rootfs/app/hello")),
        "hello from aarch64\n"
    );

    // Now it is up to date; and the rebase is deterministic: again, the same digest.
    let line = success_line(&s.run_str(&["outdated", &app]));
    assert_eq!(
        line,
        format!("{app}: up to date (base {base_latest}@{v2_index})")
    );
    let again = success_line(&s.run_str(&[
        "rebase",
        &format!("{host}/app@{old_app_digest}"),
        "--base",
        &base_latest,
        "-t",
        "again",
    ]));
    assert_eq!(again, format!("{host}/app@{new_digest}"));
    assert_eq!(s.digest_of(&format!("{host}/app:again")), new_digest);
}

#[test]
fn refused_rebases_push_nothing() {
    let s = RebaseScene::new();
    let host = s.host().to_string();
    let app = format!("{host}/app:v1");
    let app_digest = s.digest_of(&app);
    s.push_base("v2", &["-t", "v2", "-t", "latest"]);
    // A new base with amd64 only.
    success_line(&s.run_str(&[
        "copy",
        "--platform",
        "linux/amd64",
        &format!("{host}/base:v2"),
        &format!("{host}/base:amd64"),
    ]));
    // A Docker-format image: no annotations.
    success_line(&s.run(&hello_build(
        &format!("{host}/legacy"),
        &[
            "--base",
            &format!("{host}/base:v1"),
            "--format",
            "docker",
            "-t",
            "v1",
        ],
    )));

    let refused = |args: &[&str], expect: &[&str]| {
        let mark = s.registry.requests().len();
        let out = s.run_str(args);
        assert!(!out.status.success(), "{args:?} should be refused");
        let err = stderr(&out);
        for e in expect {
            assert!(err.contains(e), "{args:?}: stderr lacks `{e}`:\n{err}");
        }
        let writes: Vec<String> = s.registry.requests()[mark..]
            .iter()
            .filter(|r| !r.starts_with("GET") && !r.starts_with("HEAD"))
            .cloned()
            .collect();
        assert!(writes.is_empty(), "{args:?} pushed: {writes:?}");
    };
    let base_v1 = format!("{host}/base:v1");
    let base_v2 = format!("{host}/base:v2");
    // The app is on v1; v2's version layer is not the app's.
    let v1_layers = layer_digests(&s.platforms("base", &base_v1)[0].2);
    refused(
        &["rebase", &app, "--old-base", &base_v2, "--base", &base_v1],
        &[
            &format!("{app} (linux/amd64) is not on the old base {base_v2}"),
            &format!("layer {} from the bottom is", v1_layers.len()),
            "--old-base REF",
        ],
    );
    refused(
        &["rebase", &app, "--old-base", "static", "--base", &base_v2],
        &[
            &format!("{app} (linux/amd64) is not on the old base static"),
            "layer 1 from the bottom is",
        ],
    );
    refused(
        &["rebase", &app, "--base", &format!("{host}/base:amd64")],
        &["has no linux/arm64", "it has: linux/amd64", "--platform"],
    );
    refused(
        &["rebase", &format!("{host}/legacy:v1"), "--base", &base_v2],
        &["records no base", "Docker-format", "--old-base"],
    );
    refused(
        &[
            "rebase",
            &app,
            "--platform",
            "linux/riscv64",
            "--base",
            &base_v2,
        ],
        &["has no linux/riscv64"],
    );
    // A Docker-format image cannot carry referrers: asking for them is refused.
    let legacy = format!("{host}/legacy:v1");
    let legacy_rebase = [
        "rebase",
        legacy.as_str(),
        "--old-base",
        &base_v1,
        "--base",
        &base_v2,
    ];
    refused(
        &[&legacy_rebase[..], &["--provenance", "slsa"]].concat(),
        &["is a Docker-format image", "--sbom none --provenance none"],
    );
    assert_eq!(s.digest_of(&app), app_digest, "the tag did not move");
    assert!(!s.registry.tags("app").contains(&"latest".to_string()));

    // Named, the old base of the Docker-format image is found, and the result stays Docker.
    let out = s.run_str(&[&legacy_rebase[..], &["-t", "v2"]].concat());
    let line = success_line(&out);
    assert!(
        s.registry.referrers_tags("legacy").is_empty(),
        "nothing attached to a Docker-format image"
    );
    let index = s.index(&format!("{host}/legacy:v2"));
    assert!(line.ends_with(&s.digest_of(&format!("{host}/legacy:v2"))));
    assert_eq!(
        index["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let v2 = s.platforms("base", &base_v2);
    for (arch, _, manifest) in s.platforms("legacy", &format!("{host}/legacy:v2")) {
        assert!(manifest.get("annotations").is_none());
        let v2_layers = layer_digests(&v2.iter().find(|b| b.0 == arch).unwrap().2);
        assert_eq!(layer_digests(&manifest)[..v2_layers.len()], v2_layers[..]);
        assert!(
            manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"),
            "{manifest}"
        );
    }
}

#[test]
fn a_new_base_in_another_registry_is_streamed_and_recorded_as_given() {
    let s = RebaseScene::new();
    let other = Registry::start();
    let host = s.host().to_string();
    let app = format!("{host}/app:v1");
    let before = s.platforms("app", &app);
    s.push_base("v2", &["-t", "v2"]);
    let elsewhere = format!("{}/mirror/base:v2", other.host);
    success_line(&s.run_str(&["copy", &format!("{host}/base:v2"), &elsewhere]));

    let mark = s.registry.raw_requests().len();
    let line = success_line(&s.run_str(&["rebase", &app, "--base", &elsewhere, "-t", "v2"]));
    assert!(line.starts_with(&format!("{host}/app@sha256:")), "{line}");
    let v2 = s.platforms("base", &format!("{host}/base:v2"));
    let index = s.index(&format!("{host}/app:v2"));
    assert_eq!(
        index["annotations"]["org.opencontainers.image.base.name"],
        elsewhere.as_str()
    );
    let mut uploaded_layers = 0;
    for (arch, _, manifest) in s.platforms("app", &format!("{host}/app:v2")) {
        let v2_layers = layer_digests(&v2.iter().find(|b| b.0 == arch).unwrap().2);
        let old = layer_digests(&before.iter().find(|b| b.0 == arch).unwrap().2);
        let layers = layer_digests(&manifest);
        assert_eq!(layers[..v2_layers.len()], v2_layers[..], "{arch}");
        assert_eq!(layers.last(), old.last(), "{arch}: the app layer kept");
        // The app's layer was never uploaded; v2's changed layer was streamed in.
        let own = old.last().unwrap();
        assert_eq!(
            s.registry.uploads_of("app", own),
            1,
            "{arch}: only by the build"
        );
        uploaded_layers += v2_layers
            .iter()
            .filter(|d| s.registry.uploads_of("app", d) > 0)
            .count();
    }
    assert!(
        uploaded_layers >= 1,
        "v2's new layer came from the other registry"
    );
    let layers: Vec<String> = before
        .iter()
        .chain(&v2)
        .flat_map(|(_, _, m)| layer_digests(m))
        .collect();
    for (m, t) in &s.registry.raw_requests()[mark..] {
        assert!(
            m != "GET" || !layers.iter().any(|l| t.ends_with(l.as_str())),
            "a layer was downloaded from the image's registry: {t}"
        );
    }
    assert!(
        other
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /v2/mirror/base/blobs/sha256:")),
        "the new base's blobs come from where it is"
    );
}
