use super::{PublishContext, PublishError, Published, Sink, blob_label};
use crate::image::{BlobRef, Document};
use crate::oci::{Digest, Repository, Target};
use crate::registry::{Client, MountResult, RegistryError, UploadSource};
use crate::report::{BlobOutcome, Event, ProgressId, Stage};
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
        let manifest_err = |what: String| {
            let repo = self.repo.to_string();
            move |source| PublishError::Manifest {
                what,
                repo,
                source: Box::new(source),
            }
        };
        let index = &cx.set.index;
        // Digests are known before anything is sent: when every tag already points at
        // this index, there is nothing to do (one HEAD per tag); when only tags are
        // missing, only they are written.
        let mut missing_tags = Vec::new();
        for tag in cx.tags {
            let current = self
                .client
                .manifest_digest(&self.repo.path, &Target::Tag(tag.clone()))
                .await
                .map_err(manifest_err(format!("index (checking tag {tag})")))?;
            if current.as_ref() != Some(&index.digest) {
                missing_tags.push(tag.clone());
            }
        }
        let published = Published {
            reference: format!("{}@{}", self.repo, index.digest),
            repository: self.repo.to_string(),
            names: None,
        };
        if !cx.tags.is_empty() && missing_tags.is_empty() {
            // The index does not list its referrers: a changed attachment (a new source
            // revision in the provenance, another SBOM format) leaves the index digest
            // as it was. They are written unless this cache saw exactly these pushed.
            if !self.referrers_known(cx.set) {
                self.push_referrers(cx, true).await?;
                self.remember_referrers(cx.set);
            }
            cx.reporter.event(Event::UpToDate {
                repo: self.repo.to_string(),
                tags: cx.tags.to_vec(),
                digest: index.digest.clone(),
            });
            return Ok(published);
        }
        if self
            .client
            .manifest_digest(&self.repo.path, &Target::Digest(index.digest.clone()))
            .await
            .map_err(manifest_err("index (checking it exists)".into()))?
            == Some(index.digest.clone())
        {
            cx.reporter.event(Event::TagsOnly {
                repo: self.repo.to_string(),
                digest: index.digest.clone(),
                tags: missing_tags.clone(),
            });
            if !self.referrers_known(cx.set) {
                self.push_referrers(cx, true).await?;
            }
            for tag in &missing_tags {
                self.put_manifest(cx, tag, index)
                    .await
                    .map_err(manifest_err(format!("index (tag {tag})")))?;
                cx.reporter.event(Event::Tagged {
                    repo: self.repo.to_string(),
                    tag: tag.clone(),
                });
            }
            self.remember_referrers(cx.set);
            return Ok(published);
        }
        let stage = Stage::Push {
            repo: self.repo.to_string(),
        };
        cx.reporter.event(Event::StageStarted(stage.clone()));
        let mut blobs = cx.set.blobs();
        for blob in cx.set.referrer_blobs() {
            if !blobs.iter().any(|b| b.digest == blob.digest) {
                blobs.push(blob);
            }
        }
        futures_util::stream::iter(blobs)
            .map(|blob| self.push_blob(cx, blob))
            .buffer_unordered(cx.jobs)
            .try_collect::<Vec<()>>()
            .await?;
        // Children first: distribution rejects an index whose manifests it does not have.
        for image in &cx.set.images {
            let m = &image.manifest;
            self.put_manifest(cx, m.digest.as_str(), m)
                .await
                .map_err(manifest_err(image.platform.to_string()))?;
        }
        // Referrers before the index and the tags: when a tag points at this index, its
        // referrers were written by the run that put it there.
        self.push_referrers(cx, false).await?;
        if !cx.set.is_single() {
            self.put_manifest(cx, index.digest.as_str(), index)
                .await
                .map_err(manifest_err("index".into()))?;
        }
        // Tags last: a failure before this point leaves no new tag behind.
        for tag in cx.tags {
            self.put_manifest(cx, tag, index)
                .await
                .map_err(manifest_err(format!("index (tag {tag})")))?;
            cx.reporter.event(Event::Tagged {
                repo: self.repo.to_string(),
                tag: tag.clone(),
            });
        }
        self.remember_referrers(cx.set);
        cx.reporter.event(Event::StageFinished(stage));
        Ok(published)
    }

    /// PUTs a manifest (by digest or tag). If the registry refuses, but now holds exactly
    /// this digest under `reference`, another writer pushed the same content at the same
    /// time: that is success. distribution can answer one of two concurrent identical PUTs
    /// with DIGEST_INVALID although our bytes do hash to the digest (we computed it from
    /// them); that answer is retried with backoff. Returns the registry's `OCI-Subject`
    /// (`None` as well when another writer's PUT is what stored it).
    pub(super) async fn put_manifest(
        &self,
        cx: &PublishContext<'_>,
        reference: &str,
        doc: &Document,
    ) -> Result<Option<Digest>, RegistryError> {
        let repo = &self.repo.path;
        let target = match reference.parse::<Digest>() {
            Ok(d) => Target::Digest(d),
            Err(_) => Target::Tag(reference.to_string()),
        };
        // One retry budget for the manifest, the checks and the conflict retries.
        self.client
            .with_retry_budget(async {
                loop {
                    let e = match self
                        .client
                        .put_manifest_answer(repo, reference, &doc.bytes, &doc.media_type, None)
                        .await
                    {
                        Ok(answer) => return Ok(answer.subject),
                        Err(e) => e,
                    };
                    if let Ok(Some(d)) = self.client.manifest_digest(repo, &target).await
                        && d == doc.digest
                    {
                        cx.reporter.event(Event::ManifestPushedConcurrently {
                            repo: repo.clone(),
                            reference: reference.to_string(),
                            digest: d,
                            error: e.to_string(),
                        });
                        return Ok(None);
                    }
                    if !is_concurrent_write_conflict(&e)
                        || !self
                            .client
                            .pause_before_retry(
                                &format!("pushing manifest {reference}"),
                                &e.to_string(),
                            )
                            .await
                    {
                        return Err(e);
                    }
                }
            })
            .await
    }

    pub(super) async fn push_blob(
        &self,
        cx: &PublishContext<'_>,
        blob: BlobRef,
    ) -> Result<(), PublishError> {
        let label = blob_label(&blob);
        let progress = cx.reporter.blob_started(&blob.digest, blob.size, &label);
        // One retry budget for everything that places this blob (checks, mount, upload
        // sessions, conflict retries), however the loops nest.
        let placed = self
            .client
            .with_retry_budget(async {
                let mut placed = self.place_blob(&blob, progress).await;
                while let Err(Placement::Registry(e)) = &placed
                    && is_concurrent_write_conflict(e)
                    && !matches!(
                        self.client.blob_exists(&self.repo.path, &blob.digest).await,
                        Ok(Some(_))
                    )
                    && self
                        .client
                        .pause_before_retry(
                            &format!("pushing blob {}", blob.digest),
                            &e.to_string(),
                        )
                        .await
                {
                    placed = self.place_blob(&blob, progress).await;
                }
                placed
            })
            .await;
        let placed = match placed {
            // A concurrent writer of the same blob can make our upload fail; what matters
            // is that the repository has it.
            Err(Placement::Registry(e)) => {
                match self.client.blob_exists(&self.repo.path, &blob.digest).await {
                    Ok(Some(_)) => {
                        cx.reporter.event(Event::BlobUploadedConcurrently {
                            digest: blob.digest.clone(),
                            error: e.to_string(),
                        });
                        Ok(BlobOutcome::Existing)
                    }
                    _ => Err(Placement::Registry(e)),
                }
            }
            other => other,
        };
        let outcome = placed.map_err(|e| match e {
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
    /// from a repository of the same registry, uploaded from a local file or memory, or
    /// streamed from where it lives (another registry).
    async fn place_blob(
        &self,
        blob: &BlobRef,
        progress: ProgressId,
    ) -> Result<BlobOutcome, Placement> {
        let repo = &self.repo.path;
        let (digest, size) = (&blob.digest, blob.size);
        let upload = |source, session| {
            self.client
                .upload_blob(repo, digest, size, source, session, progress)
        };
        let open = || blob.source.open(digest, size);
        let mut session = None;
        if let Some((registry, from)) = blob.source.mount_from()
            && registry == self.client.registry()
        {
            if from == repo {
                // The blob lives in the target repository: it must already be there.
                return match self.client.blob_exists(repo, digest).await? {
                    Some(_) => Ok(BlobOutcome::Existing),
                    None => Err(Placement::Missing),
                };
            }
            match self.client.mount_blob(repo, digest, from).await? {
                MountResult::Mounted => return Ok(BlobOutcome::Mounted),
                MountResult::Upload(s) => session = Some(s),
            }
        } else if self.client.blob_exists(repo, digest).await?.is_some() {
            return Ok(BlobOutcome::Existing);
        }
        if let Some(path) = blob.source.local_path(digest) {
            upload(UploadSource::File(&path), session).await?;
            return Ok(BlobOutcome::Uploaded);
        }
        if let Some(bytes) = blob.source.in_memory() {
            upload(UploadSource::Bytes(bytes), session).await?;
            return Ok(BlobOutcome::Uploaded);
        }
        // Stream it through, verified on the way, never on disk.
        upload(UploadSource::Stream(&open), session).await?;
        Ok(BlobOutcome::Copied)
    }
}

/// distribution's answer to one of two concurrent identical writes (see `put_manifest`).
fn is_concurrent_write_conflict(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Status { status: 400, code: Some(c), .. } if c == "DIGEST_INVALID")
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
