//! `fixtures/https-fake/https_fake.py`: an HTTPS registry on loopback (the test PKI's
//! leaf) that sends the client to plain http on a non-loopback host, by a `307` on
//! manifests or blobs or by an upload `Location`. Logs every request; killed on drop.

use crate::support::{TestPki, repo_root, require};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

#[derive(Clone, Copy, Debug)]
pub enum HttpsFakeMode {
    RedirectManifests,
    RedirectBlobs,
    Upload,
}

pub struct HttpsFake {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// The CA that signed its certificate, for `--ca-cert`.
    pub ca_pem: PathBuf,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
    _pki: TestPki,
}

impl HttpsFake {
    pub fn start(mode: HttpsFakeMode) -> HttpsFake {
        require("python3", "python3");
        let pki = TestPki::new();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.log");
        std::fs::write(&log, "").unwrap();
        let mode = match mode {
            HttpsFakeMode::RedirectManifests => "redirect-manifests",
            HttpsFakeMode::RedirectBlobs => "redirect-blobs",
            HttpsFakeMode::Upload => "upload",
        };
        let mut child = Command::new("python3")
            .arg(repo_root().join("fixtures/https-fake/https_fake.py"))
            .arg(&pki.leaf_pem)
            .arg(&pki.leaf_key)
            .arg(mode)
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The first line is the port it listens on: no race for a free port.
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let port: u16 = match line.trim().parse() {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("https_fake.py did not start: {line:?}");
            }
        };
        HttpsFake {
            host: format!("127.0.0.1:{port}"),
            ca_pem: pki.ca_pem.clone(),
            log,
            child,
            _dir: dir,
            _pki: pki,
        }
    }

    /// Requests so far, as `METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The child's process id (to check it is gone after drop).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for HttpsFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
