//! What `imgpush rebase` attaches to the rebased manifests (issue 14: "`rebase` attaches
//! fresh SBOM and provenance to the new manifests"), against a real registry (the
//! referrers tag, distribution 2.8 having no referrers API):
//!
//! - the app built on base v1 (SPDX SBOM and build provenance), rebased onto v2: each new
//!   platform manifest has exactly a moved SPDX SBOM and a rebase provenance, with that
//!   manifest as `subject`; the SBOM passes the SPDX validators, names the new manifest
//!   and v2 (not the old ones) and keeps the app's own files; it is byte for byte the SBOM
//!   a fresh build on v2 attaches; `imgpush sbom` prints it; the provenance names the old
//!   image, both bases and the build's own statement;
//! - the same rebase again uploads nothing and attaches nothing new;
//! - a CycloneDX SBOM is moved too (and validates), `--provenance none` attaches none;
//!   an image built with `--sbom none` gets only the provenance, with no warning.

mod support;

use serde_json::Value;
use support::*;

const SPDX: &str = "application/spdx+json";
const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The one document of `artifact_type` among a manifest's referrers.
fn only<'a>(attached: &'a [(String, String, Vec<u8>)], artifact_type: &str) -> &'a [u8] {
    let found: Vec<_> = attached
        .iter()
        .filter(|(t, _, _)| t == artifact_type)
        .collect();
    assert_eq!(found.len(), 1, "one {artifact_type}: {:?}", types(attached));
    &found[0].2
}

fn types(attached: &[(String, String, Vec<u8>)]) -> Vec<&str> {
    attached.iter().map(|(t, _, _)| t.as_str()).collect()
}

/// The resolved dependency `name` of a provenance statement.
fn dependency<'a>(statement: &'a Value, name: &str) -> &'a Value {
    statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no dependency {name}: {statement}"))
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

