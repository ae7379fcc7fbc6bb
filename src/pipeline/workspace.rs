//! `cargo imgpush --workspace` (and repeated `-p`): every selected binary its own image,
//! all of them compiled by one cargo invocation per set of shared build settings (in the
//! usual case, one for the whole run: shared dependencies are compiled once per target),
//! then layered and published concurrently, `--jobs` images at a time.
//!
//! Each image goes through the same stages as `imgpush build` ([`super::prepare`] →
//! compile → [`super::finish`]); only the compile stage is shared. `imgpush resolve` builds
//! its references the same way ([`build_many`]). A compile failure fails
//! the run before anything is published, so no image is tagged for a build that did not
//! finish; a failure publishing one image names it.

use super::{BuildOutput, Prepared, attest, finish, prepare, run_compiler};
use crate::compile::{self, Artifact};
use crate::error::Error;
use crate::oci::Platform;
use crate::plan::{CargoPlan, Plan, Source, WorkspacePlan};
use crate::report::{Reporter, Stage, Tool};
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
    let labelled: Vec<(String, &Plan)> = plan
        .images
        .iter()
        .map(|i| (format!("{} (package {})", i.bin, i.package), &i.plan))
        .collect();
    let built = build_many(&labelled, plan.jobs, reporter).await?;
    Ok(WorkspaceOutput {
        images: plan
            .images
            .iter()
            .zip(built)
            .map(|(image, build)| WorkspaceImageOutput {
                package: image.package.clone(),
                bin: image.bin.clone(),
                build,
            })
            .collect(),
    })
}

/// Builds several plans (a workspace's images, `resolve`'s references): each prepared on
/// its own, the Cargo ones compiled together wherever one cargo invocation can build them
/// (the others each by itself), then each finished, `jobs` at a time. Errors name the
/// plan by its label. The outputs are in the order of `plans`.
pub(crate) async fn build_many(
    plans: &[(String, &Plan)],
    jobs: usize,
    reporter: Arc<dyn Reporter>,
) -> Result<Vec<BuildOutput>, Error> {
    let of = |i: usize, e: Error| Error::OfImage {
        image: plans[i].0.clone(),
        source: Box::new(e),
    };
    let mut ready: Vec<Prepared> = Vec::new();
    for (i, (_, plan)) in plans.iter().enumerate() {
        ready.push(
            prepare(plan, reporter.clone())
                .await
                .map_err(|e| of(i, e))?,
        );
    }
    let mut artifacts: Vec<Option<Vec<Artifact>>> = vec![None; plans.len()];
    let mut facts: Vec<attest::BuildFacts> = vec![Default::default(); plans.len()];
    for group in groups(plans, &ready) {
        let (built, used) = match group.as_slice() {
            [one] if cargo_plan(plans[*one].1).is_none() => {
                let r = &ready[*one];
                let (a, f) = super::compile(
                    plans[*one].1,
                    &r.platforms,
                    r.work.path(),
                    &r.clients,
                    r.reporter.clone(),
                )
                .await
                .map_err(|e| of(*one, e))?;
                (vec![a], f)
            }
            _ => compile_group(plans, &group, &ready, reporter.clone()).await?,
        };
        for (i, list) in group.into_iter().zip(built) {
            artifacts[i] = Some(list);
            facts[i] = used.clone();
        }
    }
    let finished = futures_util::stream::iter(
        plans
            .iter()
            .zip(ready)
            .zip(artifacts.into_iter().zip(facts))
            .enumerate()
            .map(|(i, (((_, plan), ready), (artifacts, facts)))| async move {
                let artifacts = artifacts.expect("every plan is in a group");
                finish(plan, ready, artifacts, facts)
                    .await
                    .map_err(|e| of(i, e))
            }),
    )
    .buffered(jobs.max(1))
    .collect::<Vec<_>>()
    .await;
    finished.into_iter().collect()
}

fn cargo_plan(plan: &Plan) -> Option<&CargoPlan> {
    match &plan.source {
        Source::Cargo(c) => Some(c),
        _ => None,
    }
}

/// The plans that one cargo invocation can build together: Cargo builds with the same
/// shared settings (workspace, profile, features, libc, builder, std, target directory…)
/// and the same platforms, whose packages share no binary name (cargo's `--bin NAME`
/// builds `NAME` in every selected package that has one, and both would be written to one
/// path); every other plan alone. Indices into `plans`, in order.
fn groups(plans: &[(String, &Plan)], ready: &[Prepared]) -> Vec<Vec<usize>> {
    type GroupKey<'a> = (CargoPlan, &'a [Platform]);
    let clash = |a: &CargoPlan, b: &CargoPlan| {
        a.package != b.package
            && (a.bins.iter().any(|x| b.package_bins.contains(x))
                || b.bins.iter().any(|x| a.package_bins.contains(x)))
    };
    let mut out: Vec<(Option<GroupKey>, Vec<usize>)> = Vec::new();
    for (i, (_, plan)) in plans.iter().enumerate() {
        let key = cargo_plan(plan).map(|c| (c.shared_settings(), ready[i].platforms.as_slice()));
        let fits = |(k, list): &&mut (Option<GroupKey>, Vec<usize>)| {
            key.is_some()
                && *k == key
                && list.iter().all(|&j| {
                    let (a, b) = (cargo_plan(plans[j].1), cargo_plan(plan));
                    !a.zip(b).is_some_and(|(a, b)| clash(a, b))
                })
        };
        match out.iter_mut().find(|g| fits(g)) {
            Some((_, list)) => list.push(i),
            None => out.push((key, vec![i])),
        }
    }
    out.into_iter().map(|(_, list)| list).collect()
}

/// One cargo invocation for the Cargo plans `group`, for every platform any of them needs.
async fn compile_group(
    plans: &[(String, &Plan)],
    group: &[usize],
    ready: &[Prepared],
    reporter: Arc<dyn Reporter>,
) -> Result<(Vec<Vec<Artifact>>, attest::BuildFacts), Error> {
    let first = plans[group[0]].1;
    let cargo_of = |i: usize| cargo_plan(plans[i].1).expect("a group of Cargo plans");
    // Grouped plans have the same platforms (see `groups`).
    let platforms = &ready[group[0]].platforms;
    let units = group
        .iter()
        .map(|&i| {
            let c = cargo_of(i);
            compile::cargo::Unit {
                package: c.package.clone(),
                bins: c.bins.clone(),
                dest: plans[i].1.dest.clone(),
            }
        })
        .collect();
    let cargo = compile::cargo::prepare_many(cargo_of(group[0]), units, &first.tools, platforms)?;
    let clients = &ready[group[0]].clients;
    let cargo = super::with_toolchain_cache(cargo, cargo_of(group[0]), clients, reporter.as_ref());
    let mut packages: Vec<String> = group.iter().map(|&i| cargo_of(i).package.clone()).collect();
    packages.sort();
    packages.dedup();
    let facts = attest::BuildFacts {
        tools: if group.iter().any(|&i| plans[i].1.provenance) {
            cargo.tools_used()
        } else {
            Vec::new()
        },
        built_with: if packages.len() > 1 {
            packages
        } else {
            Vec::new()
        },
    };
    let stage = Stage::Compile {
        tool: Tool::Cargo,
        platforms: platforms.clone(),
        summary: cargo.describe(),
    };
    let built = run_compiler(stage, reporter, Box::new(move |r| cargo.run_units(r))).await?;
    Ok((built, facts))
}
