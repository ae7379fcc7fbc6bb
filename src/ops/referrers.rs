//! Reading referrers (OCI 1.1 attachments: SBOMs, provenance) of an image's platform
//! manifests, wherever the image is: a registry (its referrers API; without one, the
//! referrers tag `sha256-<hex>`, as the distribution spec says), or an OCI layout or
//! archive (the referrers tag in index.json, as imgpush and regclient write it, and any
//! untagged manifest listed there whose `subject` is the image — oras' way). `imgpush
//! sbom` prints one document exactly; `inspect` lists them per platform.

use super::{OpsError, clients, open, work_dir};
use crate::base::OpenedBase;
use crate::oci::referrers::{self, ReferrerEntry};
use crate::oci::{Digest, Platform, Target, attestation, media};
use crate::plan::InspectPlan;
use crate::registry::RegistryError;
use crate::report::Reporter;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ReferrersError {
    #[error("reading the referrers of {subject} in {repository}")]
    Registry {
        repository: String,
        subject: Digest,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("reading the referrer {digest} from {repository}")]
    Document {
        repository: String,
        digest: Digest,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("reading the referrers in the OCI layout {path}: {message}")]
    Layout { path: PathBuf, message: String },
    #[error("the referrer {digest} is not an artifact manifest with a document: {message}")]
    NotAnArtifact { digest: Digest, message: String },
    #[error("{image} has SBOMs for several platforms ({platforms}); choose one with --platform")]
    PlatformRequired { image: String, platforms: String },
    #[error("{image} has no {wanted} SBOM for {platforms}{}", found_suffix(.found))]
    NoSbom {
        image: String,
        wanted: String,
        platforms: String,
        /// The artifact types that are attached, if any.
        found: Vec<String>,
    },
}

fn found_suffix(found: &[String]) -> String {
    if found.is_empty() {
        " (nothing is attached to it)".into()
    } else {
        format!(" (attached: {})", found.join(", "))
    }
}

impl ReferrersError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ReferrersError::Registry { source, .. } | ReferrersError::Document { source, .. } => {
                source.hint()
            }
            ReferrersError::NoSbom { .. } => Some(
                "`imgpush inspect REF` lists each platform's referrers; an image built with `--sbom none`, or before SBOMs were attached, has none".into(),
            ),
            _ => None,
        }
    }
}

pub use crate::image::sbom::SbomFormat;

/// What `imgpush sbom` reads: the image (as `inspect` takes it) and the format wanted
/// (`None`: SPDX if there is one, else CycloneDX).
pub struct SbomPlan {
    pub inspect: InspectPlan,
    pub format: Option<SbomFormat>,
}

/// An SBOM as attached: its exact bytes and where they were found.
#[derive(Clone, Debug)]
pub struct Sbom {
    pub platform: Platform,
    pub artifact_type: String,
    /// The artifact manifest's digest.
    pub referrer: Digest,
    pub document: Bytes,
}

/// The referrers of `subject` in the image `opened` came from.
pub(crate) async fn list(
    opened: &OpenedBase,
    subject: &Digest,
) -> Result<Vec<ReferrerEntry>, ReferrersError> {
    if let Some((client, repo)) = opened.registry_repository() {
        let err = |source| ReferrersError::Registry {
            repository: repo.to_string(),
            subject: subject.clone(),
            source: Box::new(source),
        };
        if let Some(listed) = client
            .referrers(&repo.path, subject, None)
            .await
            .map_err(err)?
        {
            return Ok(listed);
        }
        // No referrers API: the referrers tag; one that is missing or holds something
        // else means no referrers (distribution-spec, "Unavailable Referrers API").
        return Ok(
            match client
                .referrers_tag(&repo.path, subject)
                .await
                .map_err(err)?
            {
                Some(tag) => referrers::entries(&tag.bytes).unwrap_or_default(),
                None => Vec::new(),
            },
        );
    }
    match opened.layout_dir() {
        Some(dir) => layout_list(dir, subject),
        None => Ok(Vec::new()),
    }
}

/// The referrers of `subject` in an OCI layout: those in its referrers tag, then untagged
/// manifests whose `subject` it is.
fn layout_list(dir: &Path, subject: &Digest) -> Result<Vec<ReferrerEntry>, ReferrersError> {
    let err = |message: String| ReferrersError::Layout {
        path: dir.to_path_buf(),
        message,
    };
    let index: serde_json::Value = read_verified(dir, None, "index.json")
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("index.json: {e}")))
        .map_err(err)?;
    let listed = index
        .get("manifests")
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default();
    let tag = referrers::fallback_tag(subject);
    let name = |e: &serde_json::Value| {
        e.get("annotations")?
            .get(crate::oci::annotation::REF_NAME)?
            .as_str()
            .map(str::to_string)
    };
    let mut out: Vec<ReferrerEntry> = Vec::new();
    for raw in &listed {
        let Some(entry) = ReferrerEntry::from_json(raw) else {
            continue;
        };
        let entry_name = name(raw);
        if entry_name.as_deref() == Some(tag.as_str()) {
            let bytes = read_verified(dir, Some(&entry.digest), &tag).map_err(err)?;
            for r in referrers::entries(&bytes).unwrap_or_default() {
                if !out.iter().any(|o| o.digest == r.digest) {
                    out.push(r);
                }
            }
        } else if entry_name.is_none()
            && entry.media_type == media::OCI_MANIFEST
            && !out.iter().any(|o| o.digest == entry.digest)
            && let Some(found) = untagged_referrer(dir, entry, subject)
        {
            out.push(found);
        }
    }
    Ok(out)
}

