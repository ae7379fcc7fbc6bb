use super::{PublishContext, PublishError, Published, Sink, blob_label};
use crate::base::BlobStore;
use crate::image::{BlobOrigin, BlobRef};
use crate::oci::Repository;
use crate::registry::{Client, MountResult, UploadSource};
use crate::report::BlobOutcome;
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
        let repo = &self.repo.path;
        let label = blob_label(&blob);
        let err = |source| PublishError::Blob {
            digest: blob.digest.clone(),
            what: label.clone(),
            repo: self.repo.to_string(),
            source: Box::new(source),
        };
        let progress = cx.reporter.blob_started(&blob.digest, blob.size, &label);
        let outcome = match (&blob.origin, cx.base) {
            (
                BlobOrigin::Base,
                BlobStore::Registry {
                    client: src,
                    repo: src_repo,
                },
            ) if src.registry() == self.client.registry() => {
                if src_repo.path == *repo {
                    // The base lives in the target repository: its blobs are already there.
                    if self
                        .client
                        .blob_exists(repo, &blob.digest)
                        .await
                        .map_err(err)?
                        .is_none()
                    {
                        return Err(PublishError::BaseBlobMissing {
                            digest: blob.digest.clone(),
                            repo: self.repo.to_string(),
                        });
                    }
                    BlobOutcome::Existing
                } else {
                    match self
                        .client
                        .mount_blob(repo, &blob.digest, &src_repo.path)
                        .await
                        .map_err(err)?
                    {
                        MountResult::Mounted => BlobOutcome::Mounted,
                        MountResult::Upload(session) => {
                            let stream = src
                                .get_blob(&src_repo.path, &blob.digest, Some(blob.size))
                                .await
                                .map_err(err)?;
                            self.client
                                .upload_blob(
                                    repo,
                                    &blob.digest,
                                    blob.size,
                                    UploadSource::Stream(Some(stream).into()),
                                    Some(session),
                                    progress,
                                )
                                .await
                                .map_err(err)?;
                            BlobOutcome::Copied
                        }
                    }
                }
            }
            _ if self
                .client
                .blob_exists(repo, &blob.digest)
                .await
                .map_err(err)?
                .is_some() =>
            {
                BlobOutcome::Existing
            }
            (
                BlobOrigin::Base,
                BlobStore::Registry {
                    client: src,
                    repo: src_repo,
                },
            ) => {
                // Another registry: stream it through, verified on the way, never on disk.
                let stream = src
                    .get_blob(&src_repo.path, &blob.digest, Some(blob.size))
                    .await
                    .map_err(err)?;
                self.client
                    .upload_blob(
                        repo,
                        &blob.digest,
                        blob.size,
                        UploadSource::Stream(Some(stream).into()),
                        None,
                        progress,
                    )
                    .await
                    .map_err(err)?;
                BlobOutcome::Copied
            }
            (BlobOrigin::Base, BlobStore::Layout(dir)) => {
                let path = crate::base::layout_blob_path(dir, &blob.digest);
                self.client
                    .upload_blob(
                        repo,
                        &blob.digest,
                        blob.size,
                        UploadSource::File(&path),
                        None,
                        progress,
                    )
                    .await
                    .map_err(err)?;
                BlobOutcome::Uploaded
            }
            (BlobOrigin::File(path), _) => {
                self.client
                    .upload_blob(
                        repo,
                        &blob.digest,
                        blob.size,
                        UploadSource::File(path),
                        None,
                        progress,
                    )
                    .await
                    .map_err(err)?;
                BlobOutcome::Uploaded
            }
            (BlobOrigin::Inline(bytes), _) => {
                self.client
                    .upload_blob(
                        repo,
                        &blob.digest,
                        blob.size,
                        UploadSource::Bytes(bytes.clone()),
                        None,
                        progress,
                    )
                    .await
                    .map_err(err)?;
                BlobOutcome::Uploaded
            }
        };
        cx.reporter.blob_done(progress, outcome);
        Ok(())
    }
}
