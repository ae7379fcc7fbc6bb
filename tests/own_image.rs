//! imgpush's own image, built by `cargo imgpush` in this checkout (the static musl binary
//! on `static`; the shell variant on `busybox`), run as a daemonless CI job would run it:
//! under runc as a non-root user, no capabilities, a read-only root and no tmpfs, the
//! inputs mounted in, credentials from the environment. The pushed images are checked with
//! skopeo. (amd64 only here: the arm64 image is the same build for another target, and
//! compiling imgpush twice more would double this test's minutes.)

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use support::*;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The two images (`static` and `busybox` bases) as OCI layouts, built once per test run.
fn own_images() -> &'static (PathBuf, PathBuf) {
    static ONCE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    ONCE.get_or_init(|| {
        require_rust_cross();
        let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("own-image");
        let _ = std::fs::remove_dir_all(&out_dir);
        let imgpush = Imgpush::new();
        let manifest = repo_root().join("Cargo.toml");
        let target = shared_target_dir();
        let build = |extra: &[&str], layout: &Path| {
            let mut args = vec![
                "--manifest-path",
                manifest.to_str().unwrap(),
                "--target-dir",
                target.to_str().unwrap(),
                "--platform",
                "linux/amd64",
                "--oci-layout",
                layout.to_str().unwrap(),
            ];
            args.extend_from_slice(extra);
            let out = imgpush.cargo_imgpush(&args);
            success_line(&out);
        };
        let plain = out_dir.join("plain");
        let debug = out_dir.join("debug");
        // `bin` and `dest` come from this repository's [package.metadata.imgpush].
        build(&[], &plain);
        build(&["--base", "busybox"], &debug);
        (plain, debug)
    })
}

/// Unpacks the layout's amd64 image and makes the runtime config strict: `uid:gid`, a
/// read-only root, no capabilities, no new privileges, no tmpfs anywhere (umoci's /tmp-less
/// default), the host's network; `mounts` are (host dir, container dir, writable).
fn strict_bundle(
    layout: &Path,
    work: &Path,
    uid: u32,
    gid: u32,
    mounts: &[(&Path, &str, bool)],
) -> PathBuf {
    let bundle = unpack_platform(
        &format!("oci:{}:latest", layout.display()),
        "amd64",
        work,
        None,
    );
    let path = bundle.join("config.json");
    let mut c = json(&std::fs::read(&path).unwrap());
    c["process"]["terminal"] = Value::Bool(false);
    c["process"]["user"] = serde_json::json!({"uid": uid, "gid": gid});
    c["process"]["noNewPrivileges"] = Value::Bool(true);
    c["process"]["capabilities"] = serde_json::json!({
        "bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []
    });
    c["root"]["readonly"] = Value::Bool(true);
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "network");
    let list = c["mounts"].as_array_mut().unwrap();
    list.retain(|m| m["destination"] != "/tmp");
    for file in ["/etc/resolv.conf", "/etc/hosts"] {
        list.push(serde_json::json!({
            "destination": file, "type": "bind", "source": file, "options": ["rbind", "ro"]
        }));
    }
    for (host, dest, writable) in mounts {
        list.push(serde_json::json!({
            "destination": dest, "type": "bind", "source": host,
            "options": ["rbind", if *writable { "rw" } else { "ro" }]
        }));
    }
    std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
    bundle
}

/// Runs the bundle with `args`, `env` and `cwd`; (success, stdout, stderr).
fn run_in(bundle: &Path, args: &[&str], env: &[String], cwd: &str) -> (bool, String, String) {
    let path = bundle.join("config.json");
    let mut c = json(&std::fs::read(&path).unwrap());
    c["process"]["args"] = serde_json::json!(args);
    c["process"]["env"] = serde_json::json!(env);
    c["process"]["cwd"] = Value::String(cwd.to_string());
    std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
    runc_try(bundle)
}

/// A directory any uid may write (the job's checkout, mounted read-write).
fn open_dir(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
}

