//! Every reference imgpush prints reads back: the line `build` (or `copy`) prints for a
//! registry, an OCI layout, an OCI archive or a docker archive is accepted as it is by
//! `inspect`, `copy` and `--base`. Unknown `scheme:` prefixes fail with the accepted forms.

mod support;

use serde_json::Value;
use support::*;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// `build --dest /app/hello --artifact linux/amd64=… [--artifact linux/arm64=…] EXTRA…`.
fn local_build(both: bool, extra: &[&str]) -> Vec<String> {
    let hello = hello();
    let amd = format!("linux/amd64={}", hello.amd64.display());
    let arm = format!("linux/arm64={}", hello.arm64.display());
    let mut base = vec!["build", "--dest", "/app/hello", "--artifact", &amd];
    if both {
        base.extend(["--artifact", &arm]);
    }
    arg_list(&base, extra)
}

/// `inspect`, `copy` to `registry` and `--base` all accept `printed` exactly as printed;
/// `inspect` reports `digest`.
fn reads_back(imgpush: &Imgpush, registry: &Registry, printed: &str, digest: &str, repo: &str) {
    let out = imgpush.run(&["inspect", "--json", printed]);
    assert!(out.status.success(), "inspect {printed}: {}", stderr(&out));
    assert_eq!(json(&out.stdout)["digest"], digest, "inspect {printed}");

    let dest = format!("{}/{repo}:v1", registry.host);
    let copied = success_line(&imgpush.run(&["copy", printed, &dest]));
    assert!(
        copied.starts_with(&format!("{}/{repo}@sha256:", registry.host)),
        "{copied}"
    );
    let out = imgpush.run(&["inspect", "--json", &copied]);
    assert!(out.status.success(), "inspect {copied}: {}", stderr(&out));

    let hello = hello();
    let line = success_line(&imgpush.run(&[
        "build",
        "--base",
        printed,
        "--dest",
        "/app/again",
        "--artifact",
        &format!("linux/amd64={}", hello.amd64.display()),
        "--oci-layout",
        &format!("rebuilt-{repo}").replace('/', "-"),
    ]));
    assert!(line.starts_with("oci-layout:"), "{line}");
}

#[test]
fn oci_archive_reference_with_digest_reads_back() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let printed = success_line(&imgpush.run_owned(&local_build(true, &["--tarball", "app.tar"])));
    assert!(printed.starts_with("oci-archive:"), "{printed}");
    let digest = printed.rsplit('@').next().unwrap().to_string();
    reads_back(&imgpush, &registry, &printed, &digest, "from/archive");
    // A digest the archive lacks is named as missing.
    let wrong = format!(
        "{}@sha256:{}",
        printed.rsplit_once('@').unwrap().0,
        "0".repeat(64)
    );
    let out = imgpush.run(&["inspect", &wrong]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no image"), "{}", stderr(&out));
}

#[test]
fn oci_layout_and_registry_references_read_back() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let printed = success_line(&imgpush.run_owned(&local_build(true, &["--oci-layout", "out"])));
    assert!(printed.starts_with("oci-layout:"), "{printed}");
    let digest = printed.rsplit('@').next().unwrap().to_string();
    reads_back(&imgpush, &registry, &printed, &digest, "from/layout");

    let repo = format!("{}/app/hello", registry.host);
    let printed = success_line(&imgpush.run_owned(&hello_build(&repo, &[])));
    let digest = printed.rsplit('@').next().unwrap().to_string();
    reads_back(&imgpush, &registry, &printed, &digest, "from/registry");
}

