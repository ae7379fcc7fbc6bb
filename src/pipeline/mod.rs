//! One `imgpush build` run: plan → registries checked → base → platforms → artifacts →
//! layers → image set → sinks → result. [`build`] is that row of stages, one function each.

mod attest;
mod layers;
mod toolchain_cache;
mod workspace;

pub use workspace::{WorkspaceImageOutput, WorkspaceOutput, build_workspace};

use crate::base::{self, OpenedBase};
use crate::cache::Cache;
use crate::compile::{self, Artifact};
use crate::error::Error;
use crate::image::{ComposeInput, ImageSet, compose};
use crate::oci::{Digest, Platform};
use crate::plan::{BaseSpec, Plan, PlatformRequest, Source};
use crate::publish::{ArchiveSink, LayoutSink, PublishContext, Published, RegistrySink, Sink};
use crate::registry::Pool;
use crate::report::{Event, Reporter, Stage, Summary, Tally, Tool};

use std::path::Path;
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
    /// `--dist DIR`: the release tarballs written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dist: Vec<DistOutput>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DistOutput {
    pub path: std::path::PathBuf,
    pub target: String,
    pub sha256: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PlatformOutput {
    pub platform: String,
    pub digest: Digest,
    pub size: u64,
}

/// Builds and pushes every plan (`imgpush resolve`: one per distinct `imgpush://`
/// reference), the Cargo ones that can be in one cargo invocation together; returns each
/// key's `REPO@sha256:…`.
pub async fn build_each(
    plans: &std::collections::BTreeMap<String, Plan>,
    reporter: Arc<dyn Reporter>,
) -> Result<std::collections::BTreeMap<String, String>, Error> {
    let labelled: Vec<(String, &Plan)> = plans
        .iter()
        .map(|(key, plan)| {
            reporter.event(Event::StageStarted(Stage::Resolve { key: key.clone() }));
            (key.clone(), plan)
        })
        .collect();
    let jobs = plans.values().map(|p| p.jobs).max().unwrap_or(4);
    let built = workspace::build_many(&labelled, jobs, reporter).await?;
    Ok(plans
        .keys()
        .cloned()
        .zip(built.into_iter().map(|out| out.reference))
        .collect())
}

/// Runs `imgpush build` for a plan; its last event is the run's [`Event::Summary`].
pub async fn build(plan: &Plan, reporter: Arc<dyn Reporter>) -> Result<BuildOutput, Error> {
    let ready = prepare(plan, reporter).await?;
    let (artifacts, facts) = compile(
        plan,
        &ready.platforms,
        ready.work.path(),
        &ready.clients,
        ready.reporter.clone(),
    )
    .await?;
    finish(plan, ready, artifacts, facts).await
}

/// A run up to the compile stage: registries reached, the base opened and its platforms
/// chosen.
struct Prepared {
    started: std::time::Instant,
    tally: Arc<Tally>,
    /// The run's reporter (counting through `tally`).
    pub reporter: Arc<dyn Reporter>,
    clients: Pool,
    pub work: tempfile::TempDir,
    cache: Option<Cache>,
    opened: OpenedBase,
    pub platforms: Vec<Platform>,
    base_image: crate::image::BaseImage,
}

async fn prepare(plan: &Plan, reporter: Arc<dyn Reporter>) -> Result<Prepared, Error> {
    let started = std::time::Instant::now();
    let tally = Arc::new(Tally::new(reporter));
    let reporter: Arc<dyn Reporter> = tally.clone();
    // Decided by the plan (aliases in `base-images/` already resolved).
    let base_spec = plan.base.clone();
    let clients = check_registries(plan, &base_spec, reporter.clone()).await?;
    let work = work_dir()?;
    let cache = plan.cache.as_ref().map(Cache::new);
    let opened = open_base(
        &base_spec,
        &clients,
        work.path(),
        cache.as_ref(),
        reporter.as_ref(),
    )
    .await?;
    let platforms = choose_platforms(plan, &opened)?;
    let base_image = opened.select(&platforms).await?;
    Ok(Prepared {
        started,
        tally,
        reporter,
        clients,
        work,
        cache,
        opened,
        platforms,
        base_image,
    })
}

