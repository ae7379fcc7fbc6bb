//! Sharing what the toolchain builds once per machine, Rust's std for each target and
//! zig's cache of compiled libc and compiler-rt, between machines through a registry
//! (`--toolchain-cache REG/REPO`), as buildx's registry cache does for layers.
//!
//! Each piece is an [`Entry`]: a tag in the cache repository and the identity text that
//! names everything that changes the piece's bytes, with no machine paths in it. This stage
//! knows nothing of registries: the pipeline hands it a [`SharedCache`] that fetches and
//! stores one archive per entry, verified by digest. The rules live here:
//! - a piece missing on this machine is fetched before it would be built. The archive is
//!   unpacked into a scratch directory and checked before it replaces anything (plain files
//!   and directories only, every path inside, then the piece's own completeness check);
//!   a damaged archive is rejected with a warning and the piece is built here;
//! - a piece the cache lacks, or a cache that cannot be reached: a warning, and the piece
//!   is built here. Never a failure of the build;
//! - a piece this machine has (built or found) that the cache lacks is stored there. A
//!   marker per cache location and piece remembers that the cache has it, so warm runs send
//!   no request at all.

use super::CompileError;
use crate::layer::{Compression, EntrySource, Layer, LayerEntry, LayerOptions, write_layer};
use crate::oci::Digest;
use crate::report::{Event, Reporter, ToolchainCacheAction};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The annotation of a cache artifact's manifest that holds its [`Entry::identity`].
pub const IDENTITY_ANNOTATION: &str = "dev.imgpush.toolchain-cache.identity";

/// One piece of the toolchain cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its tag in the cache repository: `std-<triple>-<key>` or `zig-<key>`, the key being
    /// the first 16 hex digits of the identity's digest.
    pub tag: String,
    /// Everything that changes the piece's bytes. A fetched artifact must carry exactly
    /// this text (so a shortened key that collides is never taken for a hit).
    pub identity: String,
    pub kind: EntryKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// The std sysroot of one target.
    Std { triple: String },
    /// zig's global cache for a set of targets.
    Zig,
}

impl EntryKind {
    /// The artifact manifest's `artifactType`.
    pub fn artifact_type(&self) -> &'static str {
        match self {
            EntryKind::Std { .. } => "application/vnd.imgpush.rust-std.v1",
            EntryKind::Zig => "application/vnd.imgpush.zig-cache.v1",
        }
    }

    /// For messages: `std for aarch64-unknown-linux-musl`, `zig's cache`.
    pub fn describe(&self) -> String {
        match self {
            EntryKind::Std { triple } => format!("std for {triple}"),
            EntryKind::Zig => "zig's cache".to_string(),
        }
    }
}

impl Entry {
    pub fn new(kind: EntryKind, identity: String) -> Entry {
        let key = Digest::of(identity.as_bytes());
        let key = &key.hex()[..16];
        let tag = match &kind {
            EntryKind::Std { triple } => format!("std-{triple}-{key}"),
            EntryKind::Zig => format!("zig-{key}"),
        };
        Entry {
            tag,
            identity,
            kind,
        }
    }
}

/// Why the toolchain cache gave nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The cache could not be asked (connection, login, server error).
    #[error("{0}")]
    Unreachable(String),
    /// The cache answered with something that is not a good copy of this entry (wrong
    /// digest, identity or kind; incomplete or damaged once unpacked).
    #[error("{0}")]
    Damaged(String),
    /// A good copy could not be put in place here (disk full, permissions).
    #[error("{0}")]
    Local(String),
}

/// Where pieces of the toolchain cache are kept between machines.
pub trait SharedCache: Send + Sync {
    /// `REG/REPO`, for messages and markers.
    fn location(&self) -> &str;
    /// Downloads the archive of `entry` into `dir`, verified by digest: `None` when the
    /// cache does not have it.
    fn fetch(&self, entry: &Entry, dir: &Path) -> Result<Option<PathBuf>, FetchError>;
    /// Does the cache have `entry`?
    fn contains(&self, entry: &Entry) -> Result<bool, FetchError>;
    /// Stores `archive` as `entry`.
    fn store(&self, entry: &Entry, archive: &Layer) -> Result<(), FetchError>;
}

/// What came of asking the toolchain cache for an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// Fetched, checked and in place.
    InPlace,
    /// Not there, or the cache could not be asked.
    Missing,
    /// The cache's copy is damaged or not this entry's: it is to be replaced.
    Rejected,
}

