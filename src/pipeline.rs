//! One `imgpush build` run: plan → artifacts → base → layers → image set → sinks.

use crate::base::{self, ClientFor};
use crate::build;
use crate::config::{BaseSpec, Plan, PlatformRequest};
use crate::error::Error;
use crate::image::{ComposeInput, compose};
use crate::layer::{LayerOptions, write_layer};
use crate::oci::{Digest, Platform};
use crate::publish::{LayoutSink, PublishContext, Published, RegistrySink, Sink};
use crate::registry::{Client, ClientConfig};
use crate::report::Reporter;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// One client per registry host, each asking for every scope this run needs there, so a
/// single token covers pushing the target and pulling (mounting from) the base.
struct Clients {
    plan: Plan,
    scopes: HashMap<String, Vec<String>>,
    made: Mutex<HashMap<String, Arc<Client>>>,
    reporter: Arc<dyn Reporter>,
}

impl Clients {
    fn new(plan: &Plan, base: &BaseSpec, reporter: Arc<dyn Reporter>) -> Self {
        let mut scopes: HashMap<String, Vec<String>> = HashMap::new();
        // Push scope first: some registries only read the first scope.
        if let Some(repo) = &plan.repo {
            scopes
                .entry(repo.registry.clone())
                .or_default()
                .push(format!("repository:{}:pull,push", repo.path));
        }
        if let BaseSpec::Registry(r) = base {
            let scope = format!("repository:{}:pull", r.repository.path);
            let list = scopes.entry(r.repository.registry.clone()).or_default();
            if !list
                .iter()
                .any(|s| s.starts_with(&format!("repository:{}:", r.repository.path)))
            {
                list.push(scope);
            }
        }
        Clients {
            plan: plan.clone(),
            scopes,
            made: Mutex::new(HashMap::new()),
            reporter,
        }
    }

    fn get(&self, registry: &str) -> Result<Arc<Client>, Error> {
        let mut made = self.made.lock().expect("not poisoned");
        if let Some(c) = made.get(registry) {
            return Ok(c.clone());
        }
        let config = ClientConfig {
            registry: registry.to_string(),
            insecure: self.plan.insecure_registries.iter().any(|h| h == registry),
            credential: self.plan.credentials.lookup(registry)?,
            scopes: self.scopes.get(registry).cloned().unwrap_or_default(),
            chunk_size: None,
        };
        let client = Arc::new(Client::new(config, self.reporter.clone()));
        made.insert(registry.to_string(), client.clone());
        Ok(client)
    }
}

impl ClientFor for Clients {
    fn client_for(&self, registry: &str) -> Arc<Client> {
        // Credentials were looked up (and errors reported) before the base is opened.
        self.get(registry)
            .expect("clients are created before the base is opened")
    }
}

/// Runs `imgpush build` for a plan.
pub async fn build(plan: &Plan, reporter: Arc<dyn Reporter>) -> Result<BuildOutput, Error> {
    let artifacts = build::prebuilt(&plan.artifacts)?;

    let base_spec = base::resolve_alias(&plan.base)?;
    let clients = Clients::new(plan, &base_spec, reporter.clone());
    // Create every client now so that credential problems surface before any work, and
    // reach the target registry before layering anything.
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
    let mut platforms: Vec<Platform> = match &plan.platforms {
        PlatformRequest::List(list) => list.clone(),
        PlatformRequest::FromArtifacts | PlatformRequest::All => {
            artifacts.iter().map(|a| a.platform.clone()).collect()
        }
    };
    // Index order must not depend on flag order.
    platforms.sort();
    let base_image = opened.select(&platforms).await?;

    let mut handles = Vec::new();
    for platform in &platforms {
        let artifact = artifacts
            .iter()
            .find(|a| &a.platform == platform)
            .expect("config checked that every platform has an artifact")
            .clone();
        let dir = work.path().to_path_buf();
        let options = LayerOptions {
            mtime: plan.image.created,
            ..LayerOptions::default()
        };
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
        layers.push((platform, vec![layer]));
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

fn describe_base(spec: &BaseSpec) -> String {
    match spec {
        BaseSpec::Registry(r) => r.to_string(),
        BaseSpec::Layout { dir, .. } => format!("oci-layout:{}", dir.display()),
        BaseSpec::Named(n) => format!("{n} (embedded)"),
    }
}
