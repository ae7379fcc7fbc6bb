//! The SBOM collectors on real builds, through the library as the pipeline drives them:
//! a Rust fixture with one dependency of each kind (normal, `cfg(target_arch)`, dev,
//! build, disabled optional) cross-compiled for amd64 and arm64, a Go binary, and the
//! packages of the busybox package base.

mod support;

use imgpush::compile;
use imgpush::image::sbom::{Component, ComponentKind, HashAlgorithm};
use imgpush::oci::Platform;
use imgpush::plan::{BuildStd, Builder, CargoPlan, Environment, GoPlan, Libc};
use imgpush::report::{Event, RecordingReporter};
use std::collections::BTreeMap;
use support::*;

fn tools() -> imgpush::plan::Tools {
    let mut tools = Environment::from_process().unwrap().tools();
    tools.cache_dir = Some(test_cache_dir());
    tools.color = false;
    tools
}

fn by_id(components: &[Component]) -> BTreeMap<&str, &Component> {
    let map: BTreeMap<&str, &Component> = components.iter().map(|c| (c.id.as_str(), c)).collect();
    assert_eq!(
        map.len(),
        components.len(),
        "ids are unique: {components:#?}"
    );
    map
}

/// `(name, version) → (source, checksum)` of a Cargo.lock.
fn lock_entries(
    path: &std::path::Path,
) -> BTreeMap<(String, String), (Option<String>, Option<String>)> {
    let lock: toml::Value = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_string);
            (
                (s("name").unwrap(), s("version").unwrap()),
                (s("source"), s("checksum")),
            )
        })
        .collect()
}

