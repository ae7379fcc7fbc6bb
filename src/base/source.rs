//! Where a base's blobs are, as a [`BlobSource`]: a registry repository (mountable within
//! its registry, streamed from elsewhere) or an OCI layout directory (a local file per
//! blob). The base reads its manifests and configs through the same [`BlobStore`].

use super::{BaseError, layout};
use crate::image::{BlobSource, file_stream};
use crate::oci::{Digest, Repository, Target};
use crate::registry::{BlobStream, Client, RegistryError};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a base image's blobs live.
#[derive(Clone, Debug)]
pub(super) enum BlobStore {
    Registry {
        client: Arc<Client>,
        repo: Repository,
    },
    /// An OCI layout directory (`blobs/sha256/<hex>`), an unpacked archive's included.
    Layout(PathBuf),
}

impl BlobStore {
    pub(super) async fn read_manifest(&self, digest: &Digest) -> Result<Bytes, BaseError> {
        match self {
            BlobStore::Registry { client, repo } => Ok(client
                .get_manifest(&repo.path, &Target::Digest(digest.clone()))
                .await
                .map_err(|source| self.registry_err(source))?
                .bytes),
            BlobStore::Layout(dir) => layout::read_blob(dir, digest),
        }
    }

    /// A config blob, read up to the `size` its manifest gives.
    pub(super) async fn read_config(&self, digest: &Digest, size: u64) -> Result<Bytes, BaseError> {
        match self {
            BlobStore::Registry { client, repo } => client
                .get_blob_bytes(&repo.path, digest, Some(size))
                .await
                .map_err(|source| self.registry_err(source)),
            BlobStore::Layout(dir) => layout::read_blob(dir, digest),
        }
    }

    fn registry_err(&self, source: RegistryError) -> BaseError {
        BaseError::Registry {
            base: self.describe(),
            source: Box::new(source),
        }
    }
}

impl BlobSource for BlobStore {
    fn describe(&self) -> String {
        match self {
            BlobStore::Registry { repo, .. } => repo.to_string(),
            BlobStore::Layout(dir) => format!("oci-layout:{}", dir.display()),
        }
    }

    fn open<'a>(
        &'a self,
        digest: &'a Digest,
        size: u64,
    ) -> BoxFuture<'a, Result<BlobStream, RegistryError>> {
        Box::pin(async move {
            match self {
                BlobStore::Registry { client, repo } => {
                    client.get_blob(&repo.path, digest, Some(size)).await
                }
                BlobStore::Layout(dir) => {
                    file_stream(&layout::blob_path(dir, digest), digest, size)
                }
            }
        })
    }

    fn mount_from(&self) -> Option<(&str, &str)> {
        match self {
            BlobStore::Registry { client, repo } => Some((client.registry(), &repo.path)),
            BlobStore::Layout(_) => None,
        }
    }

    fn local_path(&self, digest: &Digest) -> Option<PathBuf> {
        match self {
            BlobStore::Registry { .. } => None,
            BlobStore::Layout(dir) => Some(layout::blob_path(dir, digest)),
        }
    }

    /// From a registry: fetched again from the start when the transfer breaks off.
    fn download_to<'a>(
        &'a self,
        digest: &'a Digest,
        size: u64,
        dest: &'a Path,
        on_chunk: &'a (dyn Fn(u64) + Sync),
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            match self {
                BlobStore::Registry { client, repo } => {
                    client
                        .download_blob(&repo.path, digest, Some(size), dest, on_chunk)
                        .await
                }
                BlobStore::Layout(dir) => {
                    let stream = file_stream(&layout::blob_path(dir, digest), digest, size)?;
                    crate::image::write_stream(stream, dest, on_chunk).await
                }
            }
        })
    }
}
