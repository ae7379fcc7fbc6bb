//! The scene of the rebase tests (issue 14, "Rebase without rebuilding"): a registry with
//! busybox, base v1 (busybox + a version layer, amd64 and arm64) as `base:v1` and
//! `base:latest`, and the hello app built on `base:latest` as `app:v1`; `push_base` makes
//! v2 (the version layer changed) and moves `base:latest`.

use super::*;
use serde_json::Value;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The registry with busybox, base v1 as `base:v1` and `base:latest`, and the hello app
/// built on `base:latest` as `app:v1`.
pub struct RebaseScene {
    pub registry: Registry,
    pub imgpush: Imgpush,
}

impl RebaseScene {
    pub fn new() -> RebaseScene {
        let registry = Registry::start();
        let imgpush = Imgpush::new();
        registry.seed_busybox("busybox", &[]);
        let scene = RebaseScene { registry, imgpush };
        scene.push_base("v1", &["-t", "v1", "-t", "latest"]);
        let app = scene.run(&hello_build(
            &format!("{}/app", scene.registry.host),
            &[
                "--base",
                &format!("{}/base:latest", scene.registry.host),
                "-t",
                "v1",
                "--env",
                "APP=1",
                "--label",
                "app=hello",
            ],
        ));
        success_line(&app);
        scene
    }

    pub fn host(&self) -> &str {
        &self.registry.host
    }

    pub fn run(&self, args: &[String]) -> std::process::Output {
        self.imgpush.run_owned(args)
    }

    pub fn run_str(&self, args: &[&str]) -> std::process::Output {
        self.imgpush.run(args)
    }

    /// A base on busybox with `/etc/base/version` saying `version` and `BASE=version`;
    /// returns `REPO@sha256:…` of its index.
    pub fn push_base(&self, version: &str, tags: &[&str]) -> String {
        let dir = self.imgpush.cwd.path().join(format!("base-{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("version"), format!("{version}\n")).unwrap();
        let mut args = vec![
            "build".to_string(),
            "--static".into(),
            dir.display().to_string(),
            "--dest".into(),
            "/etc/base".into(),
            "--base".into(),
            format!("{}/busybox:latest", self.host()),
            "--platform".into(),
            "all".into(),
            "--repo".into(),
            format!("{}/base", self.host()),
            "--env".into(),
            format!("BASE={version}"),
            "--label".into(),
            format!("base.version={version}"),
        ];
        args.extend(tags.iter().map(|t| t.to_string()));
        success_line(&self.run(&args))
    }

    /// The digest a tag names now.
    pub fn digest_of(&self, reference: &str) -> String {
        format!(
            "sha256:{}",
            sha256_hex(&skopeo_raw(&format!("docker://{reference}"), None))
        )
    }

    pub fn index(&self, reference: &str) -> Value {
        json(&skopeo_raw(&format!("docker://{reference}"), None))
    }

    /// `(architecture, manifest digest, manifest)` of each platform of an index.
    pub fn platforms(&self, repo: &str, reference: &str) -> Vec<(String, String, Value)> {
        platform_manifests(&format!("{}/{repo}", self.host()), &self.index(reference))
    }

    pub fn config(&self, repo: &str, manifest_digest: &str) -> Value {
        json(&skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--config",
            "--raw",
            &format!("docker://{}/{repo}@{manifest_digest}", self.host()),
        ]))
    }
}

pub fn layer_digests(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}
