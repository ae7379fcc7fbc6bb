//! Bases as registries serve them: indexes built by buildx carry one attestation manifest
//! per platform (an in-toto SBOM/provenance statement as its only layer), listed with
//! platform `unknown/unknown` and the annotations `vnd.docker.reference.type:
//! attestation-manifest` and `vnd.docker.reference.digest: <the image it attests>`. Most
//! official Docker Hub images look like this. An attestation is never a platform; `copy`
//! keeps it byte for byte. The bases are made by `buildx_base::seed_attested`.

mod buildx_base;
mod support;

use buildx_base::*;
use serde_json::{Value, json};
use support::*;

/// `imgpush build --static fixtures/static-site … --base BASE --platform all`: the
/// platforms come from the base alone.
fn build_static(imgpush: &Imgpush, base: &str, repo: &str, platform: &str) -> std::process::Output {
    imgpush.run(&[
        "build",
        "--static",
        &repo_root()
            .join("fixtures/static-site")
            .display()
            .to_string(),
        "--dest",
        "/srv/www",
        "--base",
        base,
        "--repo",
        repo,
        "--platform",
        platform,
    ])
}

#[test]
fn platform_all_builds_on_the_real_platforms_only() {
    let registry = Registry::start();
    for (name, listed) in [
        ("buildx", Listed::Buildx),
        ("subject-platform", Listed::SubjectPlatformFirst),
    ] {
        let base = seed_attested(
            &registry,
            &format!("base/{name}"),
            &["amd64", "arm64"],
            listed,
        );
        let imgpush = Imgpush::new();
        let repo = format!("{}/app/{name}", registry.host);
        let line = success_line(&build_static(&imgpush, &base.reference, &repo, "all"));
        let built = entries(&line);
        assert_eq!(
            built.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
            ["linux/amd64", "linux/arm64"],
            "{name}: --platform all = the base's two images, no attestation: {built:?}"
        );
        assert!(
            built.iter().all(|e| !is_attestation_entry(&e.2)),
            "{name}: {built:?}"
        );
        // Each image is built on the base image of its platform, not on its attestation.
        for (arch, _, manifest) in platform_manifests(
            &repo,
            &json_of(&skopeo_raw(&format!("docker://{line}"), None)),
        ) {
            let bottom = manifest["layers"][0]["digest"].as_str().unwrap();
            assert_eq!(
                bottom,
                base.image(&arch).2,
                "{name}: {arch} is built on busybox's {arch} layer"
            );
        }
    }
}

// A guard: this held before the one attestation rule too (unknown/unknown entries were
// filtered, and a platform-carrying attestation only repeated a platform the base has).
#[test]
fn a_missing_platform_lists_only_what_the_base_can_run() {
    let registry = Registry::start();
    for (name, listed) in [
        ("buildx", Listed::Buildx),
        ("subject-platform", Listed::SubjectPlatformFirst),
    ] {
        let base = seed_attested(
            &registry,
            &format!("base/{name}"),
            &["amd64", "arm64"],
            listed,
        );
        let out = build_static(
            &Imgpush::new(),
            &base.reference,
            &format!("{}/app/{name}", registry.host),
            "linux/riscv64",
        );
        assert!(!out.status.success(), "{name}: riscv64 is not in the base");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "base image {} has no linux/riscv64; it has: linux/amd64, linux/arm64/v8\n",
                base.reference
            )),
            "{name}: {err}"
        );
        assert!(!err.contains("unknown"), "{name}: {err}");
    }
}

