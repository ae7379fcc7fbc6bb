//! `--help` is public interface: snapshots make every flag change visible in review.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_imgpush"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn imgpush_help() {
    insta::assert_snapshot!(help(&["--help"]));
}

#[test]
fn imgpush_build_help() {
    let text = help(&["build", "--help"]);
    for flag in [
        "--repo",
        "--tag",
        "--platform",
        "--base",
        "--artifact",
        "--dest",
        "--entrypoint",
        "--cmd",
        "--env",
        "--workdir",
        "--user",
        "--expose",
        "--label",
        "--annotation",
        "--oci-layout",
        "--insecure-registry",
        "--json",
        "--verbose",
        "imgpush-out",
        "Examples:",
    ] {
        assert!(text.contains(flag), "build --help lacks {flag}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn cargo_imgpush_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-imgpush"))
        .args(["imgpush", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--package",
        "--bin",
        "--features",
        "--all-features",
        "--no-default-features",
        "--profile",
        "--locked",
        "--offline",
        "--manifest-path",
        "--target-dir",
        "--libc",
        "--builder",
        "--build-std",
        "--repo",
        "--platform",
    ] {
        assert!(text.contains(flag), "cargo imgpush --help lacks {flag}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn imgpush_doctor_help() {
    insta::assert_snapshot!(help(&["doctor", "--help"]));
}

#[test]
fn imgpush_login_help() {
    let text = help(&["login", "--help"]);
    assert!(
        text.contains("--password-stdin") && !text.contains("--password "),
        "no password flag"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn image_commands_help() {
    for (args, flags) in [
        (
            &["inspect", "--help"][..],
            &[
                "--raw",
                "--json",
                "--platform",
                "oci-archive:FILE",
                "Examples:",
            ][..],
        ),
        (
            &["sbom", "--help"],
            &[
                "--platform",
                "--format",
                "cyclonedx",
                "oci-layout:DIR",
                "Examples:",
            ],
        ),
        (
            &["copy", "--help"],
            &[
                "--all",
                "--platform",
                "--jobs",
                "oci-layout:DIR",
                "Examples:",
            ],
        ),
        (
            &["index", "create", "--help"],
            &[
                "--tag",
                "--append",
                "--replace",
                "--annotation",
                "Examples:",
            ],
        ),
        (
            &["rebase", "--help"],
            &[
                "--base",
                "--old-base",
                "--tag",
                "--platform",
                "--json",
                "Examples:",
            ],
        ),
        (
            &["outdated", "--help"],
            &["--json", "--exit-code", "IMAGE", "Examples:"],
        ),
        (
            &["resolve", "--help"],
            &["--filename", "--repo", "--tag", "--platform", "Examples:"],
        ),
    ] {
        let text = help(args);
        for flag in flags {
            assert!(text.contains(flag), "{args:?} lacks {flag}");
        }
        insta::assert_snapshot!(args.join("_").replace("--", ""), text);
    }
}