/// From the compiled artifacts to the published image: layers, image set, attachments,
/// sinks, the cache trimmed, the summary.
async fn finish(
    plan: &Plan,
    ready: Prepared,
    artifacts: Vec<Artifact>,
    facts: attest::BuildFacts,
) -> Result<BuildOutput, Error> {
    let Prepared { reporter, work, .. } = &ready;
    let (cache, base_image) = (ready.cache.as_ref(), &ready.base_image);
    let dist = write_dist(plan, &artifacts, reporter.as_ref())?;
    let layers = layers::build(
        plan,
        &ready.platforms,
        &artifacts,
        work.path(),
        cache,
        reporter,
    )
    .await?;
    let mut set = compose(&ComposeInput {
        base: base_image,
        layers: &layers,
        settings: &plan.image,
        format: plan.format,
    })?;
    if let Some(format) = plan.sbom {
        attest::attach_sbom(
            plan,
            &mut set,
            base_image,
            &ready.opened,
            &artifacts,
            format,
        )?;
    }
    if plan.provenance {
        attest::attach_provenance(plan, &mut set, base_image, &artifacts, &facts)?;
    }
    let published = publish(plan, &set, &ready.clients, reporter.as_ref()).await?;
    if let Some(cache) = cache {
        trim_cache(plan, cache, reporter.as_ref());
    }
    let mut out = result(plan, &set, published);
    out.dist = dist;
    let tally = &ready.tally;
    let (layers_built, layers_cached) = tally.layers();
    reporter.event(Event::Summary(Summary {
        target: out.repository.clone(),
        platforms: platform_count(&set),
        layers_built,
        layers_cached,
        transfers: tally.transfers(),
        registry_requests: ready.clients.requests(),
        elapsed: ready.started.elapsed(),
    }));
    Ok(out)
}

/// Creates every registry client now, so that credential problems surface before any work,
/// and reaches the target registry before anything is built.
async fn check_registries(
    plan: &Plan,
    base_spec: &BaseSpec,
    reporter: Arc<dyn Reporter>,
) -> Result<Pool, Error> {
    let mut clients = Pool::new(&plan.registry, reporter.clone());
    // Push scope first: some registries only read the first scope.
    if let Some(repo) = &plan.repo {
        clients.want(repo, true);
    }
    if let BaseSpec::Registry(r) = base_spec {
        clients.want(&r.repository, false);
    }
    if let Source::Cargo(c) = &plan.source
        && let Some(cache) = &c.toolchain_cache
    {
        clients.want(cache, true);
    }
    if let Some(repo) = &plan.repo {
        let client = clients.get(&repo.registry)?;
        let stage = Stage::CheckRegistry {
            registry: repo.registry.clone(),
        };
        reporter.event(Event::StageStarted(stage.clone()));
        client.base_url().await.map_err(|source| Error::Registry {
            registry: repo.registry.clone(),
            source: Box::new(source),
        })?;
        reporter.event(Event::StageFinished(stage));
    }
    if let BaseSpec::Registry(r) = base_spec {
        clients.get(&r.repository.registry)?;
    }
    Ok(clients)
}

/// Layer files live here until published ($TMPDIR, else /tmp).
fn work_dir() -> Result<tempfile::TempDir, Error> {
    crate::cache::scratch_dir().map_err(|(path, source)| Error::WorkDir { path, source })
}

async fn open_base(
    spec: &BaseSpec,
    clients: &Pool,
    work: &Path,
    cache: Option<&Cache>,
    reporter: &dyn Reporter,
) -> Result<OpenedBase, Error> {
    let stage = Stage::LoadBase {
        base: describe_base(spec),
    };
    reporter.event(Event::StageStarted(stage.clone()));
    let archive = base::debian::ArchiveOverrides::from_env();
    let ctx = base::OpenContext {
        cache,
        archive: &archive,
        reporter,
    };
    let opened = base::open(spec, clients, work, ctx).await?;
    reporter.event(Event::StageFinished(stage));
    Ok(opened)
}

/// The platforms to produce, checked against the outputs (a docker-archive holds one).
fn choose_platforms(plan: &Plan, opened: &OpenedBase) -> Result<Vec<Platform>, Error> {
    let platforms = platforms(plan, opened)?;
    if let Some(tarball) = &plan.tarball {
        tarball.check_platforms(&platforms)?;
    }
    Ok(platforms)
}

