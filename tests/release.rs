//! The release artifacts: `scripts/release.sh` runs imgpush's own pipeline (`cargo imgpush
//! --bin imgpush --bin cargo-imgpush --dist`) on this checkout and must give exactly the
//! files `[package.metadata.binstall]` in Cargo.toml points at — one tarball per target
//! with both static binaries, a SHA256SUMS that `sha256sum -c` accepts — and the same bytes
//! when run again. The binaries are run: amd64 natively, arm64 under qemu-aarch64-static
//! (verification only; nothing is built under emulation).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const TARGETS: [&str; 2] = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn release(imgpush: &Imgpush, out: &Path) -> String {
    let mut c = imgpush.prepared("bash");
    c.arg(repo_root().join("scripts/release.sh"))
        .arg(out)
        .env("CARGO_IMGPUSH", env!("CARGO_BIN_EXE_cargo-imgpush"))
        .env("CARGO_TARGET_DIR", shared_target_dir());
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "release.sh failed:\nstdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    std::fs::read_to_string(out.join("SHA256SUMS")).unwrap()
}

/// `[package.metadata.binstall]`'s template with cargo-binstall's variables filled in.
fn binstall(key: &str, target: &str, bin: &str) -> String {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap()).unwrap();
    manifest["package"]["metadata"]["binstall"][key]
        .as_str()
        .unwrap()
        .replace("{ version }", VERSION)
        .replace("{ target }", target)
        .replace("{ bin }", bin)
        .replace("{ binary-ext }", "")
        .replace("{ repo }", "https://example.invalid/repo")
}

fn tar_list(path: &Path) -> Vec<String> {
    let o = Command::new("tar").arg("-tvzf").arg(path).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).lines().map(str::to_string).collect()
}

fn run_version(program: &[&Path]) -> String {
    let (first, rest) = program.split_first().unwrap();
    let o = Command::new(first)
        .args(rest)
        .arg("--version")
        .output()
        .unwrap();
    assert!(o.status.success(), "{program:?}: {}", stderr(&o));
    stdout(&o).trim().to_string()
}

#[test]
fn release_tarballs_are_what_binstall_fetches_and_reproducible() {
    require_rust_cross();
    require("qemu-aarch64-static", "qemu-user-static");
    require("file", "file");
    let imgpush = Imgpush::new();
    let out = tempfile::tempdir().unwrap();
    let sums = release(&imgpush, out.path());

    // One tarball per target, named as binstall's pkg-url ends, and SHA256SUMS listing them.
    let mut names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let mut expected: Vec<String> = TARGETS
        .iter()
        .map(|t| {
            let url = binstall("pkg-url", t, "imgpush");
            url.rsplit('/').next().unwrap().to_string()
        })
        .chain(["SHA256SUMS".to_string()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(sums.lines().count(), 2, "{sums}");
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(out.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );

    for target in TARGETS {
        let tarball = out
            .path()
            .join(format!("imgpush-{VERSION}-{target}.tar.gz"));
        let listing = tar_list(&tarball);
        let dir = format!("imgpush-{VERSION}-{target}");
        let entry = |name: &str| {
            listing
                .iter()
                .find(|l| l.ends_with(&format!(" {dir}/{name}")))
                .unwrap_or_else(|| panic!("{name} missing from {tarball:?}: {listing:#?}"))
                .clone()
        };
        for bin in ["imgpush", "cargo-imgpush"] {
            // binstall's bin-dir is the path inside the tarball.
            assert_eq!(binstall("bin-dir", target, bin), format!("{dir}/{bin}"));
            let line = entry(bin);
            assert!(line.starts_with("-rwxr-xr-x 0/0"), "{line}");
        }
        for doc in ["README.md", "LICENSE-MIT", "LICENSE-APACHE"] {
            assert!(entry(doc).starts_with("-rw-r--r-- 0/0"));
        }
        assert_eq!(listing.len(), 6, "{listing:#?}");

        let unpacked = tempfile::tempdir().unwrap();
        let o = Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(unpacked.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let bin_dir: PathBuf = unpacked.path().join(&dir);
        for bin in ["imgpush", "cargo-imgpush"] {
            let path = bin_dir.join(bin);
            let file = Command::new("file").arg(&path).output().unwrap();
            let what = stdout(&file);
            assert!(what.contains("statically linked"), "{what}");
            let arch = if target.starts_with("x86_64") {
                "x86-64"
            } else {
                "ARM aarch64"
            };
            assert!(what.contains(arch), "{what}");
            let qemu = PathBuf::from("qemu-aarch64-static");
            let version = if target.starts_with("x86_64") {
                run_version(&[&path])
            } else {
                run_version(&[&qemu, &path])
            };
            let shown = if bin == "imgpush" {
                "imgpush"
            } else {
                "cargo-imgpush"
            };
            assert_eq!(version, format!("{shown} {VERSION}"));
        }
    }

    // Again, into another directory: the same bytes (the epoch is the last commit's).
    let again = tempfile::tempdir().unwrap();
    assert_eq!(release(&imgpush, again.path()), sums);
}