#[test]
fn inspect_lists_platforms_and_attestations_apart() {
    let registry = Registry::start();
    for (name, listed) in [
        ("buildx", Listed::Buildx),
        ("subject-platform", Listed::SubjectPlatformFirst),
    ] {
        let base = seed_attested(
            &registry,
            &format!("base/{name}"),
            &["amd64", "arm64"],
            listed,
        );
        let imgpush = Imgpush::new();

        let out = imgpush.run(&["inspect", &base.reference]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let platforms: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Platform:"))
            .map(str::trim)
            .collect();
        assert_eq!(
            platforms,
            ["linux/amd64", "linux/arm64/v8"],
            "{name}:\n{text}"
        );
        let (images, attestations) = text
            .split_once("\nAttestations:\n")
            .unwrap_or_else(|| panic!("{name}: no Attestations section:\n{text}"));
        for (arch, digest, _) in &base.images {
            assert!(
                images.contains(digest),
                "{name}: {arch} image missing:\n{text}"
            );
            let (att, _, _) = base.attestation_of(arch);
            assert!(
                !images.contains(att.as_str()),
                "{name}: attestation among the images:\n{text}"
            );
            assert!(
                attestations.contains(&format!("{att} for {digest}")),
                "{name}: attestation of {arch}:\n{text}"
            );
        }
        assert!(
            attestations.contains("https://spdx.dev/Document"),
            "{name}:\n{text}"
        );

        let v = json_of(&imgpush.run(&["inspect", "--json", &base.reference]).stdout);
        assert_eq!(v["digest"], base.index_digest.as_str());
        let manifests = v["manifests"].as_array().unwrap();
        assert_eq!(
            manifests
                .iter()
                .map(|m| m["platform"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["linux/amd64", "linux/arm64/v8"],
            "{name}: {v:#}"
        );
        let listed: Vec<(String, String, Value)> = v["attestations"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no attestations in --json: {v:#}"))
            .iter()
            .map(|a| {
                (
                    a["digest"].as_str().unwrap().to_string(),
                    a["subject"].as_str().unwrap().to_string(),
                    a["predicateTypes"].clone(),
                )
            })
            .collect();
        let expected: Vec<(String, String, Value)> = base
            .attestations
            .iter()
            .map(|(d, s, _)| (d.clone(), s.clone(), json!(["https://spdx.dev/Document"])))
            .collect();
        assert_eq!(listed, expected, "{name}: in document order");

        // One platform: its image (the raw bytes are its manifest's), and its attestation.
        let out = imgpush.run(&[
            "inspect",
            "--raw",
            "--platform",
            "linux/amd64",
            &base.reference,
        ]);
        assert_eq!(
            format!("sha256:{}", sha256_hex(&out.stdout)),
            base.image("amd64").1,
            "{name}: --raw --platform is the image manifest"
        );
        let v = json_of(
            &imgpush
                .run(&[
                    "inspect",
                    "--json",
                    "--platform",
                    "linux/amd64",
                    &base.reference,
                ])
                .stdout,
        );
        assert_eq!(v["manifests"].as_array().unwrap().len(), 1, "{name}: {v:#}");
        assert_eq!(
            v["attestations"].as_array().unwrap().len(),
            1,
            "{name}: {v:#}"
        );
        assert_eq!(
            v["attestations"][0]["digest"],
            base.attestation_of("amd64").0.as_str()
        );
    }
}

// A guard for the one attestation rule: `copy --all` must still move every entry.
#[test]
fn copy_keeps_attestations_byte_for_byte() {
    let registry = Registry::start();
    let other = Registry::start();
    let base = seed_attested(
        &registry,
        "base/attested",
        &["amd64", "arm64"],
        Listed::Buildx,
    );
    let imgpush = Imgpush::new();

    // --all (the default), within a registry (mounted) and to another one (streamed).
    for dest in [
        format!("{}/mirror/attested", registry.host),
        format!("{}/mirror/attested", other.host),
    ] {
        let line = success_line(&imgpush.run(&["copy", &base.reference, &dest]));
        assert_eq!(line, format!("{dest}@{}", base.index_digest));
        let raw = skopeo_raw(&format!("docker://{dest}:latest"), None);
        assert_eq!(format!("sha256:{}", sha256_hex(&raw)), base.index_digest);
        let manifests: Vec<&String> = base
            .images
            .iter()
            .map(|i| &i.1)
            .chain(base.attestations.iter().map(|a| &a.0))
            .collect();
        assert_eq!(manifests.len(), 4);
        for digest in manifests {
            let raw = skopeo_raw(&format!("docker://{dest}@{digest}"), None);
            assert_eq!(&format!("sha256:{}", sha256_hex(&raw)), digest, "{dest}");
        }
        // The statements themselves came along (skopeo reads every blob it copies).
        let work = tempfile::tempdir().unwrap();
        for (att, _, _) in &base.attestations {
            skopeo(&[
                "copy",
                "--src-tls-verify=false",
                &format!("docker://{dest}@{att}"),
                &format!("dir:{}", work.path().join(&att[7..19]).display()),
            ]);
        }
    }
}

#[test]
fn copy_of_some_platforms_keeps_their_attestations_only() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();

    // Two of three: a new index over the two images and the two attestations of them.
    let base = seed_attested(
        &registry,
        "base/three",
        &["amd64", "arm64", "386"],
        Listed::Buildx,
    );
    let dest = format!("{}/mirror/two:v1", registry.host);
    success_line(&imgpush.run(&[
        "copy",
        "--platform",
        "linux/amd64,linux/arm64",
        &base.reference,
        &dest,
    ]));
    let copied = entries(&dest);
    let digests: Vec<&str> = copied.iter().map(|e| e.1.as_str()).collect();
    let want = [
        base.image("amd64").1.as_str(),
        base.image("arm64").1.as_str(),
        base.attestation_of("amd64").0.as_str(),
        base.attestation_of("arm64").0.as_str(),
    ];
    assert_eq!(digests, want, "{copied:?}");
    assert!(
        !digests.contains(&base.attestation_of("386").0.as_str()),
        "the attestation of a platform left behind is left behind too"
    );
    for (att, subject, statement) in [base.attestation_of("amd64"), base.attestation_of("arm64")] {
        let entry = copied.iter().find(|e| &e.1 == att).unwrap();
        assert_eq!(entry.0, "unknown/unknown");
        assert_eq!(entry.2[REFERENCE_DIGEST], subject.as_str());
        let raw = skopeo_raw(
            &format!("docker://{}/mirror/two@{att}", registry.host),
            None,
        );
        assert_eq!(json_of(&raw)["layers"][0]["digest"], statement.as_str());
    }

    // One platform: that image's manifest, never the attestation listed under its platform.
    let base = seed_attested(
        &registry,
        "base/subject",
        &["amd64", "arm64"],
        Listed::SubjectPlatformFirst,
    );
    let dest = format!("{}/mirror/one:v1", registry.host);
    let line =
        success_line(&imgpush.run(&["copy", "--platform", "linux/amd64", &base.reference, &dest]));
    assert!(
        line.ends_with(&base.image("amd64").1),
        "{line} is not the amd64 image"
    );
}

#[test]
fn index_create_from_attested_sources() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let a = seed_attested(&registry, "ci/amd64", &["amd64"], Listed::Buildx);
    let b = seed_attested(
        &registry,
        "ci/arm64",
        &["arm64"],
        Listed::SubjectPlatformFirst,
    );
    let target = format!("{}/app/merged", registry.host);
    let out = imgpush.run(&[
        "index",
        "create",
        "--json",
        "--tag",
        &format!("{target}:v1"),
        &a.reference,
        &b.reference,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json_of(&out.stdout);
    assert_eq!(
        v["platforms"],
        json!(["linux/amd64", "linux/arm64/v8"]),
        "{v:#}"
    );

    // Both images and both attestations, each entry as its source listed it.
    let merged = entries(&format!("{target}:v1"));
    let images: Vec<&(String, String, Value)> = merged
        .iter()
        .filter(|e| !is_attestation_entry(&e.2))
        .collect();
    assert_eq!(
        images
            .iter()
            .map(|e| (e.0.as_str(), e.1.as_str()))
            .collect::<Vec<_>>(),
        [
            ("linux/amd64", a.image("amd64").1.as_str()),
            ("linux/arm64", b.image("arm64").1.as_str())
        ]
    );
    for (source, arch) in [(&a, "amd64"), (&b, "arm64")] {
        let (att, subject, _) = source.attestation_of(arch);
        let entry = merged
            .iter()
            .find(|e| &e.1 == att)
            .unwrap_or_else(|| panic!("the attestation of {arch} is missing: {merged:?}"));
        assert_eq!(entry.2[REFERENCE_DIGEST], subject.as_str());
        skopeo_raw(&format!("docker://{target}@{att}"), None);
    }
    assert_eq!(merged.len(), 4, "{merged:?}");

    // The same platform from two sources: the error names it, never an attestation; with
    // --replace the later one wins and the attestation of the one replaced goes with it.
    let c = seed_attested(&registry, "ci/stand-in", &["386"], Listed::Buildx);
    // As a single manifest, the stand-in is amd64 (its platform comes from its config).
    let stand_in = format!("{}@{}", c.repo, c.image("386").1);
    let out = imgpush.run(&[
        "index",
        "create",
        "--tag",
        &format!("{target}:v2"),
        &a.reference,
        &stand_in,
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("platform linux/amd64 is in both"), "{err}");
    assert!(!err.contains("unknown"), "{err}");
    success_line(&imgpush.run(&[
        "index",
        "create",
        "--replace",
        "--tag",
        &format!("{target}:v2"),
        &a.reference,
        &stand_in,
    ]));
    let replaced = entries(&format!("{target}:v2"));
    assert_eq!(
        replaced
            .iter()
            .map(|e| (e.0.as_str(), e.1.as_str()))
            .collect::<Vec<_>>(),
        [("linux/amd64", c.image("386").1.as_str())],
        "{replaced:?}"
    );
}
