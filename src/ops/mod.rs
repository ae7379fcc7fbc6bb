//! Commands over images that already exist — in a registry, an OCI layout or an OCI
//! archive: `inspect`, `copy`, `index create`, `rebase`, `outdated`, and `resolve` (which builds, then rewrites
//! YAML). They reuse the pipeline's stages: `base` reads images, `publish` writes them.

pub mod copy;
pub mod index;
pub mod inspect;
pub mod outdated;
pub mod rebase;
pub mod referrers;
pub mod resolve;

use crate::base::{self, OpenedBase};
use crate::image::{BasePlatform, ConfigBlob, Document, ImageSet, LayerRef, PlatformImage};
use crate::plan::{BaseSpec, Destination, RegistrySettings};
use crate::publish::{ArchiveSink, LayoutSink, RegistrySink, Sink};
use crate::registry::{Pool as Clients, PoolError, RegistryError};
use crate::report::{Event, Reporter, Summary, Tally};
use std::sync::Arc;

/// What can go wrong in these commands beyond reading and writing images.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("platform {platform} is in both {first} and {second}")]
    DuplicatePlatform {
        platform: String,
        first: String,
        second: String,
    },
    #[error("no platform images in the sources")]
    Empty,
    #[error("{image} has no {platform}; it has: {available}")]
    NoSuchPlatform {
        image: String,
        platform: String,
        available: String,
    },
    #[error("{reference}: not found (the registry has no such repository, tag or digest)")]
    NotFound {
        reference: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error(
        "creating a work directory in {path} (and in the working directory): set TMPDIR to a writable directory, e.g. a tmpfs or an emptyDir volume"
    )]
    WorkDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Base(#[from] base::BaseError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Referrers(Box<referrers::ReferrersError>),
    #[error(transparent)]
    Rebase(Box<rebase::RebaseError>),
}

impl OpsError {
    pub fn hint(&self) -> Option<String> {
        match self {
            OpsError::DuplicatePlatform { .. } => {
                Some("pass --replace to let the later source win, or leave one of them out".into())
            }
            OpsError::NotFound { .. } => Some(
                "check the repository name and the tag (`skopeo list-tags docker://REPO` lists the tags)".into(),
            ),
            OpsError::Base(e) => e.hint(),
            OpsError::Publish(e) => e.hint(),
            OpsError::Referrers(e) => e.hint(),
            OpsError::Rebase(e) => e.hint(),
            OpsError::Pool(PoolError::Registry { source, .. }) => source.hint(),
            _ => None,
        }
    }
}

/// A work directory for unpacked archives and downloads ($TMPDIR, else /tmp).
pub(crate) fn work_dir() -> Result<tempfile::TempDir, OpsError> {
    crate::cache::scratch_dir().map_err(|(path, source)| OpsError::WorkDir { path, source })
}

/// Clients for every registry these locations name: pull for sources, push for `dest`.
pub(crate) fn clients(
    settings: &RegistrySettings,
    sources: &[&BaseSpec],
    dest: Option<&Destination>,
    reporter: Arc<dyn Reporter>,
) -> Result<Clients, OpsError> {
    let mut clients = Clients::new(settings, reporter);
    if let Some(Destination::Registry(r)) = dest {
        clients.want(&r.repository, true);
    }
    let mut registries = Vec::new();
    for spec in sources {
        if let BaseSpec::Registry(r) = spec {
            clients.want(&r.repository, false);
            registries.push(r.repository.registry.clone());
        }
    }
    if let Some(Destination::Registry(r)) = dest {
        registries.push(r.repository.registry.clone());
    }
    // Credentials are looked up now, so their problems surface before any transfer.
    for r in registries {
        clients.get(&r)?;
    }
    Ok(clients)
}

/// Opens a location for reading (its top-level document only).
pub(crate) async fn open(
    spec: &BaseSpec,
    clients: &Clients,
    work: &std::path::Path,
) -> Result<OpenedBase, OpsError> {
    let archive = base::debian::ArchiveOverrides::from_env();
    let cache = clients.cache_dir().map(crate::cache::Cache::new);
    let ctx = base::OpenContext {
        cache: cache.as_ref(),
        archive: &archive,
        reporter: clients.reporter(),
    };
    match base::open(spec, clients, work, ctx).await {
        Err(base::BaseError::Registry { base, source }) if source.is_not_found() => {
            Err(OpsError::NotFound {
                reference: base,
                source,
            })
        }
        other => Ok(other?),
    }
}

/// A stored platform image as it is: exact manifest bytes; config and layers stay where
/// they live and are moved (mounted, streamed or copied) without being read.
pub(crate) fn platform_image(p: &BasePlatform) -> PlatformImage {
    PlatformImage {
        platform: p.platform.clone(),
        config: ConfigBlob::Stored(p.manifest.config().clone()),
        manifest: Document {
            bytes: p.manifest_bytes.clone(),
            digest: p.manifest_digest.clone(),
            media_type: p.descriptor.media_type().to_string(),
        },
        layers: p
            .manifest
            .layers()
            .iter()
            .cloned()
            .map(LayerRef::Base)
            .collect(),
        source: p.source.clone(),
        // Copies move the image, not what refers to it (left to `skopeo copy` / oras).
        referrers: Vec::new(),
    }
}

/// The sink for a destination, and the tags to write there.
pub(crate) fn sink(
    dest: &Destination,
    clients: &Clients,
    mtime: u64,
) -> Result<(Box<dyn Sink>, Vec<String>), OpsError> {
    Ok(match dest {
        Destination::Registry(r) => (
            Box::new(RegistrySink {
                client: clients.get(&r.repository.registry)?,
                repo: r.repository.clone(),
            }),
            r.tag.iter().cloned().collect(),
        ),
        Destination::Layout { dir, tag } => {
            (Box::new(LayoutSink { dir: dir.clone() }), vec![tag.clone()])
        }
        Destination::Archive { file, tag } => (
            Box::new(ArchiveSink {
                tarball: crate::plan::Tarball {
                    path: file.clone(),
                    kind: crate::plan::TarballKind::OciArchive,
                },
                mtime,
            }),
            vec![tag.clone()],
        ),
    })
}

/// Publishes a set to one destination; returns `DEST@digest`.
pub(crate) async fn publish(
    set: &ImageSet,
    dest: &Destination,
    clients: &Clients,
    jobs: usize,
    reporter: &dyn Reporter,
) -> Result<String, OpsError> {
    let (sink, tags) = sink(dest, clients, 0)?;
    let cx = crate::publish::PublishContext {
        set,
        tags: &tags,
        reporter,
        jobs,
    };
    Ok(sink.publish(&cx).await?.reference)
}

/// The [`Event::Summary`] of a copy or index creation that wrote `set` to `target`.
pub(crate) fn summary(
    tally: &Tally,
    set: &ImageSet,
    target: String,
    clients: &Clients,
    started: std::time::Instant,
) -> Event {
    Event::Summary(Summary {
        target,
        platforms: crate::pipeline::platform_count(set),
        layers_built: 0,
        layers_cached: 0,
        transfers: tally.transfers(),
        registry_requests: clients.requests(),
        elapsed: started.elapsed(),
    })
}
