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
    let repo = format!("{}/app/tokened", registry.host);
    let out = imgpush.run_owned(&hello_build(&repo, &["--base", &base, "-vv"]));
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

#[test]
fn identity_token_uses_the_oauth2_refresh_grant() {
    let tokens = TokenServer::start_with(300, Some("refresh-abc"));
    let registry = Registry::start_with_token_auth(&tokens);
    let repo = format!("{}/app/oauth", registry.host);
    let push = |imgpush: &Imgpush| {
        imgpush
            .command()
            .args([
                "build",
                "--repo",
                &repo,
                "-vv",
                "--artifact",
                &format!("linux/amd64={}", hello().amd64.display()),
            ])
            .output()
            .unwrap()
    };
    let config = |imgpush: &Imgpush, token: &str| {
        std::fs::write(
            imgpush.docker_config.path().join("config.json"),
            serde_json::json!({"auths": {registry.host.clone(): {"auth": "", "identitytoken": token}}}).to_string(),
        )
        .unwrap();
    };

    let imgpush = Imgpush::new();
    config(&imgpush, "refresh-abc");
    let out = push(&imgpush);
    success_line(&out);
    assert!(
        !stderr(&out).contains("refresh-abc") && !stderr(&out).contains("eyJ"),
        "{}",
        stderr(&out)
    );
    let grants: Vec<serde_json::Value> = tokens
        .raw_requests()
        .into_iter()
        .filter(|r| r["grant"] == "refresh_token")
        .collect();
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0]["ok"], true);
    assert_eq!(grants[0]["scopes"][0], "repository:app/oauth:pull,push");

    let wrong = Imgpush::new();
    config(&wrong, "stale-token");
    let before = registry.writes().len();
    let out = push(&wrong);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("401") && stderr(&out).contains("login"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("stale-token"));
    assert_eq!(
        registry.writes().len(),
        before,
        "nothing pushed with a rejected identity token"
    );
}

#[test]
fn a_token_rejected_mid_push_is_renewed_once_and_the_push_completes() {
    // Tokens die after ~2 s though they claim 300 s; a 4 s Retry-After mid-push outlives one.
    let tokens = TokenServer::start_with(-58, None);
    let registry = Registry::start_with_token_auth(&tokens);
    let proxy = FaultProxy::start(
        &registry.host,
        vec![Rule {
            method: "PUT",
            path: "/manifests/sha256:".into(),
            after: 0,
            times: 1,
            fault: Fault::Status(503, Some(4)),
        }],
    );
    let out = Imgpush::new().run(&[
        "build",
        "--repo",
        &format!("{}/app/renew", proxy.host),
        "-v",
        "--artifact",
        &format!("linux/amd64={}", hello().amd64.display()),
    ]);
    let line = success_line(&out);
    assert_eq!(
        tokens.requests().len(),
        2,
        "one token, then exactly one renewal: {:?}",
        tokens.requests()
    );
    let mid_push_401 = registry
        .log()
        .lines()
        .any(|l| l.contains("\"PUT /v2/app/renew/manifests/") && l.contains("\" 401 "));
    assert!(
        mid_push_401,
        "the registry rejected the expired token mid-push:\n{}",
        registry.log()
    );
    let raw = skopeo_raw(
        &format!("docker://{}/app/renew:latest", registry.host),
        None,
    );
    assert!(line.ends_with(&sha256_hex(&raw)));
}
