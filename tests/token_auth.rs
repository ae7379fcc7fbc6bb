//! Bearer token auth against a real distribution registry (`auth.token`) and a JWT-signing
//! token server: one token carries push on the target and pull on the base repository, so
//! base layers are mounted across repositories and never uploaded.

mod support;

use support::*;

#[test]
fn one_multi_scope_token_mounts_base_layers_across_repositories() {
    let tokens = TokenServer::start();
    let registry = Registry::start_with_token_auth(&tokens);
    let base = registry.seed_busybox("base/busybox", &[]); // skopeo does its own token dance
    let seeded = tokens.requests().len();

    let imgpush = Imgpush::new();
    let hello = hello();
    let repo = format!("{}/app/tokened", registry.host);
    let out = imgpush.run(&[
        "build",
        "--repo",
        &repo,
        "--base",
        &base,
        "-vv",
        "--dest",
        "/app/hello",
        "--artifact",
        &format!("linux/amd64={}", hello.amd64.display()),
        "--artifact",
        &format!("linux/arm64={}", hello.arm64.display()),
    ]);
    let line = success_line(&out);

    // Exactly one token request from imgpush, carrying both scopes (push first).
    let ours: Vec<Vec<String>> = tokens.requests()[seeded..].to_vec();
    assert_eq!(
        ours.len(),
        1,
        "one token, reused for every request: {ours:?}"
    );
    assert_eq!(ours[0][0], "repository:app/tokened:pull,push");
    assert!(
        ours[0].contains(&"repository:base/busybox:pull".to_string()),
        "{ours:?}"
    );

    // Base layers were mounted (201 on POST ?mount=), none uploaded.
    let mounts = registry
        .raw_requests()
        .into_iter()
        .filter(|(m, t)| {
            m == "POST" && t.starts_with("/v2/app/tokened/blobs/uploads/?") && t.contains("mount=")
        })
        .count();
    assert!(mounts >= 1, "{:?}", registry.raw_requests());
    let index: serde_json::Value =
        serde_json::from_slice(&skopeo_raw(&format!("docker://{line}"), None)).unwrap();
    for m in index["manifests"].as_array().unwrap() {
        let manifest: serde_json::Value = serde_json::from_slice(&skopeo_raw(
            &format!("docker://{repo}@{}", m["digest"].as_str().unwrap()),
            None,
        ))
        .unwrap();
        let base_layer = manifest["layers"][0]["digest"].as_str().unwrap();
        assert_eq!(
            registry.uploads_of("app/tokened", base_layer),
            0,
            "base layer {base_layer} was uploaded"
        );
    }
    // The token never shows in -vv output.
    let err = stderr(&out);
    assert!(!err.contains("eyJ"), "a JWT leaked into the output:\n{err}");
}
