//! Layers through the cache: inputs whose key is known give the cached blob back without
//! tarring or compressing anything; a damaged cache entry is rebuilt, never used.

use super::{Layer, LayerEntry, LayerError, LayerOptions, cache_key, write_layer};
use crate::cache::{Cache, CachedLayer, LayerLookup};
use crate::oci::media;
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

/// [`write_layer`], through `cache` when there is one.
pub fn write_layer_cached(
    entries: Vec<LayerEntry>,
    created_by: String,
    options: LayerOptions,
    dir: &Path,
    cache: Option<&Cache>,
) -> Result<(Layer, CacheOutcome), LayerError> {
    let Some(cache) = cache else {
        return Ok((
            write_layer(entries, created_by, options, dir)?,
            CacheOutcome::Uncached,
        ));
    };
    let key = cache_key(&entries, &options)?;
    let rebuilt = match cache.get_layer(&key) {
        LayerLookup::Hit(hit, path) => {
            if let Some(media_type) = static_media_type(&hit.media_type) {
                return Ok((
                    Layer {
                        digest: hit.digest,
                        diff_id: hit.diff_id,
                        size: hit.size,
                        path,
                        media_type,
                        created_by,
                    },
                    CacheOutcome::Hit,
                ));
            }
            None
        }
        LayerLookup::Miss => None,
        LayerLookup::Corrupt(why) => Some(why),
    };
    let layer = write_layer(entries, created_by, options, dir)?;
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

fn static_media_type(s: &str) -> Option<&'static str> {
    [media::OCI_LAYER_GZIP, media::OCI_LAYER_ZSTD]
        .into_iter()
        .find(|m| *m == s)
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
            write_layer_cached(entries(), "t".into(), options, dir.path(), Some(&cache)).unwrap()
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
}
