//! A real CNCF distribution registry on a loopback port (plain, htpasswd, TLS or token
//! auth), with readers for its access log, its storage and its tags, and seeding from the
//! busybox layout.

use super::{TestPki, TokenServer, busybox_layout, free_port, require, skopeo};
use serde_json::Value;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

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

    /// The image tags of a repository: every tag but the referrers tags (`sha256-<hex>`,
    /// the SBOM and provenance index of a manifest), which [`Registry::all_tags`] lists
    /// too. Empty if the repository does not exist.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        self.all_tags(repo)
            .into_iter()
            .filter(|t| !is_referrers_tag(t))
            .collect()
    }

    /// The referrers tags of a repository, sorted.
    pub fn referrers_tags(&self, repo: &str) -> Vec<String> {
        let mut t: Vec<String> = self
            .all_tags(repo)
            .into_iter()
            .filter(|t| is_referrers_tag(t))
            .collect();
        t.sort();
        t
    }

    /// Every tag of a repository, referrers tags included.
    pub fn all_tags(&self, repo: &str) -> Vec<String> {
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

/// `sha256-<64 hex>`: the referrers tag schema's name for a manifest's referrers index.
pub fn is_referrers_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}
