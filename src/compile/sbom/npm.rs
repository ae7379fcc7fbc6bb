//! A static bundle's npm packages, from the lockfile of the project it was built in:
//! `npm-shrinkwrap.json` or `package-lock.json` (lockfileVersion 2 or 3, whose `packages`
//! map lists every installed package by its `node_modules/…` path).

use crate::image::purl::Purl;
use crate::image::sbom::{Checksum, Component, ComponentKind, HashAlgorithm};
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The lockfile of the project `dir` belongs to: the first of `dir` and its ancestors that
/// holds a `package.json` is the project; its `npm-shrinkwrap.json` wins over its
/// `package-lock.json`, as with npm. `None` when there is no project or it has neither.
pub fn project_lockfile(dir: &Path) -> Option<PathBuf> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let project = dir.ancestors().find(|d| d.join("package.json").is_file())?;
    ["npm-shrinkwrap.json", "package-lock.json"]
        .iter()
        .map(|name| project.join(name))
        .find(|p| p.is_file())
}

#[derive(Deserialize)]
struct Lockfile {
    #[serde(rename = "lockfileVersion")]
    lockfile_version: u32,
    #[serde(default)]
    packages: Option<BTreeMap<String, LockedPackage>>,
}

#[derive(Deserialize)]
struct LockedPackage {
    name: Option<String>,
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    license: Option<serde_json::Value>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    link: bool,
    #[serde(default)]
    extraneous: bool,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default, rename = "optionalDependencies")]
    optional_dependencies: BTreeMap<String, String>,
}

/// The packages of a lockfile, without the root project (`""`), dev-only packages
/// (`"dev": true`), links (their target is listed itself) and extraneous ones; each
/// depending on the packages its `dependencies` resolve to, as Node resolves them (the
/// nearest `node_modules/NAME` up the tree). `Ok(None)` for a lockfileVersion 1 file, which
/// has no `packages` map.
pub fn packages(text: &str) -> Result<Option<Vec<Component>>, String> {
    let lock: Lockfile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Some(packages) = lock.packages else {
        return if lock.lockfile_version < 2 {
            Ok(None)
        } else {
            Err(format!(
                "lockfileVersion {} without a `packages` map",
                lock.lockfile_version
            ))
        };
    };
    let kept = |p: &LockedPackage| !p.dev && !p.link && !p.extraneous;
    let id_of = |path: &str| -> Option<String> {
        let p = packages.get(path).filter(|p| kept(p))?;
        let name = package_name(path, p)?;
        Some(format!("npm:{name}@{}", p.version.as_deref()?))
    };
    let mut out: BTreeMap<String, Component> = BTreeMap::new();
    for (path, p) in &packages {
        if path.is_empty() || !kept(p) {
            continue;
        }
        let (Some(name), Some(version)) = (package_name(path, p), p.version.as_deref()) else {
            continue;
        };
        let (namespace, short) = match name.split_once('/') {
            Some((scope, short)) if scope.starts_with('@') => (vec![scope], short),
            _ => (Vec::new(), name),
        };
        let purl = Purl {
            ty: "npm",
            namespace,
            name: short,
            version: Some(version),
            ..Purl::default()
        }
        .render();
        let mut depends_on: Vec<String> = p
            .dependencies
            .keys()
            .chain(p.optional_dependencies.keys())
            .filter_map(|dep| resolve(path, dep, &packages).and_then(|at| id_of(&at)))
            .collect();
        depends_on.sort();
        depends_on.dedup();
        let id = format!("npm:{name}@{version}");
        out.entry(id.clone()).or_insert(Component {
            id,
            kind: ComponentKind::NpmPackage,
            name: name.to_string(),
            version: Some(version.to_string()),
            purl: Some(purl),
            checksums: p.integrity.as_deref().map(integrity).unwrap_or_default(),
            license: p.license.as_ref().and_then(license),
            supplier: None,
            download: p.resolved.clone(),
            path: None,
            depends_on,
        });
    }
    Ok(Some(out.into_values().collect()))
}

/// The package's name: its `name` (an alias installs a package under another directory
/// name), else the directory after the last `node_modules/`, else (a workspace member)
/// none known.
fn package_name<'a>(path: &'a str, p: &'a LockedPackage) -> Option<&'a str> {
    if let Some(n) = p.name.as_deref() {
        return Some(n);
    }
    path.rfind("node_modules/")
        .map(|i| &path[i + "node_modules/".len()..])
}

/// Where `dep`, required from the package at `from`, is installed: `from/node_modules/dep`,
/// else the same in each enclosing `node_modules` level, up to the root's.
fn resolve(from: &str, dep: &str, packages: &BTreeMap<String, LockedPackage>) -> Option<String> {
    let mut base = from.to_string();
    loop {
        let candidate = if base.is_empty() {
            format!("node_modules/{dep}")
        } else {
            format!("{base}/node_modules/{dep}")
        };
        if packages.contains_key(&candidate) {
            return Some(candidate);
        }
        if base.is_empty() {
            return None;
        }
        base = match base.rfind("/node_modules/") {
            Some(i) => base[..i].to_string(),
            None => String::new(),
        };
    }
}

