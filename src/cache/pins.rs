//! Pins (this process's hard links to the layer blobs it took, kept live by a `flock`)
//! and eviction, which skips the blobs of live pins and removes abandoned ones.

use super::{Cache, create_private_dir};
use crate::oci::Digest;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A pin directory still being set up (its lock not yet held) is left alone this long.
const UNFINISHED_PIN_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// This process's pin directory and the held lock that marks it live.
#[derive(Debug)]
pub(super) struct Pins {
    dir: PathBuf,
    _lock: File,
}

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cache {
    /// Hard-links `blob` into this process's pin directory (made on first use), and says
    /// whether this call made the link. `None`: the blob is not there. An error: links are
    /// not possible here.
    pub(super) fn pin(
        &self,
        blob: &Path,
        digest: &Digest,
    ) -> std::io::Result<Option<(PathBuf, bool)>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::LayerLookup;
    use crate::cache::layers::tests::gzip_layer;
    use crate::oci::media;

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
