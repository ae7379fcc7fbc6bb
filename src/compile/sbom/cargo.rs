//! The crates cargo compiled into one target's binaries, from cargo's own build messages
//! (`--message-format=json-render-diagnostics`): a `compiler-artifact` whose files lie in
//! `…/<triple>/<profile>/` was compiled for that target. Host units (build scripts,
//! proc-macros and what they use) go to `…/<profile>/`, and dev-dependencies,
//! other targets' dependencies and disabled optional ones are never compiled, so none of
//! them is counted. Versions, sources, licenses and dependency edges come from
//! `cargo metadata`; checksums from `Cargo.lock`.

use crate::image::purl::Purl;
use crate::image::sbom::{Checksum, Component, ComponentKind, HashAlgorithm};
use cargo_metadata::{Artifact, DependencyKind, Metadata, Package, PackageId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

/// The parts of `Cargo.lock` the SBOM uses.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CargoLock {
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedCrate>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LockedCrate {
    pub name: String,
    pub version: String,
    pub source: Option<String>,
    pub checksum: Option<String>,
    /// `NAME`, `NAME VERSION` or `NAME VERSION (SOURCE)`: as short as is unambiguous.
    #[serde(default)]
    pub dependencies: Vec<String>,
}

impl CargoLock {
    pub fn parse(text: &str) -> Result<CargoLock, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The registry checksum of a locked crate (registry packages only have one).
    pub fn checksum(&self, name: &str, version: &str, source: Option<&str>) -> Option<&str> {
        self.find(name, version, source)?.checksum.as_deref()
    }

    fn find(&self, name: &str, version: &str, source: Option<&str>) -> Option<&LockedCrate> {
        self.packages
            .iter()
            .find(|p| p.name == name && p.version == version && p.source.as_deref() == source)
    }
}

/// `(name, version, source)` of a package id, in the spec form cargo writes since 1.77
/// (`SOURCE#NAME@VERSION`, or `SOURCE#VERSION` when the name ends the URL's path) and the
/// older `NAME VERSION (SOURCE)`. Path sources come back as written (`path+file://…`).
pub fn parse_package_id(repr: &str) -> Option<(String, String, String)> {
    if let Some((name, rest)) = repr.split_once(' ') {
        let (version, source) = rest.split_once(' ')?;
        let source = source.strip_prefix('(')?.strip_suffix(')')?;
        return Some((name.into(), version.into(), source.into()));
    }
    let (source, fragment) = repr.rsplit_once('#')?;
    let (name, version) = match fragment.split_once('@') {
        Some((n, v)) => (n.to_string(), v.to_string()),
        None => {
            let url = source.split(['?', '#']).next()?;
            (
                url.trim_end_matches('/').rsplit('/').next()?.to_string(),
                fragment.to_string(),
            )
        }
    };
    Some((name, version, source.to_string()))
}

/// The artifacts compiled for `triple` with the profile whose directory is `profile_dir`
/// (`release`, `debug`, a custom profile's name): each of their files lies in a
/// `…/<triple>/<profile_dir>/…` directory. Cargo puts target units there whether under the
/// target directory or a separate `build.build-dir`; host units go to `…/<profile_dir>/…`
/// without the triple.
pub fn compiled_for<'a>(
    artifacts: &'a [Artifact],
    triple: &str,
    profile_dir: &str,
) -> Vec<&'a Artifact> {
    let for_target = |f: &Path| {
        let parts: Vec<&std::ffi::OsStr> = f.components().map(|c| c.as_os_str()).collect();
        parts
            .windows(2)
            .any(|w| w[0] == triple && w[1] == profile_dir)
    };
    artifacts
        .iter()
        .filter(|a| {
            !a.filenames.is_empty() && a.filenames.iter().all(|f| for_target(f.as_std_path()))
        })
        .collect()
}

