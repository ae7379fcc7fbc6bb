//! Package bases built from Debian's signed archive (deb.debian.org, reachable here), with
//! no emulation: nginx serving a bundle under runc (non-root, read-only root, no
//! capabilities), its arm64 binary under qemu, the glibc and busybox bases, digests equal
//! across directories and empty caches, and every way a download can be wrong.

mod support;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn fixture(rel: &str) -> String {
    repo_root().join("fixtures").join(rel).display().to_string()
}

/// The dpkg record of `package` in an unpacked rootfs.
fn dpkg_record(rootfs: &Path, package: &str) -> String {
    std::fs::read_to_string(rootfs.join("var/lib/dpkg/status.d").join(package))
        .unwrap_or_else(|e| panic!("no dpkg record for {package}: {e}"))
}

fn field<'a>(record: &'a str, name: &str) -> Option<&'a str> {
    record
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// base-images/NAME.lock, parsed.
fn shipped_lock(base: &str) -> toml::Value {
    let path = repo_root().join(format!("base-images/{base}.lock"));
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The entry base-images/NAME.lock has for `package` on `arch`.
fn locked(base: &str, arch: &str, package: &str) -> toml::Value {
    shipped_lock(base)["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["arch"].as_str() == Some(arch) && p["name"].as_str() == Some(package))
        .unwrap_or_else(|| panic!("{package} ({arch}) not in {base}.lock"))
        .clone()
}

/// The version base-images/NAME.lock pins for `package` on `arch`.
fn locked_version(base: &str, arch: &str, package: &str) -> String {
    locked(base, arch, package)["version"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An unpacked amd64 bundle made strict: the image's own user, a read-only root, a tmpfs
/// at /tmp only, no capabilities, no new privileges, the host's network (to reach it).
fn harden(bundle: &Path) {
    let path = bundle.join("config.json");
    let mut c = json(&std::fs::read(&path).unwrap());
    c["process"]["terminal"] = Value::Bool(false);
    c["process"]["noNewPrivileges"] = Value::Bool(true);
    c["process"]["capabilities"] = serde_json::json!({
        "bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []
    });
    c["root"]["readonly"] = Value::Bool(true);
    let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "network");
    c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
        "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "mode=1777", "size=16m"]
    }));
    std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
}

/// A runc container running in the background; killed and deleted on drop.
struct Container {
    child: Child,
    state: PathBuf,
    id: String,
    stdout: PathBuf,
}

