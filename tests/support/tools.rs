//! Test prerequisites and shared places: `require`/`require_rust_cross` fail a test naming
//! the package that provides a missing tool; the repository root, the shared cross-build
//! target and imgpush cache directories, and a free loopback port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// Panics unless `tool` is on PATH, naming the package that provides it.
pub fn require(tool: &str, package: &str) {
    require_with(
        tool,
        &format!(
            "install it with `apt-get install -y {package}` (or run `bash .ci/run`, which installs every test dependency)"
        ),
    );
}

/// Panics unless `tool` is on PATH, saying how to get it.
fn require_with(tool: &str, how: &str) {
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

/// The repository checkout (fixtures, scripts).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Panics unless `tool`, a command a PyPI package installs, is on PATH, naming the package.
pub fn require_pypi(tool: &str, package: &str) {
    require_with(
        tool,
        &format!(
            "install it with `python3 -m pip install {package}` (scripts/install-deps.sh pins the version the tests use)"
        ),
    );
}

/// Panics unless python3 can import `module`, naming the PyPI package that provides it.
pub fn require_python_module(module: &str, package: &str) {
    require("python3", "python3");
    let imported = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        imported,
        "python3 cannot import `{module}`; install it with `python3 -m pip install '{package}'` (scripts/install-deps.sh pins the version the tests use)"
    );
}

/// A cargo that logs every invocation's arguments to `log`, then runs the real one.
pub fn cargo_shim(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("cargo-calls.log");
    let shim = dir.join("cargo");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec /usr/bin/cargo \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    (shim, log)
}

/// The program's builds among the logged invocations (not `metadata`, `config get`, nor
/// the one-time build of std into imgpush's std cache), as cargo-zigbuild passes them on
/// (`--package` for `-p`).
pub fn program_builds(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("build ") && !l.contains("build-std"))
        .map(str::to_string)
        .collect()
}
