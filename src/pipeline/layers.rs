//! The layer stage: one layer per platform's files, and one each for content shared by every
//! platform (the bundle, extra files), all built at once, from the cache where it can.

use crate::cache::Cache;
use crate::compile::{self, Artifact};
use crate::error::Error;
use crate::layer::{CacheOutcome, Layer, LayerEntry, LayerOptions, write_layer_cached};
use crate::oci::Platform;
use crate::plan::Plan;
use crate::report::{Event, LayerScope, LayerSource, Reporter, SharedContent, Stage};
use std::path::Path;

type LayerJob = tokio::task::JoinHandle<Result<(Layer, CacheOutcome), crate::layer::LayerError>>;

/// Every platform's layers, in image order: the shared layers, then its own.
pub(super) async fn build(
    plan: &Plan,
    platforms: &[Platform],
    artifacts: &[Artifact],
    work: &Path,
    cache: Option<&Cache>,
    reporter: &dyn Reporter,
) -> Result<Vec<(Platform, Vec<Layer>)>, Error> {
    let options = LayerOptions {
        mtime: plan.image.created,
        compression: plan.compression,
    };
    let shared_jobs = start_shared(plan, options, work, cache, reporter)?;
    let platform_jobs = start_platforms(artifacts, options, work, cache, reporter);
    let mut shared = Vec::new();
    for (scope, job) in shared_jobs {
        shared.push(finish(scope, job, reporter).await?);
    }
    let mut own = Vec::new();
    for (scope, job) in platform_jobs {
        own.push(finish(scope, job, reporter).await?);
    }
    Ok(platforms
        .iter()
        .map(|p| {
            let mine = artifacts
                .iter()
                .position(|a| &a.platform == p)
                .map(|i| own[i].clone());
            (p.clone(), shared.iter().cloned().chain(mine).collect())
        })
        .collect())
}

/// Platform-independent content — the --static bundle, then extra files (and kodata) — is
/// one layer each, built, compressed and uploaded once, and shared by every platform.
fn start_shared(
    plan: &Plan,
    options: LayerOptions,
    work: &Path,
    cache: Option<&Cache>,
    reporter: &dyn Reporter,
) -> Result<Vec<(LayerScope, LayerJob)>, Error> {
    let mut jobs = Vec::new();
    for (content, files) in [
        (
            SharedContent::Bundle,
            plan.bundle.iter().cloned().collect::<Vec<_>>(),
        ),
        (SharedContent::Files, plan.files.clone()),
    ] {
        if files.is_empty() {
            continue;
        }
        let entries = compile::files::entries(&files)?;
        let dests: Vec<String> = files.iter().map(|f| f.dest.clone()).collect();
        reporter.event(Event::StageStarted(Stage::LayerShared {
            content,
            dests: dests.clone(),
            entries: entries.len(),
        }));
        let created_by = format!("imgpush: add {}", dests.join(" "));
        jobs.push((
            LayerScope::EveryPlatform,
            spawn(entries, created_by, options, work, cache.cloned()),
        ));
    }
    Ok(jobs)
}

/// Each platform's own layer, started at the same time as the shared ones.
fn start_platforms(
    artifacts: &[Artifact],
    options: LayerOptions,
    work: &Path,
    cache: Option<&Cache>,
    reporter: &dyn Reporter,
) -> Vec<(LayerScope, LayerJob)> {
    artifacts
        .iter()
        .map(|artifact| {
            reporter.event(Event::StageStarted(Stage::LayerPlatform {
                platform: artifact.platform.clone(),
                dests: artifact.files.iter().map(|f| f.dest.clone()).collect(),
            }));
            let job = spawn(
                artifact.layer_entries(),
                artifact.description(),
                options,
                work,
                cache.cloned(),
            );
            (LayerScope::Platform(artifact.platform.clone()), job)
        })
        .collect()
}

fn spawn(
    entries: Vec<LayerEntry>,
    created_by: String,
    options: LayerOptions,
    dir: &Path,
    cache: Option<Cache>,
) -> LayerJob {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        write_layer_cached(entries, created_by, options, &dir, cache.as_ref())
    })
}

async fn finish(scope: LayerScope, job: LayerJob, reporter: &dyn Reporter) -> Result<Layer, Error> {
    let (layer, outcome) = job
        .await
        .expect("layer tasks do not panic")
        .map_err(|source| Error::Layer {
            platform: scope.to_string(),
            source,
        })?;
    let source = match outcome {
        CacheOutcome::Hit => LayerSource::Cache,
        CacheOutcome::Built => LayerSource::Built,
        CacheOutcome::Rebuilt(why) => LayerSource::Rebuilt { why },
        CacheOutcome::Uncached => LayerSource::Uncached,
    };
    reporter.event(Event::Layer {
        scope,
        digest: layer.digest.clone(),
        size: layer.size,
        diff_id: layer.diff_id.clone(),
        source,
    });
    Ok(layer)
}
