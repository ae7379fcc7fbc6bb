//! The documents of a rebased image. The old image's referrers describe the old manifests,
//! so each rebased platform manifest gets its own:
//!
//! - its SBOMs, moved (`image::sbom::Move`): the image's own components as the build
//!   recorded them (nothing was rebuilt), the new base as the ancestor. Only documents
//!   imgpush wrote are moved; any other (or none) is a warning, never a failure — the
//!   rebase itself is what was asked for.
//! - a SLSA provenance statement of the rebase (`REBASE_BUILD_TYPE`): the old platform
//!   manifest, the old and the new base, and the build's own statement (by digest) as
//!   resolved dependencies, so the chain from the source to the rebased image can be
//!   followed.
//!
//! A platform whose manifest did not change (rebased onto the base it is on) keeps its
//! referrers as they are and gets nothing new. Docker-format images cannot carry
//! referrers: by default they get none, and asking for them is refused.
//!
//! Deterministic: the documents are made from the manifests and the old documents only,
//! and are annotated with the image's own `created`, so a repeated rebase finds them in
//! place.

use super::{OpsError, RebaseError, RebasePlan, compose};
use crate::base::OpenedBase;
use crate::image::provenance::{self, PREDICATE_ANNOTATION, ProvenanceInput, Resource};
use crate::image::sbom::{BaseRef, Move, SbomFormat};
use crate::image::{Attachment, BaseImage, BasePlatform, ImageSet};
use crate::oci::referrers::ReferrerEntry;
use crate::oci::{Digest, Platform, annotation, media};
use crate::ops::referrers::{chain, document, list};
use crate::plan::BaseSpec;
use crate::report::{Event, Reporter};
use serde_json::json;
use std::collections::BTreeMap;

/// What the rebase knows of one platform: the image as it was, the base it was on (its
/// name as read), and the new base's platform image.
pub(super) struct Rebased<'a> {
    pub image: &'a BasePlatform,
    pub old_name: &'a str,
    pub old: &'a BasePlatform,
    pub new: &'a BasePlatform,
}

/// Where the old image's documents are and what the rebase was given.
pub(super) struct Context<'a> {
    pub plan: &'a RebasePlan,
    /// The old image, opened: its referrers are read from there.
    pub opened: &'a OpenedBase,
    /// The new base as recorded (`org.opencontainers.image.base.name`).
    pub new_name: &'a str,
    pub new_base: &'a BaseImage,
    pub reporter: &'a dyn Reporter,
}