/// `sha512-<base64>` (and `sha1-…`, several separated by spaces) as hex checksums.
fn integrity(s: &str) -> Vec<Checksum> {
    s.split_whitespace()
        .filter_map(|item| {
            let (alg, b64) = item.split_once('-')?;
            let algorithm = match alg {
                "sha512" => HashAlgorithm::Sha512,
                "sha256" => HashAlgorithm::Sha256,
                "sha1" => HashAlgorithm::Sha1,
                _ => return None,
            };
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            Some(Checksum {
                algorithm,
                hex: hex::encode(bytes),
            })
        })
        .collect()
}

/// `"license": "MIT"`, or the old `{ "type": "MIT" }` form.
fn license(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("type")?.as_str().map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3: &str = r#"{
      "name": "site", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
      "packages": {
        "": { "name": "site", "version": "1.0.0", "dependencies": { "@scope/ui": "^2" },
              "devDependencies": { "vite": "^5" } },
        "node_modules/@scope/ui": { "version": "2.1.0",
          "resolved": "https://registry.npmjs.org/@scope/ui/-/ui-2.1.0.tgz",
          "integrity": "sha512-AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==",
          "license": "MIT", "dependencies": { "tslib": "^2" } },
        "node_modules/@scope/ui/node_modules/tslib": { "version": "2.0.0",
          "integrity": "sha1-AAECAwQFBgcICQoLDA0ODxAREhM=" },
        "node_modules/tslib": { "version": "2.6.2", "license": { "type": "0BSD" } },
        "node_modules/vite": { "version": "5.0.0", "dev": true, "dependencies": { "tslib": "^2" } },
        "node_modules/local": { "resolved": "packages/local", "link": true },
        "packages/local": { "name": "local", "version": "0.1.0", "dependencies": { "tslib": "^2" } }
      }
    }"#;

    #[test]
    fn lockfile_v3_packages_without_root_and_dev() {
        let c = packages(V3).unwrap().unwrap();
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "npm:@scope/ui@2.1.0",
                "npm:local@0.1.0",
                "npm:tslib@2.0.0",
                "npm:tslib@2.6.2"
            ]
        );
        let ui = &c[0];
        assert_eq!(ui.purl.as_deref(), Some("pkg:npm/%40scope/ui@2.1.0"));
        assert_eq!(ui.license.as_deref(), Some("MIT"));
        assert_eq!(ui.checksums[0].algorithm, HashAlgorithm::Sha512);
        assert_eq!(
            ui.checksums[0].hex,
            hex::encode((0u8..64).collect::<Vec<_>>())
        );
        assert_eq!(
            ui.download.as_deref(),
            Some("https://registry.npmjs.org/@scope/ui/-/ui-2.1.0.tgz")
        );
        assert_eq!(ui.depends_on, ["npm:tslib@2.0.0"], "the nested copy wins");
        assert_eq!(
            c[1].depends_on,
            ["npm:tslib@2.6.2"],
            "from the root's node_modules"
        );
        assert_eq!(c[2].checksums[0].algorithm, HashAlgorithm::Sha1);
        assert_eq!(
            c[2].checksums[0].hex,
            hex::encode((0u8..20).collect::<Vec<_>>())
        );
        assert_eq!(c[3].license.as_deref(), Some("0BSD"));
        assert_eq!(c[3].purl.as_deref(), Some("pkg:npm/tslib@2.6.2"));
    }

    #[test]
    fn lockfile_v2_and_v1() {
        let v2 = r#"{ "lockfileVersion": 2,
          "packages": { "": {}, "node_modules/a": { "version": "1.0.0" } },
          "dependencies": { "a": { "version": "1.0.0" } } }"#;
        let c = packages(v2).unwrap().unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].purl.as_deref(), Some("pkg:npm/a@1.0.0"));
        assert!(c[0].checksums.is_empty());
        let v1 = r#"{ "lockfileVersion": 1, "dependencies": { "a": { "version": "1.0.0" } } }"#;
        assert_eq!(packages(v1).unwrap(), None);
        assert!(packages("{ \"lockfileVersion\": 3 }").is_err());
        assert!(packages("not json").is_err());
    }

    #[test]
    fn the_project_is_the_nearest_directory_with_package_json() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("web");
        std::fs::create_dir_all(project.join("dist/assets")).unwrap();
        assert_eq!(project_lockfile(&project.join("dist")), None);
        std::fs::write(project.join("package.json"), "{}").unwrap();
        assert_eq!(project_lockfile(&project.join("dist")), None, "no lockfile");
        std::fs::write(project.join("package-lock.json"), "{}").unwrap();
        let found = project_lockfile(&project.join("dist/assets")).unwrap();
        assert!(found.ends_with("web/package-lock.json"), "{found:?}");
        std::fs::write(project.join("npm-shrinkwrap.json"), "{}").unwrap();
        let found = project_lockfile(&project.join("dist")).unwrap();
        assert!(found.ends_with("web/npm-shrinkwrap.json"));
        // A nearer package.json without a lockfile stops the search.
        std::fs::write(project.join("dist/package.json"), "{}").unwrap();
        assert_eq!(project_lockfile(&project.join("dist/assets")), None);
    }
}