/// The file in `dir` whose presence says that `shared` has `entry`.
fn marker(shared: &dyn SharedCache, entry: &Entry, dir: &Path) -> PathBuf {
    let key = Digest::of(format!("{}\n{}", shared.location(), entry.tag).as_bytes());
    dir.join(format!("shared-{}", &key.hex()[..16]))
}

/// `REG/REPO:TAG`, for messages.
fn place(shared: &dyn SharedCache, entry: &Entry) -> String {
    format!("{}:{}", shared.location(), entry.tag)
}

/// Tries to bring `entry` from `shared`: downloads and unpacks it into a scratch directory
/// in `dir` (the piece's cache directory), then `install` checks the unpacked tree and
/// moves it into place; a marker in `dir` then says the cache has it. Every failure is a
/// warning.
pub fn fetch_entry(
    shared: &dyn SharedCache,
    entry: &Entry,
    dir: &Path,
    reporter: &dyn Reporter,
    install: impl FnOnce(&Path) -> Result<(), FetchError>,
) -> Fetched {
    let what = entry.kind.describe();
    let warn_as = |outcome: Fetched, why: String| {
        reporter.event(Event::Warning(format!(
            "toolchain cache {}: {why}; building {what} here",
            shared.location()
        )));
        outcome
    };
    let warn = |why: String| warn_as(Fetched::Missing, why);
    let reject = |why: String| warn_as(Fetched::Rejected, format!("{} rejected: {why}", entry.tag));
    let scratch = match tempfile::Builder::new()
        .prefix(".incoming-")
        .tempdir_in(dir)
    {
        Ok(s) => s,
        Err(e) => return warn(format!("cannot make a scratch directory: {e}")),
    };
    let started = std::time::Instant::now();
    let tree = scratch.path().join("tree");
    let fetched = shared
        .fetch(entry, scratch.path())
        .and_then(|archive| match archive {
            Some(a) => unpack(&a, &tree)
                .and_then(|()| install(&tree))
                .map(|()| Some(a)),
            None => Ok(None),
        });
    let archive = match fetched {
        Ok(Some(a)) => a,
        Ok(None) => return warn(format!("{} is not there yet", entry.tag)),
        Err(FetchError::Unreachable(e)) => return warn(format!("unreachable ({e})")),
        Err(FetchError::Damaged(e)) => return reject(e),
        Err(FetchError::Local(e)) => {
            return warn(format!("cannot put {} in place: {e}", entry.tag));
        }
    };
    let bytes = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::write(marker(shared, entry, dir), format!("{}\n", entry.tag));
    reporter.event(Event::ToolchainCache {
        action: ToolchainCacheAction::Pulled,
        what,
        location: place(shared, entry),
        bytes,
        elapsed: started.elapsed(),
    });
    Fetched::InPlace
}

/// Stores `entry` in `shared` unless a marker in `dir` (the piece's cache directory) says
/// it is there already (or the cache has it: then the marker is written); `replace` (its
/// copy was rejected) stores it whatever the cache has. `entries` are the files of the
/// piece, packed in `dir`. Failures are warnings.
pub fn offer_entry(
    shared: &dyn SharedCache,
    entry: &Entry,
    replace: bool,
    dir: &Path,
    reporter: &dyn Reporter,
    entries: impl FnOnce() -> std::io::Result<Vec<LayerEntry>>,
) {
    let marker = marker(shared, entry, dir);
    if marker.exists() && !replace {
        return;
    }
    let warn = |why: String| {
        reporter.event(Event::Warning(format!(
            "toolchain cache {}: {} not stored: {why}",
            shared.location(),
            entry.kind.describe()
        )));
    };
    match shared.contains(entry).map(|has| has && !replace) {
        Ok(true) => {}
        Ok(false) => {
            let started = std::time::Instant::now();
            let packed = entries().map_err(|e| e.to_string()).and_then(|files| {
                let options = LayerOptions {
                    mtime: 0,
                    compression: Compression::Zstd { level: 3 },
                };
                write_layer(files, entry.tag.clone(), options, dir).map_err(|e| format!("{e}"))
            });
            let layer = match packed {
                Ok(l) => l,
                Err(e) => return warn(format!("packing it failed: {e}")),
            };
            let stored = shared.store(entry, &layer);
            let _ = std::fs::remove_file(&layer.path);
            if let Err(e) = stored {
                return warn(e.to_string());
            }
            reporter.event(Event::ToolchainCache {
                action: ToolchainCacheAction::Pushed,
                what: entry.kind.describe(),
                location: place(shared, entry),
                bytes: layer.size,
                elapsed: started.elapsed(),
            });
        }
        Err(e) => return warn(e.to_string()),
    }
    let _ = std::fs::write(&marker, format!("{}\n", entry.tag));
}