/// Attaches moved SBOMs and a rebase provenance to each platform image of `set` whose
/// manifest changed.
pub(super) async fn attach(
    cx: &Context<'_>,
    set: &mut ImageSet,
    platforms: &[Rebased<'_>],
) -> Result<(), OpsError> {
    if cx.plan.sbom == Some(false) && cx.plan.provenance == Some(false) {
        return Ok(());
    }
    for r in platforms {
        let platform = &r.image.platform;
        let Some(to) = set
            .images
            .iter()
            .find(|i| &i.platform == platform)
            .map(|i| i.manifest.digest.clone())
        else {
            continue;
        };
        if to == r.image.manifest_digest {
            cx.reporter.event(Event::Detail(format!(
                "{platform}: the manifest is unchanged; its referrers stay as they are"
            )));
            continue;
        }
        // Docker schema2 cannot carry referrers: none by default, asking for one refused.
        let docker = compose::is_docker(r.image);
        if docker && (cx.plan.sbom == Some(true) || cx.plan.provenance == Some(true)) {
            return Err(RebaseError::AttachToDocker {
                image: cx.plan.image.to_string(),
                platform: platform.to_string(),
            }
            .into());
        }
        let (sbom, provenance) = (
            cx.plan.sbom.unwrap_or(!docker),
            cx.plan.provenance.unwrap_or(!docker),
        );
        if !sbom && !provenance {
            cx.reporter.event(Event::Detail(format!(
                "{platform}: a Docker-format image, which cannot carry referrers: no SBOM or provenance attached"
            )));
            continue;
        }
        let listed = match list(cx.opened, &r.image.manifest_digest).await {
            Ok(l) => l,
            Err(e) => {
                cx.reporter.event(Event::Warning(format!(
                    "{platform}: the old image's referrers could not be read ({}); the rebased image gets no moved SBOM",
                    chain(&e)
                )));
                Vec::new()
            }
        };
        // The image's own creation time, which the rebase keeps: what a build of the
        // same inputs annotates its documents with.
        let created = r
            .image
            .config
            .get("created")
            .and_then(|c| c.as_str())
            .map(str::to_string);
        if sbom {
            let mut moved = 0;
            for format in [SbomFormat::Spdx, SbomFormat::CycloneDx] {
                // The newest document of the format that can be moved (another tool's
                // newer SBOM does not hide imgpush's own).
                for entry in newest_first(&listed, format.artifact_type()) {
                    if let Some(doc) = move_sbom(cx, r, &to, format, &entry).await {
                        let mut a = Attachment::new(format.artifact_type(), doc);
                        if let Some(c) = entry.created().or(created.as_deref()) {
                            a = a.with_annotation(annotation::CREATED, c);
                        }
                        set.attach(platform, &a)?;
                        moved += 1;
                        break;
                    }
                }
            }
            if moved == 0 && !listed.iter().any(is_sbom) {
                cx.reporter.event(Event::Detail(format!(
                    "{platform}: the old image has no SBOM attached; none to move"
                )));
            }
        }
        if provenance {
            let statement = rebase_provenance(cx, r, &to, &listed).await;
            let mut a = Attachment::new(media::IN_TOTO_JSON, statement)
                .with_annotation(PREDICATE_ANNOTATION, provenance::PREDICATE_TYPE);
            if let Some(c) = &created {
                a = a.with_annotation(annotation::CREATED, c);
            }
            set.attach(platform, &a)?;
        }
    }
    Ok(())
}

/// The referrers of `artifact_type`, newest (`created`) first, ties broken by digest: the
/// same order whatever order the registry lists them in.
fn newest_first(listed: &[ReferrerEntry], artifact_type: &str) -> Vec<ReferrerEntry> {
    let mut of: Vec<ReferrerEntry> = listed
        .iter()
        .filter(|r| r.artifact_type.as_deref() == Some(artifact_type))
        .cloned()
        .collect();
    of.sort_by(|a, b| (b.created(), b.digest.as_str()).cmp(&(a.created(), a.digest.as_str())));
    of
}

fn is_sbom(r: &ReferrerEntry) -> bool {
    [SbomFormat::Spdx, SbomFormat::CycloneDx]
        .iter()
        .any(|f| r.artifact_type.as_deref() == Some(f.artifact_type()))
}

/// The new base as the moved SBOM's ancestor: the name recorded in the manifest and the
/// platform manifest's digest (as a build records it).
fn new_base_ref(cx: &Context<'_>, r: &Rebased<'_>) -> BaseRef {
    BaseRef {
        name: Some(cx.new_name.to_string()),
        digest: r.new.manifest_digest.clone(),
        packages: Vec::new(),
    }
}

/// One SBOM of the old platform image moved onto the new base, or `None` (with a warning
/// saying why) when it cannot be read or is not an imgpush document of that manifest.
async fn move_sbom(
    cx: &Context<'_>,
    r: &Rebased<'_>,
    to: &Digest,
    format: SbomFormat,
    entry: &ReferrerEntry,
) -> Option<Vec<u8>> {
    let platform = &r.image.platform;
    let warn = |why: String| {
        cx.reporter.event(Event::Warning(format!(
            "{platform}: the {} SBOM {} of the old image is not carried over: {why}; the rebased image has no {} SBOM",
            format.name(),
            entry.digest,
            format.name()
        )));
    };
    let doc = match document(cx.opened, entry).await {
        Ok(d) => d,
        Err(e) => {
            warn(chain(&e));
            return None;
        }
    };
    let to_move = Move {
        platform,
        from: &r.image.manifest_digest,
        to: to.clone(),
        base: new_base_ref(cx, r),
        tool: format!("imgpush-{}", env!("CARGO_PKG_VERSION")),
    };
    match format.rebase(&doc, &to_move) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            warn(e.to_string());
            None
        }
    }
}