fn platforms(reference: &str, creds: &(String, String)) -> Vec<String> {
    let index = json(&skopeo_raw(&format!("docker://{reference}"), Some(creds)));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_image_builds_and_pushes_as_non_root_with_a_read_only_root() {
    let (plain, _) = own_images();
    let registry = Registry::start_with_htpasswd("ci", "s3cret");
    let creds = ("ci".to_string(), "s3cret".to_string());
    let work = tempfile::tempdir().unwrap();
    // The inputs, mounted read-only; a writable project directory for the job itself.
    let inputs = work.path().join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    let hello = hello();
    std::fs::copy(&hello.amd64, inputs.join("hello-amd64")).unwrap();
    std::fs::copy(&hello.arm64, inputs.join("hello-arm64")).unwrap();
    copy_dir(
        &repo_root().join("fixtures/static-site"),
        &inputs.join("site"),
    );
    let project = work.path().join("project");
    open_dir(&project);
    let bundle = strict_bundle(
        plain,
        work.path(),
        65532,
        65532,
        &[(&inputs, "/inputs", false), (&project, "/project", true)],
    );
    let env = vec![
        "PATH=/usr/local/bin".to_string(),
        "HOME=/home/nonroot".to_string(),
        "IMGPUSH_USERNAME=ci".to_string(),
        "IMGPUSH_PASSWORD=s3cret".to_string(),
    ];
    let app = format!("{}/app/hello", registry.host);
    let (ok, out, err) = run_in(
        &bundle,
        &[
            "/usr/local/bin/imgpush",
            "build",
            "--artifact",
            "linux/amd64=/inputs/hello-amd64",
            "--artifact",
            "linux/arm64=/inputs/hello-arm64",
            "--dest",
            "/app/hello",
            "--repo",
            &app,
            "-t",
            "v1",
        ],
        &env,
        "/project",
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.trim().starts_with(&format!("{app}@sha256:")), "{out}");
    assert_eq!(platforms(&format!("{app}:v1"), &creds), ["amd64", "arm64"]);
    // The cache is off (no writable HOME, TMPDIR or cache directory), said once.
    assert_eq!(err.matches("warning:").count(), 1, "{err}");
    assert!(err.contains("cache"), "{err}");

    let site = format!("{}/app/site", registry.host);
    let (ok, out, err) = run_in(
        &bundle,
        &[
            "/usr/local/bin/imgpush",
            "build",
            "--static",
            "/inputs/site",
            "--dest",
            "/usr/share/nginx/html",
            "--platform",
            "linux/amd64,linux/arm64",
            "--repo",
            &site,
        ],
        &env,
        "/project",
    );
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        platforms(&format!("{site}:latest"), &creds),
        ["amd64", "arm64"]
    );
    // Nothing was left in the project directory.
    assert_eq!(std::fs::read_dir(&project).unwrap().count(), 0);
}

#[test]
fn the_shell_variant_runs_the_gitlab_script_as_an_arbitrary_uid_with_gid_0() {
    let (_, debug) = own_images();
    let registry = Registry::start_with_htpasswd("gitlab-ci-token", "job-token");
    let creds = ("gitlab-ci-token".to_string(), "job-token".to_string());
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project");
    open_dir(&project);
    open_dir(&project.join("dist"));
    let hello = hello();
    std::fs::copy(&hello.amd64, project.join("dist/app-amd64")).unwrap();
    std::fs::copy(&hello.arm64, project.join("dist/app-arm64")).unwrap();
    // OpenShift: a random uid, gid 0, HOME=/, nothing writable but the checkout.
    let bundle = strict_bundle(
        debug,
        work.path(),
        1000710000,
        0,
        &[(&project, "/builds/group/project", true)],
    );
    let template = std::fs::read_to_string(repo_root().join("fixtures/ci/gitlab-ci.yml")).unwrap();
    let script: Vec<&str> = template
        .split("\napp:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .skip_while(|l| l.trim() != "script:")
        .skip(1)
        .filter_map(|l| l.trim().strip_prefix("- "))
        .collect();
    assert!(!script.is_empty(), "no script: lines in the app job");
    let vars = |with_cache: bool| {
        let mut v = vec![
            "PATH=/usr/local/bin:/bin".to_string(),
            "HOME=/".to_string(),
            format!("CI_REGISTRY={}", registry.host),
            "CI_REGISTRY_USER=gitlab-ci-token".to_string(),
            "CI_REGISTRY_PASSWORD=job-token".to_string(),
            format!("CI_REGISTRY_IMAGE={}/group/project", registry.host),
            "CI_COMMIT_SHORT_SHA=abc123".to_string(),
            "CI_PROJECT_DIR=/builds/group/project".to_string(),
        ];
        if with_cache {
            // The template's own variable.
            v.push("IMGPUSH_CACHE_DIR=/builds/group/project/.imgpush-cache".to_string());
        }
        v
    };
    for line in &script {
        // Without the template's cache variable: the cache is off, with one warning.
        let (ok, out, err) = run_in(
            &bundle,
            &["/bin/sh", "-c", line],
            &vars(false),
            "/builds/group/project",
        );
        assert!(ok, "{line}\n{out}\n{err}");
        assert_eq!(err.matches("warning:").count(), 1, "{err}");
        // With it, as the template runs: the cache lands in the checkout, no warning.
        let (ok, out, err) = run_in(
            &bundle,
            &["/bin/sh", "-c", line],
            &vars(true),
            "/builds/group/project",
        );
        assert!(ok, "{line}\n{out}\n{err}");
        assert!(!err.contains("warning:"), "{err}");
    }
    assert!(project.join(".imgpush-cache").is_dir());
    let image = format!("{}/group/project:abc123", registry.host);
    assert_eq!(platforms(&image, &creds), ["amd64", "arm64"]);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        let kind = e.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&e.path(), &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &target).unwrap();
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
