//! Files → one layer blob on disk: tar (sorted, normalized metadata) → sha256 (diff_id) →
//! gzip (flate2 on zlib-rs) → sha256 (digest) → temp file, in a single streaming pass.
//! Knows nothing of images, registries or how the files were built.

mod cached;
mod entry;
mod write;

pub use cached::{CacheOutcome, write_layer_cached};
pub use entry::{EntrySource, LayerEntry, LayerEntryKind};
pub use write::{Compression, LayerOptions, cache_key, write_layer, write_layer_reporting};

use crate::oci::Digest;
use std::path::PathBuf;

/// A finished layer: a compressed tar on disk (in the work directory or the cache),
/// reopened for every upload attempt.
#[derive(Clone, Debug)]
pub struct Layer {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub path: PathBuf,
    pub media_type: &'static str,
    /// Human description for the image history (`created_by`).
    pub created_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("reading {path} for the layer")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the layer to {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{path}` appears twice in one layer (from {first} and {second}); give each file its own destination"
    )]
    Duplicate {
        path: String,
        first: String,
        second: String,
    },
    #[error("`{path}` is not a valid path inside an image: {why}")]
    BadPath { path: String, why: &'static str },
    #[error(
        "`{path}` is needed as a directory (it is the parent of `{child}`) but the layer also has it as a file"
    )]
    NotADirectory { path: String, child: String },
    #[error(
        "{path} changed while it was being layered (size {expected} → {actual}); rebuild and try again"
    )]
    Changed {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
}
