//! `imgpush rebase IMAGE --base NEW`: the image's own layers on a new base, without
//! rebuilding anything. For each platform the image's lowest layers must be exactly the
//! old base's (found from the base annotations imgpush records, or `--old-base`); they are
//! replaced by the new base's, the config is merged from the three configs (small JSON
//! blobs, the only things read besides manifests), and new manifests and an index are
//! pushed to the image's repository. No layer is downloaded; the image's own layers are
//! already there, the new base's are mounted (same registry) or streamed. Everything is
//! checked before anything is pushed.
//!
//! The old image's referrers (SBOM, provenance, signatures) describe the old manifests and
//! are not carried over as they are: `attest` moves its SBOMs onto the new manifests and
//! attaches a provenance statement of the rebase.

mod attest;
mod compose;
mod config;
mod place;

use super::{OpsError, clients, open, summary, work_dir};
use crate::base::OpenedBase;
use crate::image::{BaseImage, BasePlatform, ConfigBlob, ImageSet, LayerRef, PlatformImage};
use crate::oci::{Digest, Platform, Reference, annotation, media};
use crate::plan::{BaseSpec, Destination};
use crate::publish::{PublishContext, RegistrySink, Sink};
use crate::report::{Event, Reporter, Stage, Tally};
use compose::{PlatformInput, rebase_index, rebase_platform};
use std::sync::Arc;

pub use crate::plan::RebasePlan;

#[derive(Clone, Debug, serde::Serialize)]
pub struct RebaseOutput {
    /// `REPO@sha256:…` of the rebased index (or manifest, for a single image).
    pub reference: String,
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub platforms: Vec<String>,
    /// The new base as recorded in `org.opencontainers.image.base.name`.
    pub base: String,
    /// Its index (or manifest) digest, as recorded in `org.opencontainers.image.base.digest`.
    #[serde(rename = "baseDigest")]
    pub base_digest: Digest,
    /// The digest the image had before.
    pub previous: Digest,
}

/// Why an image cannot be rebased as asked.
#[derive(Debug, thiserror::Error)]
pub enum RebaseError {
    #[error("{image} ({platform}) records no base to rebase from: {why}")]
    NoRecordedBase {
        image: String,
        platform: String,
        why: String,
    },
    #[error(
        "{image} ({platform}) is not on the old base {base}: layer {} from the bottom is {found} in the image but {expected} in the base", index + 1
    )]
    LayersDiffer {
        image: String,
        platform: String,
        base: String,
        /// Counted from 0, the lowest layer.
        index: usize,
        found: String,
        expected: String,
    },
    #[error(
        "{image} ({platform}) has {layers} layers, fewer than the {base_layers} of the old base {base}"
    )]
    TooFewLayers {
        image: String,
        platform: String,
        layers: usize,
        base: String,
        base_layers: usize,
    },
    #[error("{image} ({platform}): its config does not fit the old base {base}: {message}")]
    Config {
        image: String,
        platform: String,
        base: String,
        message: String,
    },
    #[error("the old base {base} has no {platform} (a platform of {image}); it has: {available}")]
    OldBaseLacksPlatform {
        base: String,
        image: String,
        platform: String,
        available: String,
    },
    #[error("the new base {base} has no {missing} (of {image}); it has: {available}")]
    NewBaseLacksPlatforms {
        base: String,
        image: String,
        missing: String,
        available: String,
    },
    #[error("{image}: the index is not valid JSON: {message}")]
    Index { image: String, message: String },
    #[error(
        "{image} ({platform}) is a Docker-format image, whose schema2 manifests cannot have referrers: no SBOM or provenance can be attached to it"
    )]
    AttachToDocker { image: String, platform: String },
}

impl RebaseError {
    pub fn hint(&self) -> Option<String> {
        match self {
            RebaseError::NoRecordedBase { .. } => Some(
                "name the base it was built on with --old-base REF (the exact tag or digest it was built from)".into(),
            ),
            RebaseError::LayersDiffer { .. }
            | RebaseError::TooFewLayers { .. }
            | RebaseError::Config { .. } => Some(
                "the image was not built on that base: name the base it was built on with --old-base REF (the exact tag or digest), or rebuild the image".into(),
            ),
            RebaseError::OldBaseLacksPlatform { .. } => Some(
                "give an --old-base with every platform of the image, or rebase only some (--platform)".into(),
            ),
            RebaseError::NewBaseLacksPlatforms { .. } => Some(
                "rebase only the platforms the new base has (--platform), or choose a base that has them all".into(),
            ),
            RebaseError::Index { .. } => None,
            RebaseError::AttachToDocker { .. } => Some(
                "leave --sbom and --provenance out (a Docker-format image gets none), or give --sbom none --provenance none".into(),
            ),
        }
    }
}

impl From<RebaseError> for OpsError {
    fn from(e: RebaseError) -> Self {
        OpsError::Rebase(Box::new(e))
    }
}

