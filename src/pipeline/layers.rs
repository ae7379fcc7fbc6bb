//! The layer stage: one layer per platform's files, and one each for content shared by every
//! platform (the bundle, extra files), all built at once, from the cache where it can.

use crate::cache::Cache;
use crate::compile::{self, Artifact};
use crate::error::Error;
use crate::layer::{
    CacheOutcome, EntrySource, Layer, LayerEntry, LayerEntryKind, LayerOptions, write_layer_cached,
};
use crate::oci::Platform;
use crate::plan::Plan;
use crate::report::{Event, LayerScope, LayerSource, Reporter, SharedContent, Stage};
use std::path::Path;
use std::sync::Arc;

/// How much content a layer reads between two [`Event::LayerProgress`] events.
const PROGRESS_STEP: u64 = 256 << 10;

type LayerJob = tokio::task::JoinHandle<Result<(Layer, CacheOutcome), crate::layer::LayerError>>;

/// Every platform's layers, in image order: the shared layers, then its own.
pub(super) async fn build(
    plan: &Plan,
    platforms: &[Platform],
    artifacts: &[Artifact],
    work: &Path,
    cache: Option<&Cache>,
    reporter: &Arc<dyn Reporter>,
) -> Result<Vec<(Platform, Vec<Layer>)>, Error> {
    let options = LayerOptions {
        mtime: plan.image.created,
        compression: plan.compression,
    };
    let shared_jobs = start_shared(plan, options, work, cache, reporter)?;
    let platform_jobs = start_platforms(artifacts, options, work, cache, reporter);
    let mut shared = Vec::new();
    for (scope, job) in shared_jobs {
        shared.push(finish(scope, job, reporter.as_ref()).await?);
    }
    let mut own = Vec::new();
    for (scope, job) in platform_jobs {
        own.push(finish(scope, job, reporter.as_ref()).await?);
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
    reporter: &Arc<dyn Reporter>,
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
        let scope = LayerScope::EveryPlatform;
        let job = Job {
            entries,
            created_by,
            options,
            scope: scope.clone(),
        };
        jobs.push((scope, spawn(job, work, cache.cloned(), reporter.clone())));
    }
    Ok(jobs)
}

/// Each platform's own layer, started at the same time as the shared ones.
fn start_platforms(
    artifacts: &[Artifact],
    options: LayerOptions,
    work: &Path,
    cache: Option<&Cache>,
    reporter: &Arc<dyn Reporter>,
) -> Vec<(LayerScope, LayerJob)> {
    artifacts
        .iter()
        .map(|artifact| {
            reporter.event(Event::StageStarted(Stage::LayerPlatform {
                platform: artifact.platform.clone(),
                dests: artifact.files.iter().map(|f| f.dest.clone()).collect(),
            }));
            let scope = LayerScope::Platform(artifact.platform.clone());
            let job = Job {
                entries: artifact.layer_entries(),
                created_by: artifact.description(),
                options,
                scope: scope.clone(),
            };
            (scope, spawn(job, work, cache.cloned(), reporter.clone()))
        })
        .collect()
}

/// One layer to write.
struct Job {
    entries: Vec<LayerEntry>,
    created_by: String,
    options: LayerOptions,
    scope: LayerScope,
}

/// Writes the layer on a blocking thread, reporting its progress in content bytes.
fn spawn(job: Job, dir: &Path, cache: Option<Cache>, reporter: Arc<dyn Reporter>) -> LayerJob {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let total = content_size(&job.entries);
        let (done, sent) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0u64));
        let on_bytes = |n: u64| {
            done.set(done.get() + n);
            if done.get() - sent.get() >= PROGRESS_STEP || done.get() == total {
                sent.set(done.get());
                reporter.event(Event::LayerProgress {
                    scope: job.scope.clone(),
                    done: done.get(),
                    total,
                });
            }
        };
        write_layer_cached(
            job.entries,
            job.created_by,
            job.options,
            &dir,
            cache.as_ref(),
            &on_bytes,
        )
    })
}

/// The bytes of file content in `entries` (what a layer's progress counts); a file that
/// cannot be read counts 0 here and fails when it is layered.
fn content_size(entries: &[LayerEntry]) -> u64 {
    entries
        .iter()
        .map(|e| match &e.kind {
            LayerEntryKind::File(EntrySource::Bytes(b)) => b.len() as u64,
            LayerEntryKind::File(EntrySource::Path(p)) => {
                std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
            }
            _ => 0,
        })
        .sum()
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