/// A prepared compiler run, to be run off the async threads.
type CompileRun<T = Vec<Artifact>> =
    Box<dyn FnOnce(&dyn Reporter) -> Result<T, compile::CompileError> + Send>;

/// The files of each platform: given, compiled with cargo or go, or none (the bundle
/// only); and the tools that made them.
async fn compile(
    plan: &Plan,
    platforms: &[Platform],
    work: &Path,
    clients: &Pool,
    reporter: Arc<dyn Reporter>,
) -> Result<(Vec<Artifact>, attest::BuildFacts), Error> {
    let mut facts = attest::BuildFacts::default();
    let (tool, summary, run): (Tool, String, CompileRun) = match &plan.source {
        Source::Prebuilt(a) => return Ok((compile::prebuilt(a)?, facts)),
        Source::Bundle => return Ok((Vec::new(), facts)),
        Source::Cargo(c) => {
            let cargo = compile::cargo::prepare(c, &plan.tools, platforms, &plan.dest)?;
            let cargo = with_toolchain_cache(cargo, c, clients, reporter.as_ref());
            if plan.provenance {
                facts.tools = cargo.tools_used();
            }
            (
                Tool::Cargo,
                cargo.describe(),
                Box::new(move |r| cargo.run(r)),
            )
        }
        Source::Go(g) => {
            let go = compile::go::prepare(g, &plan.tools, platforms, &plan.dest, &work.join("go"))?;
            if plan.provenance {
                facts.tools = go.tools_used();
            }
            (Tool::Go, go.describe(), Box::new(move |r| go.run(r)))
        }
    };
    let stage = Stage::Compile {
        tool,
        platforms: platforms.to_vec(),
        summary,
    };
    Ok((run_compiler(stage, reporter, run).await?, facts))
}

/// The build with its toolchain cache (`--toolchain-cache`), when one is configured and
/// its client can be made (else a warning: the cache is never what fails a build).
fn with_toolchain_cache(
    cargo: compile::cargo::CargoBuild,
    plan: &crate::plan::CargoPlan,
    clients: &Pool,
    reporter: &dyn Reporter,
) -> compile::cargo::CargoBuild {
    let Some(repo) = &plan.toolchain_cache else {
        return cargo;
    };
    match clients.get(&repo.registry) {
        Ok(client) => cargo.with_shared_cache(Arc::new(
            toolchain_cache::RegistryToolchainCache::new(client, repo),
        )),
        Err(e) => {
            reporter.event(Event::Warning(format!(
                "toolchain cache {repo}: {e}; std and zig's cache are built here"
            )));
            cargo
        }
    }
}

/// Runs a prepared compiler off the async threads, inside its compile stage's events.
async fn run_compiler<T: Send + 'static>(
    stage: Stage,
    reporter: Arc<dyn Reporter>,
    run: CompileRun<T>,
) -> Result<T, Error> {
    reporter.event(Event::StageStarted(stage.clone()));
    let r = reporter.clone();
    let out = tokio::task::spawn_blocking(move || run(r.as_ref()))
        .await
        .expect("the build task does not panic")?;
    reporter.event(Event::StageFinished(stage));
    Ok(out)
}

/// Writes the image set to every output, registry first.
async fn publish(
    plan: &Plan,
    set: &ImageSet,
    clients: &Pool,
    reporter: &dyn Reporter,
) -> Result<Vec<Published>, Error> {
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
        set,
        tags: &plan.tags,
        reporter,
        jobs: plan.jobs,
    };
    let mut published = Vec::new();
    for sink in &sinks {
        published.push(sink.publish(&cx).await?);
    }
    Ok(published)
}

/// Everything is published: this run's pinned layers are no longer needed (keeping them
/// pinned would stop the trim from removing them), and the cache is trimmed to its limit.
fn trim_cache(plan: &Plan, cache: &Cache, reporter: &dyn Reporter) {
    cache.release_pins();
    match cache.evict(plan.cache_max) {
        Ok((0, _)) => {}
        Ok((entries, bytes)) => reporter.event(Event::CacheTrimmed { entries, bytes }),
        Err(e) => reporter.event(Event::CacheTrimFailed {
            dir: cache.root().to_path_buf(),
            error: e.to_string(),
        }),
    }
}

