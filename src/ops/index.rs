//! `imgpush index create`: one index from images and indexes that are already pushed —
//! e.g. one platform per CI runner — written to a target repository. Every blob is
//! mounted from its source repository (same registry) or streamed (another registry);
//! nothing is rebuilt and no digest of a platform image changes.

use super::{OpsError, clients, open, platform_image, publish, summary, work_dir};
use crate::image::{BasePlatform, Document, ImageSet, PlatformImage};
use crate::oci::{Digest, annotation, attestation, canonical_json, media};
use crate::plan::{BaseSpec, Destination};
use crate::report::{Event, Reporter, Stage, Tally};
use oci_spec::image::{Descriptor, ImageIndexBuilder};
use std::collections::HashMap;
use std::sync::Arc;

pub use crate::plan::IndexCreatePlan;

#[derive(Clone, Debug, serde::Serialize)]
pub struct IndexOutput {
    /// `REPO@sha256:…` of the new index.
    pub reference: String,
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub platforms: Vec<String>,
}

/// One manifest of the new index, with the source it came from (for messages).
struct Member {
    entry: Descriptor,
    image: PlatformImage,
    from: String,
    /// Came from the index being appended to: a source with its platform replaces it.
    appended_to: bool,
}

pub async fn create(
    plan: &IndexCreatePlan,
    reporter: Arc<dyn Reporter>,
) -> Result<IndexOutput, OpsError> {
    let started = std::time::Instant::now();
    let tally = Arc::new(Tally::new(reporter));
    let reporter: Arc<dyn Reporter> = tally.clone();
    let target_spec = BaseSpec::Registry(plan.target.clone());
    let mut sources: Vec<&BaseSpec> = plan.sources.iter().collect();
    if plan.append {
        sources.insert(0, &target_spec);
    }
    let dest = Destination::Registry(plan.target.clone());
    let clients = clients(&plan.registry, &sources, Some(&dest), reporter.clone())?;
    let work = work_dir()?;

    let mut members: Vec<Member> = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let appending = plan.append && i == 0;
        reporter.event(Event::StageStarted(Stage::Read {
            source: source.to_string(),
        }));
        let opened = match open(source, &clients, work.path()).await {
            // Appending to a tag that does not exist yet starts a new index.
            Err(OpsError::NotFound { .. }) if appending => {
                reporter.event(Event::NewIndex {
                    source: source.to_string(),
                });
                continue;
            }
            other => other?,
        };
        for p in opened.load_all(false).await? {
            let entry = entry_for(&p);
            let member = Member {
                entry,
                image: platform_image(&p),
                from: source.to_string(),
                appended_to: appending,
            };
            add(&mut members, member, plan.replace)?;
        }
    }
    if members.iter().all(|m| m.image.platform.is_unknown()) {
        return Err(OpsError::Empty);
    }

    // A Docker manifest list when every member is a Docker manifest; otherwise OCI.
    let docker = members
        .iter()
        .all(|m| m.image.manifest.media_type == media::DOCKER_MANIFEST);
    let media_type = if docker {
        media::DOCKER_LIST
    } else {
        media::OCI_INDEX
    };
    let mut index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(media_type)
        .manifests(members.iter().map(|m| m.entry.clone()).collect::<Vec<_>>())
        .build()
        .expect("all required index fields are set");
    if !plan.annotations.is_empty() && !docker {
        index.set_annotations(Some(
            plan.annotations
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ));
    }
    let set = ImageSet {
        index: Document::new(canonical_json(&index), media_type),
        images: members.into_iter().map(|m| m.image).collect(),
    };
    reporter.event(Event::StageStarted(Stage::WriteIndex {
        digest: set.index.digest.clone(),
        manifests: set.images.len(),
        target: plan.target.to_string(),
    }));
    let reference = publish(&set, &dest, &clients, plan.jobs, reporter.as_ref()).await?;
    reporter.event(summary(
        &tally,
        &set,
        plan.target.to_string(),
        &clients,
        started,
    ));
    Ok(IndexOutput {
        reference,
        digest: set.index.digest.clone(),
        media_type: media_type.to_string(),
        platforms: set
            .images
            .iter()
            .filter(|i| !i.platform.is_unknown())
            .map(|i| i.platform.to_string())
            .collect(),
    })
}

/// The index entry for a platform image: the source index's own entry (platform,
/// annotations), or for a single manifest one built from its config's platform.
fn entry_for(p: &BasePlatform) -> Descriptor {
    let mut entry = p.descriptor.clone();
    if entry.platform().is_none() && !p.platform.is_unknown() {
        entry.set_platform(Some(p.platform.to_oci(None)));
    }
    // The name of an image inside an OCI layout means nothing in an index.
    if let Some(a) = entry.annotations().clone() {
        let a: HashMap<String, String> = a
            .into_iter()
            .filter(|(k, _)| k != annotation::REF_NAME)
            .collect();
        entry.set_annotations((!a.is_empty()).then_some(a));
    }
    entry
}

/// Adds a member; a platform already present is an error unless `replace` (or the present
/// one comes from the index appended to), when the new one takes its place. Attestations
/// (and other entries that are not platforms) are kept as they come, never duplicates.
fn add(members: &mut Vec<Member>, member: Member, replace: bool) -> Result<(), OpsError> {
    let platform = member.image.platform.clone();
    if members
        .iter()
        .any(|m| m.image.manifest.digest == member.image.manifest.digest)
    {
        // The very same manifest twice (e.g. --append with a source already in it).
        return Ok(());
    }
    if platform.is_unknown() {
        members.push(member);
        return Ok(());
    }
    match members.iter().position(|m| m.image.platform == platform) {
        None => members.push(member),
        Some(i) if replace || members[i].appended_to => {
            let old = members[i].image.manifest.digest.clone();
            members[i] = member;
            // Attestations of the replaced manifest go with it.
            members.retain(|m| attestation::attested_digest(&m.entry).as_ref() != Some(&old));
        }
        Some(i) => {
            return Err(OpsError::DuplicatePlatform {
                platform: platform.to_string(),
                first: members[i].from.clone(),
                second: member.from,
            });
        }
    }
    Ok(())
}
