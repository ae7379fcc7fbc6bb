//! Sends a composed [`ImageSet`] somewhere: a registry or an OCI layout directory. Knows
//! nothing of how artifacts were built. Order is always blobs → platform manifests →
//! index → tags, so nothing is tagged before everything it reaches exists.

mod archive;
pub mod dist;
mod layout;
mod referrers;
mod registry;

pub use archive::ArchiveSink;
pub use layout::LayoutSink;
pub use registry::RegistrySink;

use crate::image::ImageSet;
use crate::oci::Digest;
use crate::registry::RegistryError;
use crate::report::Reporter;
use futures_util::future::BoxFuture;
use std::path::{Path, PathBuf};

/// A temporary file in `dir`, renamed into place later, created with the mode a plain
/// `create` gets (0666 less the umask: 0644 usually) rather than tempfile's 0600, so that
/// OCI layouts and tarballs are readable as users expect of files they write.
pub(crate) fn output_temp_file(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
}

/// Writes `bytes` to `path` through a temporary file in its directory and a rename, with
/// the mode a plain `create` gets.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = output_temp_file(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Where a published image can be found afterwards.
#[derive(Clone, Debug)]
pub struct Published {
    /// `REGISTRY/REPO@sha256:…` or `oci-layout:DIR@sha256:…`.
    pub reference: String,
    /// `REGISTRY/REPO` or `oci-layout:DIR`.
    pub repository: String,
    /// What the reference's digest names when it is not the image's index: for a docker
    /// archive, the config (its digest is the image ID) and the config's media type.
    pub names: Option<(crate::oci::Digest, String)>,
}

pub struct PublishContext<'a> {
    pub set: &'a ImageSet,
    pub tags: &'a [String],
    pub reporter: &'a dyn Reporter,
    /// Concurrent blob transfers.
    pub jobs: usize,
}

pub trait Sink: Send + Sync {
    fn describe(&self) -> String;
    fn publish<'a>(
        &'a self,
        cx: &'a PublishContext<'a>,
    ) -> BoxFuture<'a, Result<Published, PublishError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("pushing blob {digest} ({what}) to {repo}")]
    Blob {
        digest: Digest,
        what: String,
        repo: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("pushing the {what} manifest to {repo}")]
    Manifest {
        what: String,
        repo: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("the base blob {digest} is missing from {repo}, which its manifest references")]
    BaseBlobMissing { digest: Digest, repo: String },
    #[error("writing the OCI layout {dir}")]
    LayoutIo {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the OCI layout {dir}: {message}")]
    Layout { dir: PathBuf, message: String },
    #[error("writing the tarball {path}")]
    ArchiveIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the tarball {path}: {message}")]
    Archive { path: PathBuf, message: String },
    #[error("writing the release tarball {path}")]
    Dist {
        path: PathBuf,
        #[source]
        source: crate::layer::LayerError,
    },
    #[error("writing {path} (--dist)")]
    DistIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("copying base blob {digest} into the OCI layout {dir}")]
    LayoutFetch {
        digest: Digest,
        dir: PathBuf,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("attaching to {subject} in {repo}: {message}")]
    Referrers {
        subject: Digest,
        repo: String,
        message: String,
    },
    #[error("updating the referrers tag {repo}:{tag}")]
    ReferrersTag {
        tag: String,
        repo: String,
        #[source]
        source: Box<RegistryError>,
    },
}

impl PublishError {
    pub fn hint(&self) -> Option<String> {
        match self {
            PublishError::Blob { source, .. }
            | PublishError::Manifest { source, .. }
            | PublishError::LayoutFetch { source, .. }
            | PublishError::ReferrersTag { source, .. } => source.hint(),
            _ => None,
        }
    }
}

/// A short name for a blob in messages: which platforms use it and what it is.
fn blob_label(blob: &crate::image::BlobRef) -> String {
    let kind = match blob.role {
        crate::image::BlobRole::Base => "base layer",
        crate::image::BlobRole::Layer => "layer",
        crate::image::BlobRole::Config => "config",
        crate::image::BlobRole::Attachment => "attachment",
    };
    let platforms: Vec<String> = blob.used_by.iter().map(|p| p.to_string()).collect();
    format!("{kind} of {}", platforms.join(", "))
}
