//! A persistent std per (rustc, flags, target): built once from the std source with
//! `-Zbuild-std` on an empty crate, then kept as a sysroot that every later build of any
//! project links against with `--sysroot` (xargo's approach). Without it, every fresh target
//! directory would compile std again (≈ 70–120 s per target here).

use super::CompileError;
use super::sbom::cargo::{CargoLock, StdUnit, compiled_for, std_units};
use super::shared_cache::FetchError;
use crate::oci::Digest;
use cargo_metadata::Artifact;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The sysroot directory for one toolchain + flags combination, and which targets it has.
pub struct StdCache {
    pub root: PathBuf,
}

impl StdCache {
    /// `identity` is everything that changes std's bytes: rustc version, path and sysroot,
    /// the flags std is compiled with, the builder.
    pub fn new(cache_dir: &Path, identity: &str) -> StdCache {
        let key = Digest::of(identity.as_bytes());
        StdCache {
            root: cache_dir.join(format!("std-{}", &key.hex()[..16])),
        }
    }

    pub fn sysroot(&self) -> PathBuf {
        self.root.join("sysroot")
    }

    fn lib_dir(&self, triple: &str) -> PathBuf {
        self.sysroot().join("lib/rustlib").join(triple).join("lib")
    }

    fn manifest(&self, triple: &str) -> PathBuf {
        self.sysroot()
            .join("lib/rustlib")
            .join(triple)
            .join("imgpush-complete")
    }

    /// The crates std for `triple` was built from, as its build reported them (for the
    /// SBOM). Written with the rlibs; a sysroot of an older imgpush lacks it and is built
    /// again (once), since only std's own build says which units it compiled.
    fn units_file(&self, triple: &str) -> PathBuf {
        self.sysroot()
            .join("lib/rustlib")
            .join(triple)
            .join("imgpush-std-units.json")
    }

