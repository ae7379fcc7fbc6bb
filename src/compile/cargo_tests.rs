use super::*;
use crate::plan::BuildStd;

fn build(builder: Builder, libc: Libc, std: StdSource) -> CargoBuild {
    let plan = CargoPlan {
        manifest_path: "/w/Cargo.toml".into(),
        workspace_root: "/w".into(),
        package: "api".into(),
        version: "1.0.0".into(),
        bins: vec!["api".into()],
        package_bins: vec!["api".into()],
        features: vec!["tls".into(), "json".into()],
        all_features: false,
        no_default_features: true,
        profile: "release".into(),
        locked: true,
        offline: false,
        target_dir: "/w/target".into(),
        libc,
        glibc_version: "2.17".into(),
        builder,
        build_std: BuildStd::Auto,
        toolchain_cache: None,
    };
    CargoBuild {
        units: vec![Unit {
            package: plan.package.clone(),
            bins: plan.bins.clone(),
            dest: "/app/api".into(),
        }],
        plan,
        tools: Tools {
            rustflags: Some("-C opt-level=3".into()),
            cargo_home: Some("/h/.cargo".into()),
            ..Tools::default()
        },
        toolchain: Toolchain {
            cargo: "/usr/bin/cargo".into(),
            rustc: "/usr/bin/rustc".into(),
            version: "rustc 1.96.0".into(),
            sysroot: "/usr".into(),
            origin: "test",
        },
        std,
        zig: Some("/opt/zig".into()),
        zigbuild: Some("/opt/cargo-zigbuild".into()),
        targets: vec![
            (
                "linux/amd64".parse().unwrap(),
                rust_target(&"linux/amd64".parse().unwrap(), libc).unwrap(),
            ),
            (
                "linux/arm64".parse().unwrap(),
                rust_target(&"linux/arm64".parse().unwrap(), libc).unwrap(),
            ),
        ],
        user_flags: UserFlags {
            env: Some(EnvFlags::Plain("-C opt-level=3".into())),
            ..UserFlags::default()
        },
        rustc_commit: Some("abc".into()),
        shared: None,
    }
}

const REMAPS: &str = "--remap-path-prefix=/w=. --remap-path-prefix=/h/.cargo=/cargo --remap-path-prefix=/w/target=/cargo/build-dir --remap-path-prefix=/usr/lib/rustlib/src/rust=/rustc/abc";

fn args(c: &Command) -> Vec<String> {
    c.get_args()
        .map(|a| a.to_string_lossy().to_string())
        .collect()
}

fn env(c: &Command, k: &str) -> Option<String> {
    c.get_envs()
        .find(|(n, _)| *n == k)
        .and_then(|(_, v)| v.map(|v| v.to_string_lossy().to_string()))
}

#[test]
fn zigbuild_with_std_from_source_uses_the_std_cache() {
    let b = build(Builder::Zigbuild, Libc::Musl, StdSource::Build);
    let c = b.command();
    assert_eq!(c.get_program(), "/opt/cargo-zigbuild");
    assert_eq!(
        args(&c).join(" "),
        "build --message-format=json-render-diagnostics --manifest-path /w/Cargo.toml -p api --bin api --profile release --features tls,json --no-default-features --locked --target-dir /w/target --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl"
    );
    assert_eq!(env(&c, "CARGO").as_deref(), Some("/usr/bin/cargo"));
    assert_eq!(env(&c, "RUSTC").as_deref(), Some("/usr/bin/rustc"));
    assert_eq!(
        env(&c, "RUSTC_BOOTSTRAP"),
        None,
        "the program itself needs no nightly features"
    );
    let sysroot = b.std_cache().sysroot();
    assert_eq!(
        env(&c, "RUSTFLAGS"),
        Some(format!(
            "-C opt-level=3 -Clink-self-contained=no --sysroot {} {REMAPS}",
            sysroot.display()
        ))
    );
    assert_eq!(
        env(&c, "CARGO_ZIGBUILD_ZIG_PATH").as_deref(),
        Some("/opt/zig")
    );
    assert!(
        c.get_envs()
            .any(|(k, v)| k == "RUSTUP_TOOLCHAIN" && v.is_none()),
        "RUSTUP_TOOLCHAIN is removed"
    );

    let s = b.std_command(
        std::path::Path::new("/c/empty/Cargo.toml"),
        std::path::Path::new("/c/build"),
        &["aarch64-unknown-linux-musl"],
    );
    assert_eq!(
        args(&s).join(" "),
        "build --message-format=json-render-diagnostics --manifest-path /c/empty/Cargo.toml --release --target-dir /c/build --target aarch64-unknown-linux-musl -Zbuild-std=std,panic_abort"
    );
    assert_eq!(env(&s, "RUSTC_BOOTSTRAP").as_deref(), Some("1"));
    assert_eq!(env(&s, "RUSTFLAGS"), None);
    assert_eq!(
        env(&s, "CARGO_ENCODED_RUSTFLAGS")
            .map(|f| f.replace('\u{1f}', " "))
            .as_deref(),
        Some(
            "-C opt-level=3 -Clink-self-contained=no -Cembed-bitcode=yes --remap-path-prefix=/c=/imgpush/std --remap-path-prefix=/h/.cargo=/cargo --remap-path-prefix=/usr/lib/rustlib/src/rust=/rustc/abc"
        )
    );
}

