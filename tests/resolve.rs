//! `imgpush resolve`: Kubernetes YAML with imgpush:// references → built, pushed, and
//! printed back with each reference replaced, everything else byte-for-byte the same.

mod support;

use support::*;

#[test]
fn resolve_builds_each_reference_once_and_keeps_the_rest() {
    require_rust_cross();
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let input = repo_root().join("fixtures/resolve/app.yaml");
    let original = std::fs::read_to_string(&input).unwrap();
    let out = imgpush
        .command()
        .current_dir(repo_root())
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .args(["resolve", "-f", "fixtures/resolve/app.yaml", "--repo"])
        .arg(format!("{}/deploy", registry.host))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "resolve failed: {err}");
    let resolved = stdout(&out);

    // The Rust package is referenced twice and built once.
    assert_eq!(
        err.matches("building imgpush://fixtures/cargo/one-bin")
            .count(),
        1,
        "{err}"
    );
    let api_repo = format!("{}/deploy/one-bin", registry.host);
    let site_repo = format!("{}/deploy/site", registry.host);
    let digest_of = |repo: &str| {
        let raw = skopeo_raw(&format!("docker://{repo}:latest"), None);
        format!("{repo}@sha256:{}", sha256_hex(&raw))
    };
    let (api, site) = (digest_of(&api_repo), digest_of(&site_repo));

    // Exactly the references changed: comments, quoting, order and the non-reference
    // value that merely contains the scheme are untouched.
    let expected = original
        .replace("imgpush://fixtures/cargo/one-bin", &api)
        .replace("imgpush://fixtures/resolve/site", &site);
    assert_eq!(resolved, expected);
    assert!(resolved.contains("# trailing comment stays"));
    assert!(resolved.contains("imgpush://not/a/reference"));

    // It still parses, as two documents with the images where they were.
    let docs = yaml_rust2::YamlLoader::load_from_str(&resolved).unwrap();
    assert_eq!(docs.len(), 2);
    let containers = &docs[0]["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"].as_str(), Some(api.as_str()));
    assert_eq!(containers[1]["image"].as_str(), Some(site.as_str()));
    assert_eq!(
        docs[1]["spec"]["template"]["spec"]["containers"][0]["image"].as_str(),
        Some(api.as_str())
    );

    // What was pushed is what the YAML names: the site image serves the bundle.
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{site}"), "amd64", work.path(), None);
    assert_eq!(
        std::fs::read(bundle.join("rootfs/srv/www/index.html")).unwrap(),
        std::fs::read(repo_root().join("fixtures/resolve/site/public/index.html")).unwrap()
    );
}

#[test]
fn resolve_rejects_bad_yaml_and_missing_paths_before_building() {
    let imgpush = Imgpush::new();
    let dir = imgpush.cwd.path();
    std::fs::write(
        dir.join("bad.yaml"),
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [\n    {image: imgpush://x}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("missing.yaml"),
        "# a comment\nkind: Pod\nspec:\n  image: imgpush://./no/such/dir\n",
    )
    .unwrap();
    std::fs::write(dir.join("norepo.yaml"), "image: imgpush://site\n").unwrap();
    std::fs::create_dir_all(dir.join("site/public")).unwrap();
    std::fs::write(dir.join("site/public/a.html"), "a").unwrap();
    std::fs::write(
        dir.join("site/imgpush.toml"),
        "static = \"public\"\ndest = \"/srv\"\n",
    )
    .unwrap();

    let out = imgpush.run(&["resolve", "-f", "bad.yaml", "--repo", "127.0.0.1:1/x"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("bad.yaml:6:") || err.contains("bad.yaml:5:"),
        "{err}"
    );
    assert!(err.contains("not valid YAML"), "{err}");

    // A directory means its *.yaml files in name order: bad.yaml comes first.
    let out = imgpush.run(&["resolve", "-f", ".", "--repo", "127.0.0.1:1/x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bad.yaml:"), "{}", stderr(&out));

    let out = imgpush.run(&["resolve", "-f", "missing.yaml", "--repo", "127.0.0.1:1/x"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("missing.yaml:4:10")
            && err.contains("no/such/dir")
            && err.contains("not a directory"),
        "{err}"
    );

    let out = imgpush.run(&["resolve", "-f", "norepo.yaml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("give --repo"), "{}", stderr(&out));
}
