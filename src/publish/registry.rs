use super::{PublishContext, PublishError, Published, Sink, blob_label};
use crate::base::BlobStore;
use crate::image::{BlobOrigin, BlobRef};
use crate::oci::Repository;
use crate::registry::{Client, MountResult, RegistryError, UploadSource};
use crate::report::{BlobOutcome, ProgressId};
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use std::sync::Arc;

/// Pushes to a repository in a registry.
pub struct RegistrySink {
    pub client: Arc<Client>,
    pub repo: Repository,
}

impl Sink for RegistrySink {
    fn describe(&self) -> String {
        self.repo.to_string()
    }

    fn publish<'a>(
        &'a self,
        cx: &'a PublishContext<'a>,
    ) -> BoxFuture<'a, Result<Published, PublishError>> {
        Box::pin(self.push(cx))
    }
}

impl RegistrySink {
    async fn push(&self, cx: &PublishContext<'_>) -> Result<Published, PublishError> {
        let repo = &self.repo.path;
        let manifest_err = |what: String| {
            let repo = self.repo.to_string();
            move |source| PublishError::Manifest {
                what,
                repo,
                source: Box::new(source),
            }
        };
        cx.reporter.step(&format!("pushing to {}", self.repo));
        futures_util::stream::iter(cx.set.blobs())
            .map(|blob| self.push_blob(cx, blob))
            .buffer_unordered(cx.jobs)
            .try_collect::<Vec<()>>()
            .await?;
        // Children first: distribution rejects an index whose manifests it does not have.
        for image in &cx.set.images {
            self.client
                .put_manifest(
                    repo,
                    image.manifest.digest.as_str(),
                    &image.manifest.bytes,
                    &image.manifest.media_type,
                )
                .await
                .map_err(manifest_err(image.platform.to_string()))?;
        }
        let index = &cx.set.index;
        self.client
            .put_manifest(repo, index.digest.as_str(), &index.bytes, &index.media_type)
            .await
            .map_err(manifest_err("index".into()))?;
        // Tags last: a failure before this point leaves no new tag behind.
        for tag in cx.tags {
            self.client
                .put_manifest(repo, tag, &index.bytes, &index.media_type)
                .await
                .map_err(manifest_err(format!("index (tag {tag})")))?;
            cx.reporter.detail(&format!("tagged {}:{tag}", self.repo));
        }
        Ok(Published {
            reference: format!("{}@{}", self.repo, index.digest),
            repository: self.repo.to_string(),
        })
    }

    async fn push_blob(&self, cx: &PublishContext<'_>, blob: BlobRef) -> Result<(), PublishError> {
        let label = blob_label(&blob);
        let progress = cx.reporter.blob_started(&blob.digest, blob.size, &label);
        let outcome = self
            .place_blob(cx, &blob, progress)
            .await
            .map_err(|e| match e {
                Placement::Missing => PublishError::BaseBlobMissing {
                    digest: blob.digest.clone(),
                    repo: self.repo.to_string(),
                },
                Placement::Registry(source) => PublishError::Blob {
                    digest: blob.digest.clone(),
                    what: label.clone(),
                    repo: self.repo.to_string(),
                    source: Box::new(source),
                },
            })?;
        cx.reporter.blob_done(progress, outcome);
        Ok(())
    }

    /// Gets one blob into the target repository the cheapest way: already there, mounted
    /// from the base repository in the same registry, streamed from another registry, or
    /// uploaded from a local file or memory.
    async fn place_blob(
        &self,
        cx: &PublishContext<'_>,
        blob: &BlobRef,
        progress: ProgressId,
    ) -> Result<BlobOutcome, Placement> {
        let repo = &self.repo.path;
        let (digest, size) = (&blob.digest, blob.size);
        let upload = |source, session| {
            self.client
                .upload_blob(repo, digest, size, source, session, progress)
        };
        if let (
            BlobOrigin::Base,
            BlobStore::Registry {
                client: src,
                repo: src_repo,
            },
        ) = (&blob.origin, cx.base)
        {
            let same_registry = src.registry() == self.client.registry();
            if same_registry && src_repo.path == *repo {
                // The base lives in the target repository: its blobs must already be there.
                return match self.client.blob_exists(repo, digest).await? {
                    Some(_) => Ok(BlobOutcome::Existing),
                    None => Err(Placement::Missing),
                };
            }
            let session = if same_registry {
                match self.client.mount_blob(repo, digest, &src_repo.path).await? {
                    MountResult::Mounted => return Ok(BlobOutcome::Mounted),
                    MountResult::Upload(session) => Some(session),
                }
            } else if self.client.blob_exists(repo, digest).await?.is_some() {
                return Ok(BlobOutcome::Existing);
            } else {
                None
            };
            // Stream it through, verified on the way, never on disk.
            let stream = src.get_blob(&src_repo.path, digest, Some(size)).await?;
            upload(UploadSource::Stream(Some(stream).into()), session).await?;
            return Ok(BlobOutcome::Copied);
        }
        if self.client.blob_exists(repo, digest).await?.is_some() {
            return Ok(BlobOutcome::Existing);
        }
        match (&blob.origin, cx.base) {
            (BlobOrigin::File(path), _) => upload(UploadSource::File(path), None).await?,
            (BlobOrigin::Inline(bytes), _) => {
                upload(UploadSource::Bytes(bytes.clone()), None).await?
            }
            (BlobOrigin::Base, BlobStore::Layout(dir)) => {
                let path = crate::base::layout_blob_path(dir, digest);
                upload(UploadSource::File(&path), None).await?
            }
            (BlobOrigin::Base, BlobStore::Registry { .. }) => unreachable!("handled above"),
        }
        Ok(BlobOutcome::Uploaded)
    }
}

/// Why a blob could not be placed.
enum Placement {
    Missing,
    Registry(RegistryError),
}

impl From<RegistryError> for Placement {
    fn from(e: RegistryError) -> Self {
        Placement::Registry(e)
    }
}
