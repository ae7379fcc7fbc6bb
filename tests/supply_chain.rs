//! The documents every build attaches (issue 14), end to end through the CLI against a real
//! registry (distribution 2.8, which has no referrers API, so the `sha256-<hex>` referrers
//! tag is what holds them):
//!
//! - a Rust fixture with a `cfg(target_arch = "aarch64")` dependency, a dev-dependency, a
//!   build-dependency and a disabled optional one, cross-compiled for amd64 and arm64: each
//!   platform manifest's referrers tag lists an SPDX SBOM and an in-toto provenance whose
//!   artifact manifests have that manifest as `subject`; the SBOM passes the independent
//!   validators and lists exactly the crates compiled for that target, with the lock's
//!   versions and checksums; `imgpush sbom` prints the stored bytes; the provenance names
//!   the lockfile, the toolchain and the base;
//! - the same build again is the no-op push (ping and target tag), attachments included;
//! - `--sbom cyclonedx` validates against CycloneDX 1.5;
//! - `--format docker` attaches nothing, and asking it for an SBOM is refused.

mod support;

use serde_json::Value;
use std::path::Path;
use support::*;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Every purl an SPDX document lists.
fn purls(spdx: &Value) -> Vec<String> {
    spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["referenceType"] == "purl")
        .map(|r| r["referenceLocator"].as_str().unwrap().to_string())
        .collect()
}

fn package<'a>(spdx: &'a Value, purl: &str) -> &'a Value {
    spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["externalRefs"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["referenceLocator"] == purl))
        })
        .unwrap_or_else(|| panic!("no package {purl}"))
}

/// `[[package]]` name → (version, checksum) of a Cargo.lock.
fn lock(path: &Path) -> Vec<(String, String, Option<String>)> {
    let v: toml::Value = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
                p.get("checksum").and_then(|c| c.as_str()).map(String::from),
            )
        })
        .collect()
}

