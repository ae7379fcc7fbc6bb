//! Layers through the cache: inputs whose key is known give the cached blob back without
//! tarring or compressing anything; a damaged cache entry is rebuilt, never used.

use super::{Layer, LayerEntry, LayerError, LayerOptions, cache_key, write_layer_reporting};
use crate::cache::{Cache, CachedLayer, LayerLookup};
use std::path::Path;

/// How a layer came to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Taken from the cache: nothing was compressed.
    Hit,
    /// Built (tarred and compressed) and stored in the cache.
    Built,
    /// The cache entry was damaged; it was removed and the layer built again.
    Rebuilt(String),
    /// Built; no cache in use (`--no-cache`).
    Uncached,
}

/// [`write_layer_reporting`], through `cache` when there is one (a hit reads no content,
/// so `on_bytes` is not called).
pub fn write_layer_cached(
    entries: Vec<LayerEntry>,
    created_by: String,
    options: LayerOptions,
    dir: &Path,
    cache: Option<&Cache>,
    on_bytes: &dyn Fn(u64),
) -> Result<(Layer, CacheOutcome), LayerError> {
    let Some(cache) = cache else {
        return Ok((
            write_layer_reporting(entries, created_by, options, dir, on_bytes)?,
            CacheOutcome::Uncached,
        ));
    };
    let key = cache_key(&entries, &options)?;
    let rebuilt = match cache.get_layer(&key, options.compression.media_type()) {
        // The cache checked that the blob has exactly this media type.
        LayerLookup::Hit(hit, path) => {
            return Ok((
                Layer {
                    digest: hit.digest,
                    diff_id: hit.diff_id,
                    size: hit.size,
                    path,
                    media_type: options.compression.media_type(),
                    created_by,
                },
                CacheOutcome::Hit,
            ));
        }
        LayerLookup::Miss => None,
        LayerLookup::Corrupt(why) => Some(why),
    };
    let layer = write_layer_reporting(entries, created_by, options, dir, on_bytes)?;
    // A cache that cannot be written only makes the next run slower.
    let _ = cache.put_layer(
        &key,
        &CachedLayer {
            digest: layer.digest.clone(),
            diff_id: layer.diff_id.clone(),
            size: layer.size,
            media_type: layer.media_type.to_string(),
        },
        &layer.path,
    );
    let outcome = match rebuilt {
        Some(why) => CacheOutcome::Rebuilt(why),
        None => CacheOutcome::Built,
    };
    Ok((layer, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::EntrySource;

    #[test]
    fn second_build_is_a_hit_and_a_change_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("cache"));
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"version 1").unwrap();
        let entries = || {
            vec![LayerEntry::file(
                "/app/bin",
                EntrySource::Path(bin.clone()),
                0o755,
            )]
        };
        let build = |options| {
            write_layer_cached(
                entries(),
                "t".into(),
                options,
                dir.path(),
                Some(&cache),
                &|_| {},
            )
            .unwrap()
        };
        let (first, o1) = build(LayerOptions::default());
        assert_eq!(o1, CacheOutcome::Built);
        let (second, o2) = build(LayerOptions::default());
        assert_eq!(o2, CacheOutcome::Hit);
        assert_eq!(
            (first.digest, first.diff_id),
            (second.digest.clone(), second.diff_id)
        );
        // Another setting is another layer.
        let (_, o3) = build(LayerOptions {
            mtime: 1,
            ..LayerOptions::default()
        });
        assert_eq!(o3, CacheOutcome::Built);
        // Changed content (same size, same path) is another layer.
        std::fs::write(&bin, b"version 2").unwrap();
        let (third, o4) = build(LayerOptions::default());
        assert_eq!(o4, CacheOutcome::Built);
        assert_ne!(third.digest, second.digest);
        // A damaged blob is noticed and rebuilt.
        std::fs::write(cache.blob_path(&third.digest), b"garbage").unwrap();
        let (fourth, o5) = build(LayerOptions::default());
        assert!(matches!(o5, CacheOutcome::Rebuilt(_)), "{o5:?}");
        assert_eq!(fourth.digest, third.digest);
    }

    /// An entry edited to claim another diff_id (its blob untouched) is rebuilt, and the
    /// rebuilt layer carries the true diff_id; the same for zstd layers.
    #[test]
    fn an_edited_diff_id_is_rebuilt_not_believed() {
        for compression in [
            crate::layer::Compression::Gzip { level: 1 },
            crate::layer::Compression::Zstd { level: 1 },
        ] {
            let dir = tempfile::tempdir().unwrap();
            let cache = Cache::new(dir.path().join("cache"));
            let entries = || {
                vec![LayerEntry::file(
                    "/app/bin",
                    EntrySource::Bytes(b"binary".to_vec()),
                    0o755,
                )]
            };
            let options = LayerOptions {
                mtime: 0,
                compression,
            };
            let build = || {
                write_layer_cached(
                    entries(),
                    "t".into(),
                    options,
                    dir.path(),
                    Some(&cache),
                    &|_| {},
                )
                .unwrap()
            };
            let (first, _) = build();
            assert_eq!(build().1, CacheOutcome::Hit);
            let entry = std::fs::read_dir(dir.path().join("cache/layers"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path();
            let text = std::fs::read_to_string(&entry).unwrap();
            let forged = crate::oci::Digest::of(b"forged");
            std::fs::write(
                &entry,
                text.replace(first.diff_id.as_str(), forged.as_str()),
            )
            .unwrap();
            let (rebuilt, outcome) = build();
            assert!(
                matches!(&outcome, CacheOutcome::Rebuilt(why) if why.contains("diff_id")),
                "{compression}: {outcome:?}"
            );
            assert_eq!(rebuilt.diff_id, first.diff_id);
            assert_eq!(build().1, CacheOutcome::Hit);
        }
    }
}