/// What `imgpush build` prints: the first output's reference, or all of it with `--json`.
fn result(plan: &Plan, set: &ImageSet, published: Vec<Published>) -> BuildOutput {
    let first = published
        .first()
        .expect("config always chooses at least one output")
        .clone();
    // The digest and media type of what the printed reference names.
    let (digest, media_type) = first
        .names
        .unwrap_or_else(|| (set.index.digest.clone(), set.index.media_type.clone()));
    BuildOutput {
        repository: first.repository,
        reference: first.reference,
        digest,
        media_type,
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
        dist: Vec::new(),
    }
}

/// `linux-amd64`, `linux-arm64`, `linux-arm-v7`: arm64's v8 (the only arm64 there is) is
/// left out; arm keeps its variant, since v6 and v7 binaries differ.
fn dist_target(p: &Platform) -> String {
    match p.variant.as_deref() {
        Some("v8") if p.architecture == "arm64" => format!("{}-{}", p.os, p.architecture),
        Some(v) => format!("{}-{}-{v}", p.os, p.architecture),
        None => format!("{}-{}", p.os, p.architecture),
    }
}

/// `--dist DIR`: each platform's programs as a release tarball, named by the Rust target
/// triple for cargo builds and `OS-ARCH[-VARIANT]` otherwise.
fn write_dist(
    plan: &Plan,
    artifacts: &[Artifact],
    reporter: &dyn Reporter,
) -> Result<Vec<DistOutput>, Error> {
    let Some(dist) = &plan.dist else {
        return Ok(Vec::new());
    };
    let target = |p: &Platform| match &plan.source {
        Source::Cargo(c) => compile::rust_target(p, c.libc)
            .map(str::to_string)
            .unwrap_or_else(|| dist_target(p)),
        _ => dist_target(p),
    };
    let programs: Vec<(String, &Artifact)> =
        artifacts.iter().map(|a| (target(&a.platform), a)).collect();
    let stage = Stage::WriteDist {
        dir: dist.dir.clone(),
    };
    reporter.event(Event::StageStarted(stage.clone()));
    let written = crate::publish::dist::write(dist, &programs, plan.image.created)?;
    reporter.event(Event::StageFinished(stage));
    Ok(written
        .into_iter()
        .map(|a| DistOutput {
            path: a.path,
            target: a.target,
            sha256: a.sha256.to_string(),
        })
        .collect())
}

/// The platform images of a set, for the summary (attestation manifests, whose platform
/// is `unknown/unknown`, are not platforms).
pub(crate) fn platform_count(set: &ImageSet) -> usize {
    set.images
        .iter()
        .filter(|i| !i.platform.is_unknown())
        .count()
}

/// The platforms to produce, sorted so index order never depends on flag order. A list
/// was decided by the plan; `all` is answered here, by the base.
fn platforms(plan: &Plan, opened: &OpenedBase) -> Result<Vec<Platform>, Error> {
    let mut out: Vec<Platform> =
        match (&plan.platforms, &plan.source) {
            (PlatformRequest::List(list), _) => list.clone(),
            (PlatformRequest::All, Source::Prebuilt(artifacts)) => {
                let has = opened.platforms();
                if let Some(a) = artifacts.iter().find(|a| !has.contains(&a.platform)) {
                    return Err(crate::plan::PlanError::Conflict(format!(
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
                    Source::Cargo(c) => compile::rust_target(p, c.libc).is_some(),
                    Source::Go(_) => compile::go::go_target(p).is_some(),
                    Source::Bundle | Source::Prebuilt(_) => true,
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
        BaseSpec::DockerArchive { file, .. } => format!("docker-archive:{}", file.display()),
        BaseSpec::Named(n) => format!("{n} (embedded)"),
        BaseSpec::SpecFile(p) => p.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_targets_name_the_variant_only_where_it_tells_something() {
        let t = |s: &str| dist_target(&s.parse::<Platform>().unwrap());
        assert_eq!(t("linux/amd64"), "linux-amd64");
        assert_eq!(t("linux/arm64"), "linux-arm64");
        assert_eq!(t("linux/arm64/v8"), "linux-arm64");
        assert_eq!(t("linux/arm/v7"), "linux-arm-v7");
        assert_eq!(t("linux/arm/v6"), "linux-arm-v6");
    }
}