#[test]
fn every_platform_gets_its_own_sbom_and_provenance() {
    require_rust_cross();
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let fixture = repo_root().join("fixtures/sbom-crate");
    let manifest = fixture.join("Cargo.toml");
    let target = shared_target_dir();
    let repo = format!("{}/app/sbom", registry.host);
    let build = |extra: &[&str]| {
        let mut args = vec![
            "--manifest-path",
            manifest.to_str().unwrap(),
            "--target-dir",
            target.to_str().unwrap(),
            "--platform",
            "linux/amd64,linux/arm64",
        ];
        args.extend_from_slice(extra);
        imgpush.cargo_imgpush(&args)
    };
    let line = success_line(&build(&["--repo", &repo]));
    let index = json(&skopeo_raw(&format!("docker://{line}"), None));
    let work = tempfile::tempdir().unwrap();
    let locked = lock(&fixture.join("Cargo.lock"));

    for (arch, digest, _) in platform_manifests(&repo, &index) {
        let found = attached(&registry, "app/sbom", &digest);
        let types: Vec<&str> = found.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            types,
            ["application/spdx+json", "application/vnd.in-toto+json"],
            "{arch}"
        );

        // The SBOM: valid, and exactly what was compiled for this target.
        let sbom = &found[0].2;
        let path = work.path().join(format!("{arch}.spdx.json"));
        std::fs::write(&path, sbom).unwrap();
        validate_spdx(&path);
        let doc = json(sbom);
        let listed = purls(&doc);
        let has = |name: &str| {
            listed
                .iter()
                .any(|p| p.starts_with(&format!("pkg:cargo/{name}@")))
        };
        assert!(has("fnv"), "{arch}: {listed:?}");
        assert_eq!(
            has("itoa"),
            arch == "arm64",
            "itoa is aarch64-only: {listed:?}"
        );
        for never in ["ryu", "autocfg", "hex"] {
            assert!(
                !has(never),
                "{arch}: {never} was not compiled into the binary"
            );
        }
        for (name, version, checksum) in &locked {
            let purl = format!("pkg:cargo/{name}@{version}");
            if !listed.contains(&purl) {
                continue;
            }
            let p = package(&doc, &purl);
            assert_eq!(p["versionInfo"], version.as_str());
            if let Some(sum) = checksum {
                assert!(
                    p["checksums"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|c| c["algorithm"] == "SHA256" && c["checksumValue"] == sum.as_str()),
                    "{purl}: the lock's checksum"
                );
            }
        }
        assert!(
            listed.iter().any(|p| p.contains("/std@")),
            "std is in the SBOM: {listed:?}"
        );

        // `imgpush sbom` prints exactly the stored document.
        let platform = if arch == "arm64" {
            "linux/arm64"
        } else {
            "linux/amd64"
        };
        let out = imgpush.run(&["sbom", &line, "--platform", platform]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            &out.stdout, sbom,
            "{arch}: imgpush sbom prints the stored bytes"
        );

        // The provenance: about this manifest, from this lockfile, toolchain and base.
        let statement = json(&found[1].2);
        assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"],
            digest.trim_start_matches("sha256:")
        );
        let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
            .as_array()
            .unwrap();
        let dep = |name: &str| {
            deps.iter()
                .find(|d| d["name"] == name)
                .unwrap_or_else(|| panic!("{arch}: no {name} in {deps:?}"))
        };
        assert_eq!(
            dep("Cargo.lock")["digest"]["sha256"],
            sha256_hex(&std::fs::read(fixture.join("Cargo.lock")).unwrap()).as_str()
        );
        assert!(
            dep("rustc")["annotations"]["version"]
                .as_str()
                .unwrap()
                .starts_with("rustc ")
        );
        dep("cargo-zigbuild");
        dep("zig");
        let m = json(&skopeo_raw(&format!("docker://{repo}@{digest}"), None));
        assert_eq!(
            format!(
                "sha256:{}",
                dep("base")["digest"]["sha256"].as_str().unwrap()
            ),
            m["annotations"]["org.opencontainers.image.base.digest"]
                .as_str()
                .unwrap(),
            "the base platform manifest"
        );
        let params = &statement["predicate"]["buildDefinition"]["externalParameters"];
        assert_eq!(params["source"]["package"], "sbom-crate");
        assert_eq!(params["platforms"].as_array().unwrap().len(), 2);
        let text = String::from_utf8_lossy(&found[1].2);
        assert!(
            !text.contains(target.to_str().unwrap()) && !text.contains(fixture.to_str().unwrap()),
            "no machine path in the provenance: {text}"
        );
    }

    // The same build again: the no-op push, three requests, attachments included.
    let before = registry.requests().len();
    let again = build(&["--repo", &repo]);
    assert_eq!(success_line(&again), line);
    let requests = &registry.requests()[before..];
    // The ping and the target tag (an embedded base has no tag to read; a registry base
    // adds its tag's HEAD: tests/repeat.rs).
    assert_eq!(
        requests,
        ["GET /v2/", "HEAD /v2/app/sbom/manifests/latest"],
        "nothing else is read or written"
    );

    // CycloneDX instead: the same build to a layout, valid against 1.5.
    let layout = work.path().join("cdx");
    let out = build(&[
        "--sbom",
        "cyclonedx",
        "--oci-layout",
        layout.to_str().unwrap(),
    ]);
    success_line(&out);
    let cdx = imgpush.run(&[
        "sbom",
        &format!("oci-layout:{}", layout.display()),
        "--platform",
        "linux/arm64",
        "--format",
        "cyclonedx",
    ]);
    assert!(cdx.status.success(), "{}", stderr(&cdx));
    let path = work.path().join("arm64.cdx.json");
    std::fs::write(&path, &cdx.stdout).unwrap();
    validate_cyclonedx(&path);
    let bom = json(&cdx.stdout);
    assert!(
        bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with("pkg:cargo/itoa@"))),
        "{bom:#}"
    );
}

#[test]
fn docker_format_images_carry_no_attachments() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/docker", registry.host);
    let out = imgpush.run_owned(&hello_build(&repo, &["--format", "docker"]));
    success_line(&out);
    assert_eq!(registry.tags("app/docker"), ["latest"]);
    assert!(
        registry.referrers_tags("app/docker").is_empty(),
        "schema2 images get no referrers"
    );
    let docker_sbom = hello_build(&repo, &["--format", "docker", "--sbom", "spdx"]);
    let docker_provenance = hello_build(&repo, &["--format", "docker", "--provenance", "slsa"]);
    let unknown = hello_build(&repo, &["--sbom", "swid"]);
    assert_all_fail(&[
        (
            "an SBOM asked of a Docker-format image",
            strs(&docker_sbom),
            vec!["--sbom", "Docker schema2", "--sbom none"],
        ),
        (
            "provenance asked of a Docker-format image",
            strs(&docker_provenance),
            vec!["--provenance", "Docker schema2"],
        ),
        (
            "an unknown SBOM format",
            strs(&unknown),
            vec!["--sbom", "swid", "spdx, cyclonedx or none"],
        ),
    ]);
    // `--sbom none --provenance none`: an OCI image with nothing attached.
    let bare = format!("{}/app/bare", registry.host);
    let out = imgpush.run_owned(&hello_build(
        &bare,
        &["--sbom", "none", "--provenance", "none"],
    ));
    success_line(&out);
    assert!(registry.referrers_tags("app/bare").is_empty());
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
