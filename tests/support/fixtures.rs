//! Fixtures built once per checkout (under the build's tmpdir, safe against concurrent
//! test processes): the static hello test binaries and the busybox base OCI layout.

use super::{repo_root, require};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn fixtures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
