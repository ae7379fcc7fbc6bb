//! imgpush's local cache (`IMGPUSH_CACHE_DIR`, else `$XDG_CACHE_HOME/imgpush`, else
//! `~/.cache/imgpush`), shared by every run on the machine:
//!
//! - `blobs/sha256/<hex>`: content-addressed blobs — finished layers, and the manifests and
//!   configs fetched from registries. Every read re-hashes the file, so a damaged entry is
//!   noticed, removed and rebuilt (or fetched again); it is never used or pushed.
//! - `layers/<key>.json`: which layer blob a set of inputs gave (the key hashes every input
//!   file's content and every layer setting), so an unchanged artifact is neither tarred
//!   nor compressed again.
//! - `refs/<hash of REGISTRY/REPO:TAG>`: the digest a tag had last time, so checking a base
//!   image costs one HEAD request when it has not moved.
//!
//! Bounded: after each build, least recently used blobs are removed until the blobs take
//! at most the limit (`IMGPUSH_CACHE_MAX_MB`, default 2048 MiB). Every write goes through a
//! temporary file and a rename, so concurrent runs never see half an entry.

use crate::oci::Digest;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Default bound on the cache's blobs.
pub const DEFAULT_MAX_BYTES: u64 = 2048 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

/// What the cache knows about a layer built from some inputs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedLayer {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
    #[serde(rename = "mediaType")]
    pub media_type: String,
}

/// The answer to a layer lookup.
#[derive(Debug)]
pub enum LayerLookup {
    /// The blob is there and hashes to its digest.
    Hit(CachedLayer, PathBuf),
    Miss,
    /// An entry existed but its blob is missing, truncated or altered; it was removed.
    Corrupt(String),
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    fn layer_entry(&self, key: &Digest) -> PathBuf {
        self.root.join("layers").join(format!("{}.json", key.hex()))
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

    /// Looks up the layer built from inputs with this key. A hit has been re-hashed.
    pub fn get_layer(&self, key: &Digest) -> LayerLookup {
        let entry = self.layer_entry(key);
        let Ok(text) = std::fs::read(&entry) else {
            return LayerLookup::Miss;
        };
        let corrupt = |why: String| {
            let _ = std::fs::remove_file(&entry);
            LayerLookup::Corrupt(why)
        };
        let Ok(layer) = serde_json::from_slice::<CachedLayer>(&text) else {
            return corrupt(format!("{} is not valid", entry.display()));
        };
        let blob = self.blob_path(&layer.digest);
        match hash_file(&blob) {
            Ok((digest, size)) if digest == layer.digest && size == layer.size => {
                touch(&blob);
                touch(&entry);
                LayerLookup::Hit(layer, blob)
            }
            Ok((digest, size)) => {
                let _ = std::fs::remove_file(&blob);
                corrupt(format!(
                    "cached layer {} hashes to {digest} ({size} bytes); removed",
                    layer.digest
                ))
            }
            Err(e) => corrupt(format!("cached layer {} is unreadable ({e})", layer.digest)),
        }
    }

    /// Records a freshly written layer: its blob is hard-linked in when the cache is on the
    /// same filesystem as the run's work directory, else copied (the original stays).
    pub fn put_layer(&self, key: &Digest, layer: &CachedLayer, blob: &Path) -> std::io::Result<()> {
        let dest = self.blob_path(&layer.digest);
        if !dest.exists() {
            let dir = dest.parent().expect("blob paths have a parent");
            std::fs::create_dir_all(dir)?;
            let tmp = dir.join(format!(
                ".link-{}-{}",
                std::process::id(),
                layer.digest.hex()
            ));
            let _ = std::fs::remove_file(&tmp);
            if std::fs::hard_link(blob, &tmp).is_ok() {
                std::fs::rename(&tmp, &dest)?;
            } else {
                let tmp = tempfile::NamedTempFile::new_in(dir)?;
                std::fs::copy(blob, tmp.path())?;
                tmp.persist(&dest).map_err(|e| e.error)?;
            }
        }
        write_atomic(
            &self.layer_entry(key),
            &serde_json::to_vec(layer).expect("serializes"),
        )
    }

    /// Removes least recently used blobs until the blobs take at most `max_bytes`; returns
    /// how many files and bytes were removed. Layer entries whose blob is gone are removed
    /// when next looked up.
    pub fn evict(&self, max_bytes: u64) -> std::io::Result<(usize, u64)> {
        let dir = self.root.join("blobs").join("sha256");
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| {
                    let e = e.ok()?;
                    let m = e.metadata().ok()?;
                    if !m.is_file() {
                        return None;
                    }
                    Some((m.modified().ok()?, m.len(), e.path()))
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
            Err(e) => return Err(e),
        };
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        let (mut removed, mut freed) = (0, 0);
        for (_, len, path) in files {
            if total <= max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
                removed += 1;
                freed += len;
            }
        }
        Ok((removed, freed))
    }
}

/// Marks an entry as just used (eviction removes the least recently used first).
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache paths have a parent");
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn hash_file(path: &Path) -> std::io::Result<(Digest, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut w = crate::oci::Sha256Writer::new(std::io::sink());
    std::io::copy(&mut file, &mut w)?;
    let (_, digest, size) = w.finish();
    Ok((digest, size))
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
    fn layers_hit_miss_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("c"));
        let blob = dir.path().join("l.tar.gz");
        std::fs::write(&blob, b"layer bytes").unwrap();
        let key = Digest::of(b"inputs");
        let layer = CachedLayer {
            digest: Digest::of(b"layer bytes"),
            diff_id: Digest::of(b"tar"),
            size: 11,
            media_type: crate::oci::media::OCI_LAYER_GZIP.into(),
        };
        assert!(matches!(cache.get_layer(&key), LayerLookup::Miss));
        cache.put_layer(&key, &layer, &blob).unwrap();
        match cache.get_layer(&key) {
            LayerLookup::Hit(l, path) => {
                assert_eq!(l, layer);
                assert_eq!(std::fs::read(path).unwrap(), b"layer bytes");
            }
            other => panic!("{other:?}"),
        }
        // One flipped byte: detected, removed, then a miss.
        std::fs::write(cache.blob_path(&layer.digest), b"layer bytez").unwrap();
        assert!(matches!(cache.get_layer(&key), LayerLookup::Corrupt(_)));
        assert!(matches!(cache.get_layer(&key), LayerLookup::Miss));
    }

    #[test]
    fn eviction_removes_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let mut digests = Vec::new();
        for (i, age) in [(0u8, 300u64), (1, 200), (2, 100)] {
            let bytes = vec![i; 1000];
            let d = Digest::of(&bytes);
            cache.put_bytes(&d, &bytes);
            let f = std::fs::File::options()
                .append(true)
                .open(cache.blob_path(&d))
                .unwrap();
            f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(age))
                .unwrap();
            digests.push(d);
        }
        // Reading the oldest makes it the most recently used.
        cache.get_bytes(&digests[0]).unwrap();
        assert_eq!(cache.evict(2000).unwrap(), (1, 1000));
        assert!(cache.blob_path(&digests[0]).exists());
        assert!(!cache.blob_path(&digests[1]).exists());
        assert!(cache.blob_path(&digests[2]).exists());
    }
}
