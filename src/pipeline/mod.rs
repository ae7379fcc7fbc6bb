//! One `imgpush build` run: plan → artifacts → base → layers → image set → sinks.

use crate::base;
use crate::build;
use crate::cache::Cache;
use crate::config::{BaseSpec, Plan, PlatformRequest, Source};
use crate::error::Error;
use crate::image::{ComposeInput, compose};
use crate::layer::{CacheOutcome, Layer, LayerOptions, write_layer_cached};
use crate::oci::{Digest, Platform};
use crate::publish::{ArchiveSink, LayoutSink, PublishContext, Published, RegistrySink, Sink};
use crate::registry::Pool;
use crate::report::Reporter;

use std::sync::Arc;

/// The result of a run, as printed with `--json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BuildOutput {
    /// Where the image went first: `REGISTRY/REPO` or `oci-layout:DIR`.
    pub repository: String,
    /// `REPOSITORY@sha256:…` — what `imgpush build` prints on stdout.
    pub reference: String,
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub tags: Vec<String>,
    pub platforms: Vec<PlatformOutput>,
    /// Every destination written, registry first.
    pub outputs: Vec<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PlatformOutput {
    pub platform: String,
    pub digest: Digest,
    pub size: u64,
}

/// Builds and pushes every plan at once (`imgpush resolve`: one per distinct `imgpush://`
/// reference); returns each key's `REPO@sha256:…`.
pub async fn build_each(
    plans: &std::collections::BTreeMap<String, Plan>,
    reporter: Arc<dyn Reporter>,
) -> Result<std::collections::BTreeMap<String, String>, Error> {
    let builds = plans.iter().map(|(key, plan)| {
        let reporter = reporter.clone();
        async move {
            reporter.step(&format!("building imgpush://{key}"));
            build(plan, reporter)
                .await
                .map(|out| (key.clone(), out.reference))
        }
    });
    Ok(futures_util::future::try_join_all(builds)
        .await?
        .into_iter()
        .collect())
}

