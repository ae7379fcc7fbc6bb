//! `imgpush inspect`: what a reference really holds, platform by platform — like
//! `docker buildx imagetools inspect`, for registries, OCI layouts and OCI archives.

use super::{OpsError, clients, open, work_dir};
use crate::image::BasePlatform;
use crate::oci::{Digest, Platform, attestation};
use crate::report::Reporter;
use bytes::Bytes;
use serde::Serialize;
use std::sync::Arc;

pub use crate::plan::InspectPlan;

/// What `inspect --json` prints. Stable: documented in docs/user-guide.md.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    pub name: String,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    /// Bytes of the top-level document.
    pub size: u64,
    /// Entries of an index (or the one image of a single manifest), in document order,
    /// without the attestations.
    pub manifests: Vec<ManifestSummary>,
    /// Attestation manifests (buildx's SBOM and provenance), in document order; with
    /// `--platform`, those of that platform's image.
    pub attestations: Vec<AttestationSummary>,
    #[serde(skip)]
    pub raw: Bytes,
}

#[derive(Clone, Debug, Serialize)]
pub struct ManifestSummary {
    /// `os/arch[/variant]`; `unknown/unknown` for an entry without a platform.
    pub platform: String,
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Bytes of the manifest itself.
    pub size: u64,
    /// Sum of the (compressed) layer sizes: what a pull downloads at most.
    #[serde(rename = "compressedSize")]
    pub compressed_size: u64,
    pub layers: usize,
    pub created: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub user: Option<String>,
    /// OCI 1.1 referrers of this manifest (SBOMs, provenance, signatures), from the
    /// registry's referrers API or the referrers tag `sha256-<hex>`; in an OCI layout or
    /// archive, from its index.json.
    pub referrers: Vec<crate::oci::referrers::ReferrerEntry>,
    #[serde(skip)]
    pub raw: Bytes,
}

/// An attestation manifest: which image it is about and what it states.
#[derive(Clone, Debug, Serialize)]
pub struct AttestationSummary {
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Bytes of the manifest itself.
    pub size: u64,
    /// The image manifest it attests (`vnd.docker.reference.digest`), if the entry names one.
    pub subject: Option<Digest>,
    /// The `in-toto.io/predicate-type` of each statement (SPDX, SLSA provenance, …).
    #[serde(rename = "predicateTypes")]
    pub predicate_types: Vec<String>,
}

/// The layer annotation buildx gives each in-toto statement.
const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";

impl AttestationSummary {
    fn of(p: &BasePlatform) -> AttestationSummary {
        AttestationSummary {
            digest: p.manifest_digest.clone(),
            media_type: p.descriptor.media_type().to_string(),
            size: p.manifest_bytes.len() as u64,
            subject: attestation::attested_digest(&p.descriptor),
            predicate_types: p
                .manifest
                .layers()
                .iter()
                .filter_map(|l| l.annotations().as_ref()?.get(PREDICATE_TYPE).cloned())
                .collect(),
        }
    }
}

impl ManifestSummary {
    fn of(p: &BasePlatform) -> ManifestSummary {
        let config = p.config.get("config");
        let strings = |key: &str| -> Option<Vec<String>> {
            config?.get(key)?.as_array().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
        };
        ManifestSummary {
            platform: p.platform.to_string(),
            digest: p.manifest_digest.clone(),
            media_type: p.descriptor.media_type().to_string(),
            size: p.manifest_bytes.len() as u64,
            // Sizes come from the registry: a sum that would overflow is shown as the most.
            compressed_size: p
                .manifest
                .layers()
                .iter()
                .fold(0u64, |total, l| total.saturating_add(l.size())),
            layers: p.manifest.layers().len(),
            created: p
                .config
                .get("created")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            entrypoint: strings("Entrypoint"),
            cmd: strings("Cmd"),
            user: config
                .and_then(|c| c.get("User"))
                .and_then(|v| v.as_str())
                .filter(|u| !u.is_empty())
                .map(str::to_string),
            referrers: Vec::new(),
            raw: p.manifest_bytes.clone(),
        }
    }
}