/// Unpacks a cache archive (a zstd tar) into `dest`, which must not exist: only
/// directories and regular files, every path relative and inside. Modes are ours, not the
/// archive's: directories 0755, files 0644 (0755 when the archive made them executable).
pub fn unpack(archive: &Path, dest: &Path) -> Result<(), FetchError> {
    let local = |e: std::io::Error| FetchError::Local(format!("{}: {e}", dest.display()));
    let invalid = FetchError::Damaged;
    let file = File::open(archive).map_err(local)?;
    let decoder = zstd::stream::read::Decoder::new(file).map_err(local)?;
    let mut tar = tar::Archive::new(decoder);
    std::fs::create_dir_all(dest).map_err(local)?;
    let entries = tar
        .entries()
        .map_err(|e| invalid(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(format!("a broken archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| invalid(e.to_string()))?
            .into_owned();
        if !path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(invalid(format!(
                "the archive names a path outside: {}",
                path.display()
            )));
        }
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(invalid(format!(
                "the archive holds {} which is neither a file nor a directory",
                path.display()
            )));
        }
        let exec = entry.header().mode().unwrap_or(0) & 0o111 != 0;
        entry
            .unpack_in(dest)
            .map_err(|e| invalid(format!("unpacking {}: {e}", path.display())))?;
        let mode = if kind.is_dir() || exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(dest.join(&path), std::fs::Permissions::from_mode(mode))
            .map_err(local)?;
    }
    Ok(())
}

/// Moves everything of `from` that `to` lacks into it, keeping what `to` has: zig's cache
/// entries are named by their content, so one already there is the same, and another run
/// may be using it.
fn merge_into(from: &Path, to: &Path) -> std::io::Result<()> {
    if !to.exists() {
        return std::fs::rename(from, to);
    }
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if !target.exists() {
            std::fs::rename(entry.path(), &target)?;
        } else if entry.file_type()?.is_dir() && target.is_dir() {
            merge_into(&entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Every directory and regular file under `dir`, as layer entries at `prefix/<relative
/// path>`; names in `skip` (at the top level) are left out. Sorted by the layer writer.
pub fn tree_entries(dir: &Path, prefix: &str, skip: &[&str]) -> std::io::Result<Vec<LayerEntry>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), prefix.trim_end_matches('/').to_string())];
    while let Some((path, at)) = stack.pop() {
        for item in std::fs::read_dir(&path)? {
            let item = item?;
            let name = item.file_name().to_string_lossy().to_string();
            if path == dir && skip.contains(&name.as_str()) {
                continue;
            }
            let kind = item.file_type()?;
            let inner = format!("{at}/{name}");
            if kind.is_dir() {
                out.push(LayerEntry::dir(&inner, 0o755, 0, 0));
                stack.push((item.path(), inner));
            } else if kind.is_file() {
                let exec = item.metadata()?.permissions().mode() & 0o111 != 0;
                out.push(LayerEntry::file(
                    &inner,
                    EntrySource::Path(item.path()),
                    if exec { 0o755 } else { 0o644 },
                ));
            }
        }
    }
    Ok(out)
}

/// zig's global cache for one identity (zig's version, cargo-zigbuild's, the targets),
/// used as `ZIG_GLOBAL_CACHE_DIR` when a toolchain cache is configured, so that what is
/// shared is exactly what builds with this identity made.
pub struct ZigCache {
    pub root: PathBuf,
    pub entry: Entry,
}

impl ZigCache {
    pub fn new(cache_dir: &Path, identity: String) -> ZigCache {
        let entry = Entry::new(EntryKind::Zig, identity);
        // Named as its tag: `zig-<key>`.
        ZigCache {
            root: cache_dir.join(&entry.tag),
            entry,
        }
    }

    /// `ZIG_GLOBAL_CACHE_DIR`.
    pub fn global(&self) -> PathBuf {
        self.root.join("global")
    }