    /// The units of the std for `triple` (see [`StdCache::units_file`]).
    pub fn units(&self, triple: &str) -> Result<Vec<StdUnit>, CompileError> {
        let path = self.units_file(triple);
        let text = std::fs::read_to_string(&path).map_err(|source| CompileError::Cache {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| CompileError::Cache {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Is the std for `triple` there and intact (every file of the manifest, right size,
    /// and the list of its units)?
    pub fn has(&self, triple: &str) -> bool {
        self.units(triple).is_ok()
            && complete(&self.sysroot().join("lib/rustlib").join(triple), false).is_ok()
    }

    /// The files of the std for `triple` as layer entries at `/lib/rustlib/<triple>/…`
    /// (for the toolchain cache): the rlibs, the units and the manifest.
    pub fn entries(&self, triple: &str) -> std::io::Result<Vec<crate::layer::LayerEntry>> {
        let dir = self.sysroot().join("lib/rustlib").join(triple);
        let prefix = format!("/lib/rustlib/{triple}");
        let mut out =
            super::shared_cache::tree_entries(&dir.join("lib"), &format!("{prefix}/lib"), &[])?;
        for name in ["imgpush-std-units.json", "imgpush-complete"] {
            out.push(crate::layer::LayerEntry::file(
                &format!("{prefix}/{name}"),
                crate::layer::EntrySource::Path(dir.join(name)),
                0o644,
            ));
        }
        Ok(out)
    }

    /// Puts the std for `triple` unpacked in `tree` (a tree of [`StdCache::entries`]) in
    /// place, if it is complete; otherwise leaves nothing of it and says what is wrong.
    pub fn install(&self, triple: &str, tree: &Path) -> Result<(), FetchError> {
        let rustlib = tree.join("lib/rustlib");
        let names: Vec<String> = std::fs::read_dir(&rustlib)
            .map_err(|_| FetchError::Damaged("it holds no lib/rustlib directory".into()))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        if names != [triple] {
            return Err(FetchError::Damaged(format!(
                "it holds std for {names:?}, not for {triple}"
            )));
        }
        let got = rustlib.join(triple);
        complete(&got, true).map_err(FetchError::Damaged)?;
        let text = std::fs::read_to_string(got.join("imgpush-std-units.json")).unwrap_or_default();
        serde_json::from_str::<Vec<StdUnit>>(&text)
            .map_err(|e| FetchError::Damaged(format!("its list of std's units: {e}")))?;
        let to = self.sysroot().join("lib/rustlib").join(triple);
        let local = |e: std::io::Error| FetchError::Local(format!("{}: {e}", to.display()));
        let _ = std::fs::remove_dir_all(&to);
        std::fs::create_dir_all(self.sysroot().join("lib/rustlib")).map_err(local)?;
        std::fs::rename(&got, &to).map_err(local)
    }

    /// Builds std for every target in `missing` (holding a lock so concurrent runs don't
    /// race), with `command` = a `cargo build` configured by the caller, given the empty
    /// crate's manifest and a target dir, and `run` running it and returning its
    /// `compiler-artifact` messages. `std_lock` is the std source's `Cargo.lock`, for the
    /// units' checksums and edges. `fetch` is offered each missing target first, under the
    /// lock (the toolchain cache; `true`: it is in place now). Returns the targets built.
    pub fn fill(
        &self,
        triples: &[&str],
        std_lock: &Path,
        fetch: &mut dyn FnMut(&str) -> bool,
        command: impl FnOnce(&Path, &Path, &[&str]) -> Command,
        run: impl FnOnce(Command) -> Result<Vec<Artifact>, CompileError>,
    ) -> Result<Vec<String>, CompileError> {
        let io = |path: &Path| {
            let p = path.to_path_buf();
            move |source| CompileError::Cache { path: p, source }
        };
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let lock_path = self.root.join(".lock");
        let lock = File::create(&lock_path).map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let missing: Vec<&str> = triples
            .iter()
            .copied()
            .filter(|t| !self.has(t) && !fetch(t))
            .collect();
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let dummy = self.root.join("empty-crate");
        std::fs::create_dir_all(dummy.join("src")).map_err(io(&dummy))?;
        std::fs::write(
            dummy.join("Cargo.toml"),
            "[package]\nname = \"imgpush-std\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .map_err(io(&dummy))?;
        std::fs::write(dummy.join("src/lib.rs"), "#![no_std]\n").map_err(io(&dummy))?;
        // Without the std source's lock (never the case for rust-src) units have no checksums.
        let lock = match std::fs::read_to_string(std_lock) {
            Ok(text) => CargoLock::parse(&text).map_err(|message| CompileError::Lockfile {
                path: std_lock.to_path_buf(),
                message,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CargoLock::default(),
            Err(source) => {
                return Err(CompileError::Read {
                    path: std_lock.to_path_buf(),
                    source,
                });
            }
        };
        let target_dir = self.root.join("build");
        let artifacts = run(command(&dummy.join("Cargo.toml"), &target_dir, &missing))?;
        for triple in &missing {
            let units = std_units(&compiled_for(&artifacts, triple, "release"), &lock);
            let from = target_dir.join(triple).join("release/deps");
            let to = self.lib_dir(triple);
            let _ = std::fs::remove_dir_all(&to);
            std::fs::create_dir_all(&to).map_err(io(&to))?;
            let mut manifest = String::new();
            let mut entries: Vec<_> = std::fs::read_dir(&from)
                .map_err(io(&from))?
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".rlib") && !n.starts_with("libimgpush_std-"))
                .collect();
            entries.sort();
            for name in entries {
                let size = std::fs::copy(from.join(&name), to.join(&name)).map_err(io(&to))?;
                manifest.push_str(&format!("{size} {name}\n"));
            }
            let units_file = self.units_file(triple);
            let json = serde_json::to_vec_pretty(&units).expect("units serialize");
            std::fs::write(&units_file, json).map_err(io(&units_file))?;
            // Written last: a sysroot without it is incomplete and gets rebuilt.
            std::fs::write(self.manifest(triple), manifest).map_err(io(&to))?;
        }
        // The intermediate build (hundreds of MB) is not needed once std is copied out.
        let _ = std::fs::remove_dir_all(&target_dir);
        Ok(missing.iter().map(|t| t.to_string()).collect())
    }
}

/// Checks the std in `dir` (`lib/rustlib/<triple>`) against its own manifest: every file
/// it lists at its size, a `libstd-*` among them; with `exactly`, no other file in `lib/`
/// (a stray rlib makes rustc see two candidates for a crate).
fn complete(dir: &Path, exactly: bool) -> Result<(), String> {
    let damaged = |what: String| format!("{what}: it does not match its own manifest");
    let text = std::fs::read_to_string(dir.join("imgpush-complete"))
        .map_err(|_| "it has no imgpush-complete manifest".to_string())?;
    let lib = dir.join("lib");
    let mut listed = std::collections::BTreeSet::new();
    for line in text.lines() {
        let (size, name) = line
            .split_once(' ')
            .ok_or_else(|| damaged(format!("line {line:?}")))?;
        let ok = std::fs::metadata(lib.join(name))
            .map(|m| m.is_file() && m.len().to_string() == size)
            .unwrap_or(false);
        if !ok {
            return Err(damaged(name.to_string()));
        }
        listed.insert(name.to_string());
    }
    if !listed.iter().any(|n| n.starts_with("libstd-")) {
        return Err("its manifest lists no libstd".into());
    }
    if exactly {
        for entry in std::fs::read_dir(&lib).map_err(|e| e.to_string())? {
            let name = entry.map_err(|e| e.to_string())?.file_name();
            let name = name.to_string_lossy();
            if !listed.contains(name.as_ref()) {
                return Err(format!("{name} is not in its manifest"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What cargo reports for std's build of `triples` in `target_dir`: std itself, a
    /// crates.io dependency, the empty crate and a host unit.
    fn messages(target_dir: &Path, triples: &[&str]) -> Vec<Artifact> {
        let reg = "registry+https://github.com/rust-lang/crates.io-index";
        let mut out = Vec::new();
        let mut push = |id: String, dir: PathBuf, name: &str| {
            let line = serde_json::json!({
                "reason": "compiler-artifact", "package_id": id,
                "target": { "kind": ["lib"], "name": name, "src_path": "/s/lib.rs" },
                "profile": { "opt_level": "3", "debuginfo": 0, "debug_assertions": false,
                             "overflow_checks": false, "test": false },
                "features": [], "fresh": false, "executable": null,
                "filenames": [dir.join(format!("lib{name}-abc.rlib"))],
            });
            match serde_json::from_value(line).unwrap() {
                cargo_metadata::Message::CompilerArtifact(a) => out.push(a),
                other => panic!("{other:?}"),
            }
        };
        for t in triples {
            let deps = target_dir.join(t).join("release/deps");
            push(
                "path+file:///s/library/std#0.0.0".into(),
                deps.clone(),
                "std",
            );
            push(format!("{reg}#gimli@0.32.3"), deps.clone(), "gimli");
            push(
                "path+file:///c/empty-crate#imgpush-std@0.0.0".into(),
                deps,
                "imgpush_std",
            );
        }
        push(
            format!("{reg}#cc@1.2.0"),
            target_dir.join("release/deps"),
            "cc",
        );
        out
    }

    #[test]
    fn incomplete_or_damaged_sysroots_are_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let std_lock = dir.path().join("Cargo.lock");
        std::fs::write(
            &std_lock,
            "[[package]]\nname = \"std\"\nversion = \"0.0.0\"\ndependencies = [\"gimli\"]\n\n\
             [[package]]\nname = \"gimli\"\nversion = \"0.32.3\"\n\
             source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\
             checksum = \"e629b9b98ef3dd8afe6ca2bd0f89306cec16d43d907889945bc5d6687f2f13c7\"\n",
        )
        .unwrap();
        let cache = StdCache::new(dir.path(), "rustc 1.0 | -C x");
        assert!(!cache.has("aarch64-unknown-linux-musl"));
        let built = std::cell::Cell::new(0);
        let target_dir = std::cell::RefCell::new(PathBuf::new());
        let fake_build = |_: &Path, dir: &Path, triples: &[&str]| {
            for t in triples {
                let deps = dir.join(t).join("release/deps");
                std::fs::create_dir_all(&deps).unwrap();
                std::fs::write(deps.join("libstd-abc.rlib"), b"std").unwrap();
                std::fs::write(deps.join("libimgpush_std-abc.rlib"), b"dummy").unwrap();
            }
            *target_dir.borrow_mut() = dir.to_path_buf();
            Command::new("true")
        };
        let fake_run = |_: Command| {
            built.set(built.get() + 1);
            Ok(messages(
                &target_dir.borrow(),
                &["aarch64-unknown-linux-musl"],
            ))
        };
        cache
            .fill(
                &["aarch64-unknown-linux-musl"],
                &std_lock,
                &mut |_| false,
                fake_build,
                fake_run,
            )
            .unwrap();
        assert!(cache.has("aarch64-unknown-linux-musl"));
        assert!(
            !cache
                .lib_dir("aarch64-unknown-linux-musl")
                .join("libimgpush_std-abc.rlib")
                .exists()
        );
        let units = cache.units("aarch64-unknown-linux-musl").unwrap();
        let names: Vec<&str> = units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["gimli", "std"], "no empty crate, no host unit");
        assert_eq!(units[1].dependencies, ["gimli"]);
        assert_eq!(
            units[0].checksum.as_deref(),
            Some("e629b9b98ef3dd8afe6ca2bd0f89306cec16d43d907889945bc5d6687f2f13c7")
        );
        cache
            .fill(
                &["aarch64-unknown-linux-musl"],
                &std_lock,
                &mut |_| false,
                fake_build,
                fake_run,
            )
            .unwrap();
        assert_eq!(built.get(), 1, "a complete target is not rebuilt");

        // A sysroot written by an older imgpush (no units file) is built again.
        std::fs::remove_file(cache.units_file("aarch64-unknown-linux-musl")).unwrap();
        assert!(!cache.has("aarch64-unknown-linux-musl"));
        cache
            .fill(
                &["aarch64-unknown-linux-musl"],
                &std_lock,
                &mut |_| false,
                fake_build,
                fake_run,
            )
            .unwrap();
        assert_eq!(built.get(), 2);
        assert!(cache.has("aarch64-unknown-linux-musl"));

        std::fs::write(
            cache
                .lib_dir("aarch64-unknown-linux-musl")
                .join("libstd-abc.rlib"),
            b"truncated!",
        )
        .unwrap();
        assert!(
            !cache.has("aarch64-unknown-linux-musl"),
            "a damaged file is detected"
        );
        assert_ne!(
            StdCache::new(dir.path(), "rustc 1.1 | -C x").root,
            cache.root
        );
    }

    /// A std, as [`StdCache::entries`] lists it, packed the way the toolchain cache packs
    /// it and unpacked into `dest`.
    fn packed_and_unpacked(cache: &StdCache, triple: &str, dest: &Path) {
        let options = crate::layer::LayerOptions {
            mtime: 0,
            compression: crate::layer::Compression::Zstd { level: 3 },
        };
        let scratch = tempfile::tempdir().unwrap();
        let entries = cache.entries(triple).unwrap();
        let layer =
            crate::layer::write_layer(entries, "std".into(), options, scratch.path()).unwrap();
        super::super::shared_cache::unpack(&layer.path, dest).unwrap();
    }

    /// Writes a one-byte `name` into the unpacked std for `triple` in `tree`.
    fn write_rlib(tree: &Path, triple: &str, name: &str) {
        let lib = tree.join("lib/rustlib").join(triple).join("lib");
        std::fs::write(lib.join(name), b"x").unwrap();
    }

    #[test]
    fn a_std_travels_whole_and_only_whole() {
        let triple = "aarch64-unknown-linux-musl";
        let here = tempfile::tempdir().unwrap();
        let cache = StdCache::new(here.path(), "rustc 1.0");
        let lib = cache.lib_dir(triple);
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("libstd-abc.rlib"), b"std rlib").unwrap();
        std::fs::write(lib.join("libcore-abc.rlib"), b"core").unwrap();
        std::fs::write(cache.units_file(triple), b"[]").unwrap();
        std::fs::write(
            cache.manifest(triple),
            "8 libstd-abc.rlib\n4 libcore-abc.rlib\n",
        )
        .unwrap();
        assert!(cache.has(triple));

        let there = tempfile::tempdir().unwrap();
        let other = StdCache::new(&there.path().join("a/b"), "rustc 1.0");
        let tree = there.path().join("tree");
        packed_and_unpacked(&cache, triple, &tree);
        other.install(triple, &tree).unwrap();
        assert!(other.has(triple));
        assert_eq!(
            std::fs::read(other.lib_dir(triple).join("libcore-abc.rlib")).unwrap(),
            b"core"
        );

        // Another target's std is not this one's.
        let tree = there.path().join("tree2");
        packed_and_unpacked(&cache, triple, &tree);
        let err = other
            .install("x86_64-unknown-linux-musl", &tree)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("not for x86_64-unknown-linux-musl"),
            "{err}"
        );

        // A file that does not match the std's own manifest: nothing is left in place.
        let tree = there.path().join("tree3");
        packed_and_unpacked(&cache, triple, &tree);
        write_rlib(&tree, triple, "libcore-abc.rlib");
        let fresh = StdCache::new(&there.path().join("c"), "rustc 1.0");
        let err = fresh.install(triple, &tree).unwrap_err();
        assert!(
            err.to_string()
                .contains("libcore-abc.rlib: it does not match"),
            "{err}"
        );
        assert!(!fresh.has(triple));
        assert!(!fresh.sysroot().join("lib/rustlib").join(triple).exists());

        // A stray rlib the manifest does not list: refused, and what was there stays.
        let tree = there.path().join("tree4");
        packed_and_unpacked(&cache, triple, &tree);
        write_rlib(&tree, triple, "libcore-xyz.rlib");
        let err = other.install(triple, &tree).unwrap_err();
        assert!(
            err.to_string()
                .contains("libcore-xyz.rlib is not in its manifest"),
            "{err}"
        );
        assert!(other.has(triple), "the std in place is untouched");
    }
}
