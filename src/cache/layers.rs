//! Layer entries (`layers/<key>.json`) and the check that makes a hit trustworthy: the
//! blob is re-hashed and decompressed, so its digest, size and diff_id are facts.

use super::{Cache, create_private_dir, touch, write_atomic};
use crate::oci::{Digest, Sha256Writer, media};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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
    fn layer_entry(&self, key: &Digest) -> PathBuf {
        self.root.join("layers").join(format!("{}.json", key.hex()))
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
pub(in crate::cache) mod tests {
    use super::*;

    /// A real gzip layer blob (of a tiny tar) in `dir`, with its digest and diff_id.
    pub(in crate::cache) fn gzip_layer(dir: &Path, content: &[u8]) -> (PathBuf, CachedLayer) {
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
}