impl From<Box<RebaseError>> for OpsError {
    fn from(e: Box<RebaseError>) -> Self {
        OpsError::Rebase(e)
    }
}

pub async fn rebase(
    plan: &RebasePlan,
    reporter: Arc<dyn Reporter>,
) -> Result<RebaseOutput, OpsError> {
    let started = std::time::Instant::now();
    let tally = Arc::new(Tally::new(reporter));
    let reporter: Arc<dyn Reporter> = tally.clone();
    let image_spec = BaseSpec::Registry(plan.image.clone());
    let new_spec = BaseSpec::Registry(plan.base.clone());
    let dest = Destination::Registry(plan.image.clone());
    let mut sources = vec![&image_spec, &new_spec];
    sources.extend(plan.old_base.as_ref());
    let clients = clients(&plan.registry, &sources, Some(&dest), reporter.clone())?;
    let work = work_dir()?;
    let image_name = plan.image.to_string();
    let new_name = plan.base.to_string();

    reporter.event(Event::StageStarted(Stage::Read {
        source: image_name.clone(),
    }));
    let opened = open(&image_spec, &clients, work.path()).await?;
    let has = opened.platforms();
    let platforms = if plan.platforms.is_empty() {
        has.clone()
    } else {
        plan.platforms.clone()
    };
    if let Some(p) = platforms.iter().find(|p| !has.contains(p)) {
        return Err(OpsError::NoSuchPlatform {
            image: image_name,
            platform: p.to_string(),
            available: list(&has),
        });
    }
    let image = opened.select(&platforms).await?;

    reporter.event(Event::StageStarted(Stage::Read {
        source: new_name.clone(),
    }));
    let new_opened = open(&new_spec, &clients, work.path()).await?;
    let new_has = new_opened.platforms();
    let missing: Vec<&Platform> = platforms.iter().filter(|p| !new_has.contains(p)).collect();
    if !missing.is_empty() {
        return Err(RebaseError::NewBaseLacksPlatforms {
            base: new_name,
            image: image_name,
            missing: missing
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            available: list(&new_has),
        }
        .into());
    }
    let new_base = new_opened.select(&platforms).await?;

    let old = old_bases(
        plan,
        &image,
        &image_name,
        &clients,
        work.path(),
        reporter.as_ref(),
    )
    .await?;

    // Every platform is checked and composed before anything is sent.
    let mut images = Vec::new();
    let mut rebased_manifests = Vec::new();
    let mut blobs: Vec<place::BaseBlob> = Vec::new();
    for ((p, (old_name, old)), new) in image.platforms.iter().zip(&old).zip(&new_base.platforms) {
        let r = rebase_platform(&PlatformInput {
            image_name: &image_name,
            image: p,
            old_name,
            old,
            new,
            new_name: &new_name,
        })?;
        reporter.event(Event::Detail(format!(
            "{}: {} layers of {old_name} → {} of {new_name}; {} own layers kept",
            p.platform,
            old.manifest.layers().len(),
            r.base_layers,
            r.layers.len() - r.base_layers,
        )));
        for d in &r.layers[..r.base_layers] {
            let digest =
                Digest::try_from(d.digest()).expect("base digests were validated when loaded");
            match blobs.iter_mut().find(|b| b.digest == digest) {
                Some(b) => b.label.push_str(&format!(", {}", p.platform)),
                None => blobs.push(place::BaseBlob {
                    digest,
                    size: d.size(),
                    label: format!("new base layer of {}", p.platform),
                }),
            }
        }
        rebased_manifests.push((p.manifest_digest.clone(), r.manifest.clone()));
        images.push(PlatformImage {
            platform: p.platform.clone(),
            config: ConfigBlob::Inline(r.config),
            manifest: r.manifest,
            layers: r.layers.into_iter().map(LayerRef::Base).collect(),
            // Once the new base's layers are placed, every layer is in the image's repository.
            source: p.source.clone(),
            referrers: Vec::new(),
        });
    }
    let index = if media::is_index(&opened.document.media_type) {
        rebase_index(
            &opened.document,
            &rebased_manifests,
            &new_name,
            &new_base.digest,
        )
        .map_err(|e| RebaseError::Index {
            image: image_name.clone(),
            message: e.to_string(),
        })?
    } else {
        images[0].manifest.clone()
    };
    let mut set = ImageSet { index, images };
    let rebased: Vec<attest::Rebased> = image
        .platforms
        .iter()
        .zip(&old)
        .zip(&new_base.platforms)
        .map(|((image, (old_name, old)), new)| attest::Rebased {
            image,
            old_name,
            old,
            new,
        })
        .collect();
    attest::attach(
        &attest::Context {
            plan,
            opened: &opened,
            new_name: &new_name,
            new_base: &new_base,
            reporter: reporter.as_ref(),
        },
        &mut set,
        &rebased,
    )
    .await?;

    let client = clients.get(&plan.image.repository.registry)?;
    // Rebased before (or onto the base it is on): the registry accepted this index, so it
    // holds every blob; the sink only writes missing tags.
    let exists = client
        .manifest_digest(
            &plan.image.repository.path,
            &crate::oci::Target::Digest(set.index.digest.clone()),
        )
        .await
        .map_err(|source| crate::publish::PublishError::Manifest {
            what: "index (checking it exists)".into(),
            repo: plan.image.repository.to_string(),
            source: Box::new(source),
        })?
        == Some(set.index.digest.clone());
    let placed = if exists {
        Default::default()
    } else {
        place::place_base_blobs(
            &client,
            &plan.image.repository,
            &new_opened.source(),
            blobs,
            reporter.as_ref(),
            plan.jobs,
        )
        .await?
    };
    let sink = RegistrySink {
        client,
        repo: plan.image.repository.clone(),
    };
    let skip = place::SkipPlaced {
        inner: reporter.clone(),
        placed,
    };
    let published = sink
        .publish(&PublishContext {
            set: &set,
            tags: &plan.tags,
            reporter: &skip,
            jobs: plan.jobs,
        })
        .await?;
    reporter.event(summary(
        &tally,
        &set,
        plan.image.repository.to_string(),
        &clients,
        started,
    ));
    Ok(RebaseOutput {
        reference: published.reference,
        digest: set.index.digest.clone(),
        media_type: set.index.media_type.clone(),
        platforms: platforms.iter().map(Platform::to_string).collect(),
        base: new_name,
        base_digest: new_base.digest.clone(),
        previous: opened.document.digest.clone(),
    })
}

