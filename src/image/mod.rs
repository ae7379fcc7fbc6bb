//! Base image + our layers → per-platform config and manifest, then the index. Pure data
//! transformation: no network, no files read; every byte written is canonical JSON.

mod attach;
mod compose;
mod config;
pub mod provenance;
pub mod purl;
pub mod sbom;
mod source;

pub use attach::{Attachment, Blob, Referrer, artifact_manifest};
pub use compose::{ComposeInput, compose};
pub use config::ImageSettings;
pub use source::{BlobSource, InMemory, LayerFile, file_stream, write_stream};

use crate::layer::Layer;
use crate::oci::{Digest, Platform, media};
use bytes::Bytes;
use oci_spec::image::{Descriptor, ImageManifest};
use std::sync::Arc;

/// Which media types the composed documents carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ImageFormat {
    /// OCI image index, manifests and configs (the default).
    #[default]
    Oci,
    /// Docker manifest list and schema2 manifests/configs, for registries and tools that
    /// do not take OCI. Schema2 has no annotations, so none are written.
    Docker,
}

impl ImageFormat {
    pub fn index(self) -> &'static str {
        match self {
            ImageFormat::Oci => media::OCI_INDEX,
            ImageFormat::Docker => media::DOCKER_LIST,
        }
    }

    pub fn manifest(self) -> &'static str {
        match self {
            ImageFormat::Oci => media::OCI_MANIFEST,
            ImageFormat::Docker => media::DOCKER_MANIFEST,
        }
    }

    pub fn config(self) -> &'static str {
        match self {
            ImageFormat::Oci => media::OCI_CONFIG,
            ImageFormat::Docker => media::DOCKER_CONFIG,
        }
    }

    /// A layer's media type in this format: the same bytes, relabelled.
    pub fn layer(self, media_type: &str) -> &str {
        match self {
            ImageFormat::Oci => media::oci_layer_type(media_type),
            ImageFormat::Docker => media::docker_layer_type(media_type),
        }
    }
}

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
    /// The index entry (or a descriptor of the single manifest): its platform keeps
    /// `os.version`, features and the exact variant; its annotations are kept too.
    pub descriptor: Descriptor,
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    /// The manifest and config exactly as stored, for copying them unchanged.
    pub manifest_bytes: Bytes,
    pub config_bytes: Bytes,
    /// Where this platform's blobs (layers, config) come from.
    pub source: Arc<dyn BlobSource>,
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

/// An image config: composed here (in memory), or one that stays where a copied image
/// lives (moved like a layer, never read).
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one per platform image; boxing buys nothing
pub enum ConfigBlob {
    Inline(Document),
    Stored(Descriptor),
}

impl ConfigBlob {
    pub fn digest(&self) -> Digest {
        match self {
            ConfigBlob::Inline(d) => d.digest.clone(),
            ConfigBlob::Stored(d) => {
                Digest::try_from(d.digest()).expect("digests were validated when loaded")
            }
        }
    }

    /// The config's bytes when they are in memory.
    pub fn inline(&self) -> Option<&Document> {
        match self {
            ConfigBlob::Inline(d) => Some(d),
            ConfigBlob::Stored(_) => None,
        }
    }
}

/// One composed platform image.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    pub platform: Platform,
    pub config: ConfigBlob,
    pub manifest: Document,
    pub layers: Vec<LayerRef>,
    /// Where its `LayerRef::Base` layers and a `ConfigBlob::Stored` config come from.
    pub source: Arc<dyn BlobSource>,
    /// Documents attached to it as OCI 1.1 referrers (`subject` = this manifest); every
    /// sink writes them. Added with [`PlatformImage::attach`] or [`ImageSet::attach`].
    pub referrers: Vec<Referrer>,
}

impl PlatformImage {
    /// Its layers in stacking order, each with where its bytes come from.
    pub fn layer_blobs(&self) -> Vec<BlobRef> {
        self.layers
            .iter()
            .map(|layer| match layer {
                LayerRef::Base(d) => BlobRef {
                    digest: Digest::try_from(d.digest())
                        .expect("base digests were validated when loaded"),
                    size: d.size(),
                    media_type: d.media_type().to_string(),
                    source: self.source.clone(),
                    role: BlobRole::Base,
                    used_by: vec![self.platform.clone()],
                },
                LayerRef::Ours(l) => BlobRef {
                    digest: l.digest.clone(),
                    size: l.size,
                    media_type: l.media_type.to_string(),
                    source: Arc::new(LayerFile(l.path.clone())),
                    role: BlobRole::Layer,
                    used_by: vec![self.platform.clone()],
                },
            })
            .collect()
    }