#[test]
fn docker_archive_reference_and_json_agree_and_read_back() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let args = local_build(
        false,
        &[
            "--tarball",
            "app.tar",
            "--format",
            "docker-archive",
            "--json",
        ],
    );
    let out = imgpush.run_owned(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let built = json(&out.stdout);
    let printed = built["reference"].as_str().unwrap().to_string();
    assert!(printed.starts_with("docker-archive:"), "{printed}");
    // The digest is the image ID (the config's digest), as `docker load` reports it, and
    // the JSON says so: the digest printed and its media type are the config's.
    let digest = printed.rsplit('@').next().unwrap().to_string();
    assert_eq!(built["digest"], digest.as_str(), "{built}");
    assert_eq!(
        built["mediaType"], "application/vnd.oci.image.config.v1+json",
        "{built}"
    );
    let text = success_line(&imgpush.run_owned(&args[..args.len() - 1]));
    assert_eq!(text, printed, "text and JSON print the same reference");

    let out = imgpush.run(&["inspect", "--json", &printed]);
    assert!(out.status.success(), "inspect {printed}: {}", stderr(&out));
    let inspection = json(&out.stdout);
    assert_eq!(inspection["manifests"][0]["platform"], "linux/amd64");
    assert_eq!(inspection["manifests"][0]["layers"], 2, "{inspection}");
    let dest = format!("{}/from/docker:v1", registry.host);
    let copied = success_line(&imgpush.run(&["copy", &printed, &dest]));
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{copied}"), "amd64", work.path(), None);
    assert_eq!(runc_run(&bundle).trim(), "hello from x86_64");
    // Without the digest, and as a base.
    let plain = printed.rsplit_once('@').unwrap().0;
    let out = imgpush.run(&["inspect", plain]);
    assert!(out.status.success(), "inspect {plain}: {}", stderr(&out));
    let hello = hello();
    let line = success_line(&imgpush.run(&[
        "build",
        "--base",
        &printed,
        "--dest",
        "/app/again",
        "--artifact",
        &format!("linux/amd64={}", hello.amd64.display()),
        "--oci-layout",
        "rebuilt",
    ]));
    assert!(line.starts_with("oci-layout:"), "{line}");
}

#[test]
fn unknown_schemes_are_refused_with_the_accepted_forms() {
    for args in [
        vec!["inspect", "foo:./bar.tar"],
        vec!["inspect", "docker-daemon:x.tar"],
        vec!["copy", "foo:/tmp/x", "oci-layout:out"],
        vec![
            "build",
            "--base",
            "oci-dir:x",
            "--artifact",
            "linux/amd64=x",
        ],
    ] {
        let out = Imgpush::new().run(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        for want in [
            "unknown scheme",
            "oci-layout:DIR",
            "oci-archive:FILE",
            "docker-archive:FILE",
        ] {
            assert!(err.contains(want), "{args:?}: lacks `{want}`:\n{err}");
        }
        assert!(!err.contains("docker.io"), "{args:?}: {err}");
    }
    let out = Imgpush::new().run(&["copy", "static", "docker-archive:x.tar"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--format docker-archive"),
        "{}",
        stderr(&out)
    );
    // Host:port references are still registry references (here: nothing listens).
    for reference in ["127.0.0.1:9/x:tag", "localhost:9/app"] {
        let out = Imgpush::new().run(&["inspect", "--retries", "0", reference]);
        assert!(!out.status.success());
        assert!(!stderr(&out).contains("unknown scheme"), "{}", stderr(&out));
    }
}

#[test]
fn copy_of_every_platform_by_name_keeps_the_digest_as_help_says() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let src = format!("{}/app/hello", registry.host);
    let line = success_line(&imgpush.run_owned(&hello_build(&src, &["-t", "v1"])));
    let digest = line.rsplit('@').next().unwrap().to_string();
    let copied = success_line(&imgpush.run(&[
        "copy",
        "--platform",
        "linux/arm64,linux/amd64",
        &format!("{src}:v1"),
        &format!("{}/mirror/hello", registry.host),
    ]));
    assert!(copied.ends_with(&digest), "{copied} keeps {digest}");
    let help = stdout(&imgpush.run(&["copy", "--help"]));
    assert!(
        help.contains("every platform of the source keeps its digest"),
        "{help}"
    );
}
