//! [`TokenServer`]: the token endpoint of distribution's `auth.token` scheme, run from
//! `fixtures/token-server/token_server.py`, logging the scopes of every token request.

use super::{TestPki, free_port, repo_root, require};
use serde_json::Value;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
