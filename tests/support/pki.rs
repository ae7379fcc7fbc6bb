//! [`TestPki`]: a throwaway certificate authority and a loopback server certificate, for
//! the TLS registry, the token server's signing key and the HTTPS fakes.

use super::require;
use std::path::PathBuf;
use std::process::Command;

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
