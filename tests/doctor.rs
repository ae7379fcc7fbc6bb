//! `imgpush doctor` fails only for what the project in front of it needs, and does not
//! claim a std was built before it was (issue 17).

mod support;

use support::*;

/// A target no toolchain has a std for, with building std from source refused: the Rust
/// side is certainly missing something.
const MISSING_STD: &[&str] = &[
    "doctor",
    "--platform",
    "linux/riscv64",
    "--build-std",
    "never",
];

#[test]
fn a_prebuilt_or_bundle_project_does_not_need_rust() {
    let empty = Imgpush::new();
    let out = empty.run(MISSING_STD);
    assert!(
        !out.status.success(),
        "no project: every build need counts\n{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("MISSING"), "{}", stdout(&out));

    for (file, why) in [
        (
            "[artifacts]\n\"linux/riscv64\" = \"dist/app\"\n",
            "gives prebuilt artifacts",
        ),
        ("static = \"site\"\n", "is a static bundle"),
    ] {
        let project = Imgpush::new();
        std::fs::write(project.cwd.path().join("imgpush.toml"), file).unwrap();
        let out = project.run(MISSING_STD);
        let text = stdout(&out);
        assert!(out.status.success(), "{file}: {text}{}", stderr(&out));
        assert!(
            !text.contains("MISSING")
                && text.contains(&format!("not needed here: this project {why}")),
            "{text}"
        );
    }
}

#[test]
fn std_from_source_is_not_said_to_be_built_already() {
    let out = Imgpush::new().run(&["doctor", "--platform", "linux/riscv64"]);
    let text = stdout(&out);
    assert!(!text.contains("built once into"), "{text}");
}