/// An untagged manifest of index.json (oras lists each manifest it stores so) as a
/// referrer of `subject`, if its `subject` is that; unreadable ones are not referrers.
fn untagged_referrer(dir: &Path, entry: ReferrerEntry, subject: &Digest) -> Option<ReferrerEntry> {
    let bytes = read_verified(dir, Some(&entry.digest), "an untagged manifest").ok()?;
    let m: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    if m.pointer("/subject/digest")?.as_str()? != subject.as_str() {
        return None;
    }
    // What a referrers list would say of it (distribution-spec: the artifactType, else
    // the config's media type; the manifest's annotations).
    let listed = serde_json::json!({
        "mediaType": entry.media_type,
        "digest": entry.digest,
        "size": entry.size,
        "artifactType": m.get("artifactType").or_else(|| m.pointer("/config/mediaType")),
        "annotations": m.get("annotations"),
    });
    ReferrerEntry::from_json(&listed)
}

/// A file of the layout (`blobs/sha256/<hex>` for a digest), checked against the digest.
fn read_verified(dir: &Path, digest: Option<&Digest>, what: &str) -> Result<Vec<u8>, String> {
    let path = match digest {
        Some(d) => dir.join("blobs").join("sha256").join(d.hex()),
        None => dir.join(what),
    };
    let bytes = std::fs::read(&path).map_err(|e| format!("{what}: {}: {e}", path.display()))?;
    if let Some(d) = digest
        && &Digest::of(&bytes) != d
    {
        return Err(format!("{what}: {} does not hash to {d}", path.display()));
    }
    Ok(bytes)
}

/// The document a referrer holds: the one layer of its artifact manifest, verified.
pub(crate) async fn document(
    opened: &OpenedBase,
    referrer: &ReferrerEntry,
) -> Result<Bytes, ReferrersError> {
    let not_artifact = |message: String| ReferrersError::NotAnArtifact {
        digest: referrer.digest.clone(),
        message,
    };
    let registry = opened.registry_repository();
    let registry_err = |source| ReferrersError::Document {
        repository: registry
            .as_ref()
            .map(|(_, r)| r.to_string())
            .unwrap_or_default(),
        digest: referrer.digest.clone(),
        source: Box::new(source),
    };
    let layout_err = |dir: &Path, message| ReferrersError::Layout {
        path: dir.to_path_buf(),
        message,
    };
    let manifest = match (&registry, opened.layout_dir()) {
        (Some((client, repo)), _) => {
            client
                .get_manifest(&repo.path, &Target::Digest(referrer.digest.clone()))
                .await
                .map_err(registry_err)?
                .bytes
        }
        (None, Some(dir)) => Bytes::from(
            read_verified(dir, Some(&referrer.digest), "the referrer's manifest")
                .map_err(|m| layout_err(dir, m))?,
        ),
        (None, None) => {
            return Err(not_artifact(
                "the image has no storage to read it from".into(),
            ));
        }
    };
    let m: oci_spec::image::ImageManifest = serde_json::from_slice(&manifest)
        .map_err(|e| not_artifact(format!("not an image manifest ({e})")))?;
    let layer = match m.layers().as_slice() {
        [one] => one.clone(),
        layers => {
            return Err(not_artifact(format!(
                "it has {} layers, not one",
                layers.len()
            )));
        }
    };
    let digest = Digest::try_from(layer.digest()).map_err(|e| not_artifact(e.to_string()))?;
    match (&registry, opened.layout_dir()) {
        (Some((client, repo)), _) => client
            .get_blob_bytes(&repo.path, &digest, Some(layer.size()))
            .await
            .map_err(registry_err),
        (None, Some(dir)) => read_verified(dir, Some(&digest), "the document")
            .map(Bytes::from)
            .map_err(|m| layout_err(dir, m)),
        (None, None) => unreachable!("checked when reading the manifest"),
    }
}