    /// Its config, with where its bytes come from.
    pub fn config_blob(&self) -> BlobRef {
        match &self.config {
            ConfigBlob::Inline(doc) => BlobRef {
                digest: doc.digest.clone(),
                size: doc.bytes.len() as u64,
                media_type: doc.media_type.clone(),
                source: Arc::new(InMemory(doc.bytes.clone())),
                role: BlobRole::Config,
                used_by: vec![self.platform.clone()],
            },
            ConfigBlob::Stored(d) => BlobRef {
                digest: self.config.digest(),
                size: d.size(),
                media_type: d.media_type().to_string(),
                source: self.source.clone(),
                role: BlobRole::Base,
                used_by: vec![self.platform.clone()],
            },
        }
    }
}

/// Everything that makes up the multi-arch result.
#[derive(Clone, Debug)]
pub struct ImageSet {
    /// The top-level document: an index over `images`, or — when a single image is
    /// copied — that image's own manifest.
    pub index: Document,
    pub images: Vec<PlatformImage>,
}

/// What a blob is to the image, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobRole {
    /// A blob of the base (or copied) image, moved as it is: a layer or a stored config.
    Base,
    /// A layer of ours.
    Layer,
    /// A config composed here.
    Config,
    /// A document attached as a referrer, or the empty config of its artifact manifest.
    Attachment,
}

/// A blob the published image needs.
#[derive(Clone, Debug)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    /// Where its bytes come from: the sinks ask it (mount? local file? in memory? stream).
    pub source: Arc<dyn BlobSource>,
    pub role: BlobRole,
    /// Which platforms use it (for messages).
    pub used_by: Vec<Platform>,
}

impl ImageSet {
    /// Is the top-level document one of the platform manifests (a single image)?
    pub fn is_single(&self) -> bool {
        self.images
            .iter()
            .any(|i| i.manifest.digest == self.index.digest)
    }

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
            for layer in image.layer_blobs() {
                add(layer);
            }
            add(image.config_blob());
        }
        out
    }

    /// Attaches a document to the image of `platform` (see [`Attachment`]).
    pub fn attach(
        &mut self,
        platform: &Platform,
        attachment: &Attachment,
    ) -> Result<(), ImageError> {
        let available = self.platform_list();
        let image = self
            .images
            .iter_mut()
            .find(|i| &i.platform == platform)
            .ok_or_else(|| ImageError::NoSuchPlatform {
                platform: platform.clone(),
                available,
            })?;
        image.attach(attachment)
    }

    /// Every referrer of every platform image, in image order.
    pub fn referrers(&self) -> impl Iterator<Item = &Referrer> {
        self.images.iter().flat_map(|i| i.referrers.iter())
    }

    /// The blobs the referrers need, each once: the empty config (when there is any
    /// referrer) and every document.
    pub fn referrer_blobs(&self) -> Vec<BlobRef> {
        let mut out: Vec<BlobRef> = Vec::new();
        let mut add = |digest: Digest, bytes: Bytes, media_type: &str, platform: &Platform| {
            if let Some(existing) = out.iter_mut().find(|b| b.digest == digest) {
                if !existing.used_by.contains(platform) {
                    existing.used_by.push(platform.clone());
                }
                return;
            }
            out.push(BlobRef {
                digest,
                size: bytes.len() as u64,
                media_type: media_type.to_string(),
                source: Arc::new(InMemory(bytes)),
                role: BlobRole::Attachment,
                used_by: vec![platform.clone()],
            });
        };
        for image in &self.images {
            for r in &image.referrers {
                add(
                    Digest::of(crate::oci::EMPTY_JSON),
                    Bytes::from_static(crate::oci::EMPTY_JSON),
                    media::OCI_EMPTY,
                    &image.platform,
                );
                add(
                    r.document.digest.clone(),
                    r.document.bytes.clone(),
                    &r.document.media_type,
                    &image.platform,
                );
            }
        }
        out
    }

    fn platform_list(&self) -> String {
        let names: Vec<String> = self.images.iter().map(|i| i.platform.to_string()).collect();
        names.join(", ")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the base config for {platform} is not a JSON object")]
    BaseConfig { platform: Platform },
    #[error("base image {platform}: {message}")]
    BaseManifest { platform: Platform, message: String },
    #[error(
        "cannot attach {artifact_type} to the {platform} image: it is a Docker schema2 manifest (--format docker), and attachments are OCI artifact manifests, which registries and tools that need schema2 do not take"
    )]
    AttachToDocker {
        platform: Platform,
        artifact_type: String,
    },
    #[error("cannot attach to {platform}: the image has no such platform; it has: {available}")]
    NoSuchPlatform {
        platform: Platform,
        available: String,
    },
}