pub async fn inspect(
    plan: &InspectPlan,
    reporter: Arc<dyn Reporter>,
) -> Result<Inspection, OpsError> {
    let clients = clients(&plan.registry, &[&plan.source], None, reporter.clone())?;
    let work = work_dir()?;
    let opened = open(&plan.source, &clients, work.path()).await?;
    let (attestations, mut platforms): (Vec<_>, Vec<_>) = opened
        .load_all(true)
        .await?
        .into_iter()
        .partition(|p| attestation::is_attestation(&p.descriptor));
    if let Some(want) = &plan.platform {
        platforms.retain(|p| &p.platform == want);
        if platforms.is_empty() {
            return Err(super::OpsError::NoSuchPlatform {
                image: plan.name.clone(),
                platform: want.to_string(),
                available: opened
                    .platforms()
                    .iter()
                    .map(Platform::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let shown: Vec<&Digest> = platforms.iter().map(|p| &p.manifest_digest).collect();
    let attestations = attestations
        .iter()
        .filter(|a| {
            plan.platform.is_none()
                || attestation::attested_digest(&a.descriptor).is_some_and(|d| shown.contains(&&d))
        })
        .map(AttestationSummary::of)
        .collect();
    let mut manifests: Vec<ManifestSummary> = platforms.iter().map(ManifestSummary::of).collect();
    for m in &mut manifests {
        // What refers to an image is not part of it: a registry that cannot list referrers
        // (an error answer, a broken referrers tag) still gets the image inspected.
        match super::referrers::list(&opened, &m.digest).await {
            Ok(found) => m.referrers = found,
            Err(e) => reporter.event(crate::report::Event::Warning(format!(
                "{}: {}",
                m.platform,
                super::referrers::chain(&e)
            ))),
        }
    }
    Ok(Inspection {
        name: plan.name.clone(),
        media_type: opened.document.media_type.clone(),
        digest: opened.document.digest.clone(),
        size: opened.document.bytes.len() as u64,
        manifests,
        attestations,
        raw: opened.document.bytes.clone(),
    })
}

impl Inspection {
    /// `--raw`: the exact bytes of the top-level document, or with `--platform` of that
    /// platform's manifest.
    pub fn raw_bytes(&self, platform_selected: bool) -> &Bytes {
        match (platform_selected, self.manifests.as_slice()) {
            (true, [one]) => &one.raw,
            _ => &self.raw,
        }
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Name:      {}\nMediaType: {}\nDigest:    {}\n",
            self.name, self.media_type, self.digest
        );
        if !self.manifests.is_empty() {
            out.push_str("\nManifests:\n");
        }
        for (i, m) in self.manifests.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let list = |v: &Option<Vec<String>>| match v {
                Some(v) => serde_json::to_string(v).expect("strings serialize"),
                None => "(none)".into(),
            };
            out.push_str(&format!(
                "  Platform:    {}\n  Digest:      {}\n  MediaType:   {}\n  Size:        {} ({} compressed in {} layer{})\n",
                m.platform,
                m.digest,
                m.media_type,
                m.compressed_size,
                crate::report::human_size(m.compressed_size),
                m.layers,
                if m.layers == 1 { "" } else { "s" }
            ));
            if m.platform != "unknown/unknown" {
                out.push_str(&format!(
                    "  Created:     {}\n  Entrypoint:  {}\n  Cmd:         {}\n  User:        {}\n",
                    m.created.as_deref().unwrap_or("(none)"),
                    list(&m.entrypoint),
                    list(&m.cmd),
                    m.user.as_deref().unwrap_or("(none)"),
                ));
            }
            for (i, r) in m.referrers.iter().enumerate() {
                out.push_str(&format!(
                    "  {}{} {} ({} bytes)\n",
                    if i == 0 {
                        "Referrers:   "
                    } else {
                        "             "
                    },
                    r.artifact_type.as_deref().unwrap_or("(no artifactType)"),
                    r.digest,
                    r.size
                ));
            }
        }
        if !self.attestations.is_empty() {
            out.push_str("\nAttestations:\n");
        }
        for a in &self.attestations {
            out.push_str(&format!("  {}", a.digest));
            if let Some(subject) = &a.subject {
                out.push_str(&format!(" for {subject}"));
            }
            if !a.predicate_types.is_empty() {
                out.push_str(&format!(" ({})", a.predicate_types.join(", ")));
            }
            out.push('\n');
        }
        out
    }
}
