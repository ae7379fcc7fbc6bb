//! `imgpush copy SRC DST`: an image or a whole index from one place to another —
//! registry, OCI layout or OCI archive — with every digest preserved. Blobs are mounted
//! within a registry, streamed between registries, never held in memory.

use super::{OpsError, clients, open, platform_image, publish, summary, work_dir};
use crate::image::{Document, ImageSet};
use crate::oci::{Digest, canonical_json, media};
use crate::report::{Event, Reporter, Stage, Tally};
use oci_spec::image::ImageIndex;
use std::sync::Arc;

pub use crate::plan::CopyPlan;

#[derive(Clone, Debug, serde::Serialize)]
pub struct CopyOutput {
    /// `DEST@sha256:…`.
    pub reference: String,
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
}

pub async fn copy(plan: &CopyPlan, reporter: Arc<dyn Reporter>) -> Result<CopyOutput, OpsError> {
    let started = std::time::Instant::now();
    let tally = Arc::new(Tally::new(reporter));
    let reporter: Arc<dyn Reporter> = tally.clone();
    let clients = clients(
        &plan.registry,
        &[&plan.source],
        Some(&plan.dest),
        reporter.clone(),
    )?;
    let work = work_dir()?;
    reporter.event(Event::StageStarted(Stage::Read {
        source: plan.source.to_string(),
    }));
    let opened = open(&plan.source, &clients, work.path()).await?;
    // Naming every platform of an index is copying all of it: the same index, the same
    // digest (attestations included), not a new index over the same entries.
    let has = opened.platforms();
    let every = has.len() > 1
        && has.iter().all(|p| plan.platforms.contains(p))
        && plan.platforms.iter().all(|p| has.contains(p));
    let set = if plan.platforms.is_empty() || every {
        let children = opened.load_all(false).await?;
        ImageSet {
            index: opened.document.clone(),
            images: children.iter().map(platform_image).collect(),
        }
    } else {
        let selected = opened.select(&plan.platforms).await?.platforms;
        let mut images: Vec<_> = selected.iter().map(platform_image).collect();
        let index = match images.as_slice() {
            // One platform is its manifest alone, which has nowhere to hold attestations.
            [one] => one.manifest.clone(),
            _ => {
                // A sub-index: the source's own entries (platform, annotations) for the
                // chosen manifests and the attestations of them, in the source's order;
                // attestations of platforms left out are left out too.
                let chosen: Vec<Digest> =
                    images.iter().map(|i| i.manifest.digest.clone()).collect();
                let attestations = opened.attestations_of(&chosen).await?;
                images.extend(attestations.iter().map(platform_image));
                let mut index: ImageIndex = serde_json::from_slice(&opened.document.bytes)
                    .map_err(|e| crate::base::BaseError::Malformed {
                        base: plan.source.to_string(),
                        message: format!("the index is not valid: {e}"),
                    })?;
                let keep: Vec<Digest> = images.iter().map(|i| i.manifest.digest.clone()).collect();
                let entries = index
                    .manifests()
                    .iter()
                    .filter(|d| Digest::try_from(d.digest()).is_ok_and(|d| keep.contains(&d)))
                    .cloned()
                    .collect();
                index.set_manifests(entries);
                let mt = if opened.document.media_type == media::DOCKER_LIST {
                    media::DOCKER_LIST
                } else {
                    media::OCI_INDEX
                };
                Document::new(canonical_json(&index), mt)
            }
        };
        ImageSet { index, images }
    };
    reporter.event(Event::StageStarted(Stage::Copy {
        digest: set.index.digest.clone(),
        manifests: set.images.len(),
        dest: plan.dest.to_string(),
    }));
    let reference = publish(&set, &plan.dest, &clients, plan.jobs, reporter.as_ref()).await?;
    reporter.event(summary(
        &tally,
        &set,
        plan.dest.to_string(),
        &clients,
        started,
    ));
    Ok(CopyOutput {
        reference,
        digest: set.index.digest.clone(),
        media_type: set.index.media_type.clone(),
    })
}