impl Container {
    fn start(bundle: &Path) -> Container {
        require("runc", "runc");
        let state = bundle.join("runc-state");
        let id = format!("imgpush-deb-{}-{}", std::process::id(), free_port());
        let stdout = bundle.join("stdout.log");
        let child = Command::new("runc")
            .arg("--root")
            .arg(&state)
            .args(["run", "-b"])
            .arg(bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(bundle.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        Container {
            child,
            state,
            id,
            stdout,
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let runc = |args: &[&str]| {
            let _ = Command::new("runc")
                .arg("--root")
                .arg(&self.state)
                .args(args)
                .output();
        };
        runc(&["kill", &self.id, "KILL"]);
        let _ = self.child.wait();
        runc(&["delete", "-f", &self.id]);
    }
}

/// `GET path` on 127.0.0.1:port: (status line, headers, body), retrying until it answers.
fn http_get(port: u16, path: &str) -> (String, String, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut buf = Vec::new();
            if s.read_to_end(&mut buf).is_ok() && !buf.is_empty() {
                let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                let head = String::from_utf8_lossy(&buf[..split]).to_string();
                let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
                return (
                    status.to_string(),
                    headers.to_lowercase(),
                    buf[split + 4..].to_vec(),
                );
            }
        }
        assert!(Instant::now() < deadline, "nothing answered on port {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn nginx_base_serves_a_bundle_as_non_root_with_a_read_only_root() {
    // The base's own port: it must be free on this machine.
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", 8080)).is_ok(),
        "port 8080 is in use; the nginx base listens there"
    );
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let repo = format!("{}/web/site", registry.host);
    // The frontend path: no --dest, the base says where bundles go.
    let out = imgpush.run(&[
        "build",
        "--static",
        &fixture("static-site"),
        "--base",
        "nginx",
        "--platform",
        "all",
        "--repo",
        &repo,
    ]);
    let line = success_line(&out);
    let index = json(&skopeo_raw(&format!("docker://{line}"), None));
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);

    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{line}"), "amd64", work.path(), None);
    let runtime = json(&std::fs::read(bundle.join("config.json")).unwrap());
    assert_eq!(runtime["process"]["user"]["uid"], 65532, "non-root");
    assert_eq!(
        runtime["process"]["args"],
        serde_json::json!(["/usr/sbin/nginx", "-g", "daemon off;"])
    );
    let rootfs = bundle.join("rootfs");
    let nginx = dpkg_record(&rootfs, "nginx");
    assert_eq!(field(&nginx, "Status"), Some("install ok installed"));
    assert_eq!(
        field(&nginx, "Version").unwrap(),
        locked_version("nginx", "amd64", "nginx")
    );
    assert!(
        !rootfs.join("var/lib/dpkg/status.d/debconf").exists(),
        "excluded"
    );
    let os_release = std::fs::read_to_string(rootfs.join("etc/os-release")).unwrap();
    assert!(
        os_release.contains("VERSION_CODENAME=bookworm"),
        "{os_release}"
    );

    harden(&bundle);
    let container = Container::start(&bundle);
    let (status, headers, body) = http_get(8080, "/");
    assert!(status.contains(" 200 "), "{status}");
    assert!(headers.contains("content-type: text/html"), "{headers}");
    assert_eq!(
        body,
        std::fs::read(repo_root().join("fixtures/static-site/index.html")).unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !container.stdout().contains("\"GET / HTTP/1.1\" 200") {
        assert!(
            Instant::now() < deadline,
            "the request was not logged to stdout: {:?} / stderr {:?}",
            container.stdout(),
            std::fs::read_to_string(bundle.join("stderr.log"))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(container);

    // arm64: the binary runs under qemu-user (verification only) with its own libraries.
    let arm = unpack_platform(&format!("docker://{line}"), "arm64", work.path(), None);
    let arm_root = arm.join("rootfs");
    require("qemu-aarch64-static", "qemu-user-static");
    let v = Command::new("qemu-aarch64-static")
        .arg("-L")
        .arg(&arm_root)
        .arg(arm_root.join("usr/sbin/nginx"))
        .arg("-v")
        .output()
        .unwrap();
    let version = locked_version("nginx", "arm64", "nginx");
    let upstream = version.split('-').next().unwrap();
    assert!(
        String::from_utf8_lossy(&v.stderr).contains(&format!("nginx version: nginx/{upstream}")),
        "{v:?}"
    );
    let record = dpkg_record(&arm_root, "nginx");
    assert_eq!(field(&record, "Architecture"), Some("arm64"));
    assert_eq!(field(&record, "Version").unwrap(), version);
}

#[test]
fn glibc_base_runs_a_dynamically_linked_program_and_carries_the_ca_bundle() {
    require("gcc", "gcc");
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("hello.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <gnu/libc-version.h>\nint main(void){printf(\"glibc %s\\n\", gnu_get_libc_version());return 0;}\n",
    )
    .unwrap();
    let bin = work.path().join("hello");
    let cc = Command::new("gcc")
        .arg("-O2")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap();
    assert!(cc.status.success(), "{cc:?}");
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/dyn", registry.host);
    let out = imgpush.run(&[
        "build",
        "--base",
        "glibc",
        "--artifact",
        &format!("linux/amd64={}", bin.display()),
        "--dest",
        "/app/hello",
        "--repo",
        &repo,
    ]);
    let line = success_line(&out);
    let bundle = unpack_platform(&format!("docker://{line}"), "amd64", work.path(), None);
    let rootfs = bundle.join("rootfs");
    let libc = locked_version("glibc", "amd64", "libc6");
    let upstream = libc.split('-').next().unwrap();
    harden(&bundle);
    let printed = runc_run(&bundle);
    assert_eq!(printed.trim(), format!("glibc {upstream}"));

    // What update-ca-certificates would have written: every shipped certificate, in order.
    let bundle_pem =
        std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    let mut shipped: Vec<PathBuf> = walk(&rootfs.join("usr/share/ca-certificates"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        .collect();
    shipped.sort();
    assert!(shipped.len() > 100, "{} certificates", shipped.len());
    assert_eq!(
        bundle_pem.matches("-----BEGIN CERTIFICATE-----").count(),
        shipped.len()
    );
    let mut expected = String::new();
    for p in &shipped {
        let text = std::fs::read_to_string(p).unwrap();
        expected.push_str(&text);
        if !text.ends_with('\n') {
            expected.push('\n');
        }
    }
    assert_eq!(bundle_pem, expected);
    assert_eq!(
        std::fs::read_link(rootfs.join("etc/localtime")).unwrap(),
        Path::new("/usr/share/zoneinfo/Etc/UTC")
    );
    assert!(rootfs.join("usr/share/zoneinfo/Etc/UTC").is_file());
    assert!(
        !rootfs.join("var/lib/dpkg/status.d/openssl").exists(),
        "excluded"
    );
}

/// Sets the container's command (and extra environment) in an unpacked bundle.
fn set_process(bundle: &Path, args: &[&str], env: &[&str]) {
    let path = bundle.join("config.json");
    let mut c = json(&std::fs::read(&path).unwrap());
    c["process"]["args"] = serde_json::json!(args);
    let list = c["process"]["env"].as_array_mut().unwrap();
    for e in env {
        let key = e.split('=').next().unwrap();
        list.retain(|v| !v.as_str().unwrap().starts_with(&format!("{key}=")));
        list.push(Value::String(e.to_string()));
    }
    std::fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
}

#[test]
fn go_tls_verification_in_the_glibc_image_trusts_a_real_chain_through_its_bundle() {
    require("go", "golang-go");
    let work = tempfile::tempdir().unwrap();
    let client = work.path().join("tls-verify");
    let built = Command::new("go")
        .args(["build", "-trimpath", "-o"])
        .arg(&client)
        .arg(".")
        .current_dir(repo_root().join("fixtures/tls-verify"))
        .env("CGO_ENABLED", "0")
        .env("GOOS", "linux")
        .env("GOARCH", "amd64")
        .env("GOFLAGS", "-mod=mod")
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    let chain = repo_root().join("fixtures/tls-verify/www.google.com-2023.pem");
    let imgpush = Imgpush::new();
    let out = imgpush.run(&[
        "build",
        "--base",
        "glibc",
        "--artifact",
        &format!("linux/amd64={}", client.display()),
        "--dest",
        "/app/tls-verify",
        "--file",
        &format!("{}:/chain.pem", chain.display()),
        "--oci-layout",
        "out",
    ]);
    let line = success_line(&out);
    let layout = line
        .strip_prefix("oci-layout:")
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    let bundle = unpack_platform(&format!("oci:{layout}:latest"), "amd64", work.path(), None);
    harden(&bundle);
    // A real chain (www.google.com → GTS CA 1C3, from Go's x509 tests), checked at a time
    // it was valid: this machine's HTTPS is intercepted, so no live public chain is seen.
    // The image's bundle is the only trust: SSL_CERT_DIR points nowhere.
    let args = [
        "/app/tls-verify",
        "/chain.pem",
        "www.google.com",
        "1677615892",
    ];
    set_process(&bundle, &args, &["SSL_CERT_DIR=/nonexistent"]);
    let (ok, out, err) = runc_try(&bundle);
    let printed = format!("{out}{err}");
    assert!(ok && printed.contains("verified: GTS Root R1"), "{printed}");
    // The control: the same check with no usable roots refuses the chain.
    set_process(
        &bundle,
        &args,
        &["SSL_CERT_FILE=/etc/passwd", "SSL_CERT_DIR=/nonexistent"],
    );
    let (ok, out, err) = runc_try(&bundle);
    let printed = format!("{out}{err}");
    assert!(!ok && printed.contains("certificate"), "{printed}");
}

#[test]
fn a_cargo_libc_gnu_binary_runs_on_the_glibc_base() {
    require_rust_cross();
    let registry = Registry::start();
    let target = shared_target_dir();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/gnu", registry.host);
    let manifest = format!("{}/Cargo.toml", fixture("cargo/one-bin"));
    let out = imgpush.cargo_imgpush(&[
        "--manifest-path",
        &manifest,
        "--target-dir",
        target.to_str().unwrap(),
        "--libc",
        "gnu",
        "--base",
        "glibc",
        "--platform",
        "linux/amd64,linux/arm64",
        "--repo",
        &repo,
    ]);
    let line = success_line(&out);
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{line}"), "amd64", work.path(), None);
    let rootfs = bundle.join("rootfs");
    harden(&bundle);
    let printed = runc_run(&bundle);
    assert!(printed.starts_with("hello from x86_64\n"), "{printed}");
    let bin = std::fs::read(rootfs.join("app/one-bin")).unwrap();
    assert!(
        bin.windows(b"ld-linux-x86-64.so.2".len())
            .any(|w| w == b"ld-linux-x86-64.so.2"),
        "dynamically linked against glibc"
    );
    let arm = unpack_platform(&format!("docker://{line}"), "arm64", work.path(), None);
    let arm_root = arm.join("rootfs");
    require("qemu-aarch64-static", "qemu-user-static");
    let run = Command::new("qemu-aarch64-static")
        .arg("-L")
        .arg(&arm_root)
        .arg(arm_root.join("app/one-bin"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from aarch64\n",
        "{run:?}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn busybox_base_gives_a_shell() {
    let hello = hello();
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/debug", registry.host);
    let script = imgpush.cwd.path().join("check.sh");
    std::fs::write(&script, "ls /app && /app/hello && wc -l < /etc/passwd\n").unwrap();
    let out = imgpush.run(&[
        "build",
        "--base",
        "busybox",
        "--artifact",
        &format!("linux/amd64={}", hello.amd64.display()),
        "--dest",
        "/app/hello",
        "--file",
        &format!("{}:/check.sh:0755", script.display()),
        "--entrypoint",
        "/bin/sh",
        "--cmd",
        "/check.sh",
        "--repo",
        &repo,
    ]);
    let line = success_line(&out);
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(&format!("docker://{line}"), "amd64", work.path(), None);
    harden(&bundle);
    let printed = runc_run(&bundle);
    assert!(printed.starts_with("hello\n"), "{printed}");
    assert!(printed.contains("hello from x86_64"), "{printed}");
    assert!(
        printed.trim_end().ends_with('2'),
        "root and nonroot: {printed}"
    );
}

/// Builds `base` into an OCI layout with an empty cache in a fresh directory; its digest.
fn build_in_fresh_place(base: &str) -> String {
    let imgpush = Imgpush::new();
    let cache = tempfile::tempdir().unwrap();
    let out = imgpush
        .command()
        .env("IMGPUSH_CACHE_DIR", cache.path())
        .args(["base", "build", base, "--oci-layout", "out"])
        .output()
        .unwrap();
    let line = success_line(&out);
    line.rsplit_once('@').unwrap().1.to_string()
}

#[test]
fn same_lock_same_digest_from_empty_caches_in_different_directories() {
    let a = build_in_fresh_place("nginx");
    let b = build_in_fresh_place("nginx");
    assert_eq!(a, b);
    // A spec file of the user's, copied to two directories at different depths.
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let deep = two.path().join("a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    let x = build_in_fresh_place(copy_spec("glibc", one.path()).to_str().unwrap());
    let y = build_in_fresh_place(copy_spec("glibc", &deep).to_str().unwrap());
    assert_eq!(x, y, "the spec's path is not part of the image");

    // Published by itself, under two tags: the same digest, as skopeo reads it.
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let repo = format!("{}/base/nginx", registry.host);
    let out = imgpush.run(&[
        "base", "build", "nginx", "--repo", &repo, "-t", "1.22", "-t", "latest",
    ]);
    let printed = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        printed.lines().count(),
        2,
        "one reference per tag: {printed}"
    );
    for line in printed.lines() {
        assert_eq!(line, format!("{repo}@{a}"));
    }
    let mut tags = registry.tags("base/nginx");
    tags.sort();
    assert_eq!(tags, ["1.22", "latest"]);
    let raw = skopeo_raw(&format!("docker://{repo}:1.22"), None);
    assert_eq!(format!("sha256:{}", sha256_hex(&raw)), a);
}

#[test]
fn base_spec_prints_the_embedded_spec() {
    let imgpush = Imgpush::new();
    for name in ["nginx", "glibc", "busybox", "static"] {
        let out = imgpush.run(&["base", "spec", name]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            std::fs::read_to_string(repo_root().join(format!("base-images/{name}.toml"))).unwrap()
        );
    }
    let out = imgpush.run(&["base", "spec", "nope"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("known: static"), "{}", stderr(&out));
}

/// A spec file `NAME.toml` with the embedded base's text and lock, in `dir`.
fn copy_spec(base: &str, dir: &Path) -> PathBuf {
    let spec = dir.join(format!("{base}.toml"));
    std::fs::copy(repo_root().join(format!("base-images/{base}.toml")), &spec).unwrap();
    std::fs::copy(
        repo_root().join(format!("base-images/{base}.lock")),
        dir.join(format!("{base}.lock")),
    )
    .unwrap();
    spec
}

/// A plain HTTP server over `dir` on a free port (python3's http.server); killed on drop.
struct Mirror {
    child: Child,
    url: String,
}

impl Mirror {
    fn serve(dir: &Path) -> Mirror {
        require("python3", "python3");
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "python3 http.server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Mirror {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The busybox-static file the busybox lock pins for amd64: (repository path, filename).
fn locked_busybox_file() -> (String, String) {
    let lock = shipped_lock("busybox");
    let p = locked("busybox", "amd64", "busybox-static");
    let repo =
        &lock["repository"].as_array().unwrap()[p["repository"].as_integer().unwrap() as usize];
    let url = repo["url"].as_str().unwrap();
    let archive = url.rsplit('/').next().unwrap().to_string();
    (archive, p["filename"].as_str().unwrap().to_string())
}

/// The cached copy of the locked file `filename` (cached under its SHA-256 from the lock).
fn cache_path_of(cache: &Path, filename: &str) -> PathBuf {
    let sha = shipped_lock("busybox")["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["filename"].as_str() == Some(filename))
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    cache.join("blobs/sha256").join(sha)
}

#[test]
fn a_mirror_serving_other_bytes_or_nothing_is_a_clear_error_and_nothing_is_pushed() {
    let work = tempfile::tempdir().unwrap();
    let spec = copy_spec("busybox", work.path());
    let (archive, filename) = locked_busybox_file();
    let served = work.path().join("mirror");
    let target = served.join(&archive).join(&filename);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, b"not the package").unwrap();
    let mirror = Mirror::serve(&served);
    let registry = Registry::start();
    let repo = format!("{}/base/bb", registry.host);
    let imgpush = Imgpush::new();
    // Every other package comes from the cache (filled from the real archive); only
    // busybox-static for amd64 must come from the mirror.
    let cache = tempfile::tempdir().unwrap();
    let fill = imgpush
        .command()
        .env("IMGPUSH_CACHE_DIR", cache.path())
        .args(["base", "build"])
        .arg(&spec)
        .args(["--oci-layout", "filled"])
        .output()
        .unwrap();
    success_line(&fill);
    std::fs::remove_file(cache_path_of(cache.path(), &filename)).unwrap();
    let run = || {
        imgpush
            .command()
            .env("IMGPUSH_CACHE_DIR", cache.path())
            .env("IMGPUSH_DEBIAN_MIRROR", &mirror.url)
            .args(["base", "build"])
            .arg(&spec)
            .args(["--repo", &repo])
            .output()
            .unwrap()
    };
    let out = run();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("busybox-static"), "{err}");
    assert!(err.contains("expected") && err.contains("SHA-256"), "{err}");
    assert!(registry.tags("base/bb").is_empty(), "nothing pushed");

    std::fs::remove_file(&target).unwrap();
    let out = run();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("is gone from"), "{err}");
    assert!(err.contains("imgpush base lock"), "names re-locking: {err}");
    assert!(
        err.contains("IMGPUSH_DEBIAN_SNAPSHOT"),
        "names the snapshot mirror: {err}"
    );
    assert!(registry.tags("base/bb").is_empty(), "nothing pushed");
}

#[test]
fn a_damaged_cached_package_is_downloaded_again() {
    let imgpush = Imgpush::new();
    let cache = tempfile::tempdir().unwrap();
    let build = || {
        imgpush
            .command()
            .env("IMGPUSH_CACHE_DIR", cache.path())
            .args(["base", "build", "busybox", "--oci-layout", "out"])
            .output()
            .unwrap()
    };
    let first = success_line(&build());
    let sha = locked("busybox", "amd64", "busybox-static")["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let cached = cache.path().join("blobs/sha256").join(&sha);
    let mut bytes = std::fs::read(&cached).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&cached, bytes).unwrap();
    let out = build();
    let second = success_line(&out);
    assert_eq!(first, second, "same digest after the repair");
    assert!(
        stderr(&out).contains("damaged cache entry for busybox-static"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_lock_that_no_longer_matches_its_spec_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let spec = copy_spec("busybox", work.path());
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        text.replace("\"busybox-static\"]", "\"busybox-static\", \"tzdata\"]"),
    )
    .unwrap();
    let imgpush = Imgpush::new();
    let out = imgpush
        .command()
        .args(["base", "build"])
        .arg(&spec)
        .args(["--oci-layout", "out"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("the lock does not match the spec"), "{err}");
    assert!(
        err.contains(&format!("imgpush base lock {}", spec.display())),
        "{err}"
    );
}

/// A one-architecture spec (one Packages index to read) in `dir`.
fn small_spec(dir: &Path, packages: &str, mirror: Option<&str>) -> PathBuf {
    let spec = dir.join("small.toml");
    let mirror = mirror
        .map(|m| format!("mirror = \"{m}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &spec,
        format!(
            "description = \"test\"\n[debian]\nplatforms = [\"linux/amd64\"]\npackages = {packages}\n{mirror}\
             [[debian.repositories]]\nurl = \"http://deb.debian.org/debian\"\nsuite = \"bookworm-updates\"\n"
        ),
    )
    .unwrap();
    spec
}

#[test]
fn locking_names_unknown_and_unsatisfiable_packages_and_refuses_a_tampered_index() {
    let work = tempfile::tempdir().unwrap();
    let imgpush = Imgpush::new();
    let cache = tempfile::tempdir().unwrap();
    let lock = |spec: &Path| {
        imgpush
            .command()
            .env("IMGPUSH_CACHE_DIR", cache.path())
            .args(["base", "lock"])
            .arg(spec)
            .output()
            .unwrap()
    };

    let spec = small_spec(work.path(), "[\"no-such-package-imgpush\"]", None);
    let out = lock(&spec);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("no-such-package-imgpush") && err.contains("amd64"),
        "{err}"
    );
    assert!(!work.path().join("small.lock").exists(), "no lock written");

    // Version constraints are checked: nothing in the archive is that new.
    let spec = small_spec(work.path(), "[\"libssl-doc (>= 9999)\"]", None);
    let out = lock(&spec);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("libssl-doc") && err.contains("9999"), "{err}");

    // A real InRelease with one byte of its signed text changed, served by a mirror.
    require("curl", "curl");
    let served = work.path().join("mirror");
    let dists = served.join("debian/dists/bookworm-updates");
    std::fs::create_dir_all(&dists).unwrap();
    let fetch = |url: &str| {
        let real = Command::new("curl").args(["-sSf", url]).output().unwrap();
        assert!(real.status.success(), "{real:?}");
        real.stdout
    };
    let text = String::from_utf8(fetch(
        "http://deb.debian.org/debian/dists/bookworm-updates/InRelease",
    ))
    .unwrap();
    let tampered = text.replacen("Suite: ", "Suite:  ", 1);
    assert_ne!(text, tampered);
    std::fs::write(dists.join("InRelease"), tampered).unwrap();
    let mirror = Mirror::serve(&served);
    let spec = small_spec(work.path(), "[\"libssl-doc\"]", Some(&mirror.url));
    let out = lock(&spec);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("InRelease"), "{err}");
    assert!(err.contains("does not verify"), "{err}");
    assert!(!work.path().join("small.lock").exists());

    // Another suite's validly signed index served in its place (security updates dropped).
    let security = fetch("http://deb.debian.org/debian-security/dists/bookworm-security/InRelease");
    std::fs::write(dists.join("InRelease"), &security).unwrap();
    let err = stderr(&lock(&spec));
    assert!(
        err.contains("(codename bookworm-security), not `bookworm-updates`"),
        "{err}"
    );

    // The real index, but a Packages.xz that is not the one it signs.
    std::fs::write(dists.join("InRelease"), &text).unwrap();
    let packages = dists.join("main/binary-amd64");
    std::fs::create_dir_all(&packages).unwrap();
    std::fs::write(packages.join("Packages.xz"), b"not the index").unwrap();
    // (With an empty cache: the real index, cached by the locks above under the same
    // signed hash, would rightly be used instead.)
    let empty = tempfile::tempdir().unwrap();
    let out = imgpush
        .command()
        .env("IMGPUSH_CACHE_DIR", empty.path())
        .args(["base", "lock"])
        .arg(&spec)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("Packages.xz") && err.contains("expected") && err.contains("SHA-256"),
        "{err}"
    );
    assert!(!work.path().join("small.lock").exists());

    // The same spec against the real archive locks, and --check agrees with the result.
    let spec = small_spec(work.path(), "[\"libssl-doc\"]", None);
    let out = lock(&spec);
    assert_eq!(
        success_line(&out),
        work.path().join("small.lock").display().to_string()
    );
    let written = std::fs::read_to_string(work.path().join("small.lock")).unwrap();
    assert!(written.contains("name = \"libssl-doc\""), "{written}");
    let check = || {
        imgpush
            .command()
            .env("IMGPUSH_CACHE_DIR", cache.path())
            .args(["base", "lock", "--check"])
            .arg(&spec)
            .output()
            .unwrap()
    };
    let out = check();
    assert!(out.status.success(), "{}", stderr(&out));
    // A lock that no longer matches what the archive resolves to fails --check, unchanged.
    let lock_path = work.path().join("small.lock");
    let edited = written.replacen("version = \"", "version = \"0:", 1);
    std::fs::write(&lock_path, &edited).unwrap();
    let out = check();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is out of date"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), edited);
    // An index older than the one the lock was made from is refused (replay, stale mirror).
    let future = written.replacen(
        "date = \"",
        "date = \"Sat, 01 Jan 2099 00:00:00 UTC\"\n# was \"",
        1,
    );
    std::fs::write(&lock_path, &future).unwrap();
    let err = stderr(&lock(&spec));
    assert!(err.contains("stale mirror or a replayed index"), "{err}");
}

#[test]
fn the_closure_is_apts_no_install_recommends_closure() {
    // apt (the independent resolver) on an empty dpkg status, from this host's package
    // lists, against imgpush's resolution of the same request with nothing excluded.
    require("apt-get", "apt");
    let work = tempfile::tempdir().unwrap();
    let status = work.path().join("status");
    std::fs::write(&status, "").unwrap();
    let apt = Command::new("apt-get")
        .args(["-s", "-o"])
        .arg(format!("Dir::State::status={}", status.display()))
        .args(["install", "--no-install-recommends", "nginx"])
        .output()
        .unwrap();
    assert!(apt.status.success(), "{apt:?}; run `apt-get update`");
    let mut theirs: Vec<String> = String::from_utf8_lossy(&apt.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    theirs.sort();
    assert!(theirs.contains(&"nginx".to_string()), "{theirs:?}");

    let text = std::fs::read_to_string(repo_root().join("base-images/nginx.toml")).unwrap();
    let cut = text.find("[debian.exclude]").unwrap();
    let rest = &text[cut..];
    let next = rest.find("[[debian.users]]").unwrap();
    let spec = work.path().join("noexclude.toml");
    let amd64_only = text[..cut]
        .replace(
            "platforms = [\"linux/amd64\", \"linux/arm64/v8\"]",
            "platforms = [\"linux/amd64\"]",
        )
        .replace(
            "packages = [\"base-files\", \"nginx\"]",
            "packages = [\"nginx\"]",
        );
    std::fs::write(&spec, format!("{amd64_only}{}", &rest[next..])).unwrap();
    let imgpush = Imgpush::new();
    let out = imgpush
        .command()
        .args(["base", "lock", "-q"])
        .arg(&spec)
        .output()
        .unwrap();
    success_line(&out);
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(work.path().join("noexclude.lock")).unwrap())
            .unwrap();
    let mut ours: Vec<String> = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    ours.sort();
    assert_eq!(ours, theirs);
    // The shipped base, with its exclusions, installs a subset of it (plus base-files, for
    // /etc/os-release).
    let shipped = shipped_lock("nginx");
    for p in shipped["package"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_string();
        assert!(ours.contains(&name) || name == "base-files", "{name}");
    }
}
