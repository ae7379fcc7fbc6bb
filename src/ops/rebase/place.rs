//! Getting the new base's layers into the image's repository before the rebased set is
//! published. A composed platform image has one [`BlobSource`] for all its stored layers,
//! and after this step that is the image's own repository: the sink then finds every
//! layer there (one HEAD each) and uploads none of the image's own. Mounted within a
//! registry, streamed from another, as `RegistrySink` places blobs.

use crate::image::BlobSource;
use crate::oci::{Digest, Repository};
use crate::publish::PublishError;
use crate::registry::{Client, MountResult, RegistryError, UploadSource};
use crate::report::{BlobOutcome, ProgressId, Reporter};
use futures_util::{StreamExt, TryStreamExt};
use std::collections::HashSet;
use std::sync::Arc;

/// A blob of the new base that the rebased images need.
pub(super) struct BaseBlob {
    pub digest: Digest,
    pub size: u64,
    /// For messages: which platforms use it.
    pub label: String,
}

/// Places each blob (once) into `repo` from `from`; returns the digests placed.
pub(super) async fn place_base_blobs(
    client: &Client,
    repo: &Repository,
    from: &Arc<dyn BlobSource>,
    blobs: Vec<BaseBlob>,
    reporter: &dyn Reporter,
    jobs: usize,
) -> Result<HashSet<Digest>, PublishError> {
    let placed = blobs.iter().map(|b| b.digest.clone()).collect();
    futures_util::stream::iter(blobs)
        .map(|blob| async move {
            let progress = reporter.blob_started(&blob.digest, blob.size, &blob.label);
            let outcome = client
                .with_retry_budget(place(client, repo, from.as_ref(), &blob, progress))
                .await
                .map_err(|e| match e {
                    Placement::Missing => PublishError::BaseBlobMissing {
                        digest: blob.digest.clone(),
                        repo: from.describe(),
                    },
                    Placement::Registry(source) => PublishError::Blob {
                        digest: blob.digest.clone(),
                        what: blob.label.clone(),
                        repo: repo.to_string(),
                        source: Box::new(source),
                    },
                })?;
            reporter.blob_done(progress, outcome);
            Ok::<(), PublishError>(())
        })
        .buffer_unordered(jobs.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(placed)
}

enum Placement {
    Missing,
    Registry(RegistryError),
}

impl From<RegistryError> for Placement {
    fn from(e: RegistryError) -> Self {
        Placement::Registry(e)
    }
}

async fn place(
    client: &Client,
    repo: &Repository,
    from: &dyn BlobSource,
    blob: &BaseBlob,
    progress: ProgressId,
) -> Result<BlobOutcome, Placement> {
    let (digest, size) = (&blob.digest, blob.size);
    let open = || from.open(digest, size);
    let mut session = None;
    if let Some((registry, from_repo)) = from.mount_from()
        && registry == client.registry()
    {
        if from_repo == repo.path {
            // The new base lives in the image's own repository.
            return match client.blob_exists(&repo.path, digest).await? {
                Some(_) => Ok(BlobOutcome::Existing),
                None => Err(Placement::Missing),
            };
        }
        match client.mount_blob(&repo.path, digest, from_repo).await? {
            MountResult::Mounted => return Ok(BlobOutcome::Mounted),
            MountResult::Upload(s) => session = Some(s),
        }
    } else if client.blob_exists(&repo.path, digest).await?.is_some() {
        return Ok(BlobOutcome::Existing);
    }
    client
        .upload_blob(
            &repo.path,
            digest,
            size,
            UploadSource::Stream(&open),
            session,
            progress,
        )
        .await?;
    Ok(BlobOutcome::Copied)
}

/// Passes everything on except the transfers of blobs already placed (the sink finds
/// them present), so the summary counts each blob once, as what really moved it.
pub(super) struct SkipPlaced {
    pub inner: Arc<dyn Reporter>,
    pub placed: HashSet<Digest>,
}

const SKIPPED: ProgressId = ProgressId(u64::MAX);

impl Reporter for SkipPlaced {
    fn event(&self, event: crate::report::Event) {
        self.inner.event(event)
    }

    fn blob_started(&self, digest: &Digest, size: u64, label: &str) -> ProgressId {
        if self.placed.contains(digest) {
            SKIPPED
        } else {
            self.inner.blob_started(digest, size, label)
        }
    }

    fn blob_progress(&self, id: ProgressId, bytes: u64) {
        if id != SKIPPED {
            self.inner.blob_progress(id, bytes)
        }
    }

    fn blob_done(&self, id: ProgressId, outcome: BlobOutcome) {
        if id != SKIPPED {
            self.inner.blob_done(id, outcome)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RecordingReporter;

    #[test]
    fn placed_blobs_are_not_reported_twice() {
        let inner = Arc::new(RecordingReporter::default());
        let placed = Digest::of(b"base layer");
        let other = Digest::of(b"config");
        let skip = SkipPlaced {
            inner: inner.clone(),
            placed: [placed.clone()].into_iter().collect(),
        };
        let a = skip.blob_started(&placed, 10, "base layer");
        skip.blob_done(a, BlobOutcome::Existing);
        let b = skip.blob_started(&other, 2, "config");
        skip.blob_done(b, BlobOutcome::Uploaded);
        assert_eq!(inner.outcomes(), vec![(other, BlobOutcome::Uploaded)]);
    }
}