#[test]
fn the_rebased_manifests_get_moved_sboms_and_a_rebase_provenance() {
    let s = RebaseScene::new();
    let host = s.host().to_string();
    let app = format!("{host}/app:v1");
    let base_latest = format!("{host}/base:latest");
    let old_index = s.digest_of(&app);
    let before = s.platforms("app", &app);
    let v1 = s.platforms("base", &format!("{host}/base:v1"));
    s.push_base("v2", &["-t", "v2", "-t", "latest"]);
    let v2 = s.platforms("base", &format!("{host}/base:v2"));

    let out = s.run_str(&["rebase", &app, "--base", &base_latest]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("warning"),
        "moving imgpush's own SBOMs warns of nothing: {}",
        stderr(&out)
    );
    let rebased = success_line(&out);
    let after = s.platforms("app", &app);
    assert_eq!(after.len(), 2);
    let mut moved_sboms = Vec::new();
    for (arch, manifest, _) in &after {
        let find = |list: &[(String, String, Value)]| {
            list.iter().find(|p| &p.0 == arch).unwrap().1.clone()
        };
        let (old_manifest, v1_manifest, v2_manifest) = (find(&before), find(&v1), find(&v2));
        let old = attached(&s.registry, "app", &old_manifest);
        let new = attached(&s.registry, "app", manifest);
        let mut new_types = types(&new);
        new_types.sort();
        assert_eq!(new_types, [SPDX, IN_TOTO], "{arch}");

        // The SBOM: the same image, now on v2.
        let sbom = only(&new, SPDX);
        let text = String::from_utf8(sbom.to_vec()).unwrap();
        for (present, absent, what) in [
            (manifest, &old_manifest, "image manifest"),
            (&v2_manifest, &v1_manifest, "platform manifest of the base"),
        ] {
            assert!(text.contains(hex(present)), "{arch}: names the new {what}");
            assert!(!text.contains(hex(absent)), "{arch}: not the old {what}");
        }
        let old_sbom: Value = json(only(&old, SPDX));
        let names = |doc: &Value| -> Vec<String> {
            let mut n: Vec<String> = doc["files"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(doc["packages"].as_array().into_iter().flatten())
                .map(|p| p["name"].as_str().unwrap_or("").to_string())
                .filter(|n| !n.contains("/base"))
                .collect();
            n.sort();
            n
        };
        assert_eq!(
            names(&json(sbom)),
            names(&old_sbom),
            "{arch}: the app's own components are kept"
        );
        let file = s.imgpush.cwd.path().join(format!("moved-{arch}.spdx.json"));
        std::fs::write(&file, sbom).unwrap();
        validate_spdx(&file);
        moved_sboms.push((arch.clone(), manifest.clone(), sbom.to_vec()));

        // The provenance: a rebase, about the new manifest, from the old one.
        let statement = json(only(&new, IN_TOTO));
        assert_eq!(
            statement["predicate"]["buildDefinition"]["buildType"],
            "https://imgpush.dev/buildtypes/rebase/v1"
        );
        assert_eq!(statement["subject"][0]["name"], format!("{host}/app"));
        assert_eq!(statement["subject"][0]["digest"]["sha256"], hex(manifest));
        let params = &statement["predicate"]["buildDefinition"]["externalParameters"];
        assert_eq!(params["image"], format!("{host}/app@{old_index}"));
        assert_eq!(params["base"], base_latest.as_str());
        for (name, digest) in [
            ("image", &old_manifest),
            ("oldBase", &v1_manifest),
            ("base", &v2_manifest),
        ] {
            assert_eq!(
                dependency(&statement, name)["digest"]["sha256"],
                hex(digest),
                "{arch}: {name}"
            );
        }
        assert_eq!(
            dependency(&statement, "base")["annotations"]["reference"],
            base_latest.as_str()
        );
        assert_eq!(
            dependency(&statement, "image.provenance")["digest"]["sha256"],
            sha256_hex(only(&old, IN_TOTO)),
            "{arch}: the build's own statement"
        );
    }

    // `imgpush sbom` reads the moved document back exactly.
    let (arch, _, bytes) = &moved_sboms[1];
    let out = s.run_str(&["sbom", &app, "--platform", &format!("linux/{arch}")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(&out.stdout, bytes);

    // Again (by digest, to a new tag): the same documents, so nothing is uploaded and the
    // referrers tags stay as they are.
    let referrers_tags = || -> Vec<Vec<u8>> {
        after
            .iter()
            .map(|(_, m, _)| {
                let tag = m.replacen("sha256:", "sha256-", 1);
                skopeo_raw(&format!("docker://{host}/app:{tag}"), None)
            })
            .collect()
    };
    let tags_before = referrers_tags();
    let mark = s.registry.raw_requests().len();
    let again = success_line(&s.run_str(&[
        "rebase",
        &format!("{host}/app@{old_index}"),
        "--base",
        &base_latest,
        "-t",
        "again",
    ]));
    assert_eq!(again, rebased);
    let writes: Vec<(String, String)> = s.registry.raw_requests()[mark..]
        .iter()
        .filter(|(m, _)| m != "GET" && m != "HEAD")
        .cloned()
        .collect();
    assert_eq!(
        writes,
        [("PUT".to_string(), "/v2/app/manifests/again".to_string())],
        "only the new tag is written"
    );
    assert_eq!(referrers_tags(), tags_before);

    // A fresh build of the same inputs on v2 is the rebased image, and its SBOM is the
    // moved one byte for byte: the referrers tag still lists one SPDX document, next to
    // the build's provenance and the rebase's.
    let fresh = success_line(&s.run(&hello_build(
        &format!("{host}/app"),
        &[
            "--base",
            &base_latest,
            "-t",
            "fresh",
            "--env",
            "APP=1",
            "--label",
            "app=hello",
        ],
    )));
    assert_eq!(fresh, rebased, "a build on v2 gives the rebased image");
    for (arch, manifest, sbom) in &moved_sboms {
        let now = attached(&s.registry, "app", manifest);
        assert_eq!(only(&now, SPDX), sbom.as_slice(), "{arch}");
        assert_eq!(
            types(&now).iter().filter(|t| **t == IN_TOTO).count(),
            2,
            "{arch}"
        );
    }
}

#[test]
fn cyclonedx_sboms_move_and_the_flags_turn_documents_off() {
    let s = RebaseScene::new();
    let host = s.host().to_string();
    let base_v1 = format!("{host}/base:v1");
    for (repo, sbom) in [("app2", "cyclonedx"), ("app3", "none")] {
        success_line(&s.run(&hello_build(
            &format!("{host}/{repo}"),
            &["--base", &base_v1, "--sbom", sbom, "-t", "v1"],
        )));
    }
    s.push_base("v2", &["-t", "v2", "-t", "latest"]);
    let base_latest = format!("{host}/base:latest");
    let v2 = s.platforms("base", &format!("{host}/base:v2"));

    let out = s.run_str(&[
        "rebase",
        &format!("{host}/app2:v1"),
        "--base",
        &base_latest,
        "--provenance",
        "none",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (arch, manifest, _) in s.platforms("app2", &format!("{host}/app2:v1")) {
        let new = attached(&s.registry, "app2", &manifest);
        assert_eq!(types(&new), [CYCLONEDX], "{arch}: --provenance none");
        let text = String::from_utf8(new[0].2.clone()).unwrap();
        let v2_manifest = &v2.iter().find(|p| p.0 == arch).unwrap().1;
        assert!(text.contains(hex(&manifest)), "{arch}: the new manifest");
        assert!(text.contains(hex(v2_manifest)), "{arch}: on v2");
        let file = s.imgpush.cwd.path().join(format!("moved-{arch}.cdx.json"));
        std::fs::write(&file, &new[0].2).unwrap();
        validate_cyclonedx(&file);
    }

    let out = s.run_str(&["rebase", &format!("{host}/app3:v1"), "--base", &base_latest]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("warning"),
        "no SBOM to move is what was asked for at build time: {}",
        stderr(&out)
    );
    for (arch, manifest, _) in s.platforms("app3", &format!("{host}/app3:v1")) {
        let new = attached(&s.registry, "app3", &manifest);
        assert_eq!(types(&new), [IN_TOTO], "{arch}: the provenance only");
    }
}