    /// Written after a build with this cache succeeded, or after a fetch: the cache holds
    /// what this identity's builds need.
    fn complete(&self) -> PathBuf {
        self.root.join("imgpush-complete")
    }

    pub fn is_warm(&self) -> bool {
        self.complete().exists()
    }

    /// Makes the cache warm from `shared` when it is not (under a lock, so concurrent runs
    /// fetch once). `None` when it was warm.
    pub fn prepare(
        &self,
        shared: &dyn SharedCache,
        reporter: &dyn Reporter,
    ) -> Result<Option<Fetched>, CompileError> {
        let io = |source| CompileError::Cache {
            path: self.root.clone(),
            source,
        };
        std::fs::create_dir_all(&self.root).map_err(io)?;
        let lock = File::create(self.root.join(".lock")).map_err(io)?;
        lock.lock().map_err(io)?;
        if self.is_warm() {
            return Ok(None);
        }
        let fetched = fetch_entry(shared, &self.entry, &self.root, reporter, |tree| {
            let got = tree.join("zig");
            if !got.join("h").is_dir() || !got.join("o").is_dir() {
                return Err(FetchError::Damaged(
                    "it holds no zig cache (no h/ and o/ directories)".into(),
                ));
            }
            // Merged, never replaced: a build of another run may be using what is there.
            let global = self.global();
            let local = |e: std::io::Error| FetchError::Local(format!("{}: {e}", global.display()));
            merge_into(&got, &global).map_err(local)?;
            std::fs::write(self.complete(), "fetched\n").map_err(local)
        });
        Ok(Some(fetched))
    }

