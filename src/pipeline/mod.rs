//! One `imgpush build` run: plan → artifacts → base → layers → image set → sinks.

mod clients;

use crate::base;
use crate::build;
use crate::config::{BaseSpec, Plan, PlatformRequest, Source};
use crate::error::Error;
use crate::image::{ComposeInput, compose};
use crate::layer::{LayerOptions, write_layer};
use crate::oci::{Digest, Platform};
use crate::publish::{LayoutSink, PublishContext, Published, RegistrySink, Sink};
use crate::report::Reporter;
use clients::Clients;
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

/// Runs `imgpush build` for a plan.
pub async fn build(plan: &Plan, reporter: Arc<dyn Reporter>) -> Result<BuildOutput, Error> {
    let base_spec = base::resolve_alias(&plan.base)?;
    let clients = Clients::new(plan, &base_spec, reporter.clone());
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

    let work = match &plan.work_dir {
        Some(dir) => tempfile::Builder::new().prefix("imgpush-").tempdir_in(dir),
        None => tempfile::Builder::new().prefix("imgpush-").tempdir(),
    }
    .map_err(|source| Error::WorkDir {
        path: plan.work_dir.clone().unwrap_or_else(std::env::temp_dir),
        source,
    })?;

    reporter.step(&format!("loading base image {}", describe_base(&base_spec)));
    let opened = base::open(&base_spec, &clients, work.path()).await?;
    let platforms = platforms(plan, &opened)?;
    let base_image = opened.select(&platforms).await?;

    let artifacts = match &plan.source {
        Source::Prebuilt(a) => build::prebuilt(a)?,
        Source::Cargo(c) => {
            let cargo = build::cargo::prepare(c, &plan.tools, &platforms, &plan.dest)?;
            reporter.step(&cargo.describe());
            let reporter = reporter.clone();
            tokio::task::spawn_blocking(move || cargo.run(reporter.as_ref()))
                .await
                .expect("the build task does not panic")?
        }
    };

    let options = LayerOptions {
        mtime: plan.image.created,
        ..LayerOptions::default()
    };
    // Extra files are the same for every platform: one layer, built and uploaded once.
    let shared = if plan.files.is_empty() {
        None
    } else {
        let entries = build::files::entries(&plan.files)?;
        let dir = work.path().to_path_buf();
        let what = plan
            .files
            .iter()
            .map(|f| f.dest.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        reporter.step(&format!("layering extra files for every platform: {what}"));
        let layer = tokio::task::spawn_blocking(move || {
            write_layer(entries, format!("imgpush: add {what}"), options, &dir)
        })
        .await
        .expect("layer tasks do not panic")
        .map_err(|source| Error::Layer {
            platform: "every platform".into(),
            source,
        })?;
        Some(layer)
    };

    let mut handles = Vec::new();
    for platform in &platforms {
        let artifact = artifacts
            .iter()
            .find(|a| &a.platform == platform)
            .expect("every platform has an artifact")
            .clone();
        let dir = work.path().to_path_buf();
        reporter.step(&format!(
            "layering {platform}: {}",
            artifact
                .files
                .iter()
                .map(|f| f.dest.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        handles.push(tokio::task::spawn_blocking(move || {
            let layer = write_layer(
                artifact.layer_entries(),
                artifact.description(),
                options,
                &dir,
            );
            (artifact.platform, layer)
        }));
    }
    let mut layers = Vec::new();
    for h in handles {
        let (platform, layer) = h.await.expect("layer tasks do not panic");
        let layer = layer.map_err(|source| Error::Layer {
            platform: platform.to_string(),
            source,
        })?;
        reporter.detail(&format!(
            "{platform}: layer {} ({} bytes, diff_id {})",
            layer.digest, layer.size, layer.diff_id
        ));
        // Shared files first: they change less often than the program.
        layers.push((platform, shared.iter().cloned().chain([layer]).collect()));
    }

    let set = compose(&ComposeInput {
        base: &base_image,
        layers: &layers,
        settings: &plan.image,
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
    let cx = PublishContext {
        set: &set,
        base: &opened.store,
        tags: &plan.tags,
        reporter: reporter.as_ref(),
        jobs: plan.jobs,
    };
    let mut published: Vec<Published> = Vec::new();
    for sink in &sinks {
        published.push(sink.publish(&cx).await?);
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

/// The platforms to produce, sorted so index order never depends on flag order.
fn platforms(plan: &Plan, opened: &base::OpenedBase) -> Result<Vec<Platform>, Error> {
    let mut out: Vec<Platform> = match (&plan.platforms, &plan.source) {
        (PlatformRequest::List(list), _) => list.clone(),
        (PlatformRequest::FromArtifacts | PlatformRequest::All, Source::Prebuilt(a)) => {
            a.iter().map(|a| a.platform.clone()).collect()
        }
        (PlatformRequest::All, Source::Cargo(c)) => opened
            .platforms()
            .into_iter()
            .filter(|p| build::rust_target(p, c.libc).is_some())
            .collect(),
        (PlatformRequest::FromArtifacts, Source::Cargo(_)) => {
            unreachable!("config gives Rust builds an explicit platform list")
        }
    };
    out.sort();
    Ok(out)
}

fn describe_base(spec: &BaseSpec) -> String {
    match spec {
        BaseSpec::Registry(r) => r.to_string(),
        BaseSpec::Layout { dir, .. } => format!("oci-layout:{}", dir.display()),
        BaseSpec::Named(n) => format!("{n} (embedded)"),
    }
}
