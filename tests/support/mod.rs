//! Shared by the integration tests: a real distribution registry on 127.0.0.1, fixture
//! builders (static hello binaries, the busybox base layout) and independent checkers.
//! A missing tool fails the test naming the Debian package to install; nothing is skipped.
#![allow(dead_code)]

pub mod field;

use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Panics unless `tool` is on PATH, naming the package that provides it.
pub fn require(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed; install it with `apt-get install -y {package}` (or run `bash .ci/run`, which installs every test dependency)"
    );
}

/// Panics unless `tool` is on PATH, saying how to get it.
pub fn require_with(tool: &str, how: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(found, "`{tool}` is not installed; {how}");
}

/// One target directory for every cross build in the tests, so std (built from source
/// with -Zbuild-std) and zig's libc are compiled once per target, not once per test.
pub fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("xc-target")
}

/// imgpush's cache for the tests (the std built from source lives here), inside the
/// build's tmpdir so a fresh checkout exercises building it.
pub fn test_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("imgpush-cache")
}

/// The Rust cross toolchain the cargo tests need.
pub fn require_rust_cross() {
    let how = "run `bash scripts/install-toolchain.sh` (Debian's rustc-web + rust-web-src, zig and cargo-zigbuild from PyPI)";
    require_with("cargo-zigbuild", how);
    require_with("zig", how);
    assert!(
        Path::new("/usr/lib/rustlib/src/rust/library/std/Cargo.toml").exists()
            || std::env::var_os("IMGPUSH_CARGO").is_some(),
        "no std source for cross builds; {how}"
    );
}

fn fixtures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds `out` with `make` unless it exists; builds into a sibling temp path and renames,
/// so concurrent test processes never see a half-made fixture.
fn build_once(out: &Path, make: impl FnOnce(&Path)) -> PathBuf {
    if !out.exists() {
        let tmp = out.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let _ = std::fs::remove_file(&tmp);
        make(&tmp);
        if std::fs::rename(&tmp, out).is_err() {
            assert!(out.exists(), "could not place fixture {}", out.display());
        }
    }
    out.to_path_buf()
}

pub struct HelloBinaries {
    pub amd64: PathBuf,
    pub arm64: PathBuf,
}

/// Small static test binaries printing their CPU: `gcc -static` and `aarch64-linux-gnu-gcc -static`.
pub fn hello() -> &'static HelloBinaries {
    static ONCE: OnceLock<HelloBinaries> = OnceLock::new();
    ONCE.get_or_init(|| {
        let src = repo_root().join("fixtures/hello/hello.c");
        let compile = |cc: &str, package: &str, name: &str| {
            require(cc, package);
            build_once(&fixtures_dir().join(name), |tmp| {
                let status = Command::new(cc)
                    .args(["-static", "-O2", "-o"])
                    .arg(tmp)
                    .arg(&src)
                    .status()
                    .unwrap();
                assert!(status.success(), "{cc} failed to build the test binary");
            })
        };
        HelloBinaries {
            amd64: compile("gcc", "gcc libc6-dev", "hello-amd64"),
            arm64: compile(
                "aarch64-linux-gnu-gcc",
                "gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
                "hello-arm64",
            ),
        }
    })
}