fn list(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(Platform::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The old base's platform image for each platform of `image` (in its order), with the
/// name it was read under (for messages).
async fn old_bases(
    plan: &RebasePlan,
    image: &BaseImage,
    image_name: &str,
    clients: &crate::registry::Pool,
    work: &std::path::Path,
    reporter: &dyn Reporter,
) -> Result<Vec<(String, BasePlatform)>, OpsError> {
    if let Some(spec) = &plan.old_base {
        let name = spec.to_string();
        reporter.event(Event::StageStarted(Stage::Read {
            source: name.clone(),
        }));
        let opened = open(spec, clients, work).await?;
        let has = opened.platforms();
        let mut out = Vec::new();
        for p in &image.platforms {
            if !has.contains(&p.platform) {
                return Err(RebaseError::OldBaseLacksPlatform {
                    base: name,
                    image: image_name.to_string(),
                    platform: p.platform.to_string(),
                    available: list(&has),
                }
                .into());
            }
            out.push((name.clone(), platform_of(&opened, &p.platform).await?));
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    for p in &image.platforms {
        let reference = recorded_base(image_name, p)?;
        let name = reference.to_string();
        reporter.event(Event::StageStarted(Stage::Read {
            source: name.clone(),
        }));
        // A registry no flag named: its client (and credentials) is made now, before the
        // base stage asks for it.
        clients.get(&reference.repository.registry)?;
        let opened = open(&BaseSpec::Registry(reference), clients, work).await?;
        out.push((name, platform_of(&opened, &p.platform).await?));
    }
    Ok(out)
}

/// `base.name`'s repository at `base.digest`, from a platform manifest's annotations.
fn recorded_base(image_name: &str, p: &BasePlatform) -> Result<Reference, Box<RebaseError>> {
    let no_base = |why: &str| {
        Box::new(RebaseError::NoRecordedBase {
            image: image_name.to_string(),
            platform: p.platform.to_string(),
            why: why.to_string(),
        })
    };
    let annotations = p.manifest.annotations().clone().unwrap_or_default();
    let Some(digest) = annotations.get(annotation::BASE_DIGEST) else {
        return Err(no_base(if compose::is_docker(p) {
            "it is a Docker-format image, which has no annotations"
        } else {
            "its manifest has no org.opencontainers.image.base.digest annotation"
        }));
    };
    let Some(name) = annotations.get(annotation::BASE_NAME) else {
        return Err(no_base(
            "it was built on a base with no pullable name (an embedded base or a layout): org.opencontainers.image.base.name is not set",
        ));
    };
    let digest: Digest = digest.parse().map_err(|e| {
        no_base(&format!(
            "its org.opencontainers.image.base.digest `{digest}` is not a digest: {e}"
        ))
    })?;
    let reference: Reference = name.parse().map_err(|e| {
        no_base(&format!(
            "its org.opencontainers.image.base.name `{name}` is not a registry reference: {e}"
        ))
    })?;
    Ok(Reference {
        repository: reference.repository,
        tag: None,
        digest: Some(digest),
    })
}

/// The platform image of an opened base: a single manifest is taken as it is (its digest
/// was asked for), an index's entry for `platform` is loaded.
async fn platform_of(opened: &OpenedBase, platform: &Platform) -> Result<BasePlatform, OpsError> {
    if media::is_manifest(&opened.document.media_type) {
        let mut all = opened.load_all(true).await?;
        return Ok(all.remove(0));
    }
    let mut selected = opened.select(std::slice::from_ref(platform)).await?;
    Ok(selected.platforms.remove(0))
}
