//! Running the imgpush binaries in isolation ([`Imgpush`]) and reading their output;
//! argument-list builders and a table-driven "these all fail" assertion.

use super::{hello, test_cache_dir};
use std::process::{Command, Output, Stdio};

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
    pub fn prepared(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.cwd.path())
            .env("DOCKER_CONFIG", self.docker_config.path())
            .env("IMGPUSH_CACHE_DIR", test_cache_dir())
            .env_remove("IMGPUSH_REPO")
            .env_remove("SOURCE_DATE_EPOCH")
            // A CI runner's own credentials must not reach the tests' registries.
            .env_remove("CI_REGISTRY")
            .env_remove("CI_REGISTRY_USER")
            .env_remove("CI_REGISTRY_PASSWORD")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITHUB_ACTOR")
            // Nor may its log format (GitHub's `::group::` lines): tests/progress.rs sets
            // these where it means to.
            .env_remove("CI")
            .env_remove("GITHUB_ACTIONS")
            .stdin(Stdio::null());
        c
    }

    pub fn command(&self) -> Command {
        self.prepared(env!("CARGO_BIN_EXE_imgpush"))
    }

    /// `imgpush` run under `umask` (e.g. `022`), through `sh`.
    pub fn command_with_umask(&self, umask: &str) -> Command {
        let mut c = self.prepared("sh");
        c.args([
            "-c",
            &format!("umask {umask} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_imgpush"),
        ]);
        c
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