#[test]
fn each_platform_lists_exactly_the_crates_compiled_for_it() {
    require_rust_cross();
    let dir = repo_root().join("fixtures/sbom-crate");
    let plan = CargoPlan {
        manifest_path: dir.join("Cargo.toml"),
        workspace_root: dir.clone(),
        package: "sbom-crate".into(),
        version: "0.2.0".into(),
        bins: vec!["sbom-crate".into()],
        package_bins: vec!["sbom-crate".into()],
        features: vec![],
        all_features: false,
        no_default_features: false,
        profile: "release".into(),
        locked: true,
        offline: true,
        target_dir: shared_target_dir(),
        libc: Libc::Musl,
        glibc_version: "2.17".into(),
        builder: Builder::Zigbuild,
        build_std: BuildStd::Auto,
        toolchain_cache: None,
    };
    let platforms: Vec<Platform> = vec![
        "linux/amd64".parse().unwrap(),
        "linux/arm64".parse().unwrap(),
    ];
    let tools = tools();
    let build = compile::cargo::prepare(&plan, &tools, &platforms, "/app/sbom-crate").unwrap();
    let std_from_source = build.describe().contains("std from source");
    let reporter = RecordingReporter::default();
    let artifacts = build.run(&reporter).unwrap();
    eprintln!("{}", build.describe());

    // cargo's output still reaches the user; its JSON messages do not.
    let lines: Vec<String> = reporter
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ChildOutput { line, .. } => Some(line),
            _ => None,
        })
        .collect();
    assert!(lines.iter().any(|l| l.contains("Finished")), "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("\"reason\"")),
        "{lines:#?}"
    );

    let lock = lock_entries(&dir.join("Cargo.lock"));
    let toolchain = build.toolchain();
    let rust = toolchain.version.split(' ').nth(1).unwrap().to_string();
    let std_lock = lock_entries(
        &toolchain
            .sysroot
            .join("lib/rustlib/src/rust/library/Cargo.lock"),
    );

    // Again, with everything fresh and std from the cache: the same components.
    let again = RecordingReporter::default();
    let rebuilt = build.run(&again).unwrap();
    if std_from_source {
        assert!(
            again
                .events()
                .iter()
                .any(|e| matches!(e, Event::StdFromCache { .. })),
            "the second build takes std from the cache"
        );
    }
    for (a, b) in artifacts.iter().zip(&rebuilt) {
        assert_eq!(a.sbom, b.sbom, "a warm build lists the same components");
    }

    assert_eq!(artifacts.len(), 2);
    for (artifact, arch) in artifacts.iter().zip(["amd64", "arm64"]) {
        assert_eq!(artifact.platform.architecture, arch);
        let c = by_id(&artifact.sbom);

        // The program: its path and bytes, depending on its crate.
        let app = c["app:/app/sbom-crate"];
        assert_eq!(app.kind, ComponentKind::Application);
        assert_eq!(app.path.as_deref(), Some("/app/sbom-crate"));
        assert_eq!(app.version.as_deref(), Some("0.2.0"));
        let bytes = std::fs::read(&artifact.files[0].source).unwrap();
        assert_eq!(app.checksums[0].algorithm, HashAlgorithm::Sha256);
        assert_eq!(app.checksums[0].hex, sha256_hex(&bytes));
        assert_eq!(app.depends_on, ["cargo:sbom-crate@0.2.0"]);

        // Exactly the fixture's crates compiled for this target.
        let program_crates: Vec<&str> = ["autocfg", "fnv", "hex", "itoa", "ryu", "sbom-crate"]
            .into_iter()
            .filter(|name| {
                c.values()
                    .any(|c| c.kind == ComponentKind::Crate && c.name == *name)
            })
            .collect();
        let expected: &[&str] = match arch {
            "arm64" => &["fnv", "itoa", "sbom-crate"],
            _ => &["fnv", "sbom-crate"],
        };
        assert_eq!(
            program_crates, expected,
            "{arch}: no dev, build, other-target or disabled optional dependency"
        );
        let root = c["cargo:sbom-crate@0.2.0"];
        assert_eq!(root.license.as_deref(), Some("MIT"));
        let mut root_deps = vec!["cargo:fnv@1.0.7".to_string()];
        if arch == "arm64" {
            root_deps.push("cargo:itoa@1.0.19".into());
        }
        root_deps.push(format!("cargo:std@{rust}"));
        assert_eq!(root.depends_on, root_deps);
        assert_eq!(
            c["cargo:fnv@1.0.7"].license.as_deref(),
            Some("Apache-2.0 / MIT")
        );

        // Every crate from a lock has that lock's version and checksum.
        for comp in c.values().filter(|c| c.kind == ComponentKind::Crate) {
            let key = (comp.name.clone(), comp.version.clone().unwrap());
            let Some((source, checksum)) = lock.get(&key).or_else(|| std_lock.get(&key)) else {
                // std's own crates carry the toolchain's version.
                assert_eq!(comp.version.as_deref(), Some(rust.as_str()), "{comp:?}");
                assert!(
                    comp.purl
                        .as_deref()
                        .unwrap()
                        .starts_with("pkg:generic/rust-lang/")
                );
                continue;
            };
            match (source, checksum) {
                (Some(_), Some(sum)) => {
                    assert_eq!(comp.checksums.len(), 1, "{comp:?}");
                    assert_eq!(&comp.checksums[0].hex, sum, "{comp:?}");
                    assert_eq!(
                        comp.purl.as_deref(),
                        Some(format!("pkg:cargo/{}@{}", key.0, key.1).as_str())
                    );
                }
                _ => assert!(comp.checksums.is_empty(), "{comp:?}"),
            }
        }

        // std's crates.
        for name in ["core", "alloc", "std"] {
            let s = c[format!("cargo:{name}@{rust}").as_str()];
            assert_eq!(s.version.as_deref(), Some(rust.as_str()));
        }
        if std_from_source {
            for name in [
                "compiler_builtins",
                "gimli",
                "addr2line",
                "miniz_oxide",
                "hashbrown",
                "rustc-demangle",
            ] {
                let comp = c
                    .values()
                    .find(|c| c.name == name)
                    .unwrap_or_else(|| panic!("{arch}: std's {name} is missing: {:#?}", c.keys()));
                if let Some((_, Some(sum))) =
                    std_lock.get(&(comp.name.clone(), comp.version.clone().unwrap()))
                {
                    assert_eq!(&comp.checksums[0].hex, sum);
                }
            }
            assert!(
                !c.values().any(|c| c.name == "proc_macro"),
                "{arch}: the sysroot's proc_macro is not linked into the program"
            );
            let std = c[format!("cargo:std@{rust}").as_str()];
            assert!(
                std.depends_on.contains(&format!("cargo:core@{rust}")),
                "{std:?}"
            );
            assert!(
                std.depends_on
                    .iter()
                    .any(|d| d.starts_with("cargo:hashbrown@")),
                "{std:?}"
            );
        }
    }
}

