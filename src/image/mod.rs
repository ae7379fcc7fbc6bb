//! Base image + our layers → per-platform config and manifest, then the index. Pure data
//! transformation: no network, no files read; every byte written is canonical JSON.

mod compose;
mod config;

pub use compose::{ComposeInput, compose};
pub use config::ImageSettings;

use crate::layer::Layer;
use crate::oci::{Digest, Platform};
use bytes::Bytes;
use oci_spec::image::{Descriptor, ImageManifest};

/// A JSON document held in memory with its digest (configs, manifests, indexes).
#[derive(Clone, Debug)]
pub struct Document {
    pub bytes: Bytes,
    pub digest: Digest,
    pub media_type: String,
}

impl Document {
    pub fn new(bytes: Vec<u8>, media_type: &str) -> Document {
        Document {
            digest: Digest::of(&bytes),
            bytes: Bytes::from(bytes),
            media_type: media_type.to_string(),
        }
    }

    pub fn descriptor(&self) -> Descriptor {
        descriptor(&self.media_type, &self.digest, self.bytes.len() as u64)
    }
}

pub(crate) fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(
        media_type.into(),
        size,
        oci_spec::image::Digest::from(digest),
    )
}

/// One platform of a base image, as loaded by the `base` stage.
#[derive(Clone, Debug)]
pub struct BasePlatform {
    pub platform: Platform,
    /// The base index entry's platform (keeps `os.version`, features, the exact variant).
    pub index_platform: Option<oci_spec::image::Platform>,
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    /// The base config as JSON, so fields imgpush does not model (Healthcheck, OnBuild,
    /// Docker's legacy keys) are carried over untouched.
    pub config: serde_json::Value,
}

/// The selected platforms of a base image.
#[derive(Clone, Debug)]
pub struct BaseImage {
    /// A pullable reference for `org.opencontainers.image.base.name`; `None` for bases
    /// that exist only inside imgpush (the embedded `static`).
    pub name: Option<String>,
    /// Digest of the base's index (or of its single manifest).
    pub digest: Digest,
    pub platforms: Vec<BasePlatform>,
}

/// A layer of a composed image: either a base layer that stays wherever the base lives,
/// or one of ours on disk.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // a handful per image; boxing buys nothing
pub enum LayerRef {
    Base(Descriptor),
    Ours(Layer),
}

/// One composed platform image.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    pub platform: Platform,
    pub config: Document,
    pub manifest: Document,
    pub layers: Vec<LayerRef>,
}

/// Everything that makes up the multi-arch result.
#[derive(Clone, Debug)]
pub struct ImageSet {
    pub index: Document,
    pub images: Vec<PlatformImage>,
}

/// Where the bytes of a blob come from when publishing.
#[derive(Clone, Debug)]
pub enum BlobOrigin {
    /// A layer file of ours.
    File(std::path::PathBuf),
    /// A config held in memory.
    Inline(Bytes),
    /// A blob of the base image, fetched (or mounted) from wherever the base lives.
    Base,
}

/// A blob the published image needs.
#[derive(Clone, Debug)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub origin: BlobOrigin,
    /// Which platforms use it (for messages).
    pub used_by: Vec<Platform>,
}

impl ImageSet {
    /// Every blob (layers and configs) once, in a stable order, even when several
    /// platforms share it.
    pub fn blobs(&self) -> Vec<BlobRef> {
        let mut out: Vec<BlobRef> = Vec::new();
        let mut add = |r: BlobRef| {
            if let Some(existing) = out.iter_mut().find(|b| b.digest == r.digest) {
                existing.used_by.extend(r.used_by);
            } else {
                out.push(r);
            }
        };
        for image in &self.images {
            let used_by = vec![image.platform.clone()];
            for layer in &image.layers {
                add(match layer {
                    LayerRef::Base(d) => BlobRef {
                        digest: Digest::try_from(d.digest())
                            .expect("base digests were validated when loaded"),
                        size: d.size(),
                        media_type: d.media_type().to_string(),
                        origin: BlobOrigin::Base,
                        used_by: used_by.clone(),
                    },
                    LayerRef::Ours(l) => BlobRef {
                        digest: l.digest.clone(),
                        size: l.size,
                        media_type: l.media_type.to_string(),
                        origin: BlobOrigin::File(l.path.clone()),
                        used_by: used_by.clone(),
                    },
                });
            }
            add(BlobRef {
                digest: image.config.digest.clone(),
                size: image.config.bytes.len() as u64,
                media_type: image.config.media_type.clone(),
                origin: BlobOrigin::Inline(image.config.bytes.clone()),
                used_by,
            });
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the base config for {platform} is not a JSON object")]
    BaseConfig { platform: Platform },
    #[error("base image {platform}: {message}")]
    BaseManifest { platform: Platform, message: String },
}
