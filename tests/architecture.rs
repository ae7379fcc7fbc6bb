//! The stages import only downward (docs/architecture.md, "Dependency order"): a top-level
//! module may use modules of its own rank or earlier ranks, never a later one. A name
//! reached through a `pub use` re-export counts as an import from where it is defined, so a
//! catch-all module cannot hide an upward edge.
//!
//! `KNOWN_UPWARD` lists upward edges being removed (empty since issue 12 removed the last
//! ones). The test fails on any other upward edge, and on a listed edge that no longer
//! exists (so the list only shrinks).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Rank of each top-level module, earliest first. Same rank: may import each other, as long
/// as no cycle forms.
const RANKS: &[(&str, u32)] = &[
    ("oci", 0),
    ("report", 0),
    ("registry", 1),
    ("layer", 1),
    ("cache", 1),
    ("image", 2),
    ("base", 3),
    ("plan", 4),
    ("compile", 5),
    ("publish", 6),
    ("pipeline", 7),
    ("ops", 7),
    // The crate-level error gathers every stage's (ops' own included); pipeline returns it.
    ("error", 7),
    // One `plan` + `execute` per command (doctor and login among them); the binaries'
    // terminal side (`commands::render`, `commands::output`).
    ("commands", 8),
];

/// Upward edges that exist today and are being removed (none left).
const KNOWN_UPWARD: &[(&str, &str)] = &[];

fn rank(module: &str) -> Option<u32> {
    RANKS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its `#[cfg(test)]` tail (unit tests may
/// use later stages to build fixtures).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b::Name` path in `code`, as its segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `mycrate::`
        }
        let mut segments = Vec::new();
        let mut s = rest;
        loop {
            let end = s
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(s.len());
            if end == 0 {
                // `crate::x::{A, B}`: each name inside the braces.
                if let Some(inner) = s.strip_prefix('{') {
                    let close = inner.find('}').unwrap_or(inner.len());
                    for name in inner[..close].split(',') {
                        let name = name.trim().split("::").next().unwrap_or("").trim();
                        if !name.is_empty() {
                            let mut full = segments.clone();
                            full.push(name.to_string());
                            out.push(full);
                        }
                    }
                    segments.clear();
                }
                break;
            }
            segments.push(s[..end].to_string());
            s = &s[end..];
            match s.strip_prefix("::") {
                Some(next) => s = next,
                None => break,
            }
        }
        if !segments.is_empty() {
            out.push(segments);
        }
    }
    out
}

/// The top-level module a source file belongs to (`src/config/plan.rs` → `config`).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "bin").then(|| name.to_string())
}

/// `(importer, imported)` edges between top-level modules, re-exports followed.
fn edges() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut paths: Vec<(String, Vec<String>, bool)> = Vec::new();
    // (module, re-exported name) → top-level module that defines it.
    let mut reexports: BTreeMap<(String, String), String> = BTreeMap::new();
    for file in &files {
        let Some(module) = top_module(&src, file) else {
            continue;
        };
        let code = code(file);
        for statement in code.split(';') {
            let t = statement.trim_start();
            let is_pub_use =
                t.starts_with("pub use crate::") || t.starts_with("pub(crate) use crate::");
            for p in crate_paths(statement) {
                if is_pub_use && p.len() >= 2 {
                    let name = p.last().unwrap().clone();
                    reexports.insert((module.clone(), name), p[0].clone());
                }
                paths.push((module.clone(), p, is_pub_use));
            }
        }
    }
    let mut out = BTreeSet::new();
    for (module, path, _) in paths {
        let target = &path[0];
        if *target == module || rank(target).is_none() {
            continue;
        }
        out.insert((module.clone(), target.clone()));
        // Through a re-export: the defining module is imported too.
        if let Some(name) = path.last()
            && let Some(defined) = reexports.get(&(target.clone(), name.clone()))
            && *defined != module
        {
            out.insert((module.clone(), defined.clone()));
        }
    }
    out
}

#[test]
fn stages_import_only_downward() {
    let edges = edges();
    for (from, _) in &edges {
        assert!(
            rank(from).is_some(),
            "src/{from} is not in RANKS: give the new top-level module its place in the order"
        );
    }
    let upward: BTreeSet<(String, String)> = edges
        .iter()
        .filter(|(from, to)| rank(to) > rank(from))
        .cloned()
        .collect();
    let known: BTreeSet<(String, String)> = KNOWN_UPWARD
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let new: Vec<_> = upward.difference(&known).collect();
    assert!(
        new.is_empty(),
        "modules importing from a later stage (docs/architecture.md): {new:?}"
    );
    let gone: Vec<_> = known.difference(&upward).collect();
    assert!(
        gone.is_empty(),
        "these upward edges are gone; remove them from KNOWN_UPWARD: {gone:?}"
    );
}

#[test]
fn same_rank_modules_form_no_cycle() {
    let edges = edges();
    for (a, b) in &edges {
        if rank(a) == rank(b) {
            assert!(
                !edges.contains(&(b.clone(), a.clone())),
                "{a} and {b} import each other"
            );
        }
    }
}

#[test]
fn the_scanner_sees_paths_braces_and_reexports() {
    let paths = crate_paths(
        "use crate::oci::{Digest, media::X};\nlet a = crate::base::open(x); mycrate::no::thing",
    );
    assert_eq!(
        paths,
        vec![
            vec!["oci".to_string(), "Digest".to_string()],
            vec!["oci".to_string(), "media".to_string()],
            vec!["base".to_string(), "open".to_string()],
        ]
    );
}