#[test]
fn a_go_binary_lists_its_main_module_and_the_standard_library() {
    require("go", "golang-go");
    let work = tempfile::tempdir().unwrap();
    let plan = GoPlan {
        module_dir: repo_root().join("fixtures/go/hello"),
        package: ".".into(),
        name: "hello".into(),
        ldflags: None,
        tags: None,
    };
    let platforms: Vec<Platform> = vec!["linux/arm64".parse().unwrap()];
    let build =
        compile::go::prepare(&plan, &tools(), &platforms, "/ko-app/hello", work.path()).unwrap();
    let artifacts = build.run(&RecordingReporter::default()).unwrap();
    let go = std::process::Command::new("go")
        .arg("version")
        .output()
        .unwrap();
    let go = String::from_utf8(go.stdout).unwrap();
    let go_version = go.split(' ').nth(2).unwrap();
    let c = by_id(&artifacts[0].sbom);
    let app = c["app:/ko-app/hello"];
    assert_eq!(app.kind, ComponentKind::Application);
    assert_eq!(
        app.checksums[0].hex,
        sha256_hex(&std::fs::read(&artifacts[0].files[0].source).unwrap())
    );
    assert_eq!(app.depends_on, ["golang:example.com/hello"]);
    let main = c["golang:example.com/hello"];
    assert_eq!(main.purl.as_deref(), Some("pkg:golang/example.com/hello"));
    let stdlib_id = format!("golang:stdlib@{go_version}");
    assert_eq!(main.depends_on, std::slice::from_ref(&stdlib_id));
    let stdlib = c[stdlib_id.as_str()];
    assert_eq!(
        stdlib.purl,
        Some(format!(
            "pkg:golang/stdlib@{}",
            go_version.trim_start_matches("go")
        ))
    );
    assert_eq!(c.len(), 3, "{c:#?}");
}

struct NoRegistry;

impl imgpush::base::ClientFor for NoRegistry {
    fn client_for(&self, registry: &str) -> std::sync::Arc<imgpush::registry::Client> {
        panic!("a package base needs no registry, but {registry} was asked for")
    }
}

#[tokio::test]
async fn a_package_base_lists_its_locked_packages_per_platform() {
    let work = tempfile::tempdir().unwrap();
    let cache = imgpush::cache::Cache::new(test_cache_dir());
    let archive = imgpush::base::debian::ArchiveOverrides::from_env();
    let reporter = RecordingReporter::default();
    let ctx = imgpush::base::OpenContext {
        cache: Some(&cache),
        archive: &archive,
        reporter: &reporter,
    };
    let spec = imgpush::base::BaseSpec::Named("busybox".into());
    let opened = imgpush::base::open(&spec, &NoRegistry, work.path(), ctx)
        .await
        .unwrap();
    let lock: toml::Value = toml::from_str(
        &std::fs::read_to_string(repo_root().join("base-images/busybox.lock")).unwrap(),
    )
    .unwrap();
    for arch in ["amd64", "arm64"] {
        let platform: Platform = format!("linux/{arch}").parse().unwrap();
        let packages = opened.packages(&platform);
        let locked: Vec<&toml::Value> = lock["package"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["arch"].as_str() == Some(arch))
            .collect();
        assert_eq!(packages.len(), locked.len(), "{packages:#?}");
        for p in locked {
            let name = p["name"].as_str().unwrap();
            let version = p["version"].as_str().unwrap();
            let c = packages
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("{name} is missing for {arch}"));
            assert_eq!(c.kind, ComponentKind::DebPackage);
            assert_eq!(c.version.as_deref(), Some(version));
            assert_eq!(c.checksums[0].hex, p["sha256"].as_str().unwrap());
            assert_eq!(c.supplier.as_deref(), Some("Organization: Debian"));
            let purl = c.purl.as_deref().unwrap();
            assert!(
                purl.starts_with(&format!("pkg:deb/debian/{name}@"))
                    && purl.ends_with("&distro=debian-12")
                    && (purl.contains(&format!("?arch={arch}&")) || purl.contains("?arch=all&")),
                "{purl}"
            );
        }
    }
    assert!(
        opened
            .packages(&"linux/riscv64".parse().unwrap())
            .is_empty()
    );
}