/// Runs `imgpush build` for a plan.
pub async fn build(plan: &Plan, reporter: Arc<dyn Reporter>) -> Result<BuildOutput, Error> {
    let base_spec = base::resolve_alias(&plan.base)?;
    let mut clients = Pool::new(&plan.registry, reporter.clone());
    // Push scope first: some registries only read the first scope.
    if let Some(repo) = &plan.repo {
        clients.want(repo, true);
    }
    if let BaseSpec::Registry(r) = &base_spec {
        clients.want(&r.repository, false);
    }
    // Create every client now so that credential problems surface before any work, and
    // reach the target registry before building anything.
    if let Some(repo) = &plan.repo {
        let client = clients.get(&repo.registry)?;
        reporter.step(&format!("checking registry {}", repo.registry));
        client.base_url().await.map_err(|source| Error::Registry {
            registry: repo.registry.clone(),
            source: Box::new(source),
        })?;
    }
    if let BaseSpec::Registry(r) = &base_spec {
        clients.get(&r.repository.registry)?;
    }

    // Layer files live here until published ($TMPDIR, else /tmp).
    let work = tempfile::Builder::new()
        .prefix("imgpush-")
        .tempdir()
        .map_err(|source| Error::WorkDir {
            path: std::env::temp_dir(),
            source,
        })?;

    reporter.step(&format!("loading base image {}", describe_base(&base_spec)));
    let opened = base::open(&base_spec, &clients, work.path()).await?;
    let platforms = platforms(plan, &opened)?;
    if let Some(crate::config::Tarball {
        kind: crate::config::TarballKind::DockerArchive { .. },
        ..
    }) = &plan.tarball
        && platforms.len() != 1
    {
        return Err(crate::config::ConfigError::Conflict(format!(
            "--format docker-archive holds one platform, but {} are selected ({}); choose one with --platform",
            platforms.len(),
            platforms.iter().map(Platform::to_string).collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    let base_image = opened.select(&platforms).await?;

    let artifacts = match &plan.source {
        Source::Prebuilt(a) => build::prebuilt(a)?,
        Source::Static => Vec::new(),
        Source::Cargo(c) => {
            let cargo = build::cargo::prepare(c, &plan.tools, &platforms, &plan.dest)?;
            reporter.step(&cargo.describe());
            let reporter = reporter.clone();
            tokio::task::spawn_blocking(move || cargo.run(reporter.as_ref()))
                .await
                .expect("the build task does not panic")?
        }
        Source::Go(g) => {
            let go = build::go::prepare(
                g,
                &plan.tools,
                &platforms,
                &plan.dest,
                &work.path().join("go"),
            )?;
            reporter.step(&go.describe());
            tokio::task::spawn_blocking(move || go.run())
                .await
                .expect("the build task does not panic")?
        }
    };

    let options = LayerOptions {
        mtime: plan.image.created,
        compression: plan.compression,
    };
    let cache = plan.cache.as_ref().map(Cache::new);
    // Platform-independent content — the --static bundle, then extra files (and kodata) —
    // is one layer each, built, compressed and uploaded once, and shared by every platform.
    // Platform layers are built at the same time.
    let mut shared_jobs = Vec::new();
    for (what, files) in [
        ("bundle", plan.bundle.iter().cloned().collect::<Vec<_>>()),
        ("files", plan.files.clone()),
    ] {
        if files.is_empty() {
            continue;
        }
        let entries = build::files::entries(&files)?;
        let dests = files
            .iter()
            .map(|f| f.dest.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        reporter.step(&format!(
            "layering {what} for every platform: {dests} ({} entries)",
            entries.len()
        ));
        shared_jobs.push((
            "every platform".to_string(),
            spawn_layer(
                entries,
                format!("imgpush: add {dests}"),
                options,
                work.path(),
                cache.clone(),
            ),
        ));
    }
    let mut platform_jobs = Vec::new();
    for artifact in &artifacts {
        let dests = artifact
            .files
            .iter()
            .map(|f| f.dest.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        reporter.step(&format!("layering {}: {dests}", artifact.platform));
        platform_jobs.push((
            artifact.platform.to_string(),
            spawn_layer(
                artifact.layer_entries(),
                artifact.description(),
                options,
                work.path(),
                cache.clone(),
            ),
        ));
    }
    let mut shared = Vec::new();
    for (label, job) in shared_jobs {
        shared.push(finish_layer(&label, job, reporter.as_ref()).await?);
    }
    let mut own = Vec::new();
    for (label, job) in platform_jobs {
        own.push(finish_layer(&label, job, reporter.as_ref()).await?);
    }
    let layers: Vec<(Platform, Vec<Layer>)> = platforms
        .iter()
        .map(|p| {
            let mine = artifacts
                .iter()
                .position(|a| &a.platform == p)
                .map(|i| own[i].clone());
            (p.clone(), shared.iter().cloned().chain(mine).collect())
        })
        .collect();

    let set = compose(&ComposeInput {
        base: &base_image,
        layers: &layers,
        settings: &plan.image,
        format: plan.format,
    })?;

    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(repo) = &plan.repo {
        sinks.push(Box::new(RegistrySink {
            client: clients.get(&repo.registry)?,
            repo: repo.clone(),
        }));
    }
    if let Some(dir) = &plan.oci_layout {
        sinks.push(Box::new(LayoutSink { dir: dir.clone() }));
    }
    if let Some(tarball) = &plan.tarball {
        sinks.push(Box::new(ArchiveSink {
            tarball: tarball.clone(),
            mtime: plan.image.created,
        }));
    }
    let cx = PublishContext {
        set: &set,
        tags: &plan.tags,
        reporter: reporter.as_ref(),
        jobs: plan.jobs,
    };
    let mut published: Vec<Published> = Vec::new();
    for sink in &sinks {
        published.push(sink.publish(&cx).await?);
    }
    if let Some(cache) = &cache {
        // Everything is published: this run's pinned layers are no longer needed, and
        // keeping them pinned would stop the trim from removing them.
        cache.release_pins();
        match cache.evict(plan.cache_max) {
            Ok((0, _)) => {}
            Ok((n, bytes)) => reporter.detail(&format!(
                "cache: removed {n} least recently used entries ({})",
                crate::report::human_size(bytes)
            )),
            Err(e) => reporter.detail(&format!(
                "cache: could not trim {}: {e}",
                cache.root().display()
            )),
        }
    }
    let first = published
        .first()
        .expect("config always chooses at least one output")
        .clone();
    Ok(BuildOutput {
        repository: first.repository,
        reference: first.reference,
        digest: set.index.digest.clone(),
        media_type: set.index.media_type.clone(),
        tags: plan.tags.clone(),
        platforms: set
            .images
            .iter()
            .map(|i| PlatformOutput {
                platform: i.platform.to_string(),
                digest: i.manifest.digest.clone(),
                size: i.manifest.bytes.len() as u64,
            })
            .collect(),
        outputs: published.into_iter().map(|p| p.reference).collect(),
    })
}

type LayerJob = tokio::task::JoinHandle<Result<(Layer, CacheOutcome), crate::layer::LayerError>>;

fn spawn_layer(
    entries: Vec<crate::layer::LayerEntry>,
    created_by: String,
    options: LayerOptions,
    dir: &std::path::Path,
    cache: Option<Cache>,
) -> LayerJob {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        write_layer_cached(entries, created_by, options, &dir, cache.as_ref())
    })
}

async fn finish_layer(label: &str, job: LayerJob, reporter: &dyn Reporter) -> Result<Layer, Error> {
    let (layer, outcome) = job
        .await
        .expect("layer tasks do not panic")
        .map_err(|source| Error::Layer {
            platform: label.to_string(),
            source,
        })?;
    match outcome {
        CacheOutcome::Hit => reporter.step(&format!(
            "{label}: layer {} from the cache (nothing compressed)",
            layer.digest
        )),
        CacheOutcome::Rebuilt(why) => {
            reporter.step(&format!("{label}: damaged cache entry rebuilt: {why}"))
        }
        CacheOutcome::Built | CacheOutcome::Uncached => {}
    }
    reporter.detail(&format!(
        "{label}: layer {} ({} bytes, diff_id {})",
        layer.digest, layer.size, layer.diff_id
    ));
    Ok(layer)
}

/// The platforms to produce, sorted so index order never depends on flag order. A list
/// was decided by the plan; `all` is answered here, by the base.
fn platforms(plan: &Plan, opened: &base::OpenedBase) -> Result<Vec<Platform>, Error> {
    let mut out: Vec<Platform> =
        match (&plan.platforms, &plan.source) {
            (PlatformRequest::List(list), _) => list.clone(),
            (PlatformRequest::All, Source::Prebuilt(artifacts)) => {
                let has = opened.platforms();
                if let Some(a) = artifacts.iter().find(|a| !has.contains(&a.platform)) {
                    return Err(crate::config::ConfigError::Conflict(format!(
                    "--platform all: artifact {} is for {}, which base image {} lacks; it has: {}",
                    a.path.display(),
                    a.platform,
                    opened.describe(),
                    has.iter().map(Platform::to_string).collect::<Vec<_>>().join(", ")
                ))
                .into());
                }
                has.into_iter()
                    .filter(|p| artifacts.iter().any(|a| &a.platform == p))
                    .collect()
            }
            (PlatformRequest::All, source) => opened
                .platforms()
                .into_iter()
                .filter(|p| match source {
                    Source::Cargo(c) => build::rust_target(p, c.libc).is_some(),
                    Source::Go(_) => build::go::go_target(p).is_some(),
                    Source::Static | Source::Prebuilt(_) => true,
                })
                .collect(),
        };
    out.sort();
    Ok(out)
}

fn describe_base(spec: &BaseSpec) -> String {
    match spec {
        BaseSpec::Registry(r) => r.to_string(),
        BaseSpec::Layout { dir, .. } => format!("oci-layout:{}", dir.display()),
        BaseSpec::Archive { file, .. } => format!("oci-archive:{}", file.display()),
        BaseSpec::Named(n) => format!("{n} (embedded)"),
    }
}
