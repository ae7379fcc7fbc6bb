//! Go programs (GOOS/GOARCH, ko's kodata/) and static bundles (one layer shared by every
//! platform) against a real registry; images served for real from their unpacked rootfs.

mod support;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn fixture(rel: &str) -> String {
    repo_root().join("fixtures").join(rel).display().to_string()
}

/// A process in a chroot of an unpacked rootfs; killed on drop.
struct Chrooted(Child);

impl Chrooted {
    fn start(rootfs: &Path, env: &[(&str, &str)], argv: &[&str]) -> Chrooted {
        require("chroot", "coreutils");
        // Absolute: the child's environment is cleared, PATH included.
        let mut c = Command::new("/usr/sbin/chroot");
        c.arg(rootfs)
            .args(argv)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        Chrooted(c.spawn().unwrap())
    }
}

impl Drop for Chrooted {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET `path` from 127.0.0.1:`port`, waiting for the server to come up; the body.
fn http_get(port: u16, path: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
            let mut response = Vec::new();
            s.read_to_end(&mut response).unwrap();
            let split = response
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("an HTTP response");
            let head = String::from_utf8_lossy(&response[..split]).to_string();
            assert!(
                head.starts_with("HTTP/1.") && head.contains(" 200 "),
                "{head}"
            );
            return response[split + 4..].to_vec();
        }
        assert!(Instant::now() < deadline, "nothing listened on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The layers of each platform manifest of a pushed index.
fn layers_by_platform(
    registry: &Registry,
    repo: &str,
    index: &Value,
) -> Vec<(String, Vec<String>)> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let manifest = json(&skopeo_raw(
                &format!(
                    "docker://{}/{repo}@{}",
                    registry.host,
                    m["digest"].as_str().unwrap()
                ),
                None,
            ));
            let layers = manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_string())
                .collect();
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                layers,
            )
        })
        .collect()
}