/// The busybox base as an OCI layout (tags: latest = index, amd64, arm64), made by
/// `fixtures/busybox-base/make-base.py` from Debian's busybox-static packages.
pub fn busybox_layout() -> &'static PathBuf {
    static ONCE: OnceLock<PathBuf> = OnceLock::new();
    ONCE.get_or_init(|| {
        require("python3", "python3");
        require("dpkg-deb", "dpkg");
        require("apt-get", "apt");
        let debs = fixtures_dir().join("debs");
        std::fs::create_dir_all(&debs).unwrap();
        build_once(&fixtures_dir().join("busybox-layout"), |tmp| {
            let out = Command::new("python3")
                .arg(repo_root().join("fixtures/busybox-base/make-base.py"))
                .arg(tmp)
                .arg(&debs)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "make-base.py failed (it needs `dpkg --add-architecture arm64 && apt-get update`):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
    })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CNCF distribution registry (`docker-registry`) on a free loopback port with throwaway
/// storage; killed on drop.
pub struct Registry {
    pub host: String,
    child: Child,
    dir: tempfile::TempDir,
    pub credentials: Option<(String, String)>,
    /// Serving HTTPS (with the test CA).
    pub tls: bool,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_inner(None, None, None)
    }

    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        Registry::start_inner(Some((user.to_string(), password.to_string())), None, None)
    }

    /// Serving HTTPS with `pki`'s leaf certificate.
    pub fn start_with_tls(pki: &TestPki) -> Registry {
        Registry::start_inner(None, None, Some(pki))
    }

    /// Distribution's `auth.token`: tokens from `server`, trusted through its certificate.
    pub fn start_with_token_auth(server: &TokenServer) -> Registry {
        let yaml = format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            server.host,
            TokenServer::SERVICE,
            TokenServer::ISSUER,
            server.cert_pem.display()
        );
        Registry::start_inner(None, Some(yaml), None)
    }

    fn start_inner(
        credentials: Option<(String, String)>,
        auth_yaml: Option<String>,
        tls: Option<&TestPki>,
    ) -> Registry {
        require("docker-registry", "docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("storage").display()
        );
        if let Some(pki) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                pki.leaf_pem.display(),
                pki.leaf_key.display()
            ));
        }
        if let Some((user, password)) = &credentials {
            require("htpasswd", "apache2-utils");
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .unwrap();
            assert!(out.status.success());
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: imgpush-test\n    path: {}\n",
                path.display()
            ));
        }
        if let Some(yaml) = auth_yaml {
            config.push_str(&yaml);
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let registry = Registry {
            host,
            child,
            dir,
            credentials,
            tls: tls.is_some(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&registry.host).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start:\n{}",
                registry.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Access-log lines of requests, as `(METHOD, path?query)`.
    pub fn raw_requests(&self) -> Vec<(String, String)> {
        self.log()
            .lines()
            .filter_map(|l| {
                let start = ["\"GET ", "\"HEAD ", "\"PUT ", "\"POST ", "\"PATCH "]
                    .iter()
                    .find_map(|m| l.find(m))?;
                let mut parts = l[start + 1..].split(' ');
                Some((parts.next()?.to_string(), parts.next()?.to_string()))
            })
            .collect()
    }

    /// Access-log lines of requests, as `METHOD path` (query strings dropped).
    pub fn requests(&self) -> Vec<String> {
        self.raw_requests()
            .into_iter()
            .map(|(m, t)| format!("{m} {}", t.split('?').next().unwrap_or("")))
            .collect()
    }

    /// Requests that changed something (anything but GET and HEAD), as `METHOD path`.
    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| !r.starts_with("GET") && !r.starts_with("HEAD"))
            .collect()
    }

    /// How many uploads of `digest` (`sha256:…`) into `repo` the registry completed (the
    /// final PUT of an upload session carries `?digest=`).
    pub fn uploads_of(&self, repo: &str, digest: &str) -> usize {
        let hex = digest.trim_start_matches("sha256:");
        let prefix = format!("/v2/{repo}/blobs/uploads/");
        self.raw_requests()
            .iter()
            .filter(|(m, t)| {
                m == "PUT"
                    && t.starts_with(&prefix)
                    && (t.contains(&format!("sha256%3A{hex}"))
                        || t.contains(&format!("sha256:{hex}")))
            })
            .count()
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Copies the busybox base layout into this registry as `repo:latest` with skopeo.
    pub fn seed_busybox(&self, repo: &str, extra: &[&str]) -> String {
        let reference = format!("{}/{repo}:latest", self.host);
        let mut args = vec!["copy", "--all", "--dest-tls-verify=false"];
        args.extend_from_slice(extra);
        let src = format!("oci:{}:latest", busybox_layout().display());
        let dest = format!("docker://{reference}");
        let mut args: Vec<String> = args.into_iter().map(str::to_string).collect();
        if let Some((u, p)) = &self.credentials {
            args.push(format!("--dest-creds={u}:{p}"));
        }
        args.push(src);
        args.push(dest);
        skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>());
        reference
    }

    /// Tags of a repository (empty if the repository does not exist).
    pub fn tags(&self, repo: &str) -> Vec<String> {
        require("curl", "curl");
        let mut cmd = Command::new("curl");
        let scheme = if self.tls { "https" } else { "http" };
        cmd.args([
            "-sk",
            &format!("{scheme}://{}/v2/{repo}/tags/list", self.host),
        ]);
        if let Some((u, p)) = &self.credentials {
            cmd.args(["-u", &format!("{u}:{p}")]);
        }
        let out = cmd.output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v.get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn docker_config(&self, dir: &Path, password: Option<&str>) -> PathBuf {
        use base64::Engine as _;
        let (u, p) = self.credentials.clone().expect("registry has credentials");
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{u}:{}", password.unwrap_or(&p)));
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("config.json"),
            serde_json::json!({"auths": {self.host.clone(): {"auth": auth}}}).to_string(),
        )
        .unwrap();
        dir.to_path_buf()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs skopeo and returns stdout, failing the test with its stderr if it fails.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    require("skopeo", "skopeo");
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn skopeo_raw(reference: &str, creds: Option<&(String, String)>) -> Vec<u8> {
    let mut args = vec!["inspect".to_string(), "--raw".to_string()];
    if reference.starts_with("docker://") {
        args.push("--tls-verify=false".into());
    }
    if let Some((u, p)) = creds {
        args.push(format!("--creds={u}:{p}"));
    }
    args.push(reference.to_string());
    skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// An `imgpush` command in a fresh working directory with an empty docker config, so
/// nothing on the host leaks into a test.
pub struct Imgpush {
    pub cwd: tempfile::TempDir,
    pub docker_config: tempfile::TempDir,
}

impl Imgpush {
    pub fn new() -> Imgpush {
        Imgpush {
            cwd: tempfile::tempdir().unwrap(),
            docker_config: tempfile::tempdir().unwrap(),
        }
    }

    /// `program` in the test's working directory, with an empty docker config and the
    /// tests' own imgpush cache.
    fn prepared(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.cwd.path())
            .env("DOCKER_CONFIG", self.docker_config.path())
            .env("IMGPUSH_CACHE_DIR", test_cache_dir())
            .env_remove("IMGPUSH_REPO")
            .env_remove("SOURCE_DATE_EPOCH")
            .stdin(Stdio::null());
        c
    }

    pub fn command(&self) -> Command {
        self.prepared(env!("CARGO_BIN_EXE_imgpush"))
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    pub fn run_owned(&self, args: &[String]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// `cargo-imgpush imgpush ARGS…`, as `cargo imgpush ARGS…` runs it.
    pub fn cargo_imgpush(&self, args: &[&str]) -> Output {
        let mut c = self.prepared(env!("CARGO_BIN_EXE_cargo-imgpush"));
        c.arg("imgpush").args(args).output().unwrap()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Asserts success and returns the single stdout line.
pub fn success_line(o: &Output) -> String {
    assert!(
        o.status.success(),
        "imgpush failed:\nstdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    let out = stdout(o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout must be exactly one line, got: {out:?}"
    );
    lines[0].to_string()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Copies one platform of `src` (a skopeo source reference) into an OCI layout and unpacks
/// it with umoci; returns the bundle directory (rootfs + runtime config.json).
pub fn unpack_platform(
    src: &str,
    arch: &str,
    work: &Path,
    creds: Option<&(String, String)>,
) -> PathBuf {
    require("umoci", "umoci");
    let layout = work.join(format!("layout-{arch}"));
    let mut args = vec!["copy".to_string(), format!("--override-arch={arch}")];
    if src.starts_with("docker://") {
        args.push("--src-tls-verify=false".into());
    }
    if let Some((u, p)) = creds {
        args.push(format!("--src-creds={u}:{p}"));
    }
    args.push(src.to_string());
    args.push(format!("oci:{}:{arch}", layout.display()));
    skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let bundle = work.join(format!("bundle-{arch}"));
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{arch}", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci unpack failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bundle
}

/// Runs an unpacked amd64 bundle with runc (no terminal) and returns its stdout.
pub fn runc_run(bundle: &Path) -> String {
    require("runc", "runc");
    let config_path = bundle.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["process"]["terminal"] = Value::Bool(false);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let state = bundle.join("runc-state");
    let id = format!("imgpush-test-{}-{}", std::process::id(), free_port());
    let out = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["run", "-b"])
        .arg(bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new("runc")
        .arg("--root")
        .arg(&state)
        .args(["delete", "-f", &id])
        .output();
    assert!(
        out.status.success(),
        "runc run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs an arm64 binary under qemu-user (verification only, never used to build).
pub fn qemu_arm64(binary: &Path) -> String {
    require("qemu-aarch64-static", "qemu-user-static");
    let out = Command::new("qemu-aarch64-static")
        .arg(binary)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "qemu-aarch64-static failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs each `(name, args, expected stderr fragments)` case with a fresh `Imgpush` and
/// asserts it fails with every fragment in stderr.
pub fn assert_all_fail(cases: &[(&str, Vec<&str>, Vec<&str>)]) {
    for (name, args, expect) in cases {
        let out = Imgpush::new().run(args);
        assert!(!out.status.success(), "{name} should fail");
        for e in expect {
            assert!(
                stderr(&out).contains(e),
                "{name}: stderr lacks `{e}`:\n{}",
                stderr(&out)
            );
        }
    }
}

/// What a [`FaultProxy`] rule does to a matching request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and `Retry-After: secs`) instead of forwarding.
    Status(u16, Option<u64>),
    /// Drop the connection without an answer (a reset, as far as the client can tell).
    Drop,
    /// Forward after this many milliseconds.
    Delay(u64),
    /// Forward, but send back only half of the answer's body (headers intact).
    Truncate,
    /// Forward, and flip one bit in the last byte of the answer's body.
    Flip,
}

/// Fail `times` requests whose method is `method` and whose path contains `path`, after
/// letting the first `after` of them through.
#[derive(Clone, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub path: String,
    pub after: usize,
    pub times: usize,
    pub fault: Fault,
}

/// An HTTP proxy between imgpush and a registry that injects faults by rule. Every request
/// gets its own connection (`Connection: close` both ways), so each is seen and decided on.
pub struct FaultProxy {
    pub host: String,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FaultProxy {
    pub fn start(upstream: &str, rules: Vec<Rule>) -> FaultProxy {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let rules = Arc::new(Mutex::new(rules));
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (upstream, log2) = (upstream.to_string(), log.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { break };
                let (rules, log, upstream) = (rules.clone(), log2.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(client.try_clone().unwrap());
                    let mut head = Vec::new();
                    let mut length = 0usize;
                    let mut request_line = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if request_line.is_empty() {
                            request_line = line.trim_end().to_string();
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            head.extend_from_slice(b"Connection: close\r\n\r\n");
                            break;
                        }
                        if !lower.starts_with("connection:") {
                            head.extend_from_slice(line.as_bytes());
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let mut parts = request_line.split(' ');
                    let (method, path) = (
                        parts.next().unwrap_or("").to_string(),
                        parts.next().unwrap_or("").to_string(),
                    );
                    let fault = {
                        let mut rules = rules.lock().unwrap();
                        match rules
                            .iter_mut()
                            .find(|r| r.times > 0 && r.method == method && path.contains(&r.path))
                        {
                            Some(r) if r.after > 0 => {
                                r.after -= 1;
                                None
                            }
                            Some(r) => {
                                r.times -= 1;
                                Some(r.fault.clone())
                            }
                            None => None,
                        }
                    };
                    log.lock().unwrap().push(format!(
                        "{method} {path} {}",
                        match &fault {
                            Some(f) => format!("{f:?}"),
                            None => "forwarded".into(),
                        }
                    ));
                    let forward = || {
                        let mut up = TcpStream::connect(&upstream).unwrap();
                        up.write_all(&head).unwrap();
                        up.write_all(&body).unwrap();
                        let mut response = Vec::new();
                        let _ = up.read_to_end(&mut response);
                        response
                    };
                    let body_at = |r: &[u8]| {
                        r.windows(4)
                            .position(|w| w == b"\r\n\r\n")
                            .map(|i| i + 4)
                            .unwrap_or(r.len())
                    };
                    match fault {
                        Some(Fault::Drop) => {}
                        Some(Fault::Status(code, retry_after)) => {
                            let extra = retry_after
                                .map(|s| format!("Retry-After: {s}\r\n"))
                                .unwrap_or_default();
                            let _ = write!(
                                client,
                                "HTTP/1.1 {code} Injected\r\nContent-Length: 0\r\nConnection: close\r\n{extra}\r\n"
                            );
                        }
                        Some(Fault::Delay(ms)) => {
                            std::thread::sleep(Duration::from_millis(ms));
                            let _ = client.write_all(&forward());
                        }
                        Some(Fault::Truncate) => {
                            let r = forward();
                            let start = body_at(&r);
                            let _ = client.write_all(&r[..start + (r.len() - start) / 2]);
                        }
                        Some(Fault::Flip) => {
                            let mut r = forward();
                            if r.len() > body_at(&r) {
                                let last = r.len() - 1;
                                r[last] ^= 0x01;
                            }
                            let _ = client.write_all(&r);
                        }
                        None => {
                            let _ = client.write_all(&forward());
                        }
                    }
                });
            }
        });
        FaultProxy { host, log }
    }
}

/// `fixtures/token-server/token_server.py`: signs JWTs for distribution's token auth with a
/// throwaway RSA key; logs the scopes of every token request. Killed on drop.
pub struct TokenServer {
    pub host: String,
    pub cert_pem: PathBuf,
    pub log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
    _pki: TestPki,
}

impl TokenServer {
    pub const SERVICE: &'static str = "imgpush-test-registry";
    pub const ISSUER: &'static str = "imgpush-test-token-server";

    pub fn start() -> TokenServer {
        TokenServer::start_with(300, None)
    }

    /// Tokens whose `exp` is `ttl` seconds from now (the answer claims 300; distribution
    /// adds 60 s of leeway, so −58 means "rejected after about 2 s"); `refresh` is the one
    /// refresh token (docker's `identitytoken`) the POST endpoint accepts.
    pub fn start_with(ttl: i64, refresh: Option<&str>) -> TokenServer {
        require("openssl", "openssl");
        require("python3", "python3");
        // The test CA signs the tokens: its certificate goes into the JWT's x5c and the
        // registry's rootcertbundle.
        let pki = TestPki::new();
        let dir = tempfile::tempdir().unwrap();
        let der = dir.path().join("ca.der");
        let ok = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&pki.ca_pem)
            .arg("-out")
            .arg(&der)
            .status()
            .unwrap()
            .success();
        assert!(ok, "openssl could not convert the CA certificate to DER");
        let (key, cert) = (pki.ca_key.clone(), pki.ca_pem.clone());
        let port = free_port();
        let log = dir.path().join("scopes.log");
        let child = Command::new("python3")
            .arg(repo_root().join("fixtures/token-server/token_server.py"))
            .arg(port.to_string())
            .arg(&key)
            .arg(&der)
            .args([Self::ISSUER, Self::SERVICE])
            .arg(&log)
            .arg(ttl.to_string())
            .args(refresh)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let host = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&host).is_err() {
            assert!(Instant::now() < deadline, "the token server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        TokenServer {
            host,
            cert_pem: cert,
            log,
            child,
            _dir: dir,
            _pki: pki,
        }
    }

    /// Each token request so far as logged (`scopes`, and `grant` for refresh-token POSTs).
    pub fn raw_requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The scopes of each token request so far, one entry per request.
    pub fn requests(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["scopes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway CA and a leaf certificate it signed for `IP:127.0.0.1` / `DNS:localhost`
/// (CA:FALSE, serverAuth), made with the openssl CLI.
pub struct TestPki {
    pub ca_pem: PathBuf,
    pub ca_key: PathBuf,
    pub leaf_pem: PathBuf,
    pub leaf_key: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestPki {
    pub fn new() -> TestPki {
        require("openssl", "openssl");
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=imgpush test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
        ]);
        std::fs::write(
            p("leaf.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ]);
        TestPki {
            ca_pem: p("ca.pem"),
            ca_key: p("ca.key"),
            leaf_pem: p("leaf.pem"),
            leaf_key: p("leaf.key"),
            _dir: dir,
        }
    }
}

/// The platform manifests an index in the registry lists, as `(architecture, digest,
/// manifest)`, fetched by digest with skopeo. `repo` is `HOST/REPO` (no tag).
pub fn platform_manifests(repo: &str, index: &Value) -> Vec<(String, String, Value)> {
    index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| {
            let digest = m["digest"].as_str().unwrap().to_string();
            let raw = skopeo_raw(&format!("docker://{repo}@{digest}"), None);
            (
                m["platform"]["architecture"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                digest,
                serde_json::from_slice(&raw).unwrap(),
            )
        })
        .collect()
}

/// An owned argument list: `base` then `extra`.
pub fn arg_list(base: &[&str], extra: &[&str]) -> Vec<String> {
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// `build --repo REPO --dest /app/hello --artifact linux/amd64=… --artifact linux/arm64=…
/// EXTRA…` with the hello test binaries.
pub fn hello_build(repo: &str, extra: &[&str]) -> Vec<String> {
    let hello = hello();
    let mut args = vec![
        "build".to_string(),
        "--repo".into(),
        repo.to_string(),
        "--dest".into(),
        "/app/hello".into(),
        "--artifact".into(),
        format!("linux/amd64={}", hello.amd64.display()),
        "--artifact".into(),
        format!("linux/arm64={}", hello.arm64.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}