#[test]
fn config_rustflags_are_kept_and_ours_join_them_per_target() {
    let mut b = build(Builder::Zigbuild, Libc::Musl, StdSource::Installed);
    b.user_flags = UserFlags {
        env: None,
        build: vec!["-Ctarget-cpu=x86-64-v2".into()],
        target: std::collections::BTreeMap::from([(
            "aarch64-unknown-linux-musl".to_string(),
            vec!["--cfg".to_string(), "arm".to_string()],
        )]),
    };
    let c = b.command();
    assert_eq!(env(&c, "RUSTFLAGS"), None, "config flags are not silenced");
    let a = args(&c);
    let configs: Vec<&String> = a
        .iter()
        .zip(a.iter().skip(1))
        .filter(|(k, _)| *k == "--config")
        .map(|(_, v)| v)
        .collect();
    let quoted = REMAPS
        .split(' ')
        .map(|r| format!("\"{r}\""))
        .collect::<Vec<_>>()
        .join(", ");
    assert_eq!(
        configs,
        vec![
            &format!(
                r#"target.x86_64-unknown-linux-musl.rustflags=["-Ctarget-cpu=x86-64-v2", {quoted}]"#
            ),
            &format!("target.aarch64-unknown-linux-musl.rustflags=[{quoted}]"),
        ]
    );
}

#[test]
fn plain_cargo_with_installed_std_and_glibc() {
    let c = build(Builder::Cargo, Libc::Gnu, StdSource::Installed).command();
    assert_eq!(c.get_program(), "/usr/bin/cargo");
    let a = args(&c).join(" ");
    assert!(
        a.contains("--target x86_64-unknown-linux-gnu --target aarch64-unknown-linux-gnu"),
        "{a}"
    );
    assert!(!a.contains("build-std"));
    assert_eq!(env(&c, "RUSTC_BOOTSTRAP"), None);
    let z = build(Builder::Zigbuild, Libc::Gnu, StdSource::Installed).command();
    assert!(
        args(&z)
            .join(" ")
            .contains("--target aarch64-unknown-linux-gnu.2.17")
    );
}

#[test]
fn several_images_are_one_invocation_with_each_package_once() {
    let mut b = build(Builder::Zigbuild, Libc::Musl, StdSource::Installed);
    let unit = |package: &str, bins: &[&str]| Unit {
        package: package.into(),
        bins: bins.iter().map(|s| s.to_string()).collect(),
        dest: "/app/".into(),
    };
    b.units = vec![
        unit("api", &["api"]),
        unit("tools", &["migrate"]),
        unit("tools", &["seed"]),
    ];
    let a = args(&b.command()).join(" ");
    assert!(
        a.contains("-p api -p tools --bin api --bin migrate --bin seed"),
        "{a}"
    );
    assert_eq!(a.matches("-p tools").count(), 1, "{a}");
    assert!(
        a.contains("--target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl"),
        "{a}"
    );
    assert!(
        b.describe()
            .contains("api (bin api), tools (bin migrate), tools (bin seed)")
    );
}

