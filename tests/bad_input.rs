//! Every bad input of the spine issue: a clear error (what, where, how to fix), a non-zero
//! exit, and nothing written to the registry — no blob, no manifest, no tag.

mod support;

use support::*;

struct Case {
    name: &'static str,
    args: Vec<String>,
    /// Every fragment must appear in stderr.
    expect: Vec<&'static str>,
    setup: Setup,
}

/// What the working directory holds before the run.
enum Setup {
    Nothing,
    ConfigFile(&'static str),
    ConfigIsADirectory,
}

fn case(name: &'static str, args: &[&str], expect: &[&'static str]) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        expect: expect.to_vec(),
        setup: Setup::Nothing,
    }
}

#[test]
fn bad_inputs_fail_clearly_and_push_nothing() {
    let registry = Registry::start();
    let base = registry.seed_busybox("base/busybox", &[]);
    let requests_after_seed = registry.requests().len();
    let hello = hello();
    let amd = format!("linux/amd64={}", hello.amd64.display());
    let arm = format!("linux/arm64={}", hello.arm64.display());
    let repo = format!("{}/app/bad", registry.host);
    let script_dir = tempfile::tempdir().unwrap();
    let script = script_dir.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let riscv = format!("linux/riscv64={}", script.display());
    let dead = format!("127.0.0.1:{}/app/bad", free_port());

    let r = repo.as_str();
    let b = base.as_str();
    let mut cases = vec![
        case(
            "missing artifact",
            &[
                "build",
                "--repo",
                r,
                "--base",
                b,
                "--artifact",
                "linux/amd64=./nope",
            ],
            &["nope", "no such file"],
        ),
        case(
            "directory artifact",
            &[
                "build",
                "--repo",
                r,
                "--base",
                b,
                "--artifact",
                "linux/amd64=.",
            ],
            &["is a directory"],
        ),
        case(
            "two artifacts one platform",
            &[
                "build",
                "--repo",
                r,
                "--base",
                b,
                "--artifact",
                &amd,
                "--artifact",
                &format!("linux/amd64={}", hello.arm64.display()),
            ],
            &["two artifacts for linux/amd64"],
        ),
        case(
            "artifact not requested",
            &[
                "build",
                "--repo",
                r,
                "--base",
                b,
                "--platform",
                "linux/amd64",
                "--artifact",
                &amd,
                "--artifact",
                &arm,
                "--dest",
                "/app/hello",
            ],
            &["linux/arm64/v8", "not among the requested platforms"],
        ),
        case(
            "requested without artifact",
            &[
                "build",
                "--repo",
                r,
                "--base",
                b,
                "--platform",
                "linux/amd64,linux/arm64",
                "--artifact",
                &amd,
            ],
            &["no artifact for linux/arm64/v8"],
        ),
        case(
            "wrong architecture",
            &[
                "build",
                "--repo",
                r,
                "--base",
                b,
                "--artifact",
                &format!("linux/arm64={}", hello.amd64.display()),
            ],
            &[
                "ELF binary for amd64",
                "linux/arm64/v8",
                "exec format error",
            ],
        ),
        case(
            "platform amd65",
            &[
                "build",
                "--repo",
                r,
                "--base",
                b,
                "--artifact",
                &format!("linux/amd65={}", hello.amd64.display()),
            ],
            &["unknown architecture `amd65`"],
        ),
        case(
            "upper-case platform",
            &[
                "build",
                "--repo",
                r,
                "--base",
                b,
                "--platform",
                "Linux/AMD64",
                "--artifact",
                &amd,
            ],
            &["platforms are lower case", "did you mean `linux/amd64`?"],
        ),
        case(
            "tag with a slash",
            &[
                "build",
                "--repo",
                r,
                "--base",
                b,
                "--tag",
                "feature/x",
                "--artifact",
                &amd,
            ],
            &["`feature/x`", "did you mean `feature-x`?"],
        ),
        case(
            "platform without os",
            &[
                "build",
                "--repo",
                r,
                "--base",
                b,
                "--platform",
                "arm64",
                "--artifact",
                &arm,
            ],
            &["`arm64` is not a platform", "OS/ARCH"],
        ),
        case(
            "upper-case repository",
            &[
                "build",
                "--repo",
                &format!("{}/App/Bad", registry.host),
                "--base",
                b,
                "--artifact",
                &amd,
            ],
            &["lower-case"],
        ),
        case(
            "malformed base reference",
            &[
                "build",
                "--repo",
                r,
                "--base",
                &format!("{}/base/busybox:bad tag", registry.host),
                "--artifact",
                &amd,
            ],
            &["invalid tag"],
        ),
        case(
            "unknown base name",
            &[
                "build",
                "--repo",
                r,
                "--base",
                "nosuchbase",
                "--artifact",
                &amd,
            ],
            &["unknown base image name `nosuchbase`", "static"],
        ),
        case(
            "base lacks platform",
            &["build", "--repo", r, "--base", b, "--artifact", &riscv],
            &[
                "has no linux/riscv64",
                "it has: linux/amd64, linux/arm64/v8",
            ],
        ),
        case(
            "registry unreachable",
            &[
                "build",
                "--repo",
                &dead,
                "--artifact",
                &amd,
                "--retries",
                "0",
            ],
            &["cannot reach registry", "hint:"],
        ),
        case(
            "env without =",
            &[
                "build",
                "--repo",
                r,
                "--base",
                b,
                "--artifact",
                &amd,
                "--env",
                "FOO",
            ],
            &["--env `FOO`", "K=V"],
        ),
        case(
            "missing base tag",
            &[
                "build",
                "--repo",
                r,
                "--base",
                &format!("{}/base/busybox:nope", registry.host),
                "--artifact",
                &amd,
            ],
            &["MANIFEST_UNKNOWN", "base/busybox:nope"],
        ),
    ];
    cases.push(Case {
        setup: Setup::ConfigFile("platform = \"linux/amd64\"\n"),
        ..case(
            "unknown key in imgpush.toml",
            &["build", "--repo", r, "--base", b, "--artifact", &amd],
            &[
                "imgpush.toml",
                "unknown field `platform`",
                "did you mean `platforms`?",
            ],
        )
    });
    cases.push(Case {
        setup: Setup::ConfigFile("tgas = [\"v1\"]\n"),
        ..case(
            "misspelt key in imgpush.toml",
            &["build", "--repo", r, "--base", b, "--artifact", &amd],
            &["unknown field `tgas`", "did you mean `tags`?"],
        )
    });
    cases.push(Case {
        setup: Setup::ConfigFile("expose = [\"99999\"]\n"),
        ..case(
            "bad value in imgpush.toml names the file and key",
            &["build", "--repo", r, "--base", b, "--artifact", &amd],
            &["imgpush.toml: expose = 99999: the port must be a number from 1 to 65535"],
        )
    });
    cases.push(Case {
        setup: Setup::ConfigFile("repo = [unclosed\n"),
        ..case(
            "malformed imgpush.toml",
            &["build", "--repo", r, "--base", b, "--artifact", &amd],
            &["imgpush.toml is not valid"],
        )
    });
    cases.push(Case {
        setup: Setup::ConfigIsADirectory,
        ..case(
            "unreadable imgpush.toml",
            &["build", "--repo", r, "--base", b, "--artifact", &amd],
            &["cannot read", "imgpush.toml"],
        )
    });

    let mut failures = Vec::new();
    for c in &cases {
        let imgpush = Imgpush::new();
        let config = imgpush.cwd.path().join("imgpush.toml");
        match c.setup {
            Setup::Nothing => {}
            Setup::ConfigFile(text) => std::fs::write(&config, text).unwrap(),
            Setup::ConfigIsADirectory => std::fs::create_dir(&config).unwrap(),
        }
        let out = imgpush.run(&c.args.iter().map(String::as_str).collect::<Vec<_>>());
        let err = stderr(&out);
        if out.status.success() {
            failures.push(format!("{}: succeeded but should fail", c.name));
            continue;
        }
        if !stdout(&out).is_empty() {
            failures.push(format!("{}: printed to stdout: {}", c.name, stdout(&out)));
        }
        if !err.lines().any(|l| l.starts_with("error: ")) {
            failures.push(format!("{}: stderr has no `error: ` line: {err}", c.name));
        }
        for e in &c.expect {
            if !err.contains(e) {
                failures.push(format!("{}: stderr lacks `{e}`:\n{err}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // Nothing was written: no blob upload, no manifest, no tag.
    let writes: Vec<String> = registry.requests()[requests_after_seed..]
        .iter()
        .filter(|r| !r.starts_with("GET ") && !r.starts_with("HEAD "))
        .cloned()
        .collect();
    assert!(
        writes.is_empty(),
        "bad inputs wrote to the registry: {writes:?}"
    );
    assert!(registry.tags("app/bad").is_empty());
}