/// One crate of std as built from source, as the std cache keeps it
/// (`imgpush-std-units.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StdUnit {
    pub name: String,
    /// As its manifest says (std's own crates say `0.0.0`; the rustc version is used).
    pub version: String,
    /// `registry+…` for crates.io packages; `None` for std's own crates.
    pub source: Option<String>,
    /// The std source's `Cargo.lock` checksum.
    pub checksum: Option<String>,
    /// Names of the other units it depends on (from that lock).
    pub dependencies: Vec<String>,
}

/// The units of std's own build for one target, with checksums and edges from std's
/// `Cargo.lock` (`<sysroot>/lib/rustlib/src/rust/library/Cargo.lock`). The empty crate std
/// is built on (`imgpush-std`) is not one of them.
pub fn std_units(compiled: &[&Artifact], lock: &CargoLock) -> Vec<StdUnit> {
    let mut units: BTreeMap<String, StdUnit> = BTreeMap::new();
    for a in compiled {
        let Some((name, version, source)) = parse_package_id(&a.package_id.repr) else {
            continue;
        };
        if name == "imgpush-std" {
            continue;
        }
        let source = (!source.starts_with("path+")).then_some(source);
        let locked = lock.find(&name, &version, source.as_deref());
        units.entry(name.clone()).or_insert(StdUnit {
            checksum: locked.and_then(|l| l.checksum.clone()),
            dependencies: locked
                .map(|l| {
                    l.dependencies
                        .iter()
                        .filter_map(|d| d.split(' ').next().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            name,
            version,
            source,
        });
    }
    let names: BTreeSet<String> = units.keys().cloned().collect();
    let mut out: Vec<StdUnit> = units.into_values().collect();
    for u in &mut out {
        u.dependencies.retain(|d| names.contains(d));
        u.dependencies.sort();
        u.dependencies.dedup();
    }
    out
}

/// `1.95.0` from `rustc 1.95.0 (59807616e 2026-04-14)`.
pub fn rust_version(rustc_version_line: &str) -> String {
    let v = rustc_version_line.trim();
    v.strip_prefix("rustc ")
        .unwrap_or(v)
        .split(' ')
        .next()
        .unwrap_or(v)
        .to_string()
}

/// A crate of the Rust distribution (core, alloc, std…): versioned as the toolchain, with
/// `pkg:generic/rust-lang/NAME@VERSION` (they are not crates.io packages: `pkg:cargo/std`
/// would name something else) and the toolchain's source commit as `vcs_url` when known.
fn rust_crate(name: &str, rust: &str, commit: Option<&str>, deps: &[String]) -> Component {
    Component {
        id: format!("cargo:{name}@{rust}"),
        kind: ComponentKind::Crate,
        name: name.to_string(),
        version: Some(rust.to_string()),
        purl: Some(
            Purl {
                ty: "generic",
                namespace: vec!["rust-lang"],
                name,
                version: Some(rust),
                qualifiers: commit
                    .map(|c| {
                        (
                            "vcs_url",
                            format!("git+https://github.com/rust-lang/rust@{c}"),
                        )
                    })
                    .into_iter()
                    .collect(),
            }
            .render(),
        ),
        checksums: Vec::new(),
        license: Some("MIT OR Apache-2.0".into()),
        supplier: Some("Organization: The Rust Project".into()),
        download: None,
        path: None,
        depends_on: deps.to_vec(),
    }
}

/// The id program crates depend on: std's.
pub fn std_id(rust: &str) -> String {
    format!("cargo:std@{rust}")
}

/// std built from source: its own crates as [`rust_crate`]s, its crates.io dependencies as
/// crates with the lock's version and checksum. Only what `std` reaches counts: the
/// sysroot also holds `proc_macro` (and what it uses), which only proc-macros — host
/// code — link.
pub fn std_components(units: &[StdUnit], rust: &str, commit: Option<&str>) -> Vec<Component> {
    let by_name: BTreeMap<&str, &StdUnit> = units.iter().map(|u| (u.name.as_str(), u)).collect();
    let mut linked: BTreeSet<&str> = BTreeSet::new();
    let mut stack = vec!["std"];
    while let Some(name) = stack.pop() {
        if let Some(u) = by_name.get(name)
            && linked.insert(u.name.as_str())
        {
            stack.extend(u.dependencies.iter().map(String::as_str));
        }
    }
    let units: Vec<&StdUnit> = units
        .iter()
        .filter(|u| linked.is_empty() || linked.contains(u.name.as_str()))
        .collect();
    let id_of = |u: &StdUnit| match &u.source {
        None => format!("cargo:{}@{rust}", u.name),
        Some(_) => format!("cargo:{}@{}", u.name, u.version),
    };
    let ids: BTreeMap<&str, String> = units.iter().map(|u| (u.name.as_str(), id_of(u))).collect();
    units
        .into_iter()
        .map(|u| {
            let deps: Vec<String> = u
                .dependencies
                .iter()
                .filter_map(|d| ids.get(d.as_str()).cloned())
                .collect();
            match &u.source {
                None => rust_crate(&u.name, rust, commit, &deps),
                Some(source) => Component {
                    id: id_of(u),
                    depends_on: deps,
                    ..registry_crate(&u.name, &u.version, source, u.checksum.as_deref())
                },
            }
        })
        .collect()
}

/// The prebuilt std of an installed target: core, alloc and std, with the toolchain's
/// version (what else the prebuilt rlibs contain is not recorded anywhere readable).
pub fn installed_std_components(rust: &str, commit: Option<&str>) -> Vec<Component> {
    vec![
        rust_crate("alloc", rust, commit, &[format!("cargo:core@{rust}")]),
        rust_crate("core", rust, commit, &[]),
        rust_crate(
            "std",
            rust,
            commit,
            &[format!("cargo:alloc@{rust}"), format!("cargo:core@{rust}")],
        ),
    ]
}

/// A crate from a registry or git: `pkg:cargo` purl (crates.io plain, another registry
/// with `repository_url`, git with `vcs_url=git+URL@REV`), download location and checksum.
fn registry_crate(name: &str, version: &str, source: &str, checksum: Option<&str>) -> Component {
    let (qualifiers, download) = if CRATES_IO.contains(&source) {
        (
            Vec::new(),
            Some(format!(
                "https://crates.io/api/v1/crates/{name}/{version}/download"
            )),
        )
    } else if let Some(git) = source.strip_prefix("git+") {
        let (url, rev) = git.split_once('#').unwrap_or((git, ""));
        let url = url.split('?').next().unwrap_or(url);
        let vcs = if rev.is_empty() {
            format!("git+{url}")
        } else {
            format!("git+{url}@{rev}")
        };
        (vec![("vcs_url", vcs.clone())], Some(vcs))
    } else {
        let index = source
            .strip_prefix("registry+")
            .or_else(|| source.strip_prefix("sparse+"))
            .unwrap_or(source);
        (vec![("repository_url", index.to_string())], None)
    };
    Component {
        id: format!("cargo:{name}@{version}"),
        kind: ComponentKind::Crate,
        name: name.to_string(),
        version: Some(version.to_string()),
        purl: Some(
            Purl {
                ty: "cargo",
                name,
                version: Some(version),
                qualifiers,
                ..Purl::default()
            }
            .render(),
        ),
        checksums: checksum
            .map(|hex| Checksum {
                algorithm: HashAlgorithm::Sha256,
                hex: hex.to_ascii_lowercase(),
            })
            .into_iter()
            .collect(),
        license: None,
        supplier: None,
        download,
        path: None,
        depends_on: Vec::new(),
    }
}

/// `Person: NAME (EMAIL)` from a manifest's first author (`NAME <EMAIL>`).
fn supplier(authors: &[String]) -> Option<String> {
    let first = authors.first()?.trim();
    if first.is_empty() {
        return None;
    }
    Some(match first.split_once('<') {
        Some((name, email)) => format!(
            "Person: {} ({})",
            name.trim(),
            email.trim_end_matches('>').trim()
        ),
        None => format!("Person: {first}"),
    })
}

/// The id of a package's component.
pub fn crate_id(p: &Package) -> String {
    format!("cargo:{}@{}", p.name, p.version)
}

/// What one target's crates are built from.
pub struct TargetCrates<'a> {
    pub metadata: &'a Metadata,
    pub lock: &'a CargoLock,
    /// The build's artifacts compiled for this target ([`compiled_for`]).
    pub compiled: &'a [&'a Artifact],
    pub triple: &'a str,
    /// `rustc --print cfg --target TRIPLE`, for `[target.'cfg(…)'.dependencies]` edges.
    pub cfgs: &'a [cargo_platform::Cfg],
    /// The std component every crate depends on.
    pub std: Option<String>,
    /// The package whose binaries the SBOM is for, when the build compiled other
    /// packages' too (a workspace's images in one cargo call): only the crates it reaches
    /// through the edges below are its.
    pub root: Option<&'a PackageId>,
}

/// One component per package compiled for the target, depending on the packages it uses
/// as normal dependencies on this target that were compiled for it too (and on std).
pub fn target_crates(t: &TargetCrates) -> Vec<Component> {
    let compiled: BTreeSet<&PackageId> = t.compiled.iter().map(|a| &a.package_id).collect();
    let packages: BTreeMap<&PackageId, &Package> =
        t.metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let nodes: BTreeMap<&PackageId, &cargo_metadata::Node> = t
        .metadata
        .resolve
        .iter()
        .flat_map(|r| &r.nodes)
        .map(|n| (&n.id, n))
        .collect();
    let mut out: BTreeMap<String, Component> = BTreeMap::new();
    for id in &compiled {
        let Some(p) = packages.get(id) else { continue };
        let version = p.version.to_string();
        let mut c = match p.source.as_ref().map(|s| s.repr.as_str()) {
            Some(source) => registry_crate(
                &p.name,
                &version,
                source,
                t.lock.checksum(&p.name, &version, Some(source)),
            ),
            // A path package (the project's own): no registry names it, so no purl.
            None => Component {
                purl: None,
                download: None,
                ..registry_crate(&p.name, &version, CRATES_IO[0], None)
            },
        };
        c.id = crate_id(p);
        c.license = p.license.clone();
        c.supplier = supplier(&p.authors);
        let mut deps: Vec<String> = nodes
            .get(id)
            .map(|n| {
                n.deps
                    .iter()
                    .filter(|d| compiled.contains(&d.pkg))
                    .filter(|d| {
                        d.dep_kinds.iter().any(|k| {
                            k.kind == DependencyKind::Normal
                                && k.target
                                    .as_ref()
                                    .is_none_or(|p| p.matches(t.triple, t.cfgs))
                        })
                    })
                    .filter_map(|d| packages.get(&d.pkg).map(|p| crate_id(p)))
                    .collect()
            })
            .unwrap_or_default();
        deps.extend(t.std.clone());
        deps.sort();
        deps.dedup();
        c.depends_on = deps;
        out.entry(c.id.clone()).or_insert(c);
    }
    if let Some(root) = t.root.and_then(|r| packages.get(r)) {
        // What the root reaches, through the dependency edges just drawn.
        let mut reached: BTreeSet<String> = BTreeSet::new();
        let mut todo = vec![crate_id(root)];
        while let Some(id) = todo.pop() {
            if let Some(c) = out.get(&id)
                && reached.insert(id)
            {
                todo.extend(c.depends_on.iter().cloned());
            }
        }
        out.retain(|id, _| reached.contains(id));
    }
    out.into_values().collect()
}

#[cfg(test)]
#[path = "cargo_tests.rs"]
mod tests;