/// `imgpush sbom`: the SBOM attached to one platform image of `plan.inspect.name`.
///
/// The platform: `--platform`, else the only platform, else the only platform that has an
/// SBOM of the wanted format; otherwise an error naming the platforms that have one. Of
/// several SBOMs of one platform (SPDX before CycloneDX without `--format`), the newest by
/// `org.opencontainers.image.created` wins, the one listed last among equals.
pub async fn sbom(plan: &SbomPlan, reporter: Arc<dyn Reporter>) -> Result<Sbom, OpsError> {
    let inspect = &plan.inspect;
    let clients = clients(&inspect.registry, &[&inspect.source], None, reporter)?;
    let work = work_dir()?;
    let opened = open(&inspect.source, &clients, work.path()).await?;
    let images: Vec<(Platform, Digest)> = opened
        .load_all(false)
        .await?
        .into_iter()
        .filter(|p| !attestation::is_attestation(&p.descriptor))
        .map(|p| (p.platform, p.manifest_digest))
        .collect();
    let candidates: Vec<&(Platform, Digest)> = match &inspect.platform {
        Some(want) => {
            let found: Vec<_> = images.iter().filter(|(p, _)| p == want).collect();
            if found.is_empty() {
                return Err(OpsError::NoSuchPlatform {
                    image: inspect.name.clone(),
                    platform: want.to_string(),
                    available: platform_names(images.iter().map(|(p, _)| p)),
                });
            }
            found
        }
        None => images.iter().collect(),
    };
    let formats: Vec<SbomFormat> = match plan.format {
        Some(f) => vec![f],
        None => vec![SbomFormat::Spdx, SbomFormat::CycloneDx],
    };
    let mut found_types: Vec<String> = Vec::new();
    let mut with_sbom: Vec<(&Platform, ReferrerEntry)> = Vec::new();
    for (platform, digest) in &candidates {
        let listed = list(&opened, digest).await?;
        for r in &listed {
            if let Some(t) = &r.artifact_type
                && !found_types.contains(t)
            {
                found_types.push(t.clone());
            }
        }
        if let Some(best) = formats
            .iter()
            .find_map(|f| newest(&listed, f.artifact_type()))
        {
            with_sbom.push((platform, best));
        }
    }
    let wanted = match plan.format {
        Some(f) => f.name(),
        None => "SPDX or CycloneDX",
    };
    let (platform, entry) = match with_sbom.len() {
        0 => {
            return Err(ReferrersError::NoSbom {
                image: inspect.name.clone(),
                wanted: wanted.to_string(),
                platforms: platform_names(candidates.iter().map(|(p, _)| p)),
                found: found_types,
            }
            .into());
        }
        1 => with_sbom.remove(0),
        _ => {
            return Err(ReferrersError::PlatformRequired {
                image: inspect.name.clone(),
                platforms: platform_names(with_sbom.iter().map(|(p, _)| *p)),
            }
            .into());
        }
    };
    let document = document(&opened, &entry).await?;
    Ok(Sbom {
        platform: platform.clone(),
        artifact_type: entry.artifact_type.clone().unwrap_or_default(),
        referrer: entry.digest,
        document,
    })
}

/// The newest referrer of `artifact_type` (by its created annotation; the last listed
/// among equals).
fn newest(listed: &[ReferrerEntry], artifact_type: &str) -> Option<ReferrerEntry> {
    listed
        .iter()
        .filter(|r| r.artifact_type.as_deref() == Some(artifact_type))
        .fold(None::<&ReferrerEntry>, |best, r| match best {
            Some(b) if b.created() > r.created() => Some(b),
            _ => Some(r),
        })
        .cloned()
}

/// An error and its causes on one line (for a warning).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

fn platform_names<'a>(platforms: impl Iterator<Item = &'a Platform>) -> String {
    platforms
        .map(Platform::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<ReferrersError> for OpsError {
    fn from(e: ReferrersError) -> OpsError {
        OpsError::Referrers(Box::new(e))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A listed referrer `n` of type `t`, created at `created`.
    pub(crate) fn entry(n: u8, t: &str, created: Option<&str>) -> ReferrerEntry {
        ReferrerEntry {
            media_type: media::OCI_MANIFEST.into(),
            digest: Digest::of(&[n]),
            size: 1,
            artifact_type: Some(t.into()),
            annotations: created
                .map(|c| [(crate::oci::annotation::CREATED.to_string(), c.to_string())].into())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn the_newest_of_a_type_wins_and_the_last_among_equals() {
        let listed = [
            entry(1, media::SPDX_JSON, Some("2024-01-01T00:00:00Z")),
            entry(2, media::SPDX_JSON, Some("2025-01-01T00:00:00Z")),
            entry(3, media::CYCLONEDX_JSON, Some("2026-01-01T00:00:00Z")),
            entry(4, media::SPDX_JSON, Some("2023-01-01T00:00:00Z")),
        ];
        assert_eq!(
            newest(&listed, media::SPDX_JSON).unwrap().digest,
            listed[1].digest
        );
        let equal = [
            entry(5, media::SPDX_JSON, None),
            entry(6, media::SPDX_JSON, None),
        ];
        assert_eq!(
            newest(&equal, media::SPDX_JSON).unwrap().digest,
            equal[1].digest
        );
        assert!(newest(&listed, media::IN_TOTO_JSON).is_none());
    }

    #[test]
    fn formats_by_name() {
        assert_eq!(SbomFormat::parse("spdx"), Some(SbomFormat::Spdx));
        assert_eq!(
            SbomFormat::parse("cyclonedx").unwrap().artifact_type(),
            media::CYCLONEDX_JSON
        );
        assert_eq!(SbomFormat::parse("SPDX"), None);
    }
}
