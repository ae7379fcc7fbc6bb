//! `cargo imgpush --workspace` (and repeated `-p`): every selected binary its own image,
//! all of them compiled by one cargo invocation per set of shared build settings (in the
//! usual case, one for the whole run: shared dependencies are compiled once per target),
//! then layered and published concurrently, `--jobs` images at a time.
//!
//! Each image goes through the same stages as `imgpush build` ([`super::prepare`] →
//! compile → [`super::finish`]); only the compile stage is shared. A compile failure fails
//! the run before anything is published, so no image is tagged for a build that did not
//! finish; a failure publishing one image names it.

use super::{BuildOutput, Prepared, attest, finish, prepare};
use crate::compile::{self, Artifact};
use crate::error::Error;
use crate::oci::Platform;
use crate::plan::{CargoPlan, Source, WorkspaceImage, WorkspacePlan};
use crate::report::{Event, Reporter, Stage, Tool};
use futures_util::StreamExt;
use std::sync::Arc;

/// What `cargo imgpush --workspace --json` prints.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkspaceOutput {
    pub images: Vec<WorkspaceImageOutput>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkspaceImageOutput {
    pub package: String,
    pub bin: String,
    #[serde(flatten)]
    pub build: BuildOutput,
}

/// Builds and publishes every image of the plan; the outputs are in the plan's order.
pub async fn build_workspace(
    plan: &WorkspacePlan,
    reporter: Arc<dyn Reporter>,
) -> Result<WorkspaceOutput, Error> {
    let mut ready: Vec<Prepared> = Vec::new();
    for image in &plan.images {
        ready.push(
            prepare(&image.plan, reporter.clone())
                .await
                .map_err(|e| of_image(image, e))?,
        );
    }
    let mut artifacts: Vec<Option<Vec<Artifact>>> = vec![None; plan.images.len()];
    let mut facts: Vec<attest::BuildFacts> = vec![Default::default(); plan.images.len()];
    for group in groups(plan) {
        let (built, used) = compile_group(plan, &group, &ready, reporter.clone()).await?;
        for (i, mut list) in group.into_iter().zip(built) {
            // The group built the union of its images' platforms: each takes its own.
            list.retain(|a| ready[i].platforms.contains(&a.platform));
            artifacts[i] = Some(list);
            facts[i] = used.clone();
        }
    }
    let jobs = plan.jobs.max(1);
    let finished = futures_util::stream::iter(
        plan.images
            .iter()
            .zip(ready)
            .zip(artifacts.into_iter().zip(facts))
            .map(|((image, ready), (artifacts, facts))| async move {
                let artifacts = artifacts.expect("every image is in a group");
                finish(&image.plan, ready, artifacts, facts)
                    .await
                    .map(|build| WorkspaceImageOutput {
                        package: image.package.clone(),
                        bin: image.bin.clone(),
                        build,
                    })
                    .map_err(|e| of_image(image, e))
            }),
    )
    .buffered(jobs)
    .collect::<Vec<_>>()
    .await;
    let images = finished.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(WorkspaceOutput { images })
}

fn of_image(image: &WorkspaceImage, e: Error) -> Error {
    Error::OfImage {
        image: format!("{} (package {})", image.bin, image.package),
        source: Box::new(e),
    }
}

fn cargo_plan(image: &WorkspaceImage) -> &CargoPlan {
    match &image.plan.source {
        Source::Cargo(c) => c,
        _ => unreachable!("workspace images are Cargo builds"),
    }
}

/// The images that one cargo invocation can build together: the same build settings
/// (profile, features, libc, builder, std, target directory…), whatever the package and
/// binary. Indices into `plan.images`, in order.
fn groups(plan: &WorkspacePlan) -> Vec<Vec<usize>> {
    let mut out: Vec<(CargoPlan, Vec<usize>)> = Vec::new();
    for (i, image) in plan.images.iter().enumerate() {
        let key = cargo_plan(image).shared_settings();
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(i),
            None => out.push((key, vec![i])),
        }
    }
    out.into_iter().map(|(_, list)| list).collect()
}

/// One cargo invocation for the images `group`, for every platform any of them needs.
async fn compile_group(
    plan: &WorkspacePlan,
    group: &[usize],
    ready: &[Prepared],
    reporter: Arc<dyn Reporter>,
) -> Result<(Vec<Vec<Artifact>>, attest::BuildFacts), Error> {
    let first = &plan.images[group[0]];
    let mut platforms: Vec<Platform> = Vec::new();
    for &i in group {
        for p in &ready[i].platforms {
            if !platforms.contains(p) {
                platforms.push(p.clone());
            }
        }
    }
    platforms.sort();
    let units = group
        .iter()
        .map(|&i| {
            let image = &plan.images[i];
            let c = cargo_plan(image);
            compile::cargo::Unit {
                package: c.package.clone(),
                bins: c.bins.clone(),
                dest: image.plan.dest.clone(),
            }
        })
        .collect();
    let cargo =
        compile::cargo::prepare_many(cargo_plan(first), units, &first.plan.tools, &platforms)?;
    let facts = attest::BuildFacts {
        tools: if group.iter().any(|&i| plan.images[i].plan.provenance) {
            cargo.tools_used()
        } else {
            Vec::new()
        },
    };
    let stage = Stage::Compile {
        tool: Tool::Cargo,
        platforms: platforms.clone(),
        summary: cargo.describe(),
    };
    reporter.event(Event::StageStarted(stage.clone()));
    let r = reporter.clone();
    let built = tokio::task::spawn_blocking(move || cargo.run_units(r.as_ref()))
        .await
        .expect("the build task does not panic")?;
    reporter.event(Event::StageFinished(stage));
    Ok((built, facts))
}