#[test]
fn go_hello_server_serves_on_amd64_and_runs_on_arm64() {
    require("go", "golang-go");
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/hello-go", registry.host);
    let out = imgpush.run(&[
        "build",
        &fixture("go/hello"),
        "--repo",
        &repo,
        "--ldflags",
        "-s -w",
    ]);
    let line = success_line(&out);
    assert!(stderr(&out).contains("in parallel"), "{}", stderr(&out));
    let index = json(&skopeo_raw(&format!("docker://{line}"), None));
    let layers = layers_by_platform(&registry, "app/hello-go", &index);
    assert_eq!(
        layers.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        ["amd64", "arm64"]
    );
    // static base + kodata (shared) + the binary
    assert_eq!(layers[0].1.len(), 3);
    assert_eq!(
        layers[0].1[1], layers[1].1[1],
        "kodata is one layer for both platforms"
    );
    assert_eq!(registry.uploads_of("app/hello-go", &layers[0].1[1]), 1);

    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{line}"), "amd64", work.path(), None);
    let runtime = json(&std::fs::read(bundle.join("config.json")).unwrap());
    let env: Vec<&str> = runtime["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"KO_DATA_PATH=/var/run/ko"), "{env:?}");
    assert_eq!(
        runtime["process"]["args"],
        serde_json::json!(["/app/hello"])
    );
    let port = free_port();
    let port_s = port.to_string();
    let _server = Chrooted::start(
        &bundle.join("rootfs"),
        &[("PORT", &port_s), ("KO_DATA_PATH", "/var/run/ko")],
        &["/app/hello"],
    );
    assert_eq!(
        String::from_utf8(http_get(port, "/")).unwrap(),
        "hello-go on linux/amd64: greetings from kodata\n"
    );

    let bundle = unpack_platform(&format!("docker://{line}"), "arm64", work.path(), None);
    let out = Command::new("qemu-aarch64-static")
        .arg(bundle.join("rootfs/app/hello"))
        .arg("version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello-go on linux/arm64\n"
    );

    // `--go IMPORTPATH` from the module builds the same package: with -trimpath the
    // binaries, and so the image, are byte-identical.
    let again = imgpush.run(&[
        "build",
        &fixture("go/hello"),
        "--go",
        "example.com/hello",
        "--repo",
        &repo,
        "--ldflags",
        "-s -w",
        "-t",
        "via-go",
    ]);
    assert_eq!(success_line(&again), line, "same package, same digest");
    assert_eq!(registry.tags("app/hello-go").len(), 2);
}

#[test]
fn static_site_is_one_shared_layer_and_busybox_httpd_serves_it() {
    let registry = Registry::start();
    let base = registry.seed_busybox("base/busybox", &[]);
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/site", registry.host);
    let dest = "/usr/share/nginx/html";
    let out = imgpush.run(&[
        "build",
        "--static",
        &fixture("static-site"),
        "--dest",
        dest,
        "--base",
        &base,
        "--repo",
        &repo,
        "--platform",
        "all",
        "--owner",
        "101:101",
    ]);
    let line = success_line(&out);
    let index = json(&skopeo_raw(&format!("docker://{line}"), None));
    let layers = layers_by_platform(&registry, "app/site", &index);
    assert_eq!(
        layers.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        ["amd64", "arm64"],
        "--platform all = the base's 2"
    );
    assert_eq!(layers[0].1.len(), 2, "base + bundle");
    let bundle_layer = &layers[0].1[1];
    assert_eq!(
        bundle_layer, &layers[1].1[1],
        "byte-identical bundle layer for both platforms"
    );
    assert_eq!(
        registry.uploads_of("app/site", bundle_layer),
        1,
        "uploaded once"
    );

    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{line}"), "amd64", work.path(), None);
    let runtime = json(&std::fs::read(bundle.join("config.json")).unwrap());
    assert_eq!(
        runtime["process"]["args"],
        serde_json::json!(["sh"]),
        "the base's Cmd is kept"
    );
    let rootfs = bundle.join("rootfs");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(rootfs.join("usr/share/nginx/html/index.html")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (101, 101, 0o644)
    );
    assert_eq!(
        std::fs::read_link(rootfs.join("usr/share/nginx/html/latest.js")).unwrap(),
        Path::new("assets/js/app.js")
    );

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _httpd = Chrooted::start(
        &rootfs,
        &[],
        &["/bin/busybox", "httpd", "-f", "-p", &listen, "-h", dest],
    );
    let src = repo_root().join("fixtures/static-site");
    assert_eq!(
        http_get(port, "/index.html"),
        std::fs::read(src.join("index.html")).unwrap()
    );
    assert_eq!(
        http_get(port, "/assets/css/site.css"),
        std::fs::read(src.join("assets/css/site.css")).unwrap()
    );
    assert_eq!(
        http_get(port, "/latest.js"),
        std::fs::read(src.join("assets/js/app.js")).unwrap()
    );
}

#[test]
fn bad_go_and_static_inputs_fail_clearly_and_push_nothing() {
    require("go", "golang-go");
    let registry = Registry::start();
    let repo = format!("{}/app/bad", registry.host);
    let r = repo.as_str();
    let escaping = tempfile::tempdir().unwrap();
    std::fs::write(escaping.path().join("index.html"), "x").unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", escaping.path().join("passwd")).unwrap();
    let esc = escaping.path().display().to_string();
    let index = format!("{}/index.html", fixture("static-site"));
    let (lib, broken, site) = (
        fixture("go/lib"),
        fixture("go/broken"),
        fixture("static-site"),
    );
    let relative_dest = format!("{index}:etc/x.html");
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            "not a main package",
            vec!["build", &lib, "--repo", r],
            vec!["not a main package", "package lib"],
        ),
        (
            "go compile error",
            vec!["build", &broken, "--platform", "linux/amd64", "--repo", r],
            vec!["go build for linux/amd64 failed", "cannot use"],
        ),
        (
            "static missing dir",
            vec!["build", "--static", "nope", "--dest", "/srv", "--repo", r],
            vec!["--static", "does not exist"],
        ),
        (
            "static on a file",
            vec!["build", "--static", &index, "--dest", "/srv", "--repo", r],
            vec!["is not a directory"],
        ),
        (
            "static without dest",
            vec!["build", "--static", &site, "--repo", r],
            vec!["needs --dest"],
        ),
        (
            "escaping symlink",
            vec!["build", "--static", &esc, "--dest", "/srv", "--repo", r],
            vec!["outside the tree"],
        ),
        (
            "file missing source",
            vec![
                "build",
                "--static",
                &site,
                "--dest",
                "/srv",
                "--file",
                "nope.conf:/etc/x.conf",
                "--repo",
                r,
            ],
            vec!["does not exist"],
        ),
        (
            "file relative dest",
            vec![
                "build",
                "--static",
                &site,
                "--dest",
                "/srv",
                "--file",
                &relative_dest,
                "--repo",
                r,
            ],
            vec!["absolute path"],
        ),
        (
            "bad owner",
            vec![
                "build", "--static", &site, "--dest", "/srv", "--owner", "nginx", "--repo", r,
            ],
            vec!["UID:GID"],
        ),
    ];
    assert_all_fail(&cases);
    // go missing: a PATH without go, with the command that installs it.
    let empty = tempfile::tempdir().unwrap();
    let out = Imgpush::new()
        .command()
        .env("PATH", empty.path())
        .env_remove("GO")
        .args(["build", &fixture("go/hello"), "--repo", r])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("go: not found") && err.contains("apt-get install golang-go"),
        "{err}"
    );

    assert!(registry.writes().is_empty(), "{:?}", registry.writes());
}
