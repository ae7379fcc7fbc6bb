//! A persistent std per (rustc, flags, target): built once from the std source with
//! `-Zbuild-std` on an empty crate, then kept as a sysroot that every later build of any
//! project links against with `--sysroot` (xargo's approach). Without it, every fresh target
//! directory would compile std again (≈ 70–120 s per target here).

use super::CompileError;
use crate::oci::Digest;
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

    /// Is the std for `triple` there and intact (every file of the manifest, right size)?
    pub fn has(&self, triple: &str) -> bool {
        let Ok(text) = std::fs::read_to_string(self.manifest(triple)) else {
            return false;
        };
        let dir = self.lib_dir(triple);
        let mut any = false;
        for line in text.lines() {
            let Some((size, name)) = line.split_once(' ') else {
                return false;
            };
            let ok = std::fs::metadata(dir.join(name))
                .map(|m| m.len().to_string() == size)
                .unwrap_or(false);
            if !ok {
                return false;
            }
            any |= name.starts_with("libstd-");
        }
        any
    }

    /// Builds std for every target in `missing` (holding a lock so concurrent runs don't
    /// race), with `command` = a `cargo build` configured by the caller, given the empty
    /// crate's manifest and a target dir.
    pub fn fill(
        &self,
        triples: &[&str],
        command: impl FnOnce(&Path, &Path, &[&str]) -> Command,
        run: impl FnOnce(Command) -> Result<(), CompileError>,
    ) -> Result<(), CompileError> {
        let io = |path: &Path| {
            let p = path.to_path_buf();
            move |source| CompileError::Cache { path: p, source }
        };
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let lock_path = self.root.join(".lock");
        let lock = File::create(&lock_path).map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let missing: Vec<&str> = triples.iter().copied().filter(|t| !self.has(t)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let dummy = self.root.join("empty-crate");
        std::fs::create_dir_all(dummy.join("src")).map_err(io(&dummy))?;
        std::fs::write(
            dummy.join("Cargo.toml"),
            "[package]\nname = \"imgpush-std\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .map_err(io(&dummy))?;
        std::fs::write(dummy.join("src/lib.rs"), "#![no_std]\n").map_err(io(&dummy))?;
        let target_dir = self.root.join("build");
        run(command(&dummy.join("Cargo.toml"), &target_dir, &missing))?;
        for triple in &missing {
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
            // Written last: a sysroot without it is incomplete and gets rebuilt.
            std::fs::write(self.manifest(triple), manifest).map_err(io(&to))?;
        }
        // The intermediate build (hundreds of MB) is not needed once std is copied out.
        let _ = std::fs::remove_dir_all(&target_dir);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_or_damaged_sysroots_are_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StdCache::new(dir.path(), "rustc 1.0 | -C x");
        assert!(!cache.has("aarch64-unknown-linux-musl"));
        let built = std::cell::Cell::new(0);
        let fake_build = |_: &Path, target_dir: &Path, triples: &[&str]| {
            for t in triples {
                let deps = target_dir.join(t).join("release/deps");
                std::fs::create_dir_all(&deps).unwrap();
                std::fs::write(deps.join("libstd-abc.rlib"), b"std").unwrap();
                std::fs::write(deps.join("libimgpush_std-abc.rlib"), b"dummy").unwrap();
            }
            Command::new("true")
        };
        cache
            .fill(&["aarch64-unknown-linux-musl"], fake_build, |_| {
                built.set(built.get() + 1);
                Ok(())
            })
            .unwrap();
        assert!(cache.has("aarch64-unknown-linux-musl"));
        assert!(
            !cache
                .lib_dir("aarch64-unknown-linux-musl")
                .join("libimgpush_std-abc.rlib")
                .exists()
        );
        cache
            .fill(&["aarch64-unknown-linux-musl"], fake_build, |_| {
                built.set(built.get() + 1);
                Ok(())
            })
            .unwrap();
        assert_eq!(built.get(), 1, "a complete target is not rebuilt");
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
}
