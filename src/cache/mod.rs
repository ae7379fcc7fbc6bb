//! imgpush's local cache (`IMGPUSH_CACHE_DIR`, else `$XDG_CACHE_HOME/imgpush`, else
//! `~/.cache/imgpush`), shared by every run on the machine:
//!
//! - `blobs/sha256/<hex>`: content-addressed blobs — finished layers, and the manifests and
//!   configs fetched from registries. Every read re-hashes the file, so a damaged entry is
//!   noticed, removed and rebuilt (or fetched again); it is never used or pushed.
//! - `layers/<key>.json`: which layer blob a set of inputs gave (the key hashes every input
//!   file's content and every layer setting), so an unchanged artifact is neither tarred
//!   nor compressed again. The JSON is not trusted: on a hit the blob is decompressed while
//!   it is hashed, so its `diff_id` is recomputed, and its media type must be the one the
//!   current compression setting produces. An entry that lies about either would make the
//!   pushed config lie, so it counts as damaged.
//! - `refs/<hash of REGISTRY/REPO:TAG>`: the digest a tag had last time, so checking a base
//!   image costs one HEAD request when it has not moved.
//! - `pins/<pid>-<random>/`: one per running process that took a layer from the cache (see
//!   below).
//!
//! Every directory is created 0700: the cache decides what gets pushed, so other users
//! must not be able to plant entries in it.
//!
//! Bounded: after each build, least recently used blobs are removed until the blobs take
//! at most the limit (`IMGPUSH_CACHE_MAX_MB`, default 2048 MiB). Every write goes through a
//! temporary file and a rename, so concurrent runs never see half an entry.
//!
//! Eviction never pulls a blob from under another running process. A layer hit is not
//! handed out as `blobs/sha256/<hex>` but as a hard link to it in this process's pin
//! directory, made *before* the blob is verified; the link keeps the data alive whatever
//! happens to the name in `blobs/`. The pin directory holds a `lock` file that its process
//! keeps `flock`ed until it ends, so eviction can tell a live directory (lock busy: its
//! blobs are skipped, the entry stays useful to that run) from a crashed process's
//! leftovers (lock free: removed). The one race left is harmless: if eviction unlinks a
//! blob just before another process links it, the link fails and that process sees a
//! miss and rebuilds the layer. A hard link needs the pins and the blobs on one filesystem,
//! which they are (both under the cache root); where links are not supported at all the
//! blob is used in place, unprotected, as before.

mod layers;
mod pins;

pub use layers::{CachedLayer, LayerLookup};
use pins::Pins;

use crate::oci::Digest;
use bytes::Bytes;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Default bound on the cache's blobs.
pub const DEFAULT_MAX_BYTES: u64 = 2048 * 1024 * 1024;

/// A handle on the cache. Clones share one pin directory: the paths of layer hits stay
/// valid until [`Cache::release_pins`] or the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
    pins: Arc<Mutex<Option<Pins>>>,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache {
            root: root.into(),
            pins: Arc::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    fn ref_entry(&self, reference: &str) -> PathBuf {
        self.root
            .join("refs")
            .join(Digest::of(reference.as_bytes()).hex())
    }

    /// A small blob (manifest, config) by digest, verified; a damaged one is removed.
    pub fn get_bytes(&self, digest: &Digest) -> Option<Bytes> {
        let path = self.blob_path(digest);
        let bytes = std::fs::read(&path).ok()?;
        if &Digest::of(&bytes) != digest {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        touch(&path);
        Some(Bytes::from(bytes))
    }

    /// Stores a small blob under its digest (best effort: a cache that cannot be written
    /// only makes later runs slower).
    pub fn put_bytes(&self, digest: &Digest, bytes: &[u8]) {
        let path = self.blob_path(digest);
        if path.exists() {
            return;
        }
        let _ = write_atomic(&path, bytes);
    }

    /// The digest `reference` (REGISTRY/REPO:TAG) had when last fetched.
    pub fn get_ref(&self, reference: &str) -> Option<Digest> {
        std::fs::read_to_string(self.ref_entry(reference))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn put_ref(&self, reference: &str, digest: &Digest) {
        let _ = write_atomic(&self.ref_entry(reference), digest.as_str().as_bytes());
    }
}

/// A private scratch directory for one run (layer files, generated bases), removed when
/// dropped: in `$TMPDIR` (else /tmp), or — when that is not writable, as in a container
/// with a read-only root and no tmpfs — in the working directory (a CI job's checkout).
/// The error names `$TMPDIR`'s path.
pub fn scratch_dir() -> Result<tempfile::TempDir, (PathBuf, std::io::Error)> {
    let tmp = std::env::temp_dir();
    match tempfile::Builder::new().prefix("imgpush-").tempdir_in(&tmp) {
        Ok(dir) => Ok(dir),
        Err(first) => tempfile::Builder::new()
            .prefix(".imgpush-work-")
            .tempdir_in(".")
            .map_err(|_| (tmp, first)),
    }
}

/// Creates `dir` and its missing parents with mode 0700 (as the XDG base directory spec
/// asks for the cache home); existing directories are left as they are.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Marks an entry as just used (eviction removes the least recently used first).
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache paths have a parent");
    create_private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_verified_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let doc = br#"{"schemaVersion":2}"#;
        let d = Digest::of(doc);
        assert!(cache.get_bytes(&d).is_none());
        cache.put_bytes(&d, doc);
        assert_eq!(cache.get_bytes(&d).unwrap().as_ref(), doc);
        std::fs::write(cache.blob_path(&d), b"tampered").unwrap();
        assert!(cache.get_bytes(&d).is_none());
        assert!(!cache.blob_path(&d).exists(), "a damaged entry is removed");
    }

    #[test]
    fn directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/imgpush");
        let cache = Cache::new(&root);
        let doc = b"{}";
        cache.put_bytes(&Digest::of(doc), doc);
        for d in [
            dir.path().join("a"),
            root.clone(),
            root.join("blobs/sha256"),
        ] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
    }
}
