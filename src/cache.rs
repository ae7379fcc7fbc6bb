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

use crate::oci::{Digest, Sha256Writer, media};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Default bound on the cache's blobs.
pub const DEFAULT_MAX_BYTES: u64 = 2048 * 1024 * 1024;

/// A pin directory still being set up (its lock not yet held) is left alone this long.
const UNFINISHED_PIN_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A handle on the cache. Clones share one pin directory: the paths of layer hits stay
/// valid until [`Cache::release_pins`] or the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
    pins: Arc<Mutex<Option<Pins>>>,
}

/// This process's pin directory and the held lock that marks it live.
#[derive(Debug)]
struct Pins {
    dir: PathBuf,
    _lock: File,
}

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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

    /// Looks up the layer built from inputs with this key, whose media type must be
    /// `media_type` (what the current compression setting produces). A hit has been
    /// re-hashed and decompressed: its digest, size and diff_id are facts about the blob,
    /// not what the entry claims. Its path is a pin (see the module doc), valid until
    /// [`Cache::release_pins`].
    pub fn get_layer(&self, key: &Digest, media_type: &str) -> LayerLookup {
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
        if layer.media_type != media_type {
            return corrupt(format!(
                "{} records media type {}, but these settings produce {media_type}",
                entry.display(),
                layer.media_type
            ));
        }
        let blob = self.blob_path(&layer.digest);
        let (path, created) = match self.pin(&blob, &layer.digest) {
            Ok(Some(pinned)) => pinned,
            // Evicted (perhaps by another process a moment ago): build it again.
            Ok(None) => return corrupt(format!("cached layer {} is gone", layer.digest)),
            Err(_) => (blob.clone(), false),
        };
        // Only a pin this lookup made is taken back: another lookup of this process may
        // have handed out the same path already (platforms, or keys, sharing a blob).
        let unpin = || {
            if created && path != blob {
                let _ = std::fs::remove_file(&path);
            }
        };
        match hash_layer(&path, &layer.media_type) {
            Ok((digest, size, diff_id))
                if digest == layer.digest && size == layer.size && diff_id == layer.diff_id =>
            {
                touch(&blob);
                touch(&entry);
                LayerLookup::Hit(layer, path)
            }
            Ok((digest, size, _)) if digest != layer.digest || size != layer.size => {
                unpin();
                let _ = std::fs::remove_file(&blob);
                corrupt(format!(
                    "cached layer {} hashes to {digest} ({size} bytes); removed",
                    layer.digest
                ))
            }
            Ok((_, _, diff_id)) => {
                // The blob is sound, only the entry lies: keep the blob.
                unpin();
                corrupt(format!(
                    "{} claims diff_id {}, but layer {} decompresses to {diff_id}",
                    entry.display(),
                    layer.diff_id,
                    layer.digest
                ))
            }
            Err(e) => {
                unpin();
                corrupt(format!("cached layer {} is unreadable ({e})", layer.digest))
            }
        }
    }

    /// Hard-links `blob` into this process's pin directory (made on first use), and says
    /// whether this call made the link. `None`: the blob is not there. An error: links are
    /// not possible here.
    fn pin(&self, blob: &Path, digest: &Digest) -> std::io::Result<Option<(PathBuf, bool)>> {
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        if pins.is_none() {
            *pins = Some(self.create_pins()?);
        }
        let dir = &pins.as_ref().expect("just made").dir;
        let pinned = dir.join(digest.hex());
        match std::fs::hard_link(blob, &pinned) {
            // Already pinned by another lookup of this process (platforms may share a
            // layer); it is verified again all the same.
            Ok(()) => Ok(Some((pinned, true))),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Some((pinned, false))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A new pin directory whose lock is held before it gets its final name, so eviction
    /// never sees a live directory as abandoned.
    fn create_pins(&self) -> std::io::Result<Pins> {
        let parent = self.root.join("pins");
        create_private_dir(&parent)?;
        let tmp = tempfile::Builder::new()
            .prefix(".new-")
            .tempdir_in(&parent)?
            .keep();
        let lock = File::create(tmp.join("lock"))?;
        lock.lock()?;
        let dir = parent.join(format!("{}-{:016x}", std::process::id(), fastrand::u64(..)));
        std::fs::rename(&tmp, &dir)?;
        Ok(Pins { dir, _lock: lock })
    }

    /// Gives up this process's pins: paths of earlier hits may vanish once evicted. Call
    /// when the layers have been published (before [`Cache::evict`], which would otherwise
    /// keep this run's own blobs).
    pub fn release_pins(&self) {
        self.pins.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Records a freshly written layer: its blob is hard-linked in when the cache is on the
    /// same filesystem as the run's work directory, else copied (the original stays).
    pub fn put_layer(&self, key: &Digest, layer: &CachedLayer, blob: &Path) -> std::io::Result<()> {
        let dest = self.blob_path(&layer.digest);
        if !dest.exists() {
            let dir = dest.parent().expect("blob paths have a parent");
            create_private_dir(dir)?;
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
    /// how many files and bytes were removed. Blobs pinned by a live process are kept (and
    /// counted); abandoned pin directories are removed first. Layer entries whose blob is
    /// gone are removed when next looked up.
    pub fn evict(&self, max_bytes: u64) -> std::io::Result<(usize, u64)> {
        let pinned = self.live_pins()?;
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
            let in_use = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| pinned.contains(n));
            if !in_use && std::fs::remove_file(&path).is_ok() {
                total -= len;
                removed += 1;
                freed += len;
            }
        }
        Ok((removed, freed))
    }
}

impl Cache {
    /// The blob names pinned by live processes; removes the pin directories of processes
    /// that are gone (their lock is free).
    fn live_pins(&self) -> std::io::Result<std::collections::HashSet<String>> {
        let mut pinned = std::collections::HashSet::new();
        let dirs = match std::fs::read_dir(self.root.join("pins")) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pinned),
            Err(e) => return Err(e),
        };
        for entry in dirs.flatten() {
            let dir = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                // Still being set up, or its creator died in between.
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > UNFINISHED_PIN_GRACE);
                if old {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                continue;
            }
            let live = match File::open(dir.join("lock")) {
                // flock locks belong to an open file description, so this conflicts even
                // with a lock held by another `Cache` of this very process.
                Ok(lock) => match lock.try_lock() {
                    Ok(()) => false,
                    // Unknown: keep its blobs this time (the safe answer).
                    Err(_) => true,
                },
                Err(_) => false,
            };
            if !live {
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            // Its owner may remove it meanwhile (exiting): then it pins nothing.
            let Ok(pins) = std::fs::read_dir(&dir) else {
                continue;
            };
            for pin in pins.flatten() {
                pinned.insert(pin.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(pinned)
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

/// The digest and size of a compressed layer and the digest of the tar inside (its
/// diff_id), in one read of the file.
fn hash_layer(path: &Path, media_type: &str) -> std::io::Result<(Digest, u64, Digest)> {
    let file = std::io::BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut compressed = HashingReader {
        inner: file,
        hash: Sha256Writer::new(std::io::sink()),
    };
    let mut tar = Sha256Writer::new(std::io::sink());
    match media_type {
        // Multi-member, as runtimes (Go's gzip reader) decompress it.
        media::OCI_LAYER_GZIP => std::io::copy(
            &mut flate2::read::MultiGzDecoder::new(&mut compressed),
            &mut tar,
        )?,
        media::OCI_LAYER_ZSTD => std::io::copy(
            &mut zstd::stream::read::Decoder::new(&mut compressed)?,
            &mut tar,
        )?,
        other => {
            return Err(std::io::Error::other(format!(
                "unknown layer media type {other}"
            )));
        }
    };
    // Whatever the decoder left unread (trailing bytes) still belongs to the digest.
    std::io::copy(&mut compressed, &mut std::io::sink())?;
    let (_, digest, size) = compressed.hash.finish();
    Ok((digest, size, tar.finish().1))
}

/// Hashes everything read through it.
struct HashingReader<R> {
    inner: R,
    hash: Sha256Writer<std::io::Sink>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.write_all(&buf[..n])?;
        Ok(n)
    }
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

    /// A real gzip layer blob (of a tiny tar) in `dir`, with its digest and diff_id.
    fn gzip_layer(dir: &Path, content: &[u8]) -> (PathBuf, CachedLayer) {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "f", content).unwrap();
        let tar = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let path = dir.join(format!("{}.tar.gz", Digest::of(&gz).hex()));
        std::fs::write(&path, &gz).unwrap();
        let layer = CachedLayer {
            digest: Digest::of(&gz),
            diff_id: Digest::of(&tar),
            size: gz.len() as u64,
            media_type: media::OCI_LAYER_GZIP.into(),
        };
        (path, layer)
    }

    #[test]
    fn layers_hit_miss_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("c"));
        let (blob, layer) = gzip_layer(dir.path(), b"layer bytes");
        let key = Digest::of(b"inputs");
        assert!(matches!(
            cache.get_layer(&key, media::OCI_LAYER_GZIP),
            LayerLookup::Miss
        ));
        cache.put_layer(&key, &layer, &blob).unwrap();
        match cache.get_layer(&key, media::OCI_LAYER_GZIP) {
            LayerLookup::Hit(l, path) => {
                assert_eq!(l, layer);
                assert_eq!(std::fs::read(path).unwrap(), std::fs::read(&blob).unwrap());
            }
            other => panic!("{other:?}"),
        }
        // One flipped byte: detected, removed, then a miss.
        let mut bytes = std::fs::read(&blob).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(cache.blob_path(&layer.digest), bytes).unwrap();
        assert!(matches!(
            cache.get_layer(&key, media::OCI_LAYER_GZIP),
            LayerLookup::Corrupt(_)
        ));
        assert!(matches!(
            cache.get_layer(&key, media::OCI_LAYER_GZIP),
            LayerLookup::Miss
        ));
    }

    /// The blob still hashes to its digest, but the entry's diff_id or media type was
    /// altered: the config would lie, so the entry is damaged.
    #[test]
    fn an_entry_that_lies_about_diff_id_or_media_type_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("c"));
        let (blob, layer) = gzip_layer(dir.path(), b"layer bytes");
        let key = Digest::of(b"inputs");

        let lying = CachedLayer {
            diff_id: Digest::of(b"another tar"),
            ..layer.clone()
        };
        cache.put_layer(&key, &lying, &blob).unwrap();
        match cache.get_layer(&key, media::OCI_LAYER_GZIP) {
            LayerLookup::Corrupt(why) => assert!(why.contains("diff_id"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(!cache.layer_entry(&key).exists(), "the entry is removed");
        assert!(
            cache.blob_path(&layer.digest).exists(),
            "the blob itself is sound and stays"
        );

        let zstd_claim = CachedLayer {
            media_type: media::OCI_LAYER_ZSTD.into(),
            ..layer.clone()
        };
        cache.put_layer(&key, &zstd_claim, &blob).unwrap();
        match cache.get_layer(&key, media::OCI_LAYER_ZSTD) {
            LayerLookup::Corrupt(why) => assert!(why.contains("unreadable"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A true entry, but the settings now ask for zstd.
        cache.put_layer(&key, &layer, &blob).unwrap();
        match cache.get_layer(&key, media::OCI_LAYER_ZSTD) {
            LayerLookup::Corrupt(why) => assert!(why.contains("media type"), "{why}"),
            other => panic!("{other:?}"),
        }
        cache.put_layer(&key, &layer, &blob).unwrap();
        assert!(matches!(
            cache.get_layer(&key, media::OCI_LAYER_GZIP),
            LayerLookup::Hit(..)
        ));
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

    /// Another process (here another `Cache`) that took a layer from the cache keeps it
    /// through an eviction to zero bytes; an old unpinned blob goes, and so do the pins
    /// of a process that is gone.
    #[test]
    fn eviction_keeps_blobs_pinned_by_a_live_process() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("c");
        let (blob, layer) = gzip_layer(dir.path(), b"in use");
        let key = Digest::of(b"inputs");
        let user = Cache::new(&root);
        user.put_layer(&key, &layer, &blob).unwrap();
        let old = b"old document".to_vec();
        user.put_bytes(&Digest::of(&old), &old);
        let LayerLookup::Hit(_, pinned) = user.get_layer(&key, media::OCI_LAYER_GZIP) else {
            panic!("a hit")
        };
        assert_ne!(pinned, user.blob_path(&layer.digest));

        let evictor = Cache::new(&root);
        let (removed, _) = evictor.evict(0).unwrap();
        assert_eq!(removed, 1);
        assert!(!evictor.blob_path(&Digest::of(&old)).exists());
        assert!(evictor.blob_path(&layer.digest).exists(), "pinned: kept");

        // Even a blob removed by hand stays readable through the pin.
        std::fs::remove_file(user.blob_path(&layer.digest)).unwrap();
        assert_eq!(
            std::fs::read(&pinned).unwrap(),
            std::fs::read(&blob).unwrap()
        );

        // A crashed process: its pin directory is still there but nobody holds its lock.
        user.put_layer(&key, &layer, &blob).unwrap();
        user.release_pins();
        let pin_dir = root.join("pins/1-dead");
        std::fs::create_dir_all(&pin_dir).unwrap();
        File::create(pin_dir.join("lock")).unwrap();
        std::fs::hard_link(
            user.blob_path(&layer.digest),
            pin_dir.join(layer.digest.hex()),
        )
        .unwrap();
        assert_eq!(evictor.evict(0).unwrap().0, 1);
        assert!(!pin_dir.exists(), "abandoned pins are removed");
        assert!(!evictor.blob_path(&layer.digest).exists());
    }

    /// The lock that marks pins live is a real cross-process `flock`: pins held by another
    /// process (here util-linux `flock` holding the lock of a pin directory) protect
    /// their blob until that process is gone.
    #[test]
    fn pins_of_another_process_protect_until_it_exits() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("c");
        let cache = Cache::new(&root);
        let doc = b"pinned elsewhere".to_vec();
        let digest = Digest::of(&doc);
        cache.put_bytes(&digest, &doc);
        let pins = root.join("pins/4242-other");
        std::fs::create_dir_all(&pins).unwrap();
        File::create(pins.join("lock")).unwrap();
        std::fs::hard_link(cache.blob_path(&digest), pins.join(digest.hex())).unwrap();
        // -o: `sleep` does not inherit the lock, so killing `flock` frees it.
        let mut holder = std::process::Command::new("flock")
            .arg("-o")
            .arg(pins.join("lock"))
            .args(["sleep", "30"])
            .spawn()
            .expect("util-linux flock");
        let probe = File::open(pins.join("lock")).unwrap();
        while probe.try_lock().is_ok() {
            probe.unlock().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(cache.evict(0).unwrap().0, 0);
        assert!(cache.blob_path(&digest).exists());
        holder.kill().unwrap();
        holder.wait().unwrap();
        // Another test thread forking while `evict` holds its probe of the lock gives the
        // child a share of that lock until it execs: the pin then looks alive a moment
        // longer (the safe answer). So the dead pin is freed within a short while.
        let mut evicted = 0;
        for _ in 0..50 {
            evicted = cache.evict(0).unwrap().0;
            if evicted == 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(evicted, 1);
        assert!(!pins.exists());
    }

    #[test]
    fn released_pins_no_longer_protect() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("c"));
        let (blob, layer) = gzip_layer(dir.path(), b"mine");
        let key = Digest::of(b"inputs");
        cache.put_layer(&key, &layer, &blob).unwrap();
        assert!(matches!(
            cache.get_layer(&key, media::OCI_LAYER_GZIP),
            LayerLookup::Hit(..)
        ));
        cache.release_pins();
        assert_eq!(cache.evict(0).unwrap().0, 1);
        assert_eq!(
            std::fs::read_dir(dir.path().join("c/pins"))
                .unwrap()
                .count(),
            0,
            "the released pin directory is gone"
        );
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
