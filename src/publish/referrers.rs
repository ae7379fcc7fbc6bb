//! Referrers (OCI 1.1 attachments) in a registry: the documents and the empty config as
//! blobs, each artifact manifest by digest, then — unless the registry answered
//! `OCI-Subject`, i.e. indexes referrers itself — the subject's referrers tag updated
//! (`registry::Client::add_to_referrers_tag`: other tools' entries kept).
//!
//! The image index does not name its referrers, so an unchanged index digest does not
//! prove the referrers are unchanged (a new commit that leaves the binary as it was still
//! changes the provenance). A memo in imgpush's cache, keyed by registry, repository and
//! index and holding a digest of the referrer manifests' digests, records what a finished
//! push wrote: a no-op push with the same referrers costs no request more than without
//! any. Without the memo (no cache, another machine), the referrers are written again,
//! which is idempotent: blobs are found present, manifests PUT anew, and the referrers tag
//! is only rewritten when an entry of ours is missing from it.

use super::registry::RegistrySink;
use super::{PublishContext, PublishError};
use crate::image::ImageSet;
use crate::oci::Digest;
use crate::oci::referrers::fallback_tag;
use crate::report::Event;
use futures_util::{StreamExt, TryStreamExt};

impl RegistrySink {
    /// The memo's key and value for `set`; `None` when the set has no referrers.
    fn referrers_memo(&self, set: &ImageSet) -> Option<(String, Digest)> {
        let mut digests: Vec<&str> = set
            .referrers()
            .map(|r| r.manifest.digest.as_str())
            .collect();
        if digests.is_empty() {
            return None;
        }
        digests.sort();
        let key = format!(
            "{}/{}@{}#referrers",
            self.client.registry(),
            self.repo.path,
            set.index.digest
        );
        Some((key, Digest::of(digests.join("\n").as_bytes())))
    }

    /// Has a finished push from this cache written exactly these referrers for this index
    /// (or are there none)?
    pub(super) fn referrers_known(&self, set: &ImageSet) -> bool {
        match (self.referrers_memo(set), self.client.cache()) {
            (None, _) => true,
            (Some((key, value)), Some(cache)) => cache.get_ref(&key) == Some(value),
            (Some(_), None) => false,
        }
    }

    /// Records that the push of `set` finished with its referrers written.
    pub(super) fn remember_referrers(&self, set: &ImageSet) {
        if let (Some((key, value)), Some(cache)) = (self.referrers_memo(set), self.client.cache()) {
            cache.put_ref(&key, &value);
        }
    }

    /// Writes every referrer of the set: its blobs (when `with_blobs`; the full push sends
    /// them with the image's), its manifest, and the referrers tag where the registry has
    /// no referrers API. The subjects (platform manifests) must be in the repository.
    pub(super) async fn push_referrers(
        &self,
        cx: &PublishContext<'_>,
        with_blobs: bool,
    ) -> Result<(), PublishError> {
        if cx.set.referrers().next().is_none() {
            return Ok(());
        }
        if with_blobs {
            futures_util::stream::iter(cx.set.referrer_blobs())
                .map(|blob| self.push_blob(cx, blob))
                .buffer_unordered(cx.jobs)
                .try_collect::<Vec<()>>()
                .await?;
        }
        let repo = self.repo.to_string();
        for image in &cx.set.images {
            let subject = &image.manifest.digest;
            let mut fallback = Vec::new();
            for r in &image.referrers {
                let answered = self
                    .put_manifest(cx, r.manifest.digest.as_str(), &r.manifest)
                    .await
                    .map_err(|source| PublishError::Manifest {
                        what: format!("{} attachment of {}", r.artifact_type, image.platform),
                        repo: repo.clone(),
                        source: Box::new(source),
                    })?;
                match answered {
                    Some(s) if &s == subject => {}
                    Some(other) => {
                        return Err(PublishError::Referrers {
                            subject: subject.clone(),
                            repo: repo.clone(),
                            message: format!(
                                "the registry says it indexed the {} attachment under {other}, not under its subject",
                                r.artifact_type
                            ),
                        });
                    }
                    None => fallback.push(r.list_entry()),
                }
                cx.reporter.event(Event::Detail(format!(
                    "attached {} {} to {} ({})",
                    r.artifact_type, r.manifest.digest, image.platform, subject
                )));
            }
            if fallback.is_empty() {
                continue;
            }
            let merged = self
                .client
                .add_to_referrers_tag(&self.repo.path, subject, &fallback)
                .await
                .map_err(|source| PublishError::ReferrersTag {
                    tag: fallback_tag(subject),
                    repo: repo.clone(),
                    source: Box::new(source),
                })?;
            cx.reporter.event(Event::Detail(format!(
                "{repo}:{}: no referrers API, referrers tag {} ({} kept, {} added)",
                fallback_tag(subject),
                if merged.bytes.is_some() {
                    "updated"
                } else {
                    "up to date"
                },
                merged.kept,
                merged.added
            )));
        }
        Ok(())
    }
}
