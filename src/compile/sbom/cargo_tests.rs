use super::*;

const REG: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// A `compiler-artifact` line as cargo prints it.
fn artifact(id: &str, name: &str, kind: &str, files: &[&str]) -> String {
    serde_json::json!({
        "reason": "compiler-artifact",
        "package_id": id,
        "manifest_path": "/x/Cargo.toml",
        "target": { "kind": [kind], "crate_types": [kind], "name": name,
                    "src_path": "/x/src/lib.rs", "edition": "2021", "doc": true,
                    "doctest": true, "test": true },
        "profile": { "opt_level": "3", "debuginfo": 0, "debug_assertions": false,
                     "overflow_checks": false, "test": false },
        "features": [],
        "filenames": files,
        "executable": if kind == "bin" { serde_json::json!(files[0]) } else { serde_json::Value::Null },
        "fresh": false
    })
    .to_string()
}

fn messages() -> Vec<Artifact> {
    let lines = [
        // The build script of `app` and its build-dependency: host units.
        artifact(
            &format!("{REG}#autocfg@1.5.1"),
            "autocfg",
            "lib",
            &["/t/release/deps/libautocfg-1.rlib"],
        ),
        artifact(
            "path+file:///w#app@0.1.0",
            "build-script-build",
            "custom-build",
            &["/t/release/build/app-1/build-script-build"],
        ),
        artifact(
            &format!("{REG}#fnv@1.0.7"),
            "fnv",
            "lib",
            &["/t/x86_64-unknown-linux-musl/release/deps/libfnv-1.rlib"],
        ),
        artifact(
            &format!("{REG}#fnv@1.0.7"),
            "fnv",
            "lib",
            &["/t/aarch64-unknown-linux-musl/release/deps/libfnv-2.rlib"],
        ),
        artifact(
            &format!("{REG}#itoa@1.0.19"),
            "itoa",
            "lib",
            // A separate `build.build-dir` holds the intermediate units.
            &["/b/aarch64-unknown-linux-musl/release/deps/libitoa-2.rlib"],
        ),
        artifact(
            "path+file:///w#app@0.1.0",
            "app",
            "bin",
            &["/t/x86_64-unknown-linux-musl/release/app"],
        ),
        artifact(
            "path+file:///w#app@0.1.0",
            "app",
            "bin",
            &["/t/aarch64-unknown-linux-musl/release/app"],
        ),
    ];
    lines
        .iter()
        .map(|l| match serde_json::from_str(l).unwrap() {
            cargo_metadata::Message::CompilerArtifact(a) => a,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn metadata() -> Metadata {
    let pkg = |id: &str, name: &str, version: &str, source: Option<&str>, license: &str| {
        serde_json::json!({
            "name": name, "version": version, "id": id, "source": source,
            "license": license, "authors": ["Jane Doe <jane@example.com>"],
            "dependencies": [], "targets": [], "features": {},
            "manifest_path": format!("/src/{name}/Cargo.toml")
        })
    };
    let normal = serde_json::json!([{ "kind": null, "target": null }]);
    let aarch64 = serde_json::json!([{ "kind": null, "target": "cfg(target_arch = \"aarch64\")" }]);
    let build = serde_json::json!([{ "kind": "build", "target": null }]);
    let dev = serde_json::json!([{ "kind": "dev", "target": null }]);
    let app = "path+file:///w#app@0.1.0";
    let json = serde_json::json!({
        "packages": [
            pkg(app, "app", "0.1.0", None, "MIT"),
            pkg(&format!("{REG}#fnv@1.0.7"), "fnv", "1.0.7", Some(REG), "Apache-2.0 OR MIT"),
            pkg(&format!("{REG}#itoa@1.0.19"), "itoa", "1.0.19", Some(REG), "MIT OR Apache-2.0"),
            pkg(&format!("{REG}#autocfg@1.5.1"), "autocfg", "1.5.1", Some(REG), "Apache-2.0 OR MIT"),
            pkg(&format!("{REG}#ryu@1.0.23"), "ryu", "1.0.23", Some(REG), "Apache-2.0 OR BSL-1.0"),
        ],
        "workspace_members": [app],
        "resolve": { "root": app, "nodes": [
            { "id": app, "dependencies": [], "features": [], "deps": [
                { "name": "fnv", "pkg": format!("{REG}#fnv@1.0.7"), "dep_kinds": normal },
                { "name": "itoa", "pkg": format!("{REG}#itoa@1.0.19"), "dep_kinds": aarch64 },
                { "name": "autocfg", "pkg": format!("{REG}#autocfg@1.5.1"), "dep_kinds": build },
                { "name": "ryu", "pkg": format!("{REG}#ryu@1.0.23"), "dep_kinds": dev },
            ]},
        ]},
        "workspace_root": "/w",
        "target_directory": "/t",
        "version": 1
    });
    serde_json::from_value(json).unwrap()
}

const LOCK: &str = r#"
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["autocfg", "fnv", "itoa", "ryu"]

[[package]]
name = "autocfg"
version = "1.5.1"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "1111111111111111111111111111111111111111111111111111111111111111"

[[package]]
name = "fnv"
version = "1.0.7"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "3F9EEC918D3F24069DECB9AF1554CAD7C880E2DA24A9AFD88AACA0531F8E1C50"

[[package]]
name = "itoa"
version = "1.0.19"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "2222222222222222222222222222222222222222222222222222222222222222"
"#;

fn crates_for(triple: &str, all: &[Artifact]) -> Vec<Component> {
    crates_for_root(triple, all, None)
}

/// The crates of `triple`, only those `root` reaches when it is given.
fn crates_for_root(triple: &str, all: &[Artifact], root: Option<&str>) -> Vec<Component> {
    let metadata = metadata();
    let lock = CargoLock::parse(LOCK).unwrap();
    let compiled = compiled_for(all, triple, "release");
    let cfgs: Vec<cargo_platform::Cfg> = [
        format!("target_arch=\"{}\"", triple.split('-').next().unwrap()),
        "target_os=\"linux\"".into(),
    ]
    .iter()
    .map(|c| c.parse().unwrap())
    .collect();
    let root = root.map(|r| PackageId {
        repr: r.to_string(),
    });
    target_crates(&TargetCrates {
        metadata: &metadata,
        lock: &lock,
        compiled: &compiled,
        triple,
        cfgs: &cfgs,
        std: Some(std_id("1.95.0")),
        root: root.as_ref(),
    })
}

#[test]
fn only_the_units_compiled_for_each_target_count() {
    let all = messages();
    let amd64 = crates_for("x86_64-unknown-linux-musl", &all);
    let ids: Vec<&str> = amd64.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["cargo:app@0.1.0", "cargo:fnv@1.0.7"],
        "no build or dev deps"
    );
    assert_eq!(amd64[0].depends_on, ["cargo:fnv@1.0.7", "cargo:std@1.95.0"]);
    assert_eq!(amd64[0].purl, None, "a path package has no registry");
    assert_eq!(amd64[0].license.as_deref(), Some("MIT"));
    let fnv = &amd64[1];
    assert_eq!(fnv.purl.as_deref(), Some("pkg:cargo/fnv@1.0.7"));
    assert_eq!(fnv.version.as_deref(), Some("1.0.7"));
    assert_eq!(
        fnv.checksums,
        [Checksum {
            algorithm: HashAlgorithm::Sha256,
            hex: "3f9eec918d3f24069decb9af1554cad7c880e2da24a9afd88aaca0531f8e1c50".into()
        }]
    );
    assert_eq!(fnv.license.as_deref(), Some("Apache-2.0 OR MIT"));
    assert_eq!(
        fnv.supplier.as_deref(),
        Some("Person: Jane Doe (jane@example.com)")
    );
    assert_eq!(
        fnv.download.as_deref(),
        Some("https://crates.io/api/v1/crates/fnv/1.0.7/download")
    );

    let arm64 = crates_for("aarch64-unknown-linux-musl", &all);
    let ids: Vec<&str> = arm64.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["cargo:app@0.1.0", "cargo:fnv@1.0.7", "cargo:itoa@1.0.19"]
    );
    assert_eq!(
        arm64[0].depends_on,
        ["cargo:fnv@1.0.7", "cargo:itoa@1.0.19", "cargo:std@1.95.0"],
        "the cfg(target_arch) edge holds on aarch64"
    );
}

#[test]
fn with_other_packages_compiled_too_only_what_the_root_reaches_is_listed() {
    let all = messages();
    let ids = |root: &str| -> Vec<String> {
        crates_for_root("aarch64-unknown-linux-musl", &all, Some(root))
            .into_iter()
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(
        ids("path+file:///w#app@0.1.0"),
        ["cargo:app@0.1.0", "cargo:fnv@1.0.7", "cargo:itoa@1.0.19"]
    );
    assert_eq!(
        ids(&format!("{REG}#fnv@1.0.7")),
        ["cargo:fnv@1.0.7"],
        "a package built beside app does not get app's crates"
    );
}

#[test]
fn package_ids_in_both_forms() {
    assert_eq!(
        parse_package_id(&format!("{REG}#gimli@0.32.3")),
        Some(("gimli".into(), "0.32.3".into(), REG.into()))
    );
    assert_eq!(
        parse_package_id("path+file:///usr/lib/rustlib/src/rust/library/std#0.0.0"),
        Some((
            "std".into(),
            "0.0.0".into(),
            "path+file:///usr/lib/rustlib/src/rust/library/std".into()
        ))
    );
    assert_eq!(
        parse_package_id("git+https://example.com/a/tool?branch=main#abc123"),
        Some((
            "tool".into(),
            "abc123".into(),
            "git+https://example.com/a/tool?branch=main".into()
        )),
        "a git id without @ names the package by the URL's last segment"
    );
    assert_eq!(
        parse_package_id(&format!("serde 1.0.200 ({REG})")),
        Some(("serde".into(), "1.0.200".into(), REG.into()))
    );
    assert_eq!(parse_package_id("nonsense"), None);
}

#[test]
fn registry_git_and_other_registry_purls() {
    let git = registry_crate(
        "tool",
        "0.2.0",
        "git+https://example.com/a/tool?branch=main#abc123",
        None,
    );
    assert_eq!(
        git.purl.as_deref(),
        Some("pkg:cargo/tool@0.2.0?vcs_url=git%2Bhttps%3A%2F%2Fexample.com%2Fa%2Ftool%40abc123")
    );
    let other = registry_crate(
        "x",
        "1.0.0",
        "sparse+https://my.registry/index/",
        Some("AB"),
    );
    assert_eq!(
        other.purl.as_deref(),
        Some("pkg:cargo/x@1.0.0?repository_url=https%3A%2F%2Fmy.registry%2Findex%2F")
    );
    assert_eq!(other.checksums[0].hex, "ab");
    let sparse = registry_crate("y", "1.0.0", "sparse+https://index.crates.io/", None);
    assert_eq!(sparse.purl.as_deref(), Some("pkg:cargo/y@1.0.0"));
    assert_eq!(supplier(&["Solo".into()]).as_deref(), Some("Person: Solo"));
    assert_eq!(supplier(&[]), None);
}

#[test]
fn std_units_with_the_std_locks_checksums_and_edges() {
    let std_lock = CargoLock::parse(&format!(
        r#"
[[package]]
name = "std"
version = "0.0.0"
dependencies = ["alloc", "core", "gimli 0.32.3", "hashbrown"]

[[package]]
name = "alloc"
version = "0.0.0"
dependencies = ["core"]

[[package]]
name = "core"
version = "0.0.0"

[[package]]
name = "gimli"
version = "0.32.3"
source = "{REG}"
checksum = "e629b9b98ef3dd8afe6ca2bd0f89306cec16d43d907889945bc5d6687f2f13c7"
dependencies = ["core"]

[[package]]
name = "hashbrown"
version = "0.16.1"
source = "{REG}"
checksum = "3333333333333333333333333333333333333333333333333333333333333333"
"#
    ))
    .unwrap();
    let lib = "path+file:///usr/lib/rustlib/src/rust/library";
    let dir = "/c/build/aarch64-unknown-linux-musl/release/deps";
    let lines = [
        artifact(
            &format!("{lib}/core#0.0.0"),
            "core",
            "lib",
            &[&format!("{dir}/libcore-1.rlib")],
        ),
        artifact(
            &format!("{lib}/alloc#0.0.0"),
            "alloc",
            "lib",
            &[&format!("{dir}/liballoc-1.rlib")],
        ),
        artifact(
            &format!("{lib}/std#0.0.0"),
            "std",
            "lib",
            &[&format!("{dir}/libstd-1.rlib")],
        ),
        artifact(
            &format!("{REG}#gimli@0.32.3"),
            "gimli",
            "lib",
            &[&format!("{dir}/libgimli-1.rlib")],
        ),
        artifact(
            &format!("{lib}/proc_macro#0.0.0"),
            "proc_macro",
            "lib",
            &[&format!("{dir}/libproc_macro-1.rlib")],
        ),
        artifact(
            "path+file:///c/empty-crate#imgpush-std@0.0.0",
            "imgpush_std",
            "lib",
            &[&format!("{dir}/libimgpush_std-1.rlib")],
        ),
        artifact(
            &format!("{REG}#cc@1.0.0"),
            "cc",
            "lib",
            &["/c/build/release/deps/libcc-1.rlib"],
        ),
    ];
    let all: Vec<Artifact> = lines
        .iter()
        .map(|l| match serde_json::from_str(l).unwrap() {
            cargo_metadata::Message::CompilerArtifact(a) => a,
            other => panic!("{other:?}"),
        })
        .collect();
    let compiled = compiled_for(&all, "aarch64-unknown-linux-musl", "release");
    let units = std_units(&compiled, &std_lock);
    let names: Vec<&str> = units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        ["alloc", "core", "gimli", "proc_macro", "std"],
        "no host unit, no empty crate"
    );
    let std = &units[4];
    assert_eq!(std.source, None);
    assert_eq!(
        std.dependencies,
        ["alloc", "core", "gimli"],
        "hashbrown was not compiled"
    );
    assert_eq!(units[2].source.as_deref(), Some(REG));
    assert_eq!(
        units[2].checksum.as_deref(),
        Some("e629b9b98ef3dd8afe6ca2bd0f89306cec16d43d907889945bc5d6687f2f13c7")
    );

    let c = std_components(&units, "1.95.0", Some("5980"));
    let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "cargo:alloc@1.95.0",
            "cargo:core@1.95.0",
            "cargo:gimli@0.32.3",
            "cargo:std@1.95.0"
        ]
    );
    assert_eq!(
        c[3].purl.as_deref(),
        Some(
            "pkg:generic/rust-lang/std@1.95.0?vcs_url=git%2Bhttps%3A%2F%2Fgithub.com%2Frust-lang%2Frust%405980"
        )
    );
    assert_eq!(
        c[3].depends_on,
        [
            "cargo:alloc@1.95.0",
            "cargo:core@1.95.0",
            "cargo:gimli@0.32.3"
        ]
    );
    assert_eq!(c[2].purl.as_deref(), Some("pkg:cargo/gimli@0.32.3"));
    assert_eq!(c[2].checksums.len(), 1);
    assert_eq!(c[2].depends_on, ["cargo:core@1.95.0"]);

    let installed = installed_std_components("1.95.0", None);
    let ids: Vec<&str> = installed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "cargo:alloc@1.95.0",
            "cargo:core@1.95.0",
            "cargo:std@1.95.0"
        ]
    );
    assert_eq!(
        installed[2].purl.as_deref(),
        Some("pkg:generic/rust-lang/std@1.95.0")
    );
    assert_eq!(
        rust_version("rustc 1.95.0 (59807616e 2026-04-14)"),
        "1.95.0"
    );
}

#[test]
fn lock_checksums_by_name_version_and_source() {
    let lock = CargoLock::parse(LOCK).unwrap();
    assert_eq!(
        lock.checksum("itoa", "1.0.19", Some(REG)),
        Some("2222222222222222222222222222222222222222222222222222222222222222")
    );
    assert_eq!(lock.checksum("itoa", "1.0.18", Some(REG)), None);
    assert_eq!(lock.checksum("app", "0.1.0", None), None);
    assert!(CargoLock::parse("[[package]]\nname = 1").is_err());
}