    /// After a successful build: the cache is complete; offer it to `shared` (replacing
    /// its copy when `fetched` says it was rejected).
    pub fn finish(
        &self,
        shared: &dyn SharedCache,
        fetched: Option<Fetched>,
        reporter: &dyn Reporter,
    ) {
        if !self.is_warm() {
            let _ = std::fs::write(self.complete(), "built\n");
        }
        let global = self.global();
        offer_entry(
            shared,
            &self.entry,
            fetched == Some(Fetched::Rejected),
            &self.root,
            reporter,
            || tree_entries(&global, "/zig", &["tmp"]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A cache in memory: archives by tag, and what was asked.
    #[derive(Default)]
    struct Memory {
        stored: Mutex<Vec<(String, Vec<u8>)>>,
        asked: Mutex<Vec<String>>,
        unreachable: bool,
    }

    impl SharedCache for Memory {
        fn location(&self) -> &str {
            "reg.example/cache"
        }
        fn fetch(&self, entry: &Entry, dir: &Path) -> Result<Option<PathBuf>, FetchError> {
            self.asked
                .lock()
                .unwrap()
                .push(format!("fetch {}", entry.tag));
            if self.unreachable {
                return Err(FetchError::Unreachable("connection refused".into()));
            }
            let stored = self.stored.lock().unwrap();
            let Some((_, bytes)) = stored.iter().find(|(t, _)| *t == entry.tag) else {
                return Ok(None);
            };
            let path = dir.join("archive");
            std::fs::write(&path, bytes).unwrap();
            Ok(Some(path))
        }
        fn contains(&self, entry: &Entry) -> Result<bool, FetchError> {
            self.asked
                .lock()
                .unwrap()
                .push(format!("has {}", entry.tag));
            Ok(self
                .stored
                .lock()
                .unwrap()
                .iter()
                .any(|(t, _)| *t == entry.tag))
        }
        fn store(&self, entry: &Entry, archive: &Layer) -> Result<(), FetchError> {
            let bytes = std::fs::read(&archive.path).unwrap();
            assert_eq!(Digest::of(&bytes), archive.digest);
            self.stored.lock().unwrap().push((entry.tag.clone(), bytes));
            Ok(())
        }
    }

    fn zig_tree(global: &Path) {
        for (p, c) in [
            ("h/abc", "manifest"),
            ("o/abc/libc.a", "objects"),
            ("tmp/x", "junk"),
        ] {
            let path = global.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, c).unwrap();
        }
    }

    #[test]
    fn a_zig_cache_travels_once_and_is_marked() {
        let shared = Memory::default();
        let reporter = crate::report::RecordingReporter::default();
        let a = tempfile::tempdir().unwrap();
        let one = ZigCache::new(a.path(), "zig 0.17.1 | targets x".into());
        let cold = one.prepare(&shared, &reporter).unwrap();
        assert_eq!(cold, Some(Fetched::Missing));
        assert!(!one.is_warm(), "nothing fetched");
        zig_tree(&one.global());
        one.finish(&shared, cold, &reporter);
        assert_eq!(shared.stored.lock().unwrap().len(), 1);
        // Marked: a second finish asks nothing.
        let before = shared.asked.lock().unwrap().len();
        one.finish(&shared, None, &reporter);
        assert_eq!(shared.asked.lock().unwrap().len(), before);

        let b = tempfile::tempdir().unwrap();
        let two = ZigCache::new(&b.path().join("deeper"), "zig 0.17.1 | targets x".into());
        assert_eq!(
            two.prepare(&shared, &reporter).unwrap(),
            Some(Fetched::InPlace)
        );
        assert!(two.is_warm());
        assert_eq!(
            std::fs::read_to_string(two.global().join("o/abc/libc.a")).unwrap(),
            "objects"
        );
        assert!(!two.global().join("tmp").exists(), "tmp/ does not travel");
        assert_eq!(two.prepare(&shared, &reporter).unwrap(), None, "warm now");
        let pulled = reporter.events().iter().any(|e| {
            matches!(
                e,
                Event::ToolchainCache {
                    action: ToolchainCacheAction::Pulled,
                    ..
                }
            )
        });
        assert!(pulled);
    }

    #[test]
    fn damaged_or_foreign_archives_are_rejected_and_unreachable_is_a_warning() {
        let reporter = crate::report::RecordingReporter::default();
        let dir = tempfile::tempdir().unwrap();
        let cache = ZigCache::new(dir.path(), "zig".into());
        // Not a zstd tar at all.
        let shared = Memory::default();
        shared
            .stored
            .lock()
            .unwrap()
            .push((cache.entry.tag.clone(), b"garbage".to_vec()));
        assert_eq!(
            cache.prepare(&shared, &reporter).unwrap(),
            Some(Fetched::Rejected)
        );
        assert!(!cache.is_warm());
        // Built here, then stored over the rejected copy.
        zig_tree(&cache.global());
        cache.finish(&shared, Some(Fetched::Rejected), &reporter);
        assert_eq!(shared.stored.lock().unwrap().len(), 2, "replaced");
        std::fs::remove_dir_all(&cache.root).unwrap();
        // A tar with a path outside.
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, "zig/../../escape", &b"x"[..])
            .unwrap_or_else(|_| {
                // The tar crate refuses `..` itself: write the name raw.
                let mut h = tar::Header::new_old();
                h.as_old_mut().name[..16].copy_from_slice(b"zig/../../escape");
                h.set_size(1);
                h.set_cksum();
                tar.append(&h, &b"x"[..]).unwrap();
            });
        let bytes = zstd::encode_all(&tar.into_inner().unwrap()[..], 3).unwrap();
        shared.stored.lock().unwrap().retain(|_| false);
        shared
            .stored
            .lock()
            .unwrap()
            .push((cache.entry.tag.clone(), bytes));
        assert_eq!(
            cache.prepare(&shared, &reporter).unwrap(),
            Some(Fetched::Rejected)
        );
        assert!(!cache.is_warm());
        assert!(!dir.path().join("escape").exists());
        let offline = Memory {
            unreachable: true,
            ..Memory::default()
        };
        assert_eq!(
            cache.prepare(&offline, &reporter).unwrap(),
            Some(Fetched::Missing)
        );
        let warnings: Vec<String> = reporter
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Warning(w) => Some(w),
                _ => None,
            })
            .collect();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("rejected"), "{warnings:?}");
        assert!(warnings[1].contains("outside"), "{warnings:?}");
        assert!(
            warnings[2].contains("unreachable (connection refused)"),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .all(|w| w.contains("building zig's cache here"))
        );
    }

    #[test]
    fn entries_are_keyed_by_their_identity() {
        let a = Entry::new(
            EntryKind::Std {
                triple: "aarch64-unknown-linux-musl".into(),
            },
            "rustc 1.96".into(),
        );
        assert!(a.tag.starts_with("std-aarch64-unknown-linux-musl-"));
        assert_eq!(a.tag.len(), "std-aarch64-unknown-linux-musl-".len() + 16);
        let b = Entry::new(a.kind.clone(), "rustc 1.97".into());
        assert_ne!(a.tag, b.tag);
    }
}