/// The base the image was on, by platform manifest; named when it is in a registry (a
/// layout or archive given as `--old-base` is a path on this machine, which no statement
/// records).
fn old_base_resource(plan: &RebasePlan, r: &Rebased<'_>) -> Resource {
    let resource = Resource::named("oldBase").digest("sha256", r.old.manifest_digest.hex());
    match &plan.old_base {
        None | Some(BaseSpec::Registry(_)) => resource.annotate("reference", r.old_name),
        Some(_) => resource.annotate("local", true),
    }
}

/// The provenance statement of the rebase of one platform image.
async fn rebase_provenance(
    cx: &Context<'_>,
    r: &Rebased<'_>,
    to: &Digest,
    listed: &[ReferrerEntry],
) -> Vec<u8> {
    let plan = cx.plan;
    let repo = plan.image.repository.to_string();
    let mut deps = vec![
        Resource::named("image")
            .digest("sha256", r.image.manifest_digest.hex())
            .annotate("reference", format!("{repo}@{}", cx.opened.document.digest)),
        old_base_resource(plan, r),
        Resource::named("base")
            .digest("sha256", r.new.manifest_digest.hex())
            .annotate("reference", cx.new_name),
    ];
    // The statement of the build (or of an earlier rebase) the image came from.
    let built = listed.iter().filter(|e| {
        e.annotations.get(PREDICATE_ANNOTATION).map(String::as_str)
            == Some(provenance::PREDICATE_TYPE)
    });
    let built: Vec<ReferrerEntry> = built.cloned().collect();
    if let Some(entry) = newest_first(&built, media::IN_TOTO_JSON).into_iter().next() {
        match document(cx.opened, &entry).await {
            Ok(doc) => deps.push(
                Resource::named("image.provenance")
                    .digest("sha256", Digest::of(&doc).hex())
                    .annotate("referrer", entry.digest.to_string()),
            ),
            Err(e) => cx.reporter.event(Event::Warning(format!(
                "{}: the old image's provenance {} could not be read ({}); the rebase's provenance does not name it",
                r.image.platform,
                entry.digest,
                chain(&e)
            ))),
        }
    }
    let platforms: Vec<String> = cx
        .new_base
        .platforms
        .iter()
        .map(|p| p.platform.to_string())
        .collect();
    let mut parameters = BTreeMap::from([
        (
            "image".to_string(),
            json!(format!("{repo}@{}", cx.opened.document.digest)),
        ),
        ("base".to_string(), json!(cx.new_name)),
        ("platforms".to_string(), json!(platforms)),
        (
            "sbom".to_string(),
            json!(if plan.sbom == Some(false) {
                "none"
            } else {
                "keep"
            }),
        ),
    ]);
    if let Some(BaseSpec::Registry(old)) = &plan.old_base {
        parameters.insert("oldBase".into(), json!(old.to_string()));
    }
    provenance::render(&ProvenanceInput {
        name: repo,
        platform: Platform::clone(&r.image.platform),
        subject: to.clone(),
        build_type: provenance::REBASE_BUILD_TYPE,
        builder_version: env!("CARGO_PKG_VERSION").to_string(),
        parameters,
        dependencies: deps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::referrers::tests::entry;

    #[test]
    fn candidates_are_newest_first_and_ties_do_not_depend_on_listing_order() {
        let old = "2024-01-01T00:00:00Z";
        let new = "2025-01-01T00:00:00Z";
        let listed = vec![
            entry(1, media::SPDX_JSON, Some(old)),
            entry(2, media::SPDX_JSON, Some(new)),
            entry(3, media::SPDX_JSON, Some(new)),
            entry(4, media::CYCLONEDX_JSON, Some(new)),
        ];
        let order = |l: &[ReferrerEntry]| -> Vec<Digest> {
            newest_first(l, media::SPDX_JSON)
                .into_iter()
                .map(|e| e.digest)
                .collect()
        };
        let first = order(&listed);
        assert_eq!(first.len(), 3);
        assert_eq!(first[2], Digest::of(&[1]), "the older one last");
        let mut reversed = listed.clone();
        reversed.reverse();
        assert_eq!(order(&reversed), first);
    }
}