/// A cache that is never reached (the entries' identities are all that is looked at).
struct Nowhere;
impl crate::compile::shared_cache::SharedCache for Nowhere {
    fn location(&self) -> &str {
        "reg.example/cache"
    }
    fn fetch(
        &self,
        _: &crate::compile::shared_cache::Entry,
        _: &std::path::Path,
    ) -> Result<Option<PathBuf>, crate::compile::shared_cache::FetchError> {
        Ok(None)
    }
    fn contains(
        &self,
        _: &crate::compile::shared_cache::Entry,
    ) -> Result<bool, crate::compile::shared_cache::FetchError> {
        Ok(true)
    }
    fn store(
        &self,
        _: &crate::compile::shared_cache::Entry,
        _: &crate::layer::Layer,
    ) -> Result<(), crate::compile::shared_cache::FetchError> {
        Ok(())
    }
}

#[test]
fn toolchain_cache_entries_hold_no_machine_paths_and_follow_the_flags() {
    let shared = || std::sync::Arc::new(Nowhere) as std::sync::Arc<_>;
    // A zig and a cargo-zigbuild that say their versions.
    let bin = tempfile::tempdir().unwrap();
    let tool = |name: &str, says: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = bin.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho '{says}'\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    };
    let (zig, zigbuild) = (
        tool("zig", "0.17.1"),
        tool("cargo-zigbuild", "cargo-zigbuild 0.24.0"),
    );
    let with_zig = |mut b: CargoBuild| {
        b.zig = Some(zig.clone());
        b.zigbuild = Some(zigbuild.clone());
        b
    };
    let here = with_zig(build(Builder::Zigbuild, Libc::Musl, StdSource::Build))
        .with_shared_cache(shared());
    let mut b = with_zig(build(Builder::Zigbuild, Libc::Musl, StdSource::Build));
    b.toolchain.sysroot = "/home/runner/elsewhere".into();
    b.plan.target_dir = "/tmp/other/target".into();
    b.plan.workspace_root = "/tmp/other".into();
    b.tools.cache_dir = Some("/var/cache/imgpush".into());
    b.tools.cargo_home = Some("/home/runner/.cargo".into());
    let there = b.with_shared_cache(shared());
    let triple = "aarch64-unknown-linux-musl";
    let entry = here.std_entry(triple).unwrap();
    assert_eq!(entry, there.std_entry(triple).unwrap());
    assert!(entry.tag.starts_with("std-aarch64-unknown-linux-musl-"));
    for path in ["/usr", "/w", "/h/.cargo", "/home", "/tmp"] {
        assert!(
            !entry.identity.contains(&format!("{path}/")),
            "{}",
            entry.identity
        );
    }
    assert!(entry.identity.contains("-Clink-self-contained=no"));
    assert!(entry.identity.contains("-C opt-level=3"));
    assert_ne!(
        entry.tag,
        here.std_entry("x86_64-unknown-linux-musl").unwrap().tag
    );
    // The user's flags are std's flags too: other flags, another std.
    let mut other = with_zig(build(Builder::Zigbuild, Libc::Musl, StdSource::Build));
    other.user_flags.env = Some(EnvFlags::Plain("-C opt-level=s".into()));
    let other = other.with_shared_cache(shared());
    assert_ne!(entry.tag, other.std_entry(triple).unwrap().tag);
    // zig's cache is per set of targets, in imgpush's cache, and the build uses it.
    let zig = here.zig_global_cache().unwrap();
    assert!(zig.starts_with(here.cache_dir()), "{}", zig.display());
    let command = here.command();
    let env: Vec<_> = command.get_envs().collect();
    assert!(
        env.iter()
            .any(|(k, v)| *k == "ZIG_GLOBAL_CACHE_DIR" && *v == Some(zig.as_os_str()))
    );
    assert!(
        entry
            .identity
            .contains("zig: 0.17.1\ncargo-zigbuild: cargo-zigbuild 0.24.0\n")
    );
    // A zig that cannot say its version shares no zig cache (std still travels).
    let unknown =
        build(Builder::Zigbuild, Libc::Musl, StdSource::Build).with_shared_cache(shared());
    assert!(unknown.zig_global_cache().is_none());
    assert!(unknown.std_entry(triple).is_some());
    // Plain cargo: no zig cache.
    let cargo = build(Builder::Cargo, Libc::Musl, StdSource::Build).with_shared_cache(shared());
    assert!(cargo.zig_global_cache().is_none());
    // No toolchain cache: no entries, zig's own cache.
    let none = build(Builder::Zigbuild, Libc::Musl, StdSource::Build);
    assert!(none.std_entry(triple).is_none());
    assert!(
        !none
            .command()
            .get_envs()
            .any(|(k, _)| k == "ZIG_GLOBAL_CACHE_DIR")
    );
}
