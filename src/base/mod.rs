//! Loads base images: from a registry, from an OCI layout directory, or from the specs in
//! `base-images/` (the embedded `static` is generated in-process). Only manifests and
//! configs are fetched here; layers stay where they are until publishing moves them.

mod location;
pub use location::BaseSpec;
mod archive;
pub mod debian;
pub mod embedded;
mod layout;
mod source;
pub mod spec;

use crate::image::{BaseImage, BasePlatform, BlobSource};
use crate::oci::{Digest, Platform, Reference, attestation, media};
use crate::registry::{Client, RegistryError};
use bytes::Bytes;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use source::BlobStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error("reading image {base}")]
    Registry {
        base: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("base image {base} has no {missing}; it has: {available}")]
    MissingPlatforms {
        base: String,
        missing: String,
        available: String,
    },
    #[error("unknown base image name `{name}` (known: {known})")]
    UnknownName { name: String, known: String },
    #[error("base image spec `{name}`: {message}")]
    Spec { name: String, message: String },
    #[error("building the embedded base `{name}`")]
    Generate {
        name: String,
        #[source]
        source: crate::layer::LayerError,
    },
    #[error("package base `{name}`")]
    Debian {
        name: String,
        #[source]
        source: Box<debian::DebianError>,
    },
    #[error("OCI layout {path}: {message}")]
    Layout { path: PathBuf, message: String },
    #[error("base image {base}: {message}")]
    Malformed { base: String, message: String },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BaseError {
    pub fn hint(&self) -> Option<String> {
        match self {
            BaseError::Registry { source, .. } => source.hint(),
            BaseError::MissingPlatforms { .. } => Some(
                "request only platforms the base has (--platform), or choose a base that has them (--base)".into(),
            ),
            BaseError::Debian { name, source } => source.hint(name),
            BaseError::UnknownName { name, .. } => Some(format!(
                "names come from base-images/; for an image on Docker Hub write docker.io/library/{name}:TAG"
            )),
            _ => None,
        }
    }
}

/// One platform entry of the base before its manifest is fetched.
#[derive(Clone, Debug)]
struct Entry {
    platform: Platform,
    /// The index entry (platform and annotations included), or a descriptor of the
    /// single manifest.
    descriptor: Descriptor,
}

/// A base whose top-level document is loaded: its platforms are known, nothing else fetched.
pub struct OpenedBase {
    pub name: Option<String>,
    /// Where its blobs are; the base reads manifests and configs from it too.
    store: Arc<BlobStore>,
    /// The top-level document exactly as stored (index, manifest list or manifest).
    pub document: crate::image::Document,
    entries: Vec<Entry>,
    /// Set when the base is a single manifest rather than an index: the manifest, the
    /// config's exact bytes and the config as JSON.
    single: Option<(ImageManifest, Bytes, serde_json::Value)>,
    /// For a package-built base: each platform's packages, from the lock (for the SBOM).
    packages: Vec<(Platform, Vec<crate::image::sbom::Component>)>,
}

/// What the pipeline needs to open a base: a client for a registry host.
pub trait ClientFor {
    fn client_for(&self, registry: &str) -> Arc<Client>;
}

impl ClientFor for crate::registry::Pool {
    fn client_for(&self, registry: &str) -> Arc<Client> {
        // The runs make every client they need (and report credential problems) before a
        // base is opened.
        self.get(registry)
            .expect("clients are created before the base is opened")
    }
}

/// What opening a package base needs beyond a registry client.
#[derive(Clone, Copy)]
pub struct OpenContext<'a> {
    /// Downloaded `.deb` files are kept here (by SHA-256).
    pub cache: Option<&'a crate::cache::Cache>,
    pub archive: &'a debian::ArchiveOverrides,
    pub reporter: &'a dyn crate::report::Reporter,
}

/// Opens the base named by `spec`: fetches its index (or single manifest and config).
pub async fn open(
    spec: &BaseSpec,
    clients: &dyn ClientFor,
    work: &Path,
    ctx: OpenContext<'_>,
) -> Result<OpenedBase, BaseError> {
    match spec {
        BaseSpec::Registry(reference) => open_registry(reference, clients).await,
        BaseSpec::Archive { file, tag, digest } => {
            let dir = unpack_dir(work, "oci-archive-")?;
            archive::unpack(file, &dir)?;
            let name = Some(format!("oci-archive:{}", file.display()));
            open_unpacked(name, file, &dir, tag.as_deref(), digest.as_ref()).await
        }
        BaseSpec::DockerArchive { file, id } => {
            let dir = unpack_dir(work, "docker-archive-")?;
            archive::docker_to_layout(file, id.as_ref(), &dir)?;
            let name = Some(format!("docker-archive:{}", file.display()));
            open_unpacked(name, file, &dir, None, None).await
        }
        BaseSpec::Layout { dir, tag, digest } => {
            let (desc, doc) = layout::lookup(dir, tag.as_deref(), digest.as_ref())?;
            let store = BlobStore::Layout(dir.clone());
            let digest = Digest::try_from(desc.digest()).map_err(|e| BaseError::Layout {
                path: dir.clone(),
                message: e.to_string(),
            })?;
            open_document(None, digest, desc.media_type().as_ref(), doc, store).await
        }
        BaseSpec::Named(name) => {
            let file = spec::find(name).ok_or_else(|| BaseError::UnknownName {
                name: name.clone(),
                known: spec::names().join(", "),
            })?;
            let lock = spec::embedded_lock(name).map(str::to_string);
            let lock_file = format!("base-images/{name}.lock (embedded)");
            open_spec(name, &file, lock, &lock_file, clients, work, ctx).await
        }
        BaseSpec::SpecFile(path) => {
            let (file, lock) = spec::read_file(path).map_err(|message| BaseError::Spec {
                name: path.display().to_string(),
                message,
            })?;
            let name = path.display().to_string();
            let lock_file = path.with_extension("lock").display().to_string();
            open_spec(&name, &file, lock, &lock_file, clients, work, ctx).await
        }
    }
}

/// Opens a base described by a spec: an alias, a generated base or a package base.
#[allow(clippy::too_many_arguments)]
async fn open_spec(
    name: &str,
    file: &spec::BaseSpecFile,
    lock: Option<String>,
    lock_file: &str,
    clients: &dyn ClientFor,
    work: &Path,
    ctx: OpenContext<'_>,
) -> Result<OpenedBase, BaseError> {
    if let Some(reference) = &file.reference {
        let reference: Reference = reference.parse().map_err(|e| BaseError::Spec {
            name: name.to_string(),
            message: format!("{e}"),
        })?;
        return open_registry(&reference, clients).await;
    }
    // Layers are labelled with the spec's name, never its path: the digest must not depend
    // on where the spec file sits.
    let label = spec::label(name);
    let mut packages = Vec::new();
    let dir = if let Some(generated) = &file.generated {
        embedded::generate(&label, generated, work)?
    } else if let Some(debian) = &file.debian {
        let dir = debian::generate(
            &label,
            debian,
            lock.as_deref(),
            lock_file,
            ctx.archive,
            ctx.cache,
            work,
            ctx.reporter,
        )
        .await
        .map_err(|source| BaseError::Debian {
            name: name.to_string(),
            source: Box::new(source),
        })?;
        // `generate` has just parsed and checked this lock and these platforms.
        let lock = debian::Lock::parse(lock.as_deref().unwrap_or_default())
            .expect("the lock was checked by generate");
        for arch in debian
            .arches()
            .expect("the platforms were checked by generate")
        {
            packages.push((arch.platform, debian::sbom::packages(&lock, &arch.debian)));
        }
        dir
    } else {
        return Err(BaseError::Spec {
            name: name.to_string(),
            message: "none of `reference`, `[generated]` or `[debian]` is set".into(),
        });
    };
    let (desc, doc) = layout::lookup(&dir, Some("latest"), None)?;
    let digest = Digest::try_from(desc.digest()).expect("we wrote this digest");
    // No base-name annotation: a generated base has no pullable reference.
    let mut opened =
        open_document(None, digest, media::OCI_INDEX, doc, BlobStore::Layout(dir)).await?;
    opened.packages = packages;
    Ok(opened)
}

/// A fresh directory under `work` to unpack an archive into.
fn unpack_dir(work: &Path, prefix: &str) -> Result<std::path::PathBuf, BaseError> {
    Ok(tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(work)
        .map_err(|source| BaseError::Io {
            path: work.to_path_buf(),
            source,
        })?
        .keep())
}

/// Opens the image of an archive unpacked into the layout `dir`.
async fn open_unpacked(
    name: Option<String>,
    file: &Path,
    dir: &Path,
    tag: Option<&str>,
    digest: Option<&Digest>,
) -> Result<OpenedBase, BaseError> {
    let (desc, doc) = layout::lookup(dir, tag, digest).map_err(|e| match e {
        BaseError::Layout { message, .. } => BaseError::Layout {
            path: file.to_path_buf(),
            message,
        },
        other => other,
    })?;
    let digest = Digest::try_from(desc.digest()).map_err(|e| BaseError::Layout {
        path: file.to_path_buf(),
        message: e.to_string(),
    })?;
    open_document(
        name,
        digest,
        desc.media_type().as_ref(),
        doc,
        BlobStore::Layout(dir.to_path_buf()),
    )
    .await
}

async fn open_registry(
    reference: &Reference,
    clients: &dyn ClientFor,
) -> Result<OpenedBase, BaseError> {
    let client = clients.client_for(&reference.repository.registry);
    let store = BlobStore::Registry {
        client: client.clone(),
        repo: reference.repository.clone(),
    };
    let fetched = client
        .get_manifest(&reference.repository.path, &reference.target())
        .await
        .map_err(|source| BaseError::Registry {
            base: reference.to_string(),
            source: Box::new(source),
        })?;
    open_document(
        Some(reference.to_string()),
        fetched.digest,
        &fetched.media_type,
        fetched.bytes,
        store,
    )
    .await
}

async fn open_document(
    name: Option<String>,
    digest: Digest,
    media_type: &str,
    bytes: Bytes,
    store: BlobStore,
) -> Result<OpenedBase, BaseError> {
    let base = name.clone().unwrap_or_else(|| store.describe());
    let document = crate::image::Document {
        digest,
        bytes: bytes.clone(),
        media_type: media_type.to_string(),
    };
    let malformed = |message: String| BaseError::Malformed {
        base: base.clone(),
        message,
    };
    if media::is_index(media_type) {
        let index: ImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| malformed(format!("the index is not valid: {e}")))?;
        let entries = index
            .manifests()
            .iter()
            .map(|d| Entry {
                // Attestations and entries without a platform are not something to run;
                // they are kept for copying, never selected.
                platform: attestation::entry_platform(d).unwrap_or_else(Platform::unknown),
                descriptor: d.clone(),
            })
            .collect();
        Ok(OpenedBase {
            name,
            store: Arc::new(store),
            document,
            entries,
            single: None,
            packages: Vec::new(),
        })
    } else if media::is_manifest(media_type) {
        let manifest: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| malformed(format!("the manifest is not valid: {e}")))?;
        let config_digest =
            Digest::try_from(manifest.config().digest()).map_err(|e| malformed(e.to_string()))?;
        let config_bytes = store
            .read_config(&config_digest, manifest.config().size())
            .await?;
        let config: serde_json::Value = serde_json::from_slice(&config_bytes)
            .map_err(|e| malformed(format!("the config is not JSON: {e}")))?;
        let field = |k: &str| config.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let platform = Platform::from_parts(
            &field("os").unwrap_or_else(|| "linux".into()),
            &field("architecture")
                .ok_or_else(|| malformed("the config has no architecture".into()))?,
            field("variant").as_deref(),
        );
        let descriptor = document.descriptor();
        Ok(OpenedBase {
            name,
            store: Arc::new(store),
            document,
            entries: vec![Entry {
                platform,
                descriptor,
            }],
            single: Some((manifest, config_bytes, config)),
            packages: Vec::new(),
        })
    } else {
        Err(malformed(format!(
            "unsupported media type `{media_type}` (expected an image index, manifest list or manifest)"
        )))
    }
}

impl OpenedBase {
    /// The runnable platforms, without attestations (what `--platform all` means and what
    /// "it has: …" lists).
    pub fn platforms(&self) -> Vec<Platform> {
        let mut out: Vec<Platform> = Vec::new();
        for e in &self.entries {
            if !e.platform.is_unknown() && !out.contains(&e.platform) {
                out.push(e.platform.clone());
            }
        }
        out
    }

    pub fn describe(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.store.describe())
    }

    /// The packages a package-built base installs for `platform`, as SBOM components
    /// (`pkg:deb`, from its lock); empty for every other kind of base, whose contents
    /// imgpush does not know.
    pub fn packages(&self, platform: &Platform) -> Vec<crate::image::sbom::Component> {
        self.packages
            .iter()
            .find(|(p, _)| p == platform)
            .map(|(_, c)| c.clone())
            .unwrap_or_default()
    }

    /// Where its blobs come from, for the images made of it.
    pub fn source(&self) -> Arc<dyn BlobSource> {
        self.store.clone()
    }

    /// The registry repository it was read from, for what its index does not list
    /// (referrers, `ops::referrers`).
    pub fn registry_repository(&self) -> Option<(Arc<Client>, &crate::oci::Repository)> {
        match self.store.as_ref() {
            BlobStore::Registry { client, repo } => Some((client.clone(), repo)),
            BlobStore::Layout(_) => None,
        }
    }

    /// The OCI layout directory it was read from (an archive's unpacked copy included),
    /// for what its index does not list (referrers).
    pub fn layout_dir(&self) -> Option<&Path> {
        match self.store.as_ref() {
            BlobStore::Registry { .. } => None,
            BlobStore::Layout(dir) => Some(dir),
        }
    }

    /// Loads manifest and config for each of `platforms`; any platform the base lacks is
    /// an error listing what the base has — never a silent drop.
    pub async fn select(&self, platforms: &[Platform]) -> Result<BaseImage, BaseError> {
        let missing: Vec<String> = platforms
            .iter()
            .filter(|p| p.is_unknown() || !self.entries.iter().any(|e| &e.platform == *p))
            .map(Platform::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(BaseError::MissingPlatforms {
                base: self.describe(),
                missing: missing.join(", "),
                available: self
                    .platforms()
                    .iter()
                    .map(Platform::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let loads = platforms.iter().map(|p| {
            let entry = self
                .entries
                .iter()
                .find(|e| &e.platform == p)
                .expect("checked above");
            self.load_entry(entry, true)
        });
        let selected = futures_util::future::try_join_all(loads).await?;
        Ok(BaseImage {
            name: self.name.clone(),
            digest: self.document.digest.clone(),
            platforms: selected,
        })
    }

    /// Loads every entry of the document, attestations included, in document order.
    /// Without `configs`, only manifests are fetched (what copying needs: configs are
    /// moved like layers); `config` is then `Null` and `config_bytes` empty.
    pub async fn load_all(&self, configs: bool) -> Result<Vec<BasePlatform>, BaseError> {
        futures_util::future::try_join_all(self.entries.iter().map(|e| self.load_entry(e, configs)))
            .await
    }

    /// Loads the attestation manifests that attest any of `images` (manifests only, as
    /// for copying), in document order.
    pub async fn attestations_of(&self, images: &[Digest]) -> Result<Vec<BasePlatform>, BaseError> {
        let attesting = self.entries.iter().filter(|e| {
            attestation::attested_digest(&e.descriptor).is_some_and(|d| images.contains(&d))
        });
        futures_util::future::try_join_all(attesting.map(|e| self.load_entry(e, false))).await
    }

    async fn load_entry(&self, entry: &Entry, configs: bool) -> Result<BasePlatform, BaseError> {
        let platform = &entry.platform;
        let malformed = |message: String| BaseError::Malformed {
            base: format!("{} ({platform})", self.describe()),
            message,
        };
        let manifest_digest =
            Digest::try_from(entry.descriptor.digest()).map_err(|e| malformed(e.to_string()))?;
        let manifest_media_type = entry.descriptor.media_type().to_string();
        let (manifest, manifest_bytes, config_bytes, config) = match &self.single {
            Some((m, cb, c)) => (
                m.clone(),
                self.document.bytes.clone(),
                cb.clone(),
                c.clone(),
            ),
            None => {
                if !media::is_manifest(&manifest_media_type) {
                    return Err(malformed(format!(
                        "the index entry is `{manifest_media_type}`, not an image manifest (nested indexes are not supported)"
                    )));
                }
                let bytes = self.store.read_manifest(&manifest_digest).await?;
                let manifest: ImageManifest = serde_json::from_slice(&bytes)
                    .map_err(|e| malformed(format!("the manifest is not valid: {e}")))?;
                let config_digest = Digest::try_from(manifest.config().digest())
                    .map_err(|e| malformed(e.to_string()))?;
                let (config_bytes, config) = if configs {
                    let config_bytes = self
                        .store
                        .read_config(&config_digest, manifest.config().size())
                        .await?;
                    // Attestation "configs" need not be JSON objects; only images are parsed.
                    let config =
                        serde_json::from_slice(&config_bytes).unwrap_or(serde_json::Value::Null);
                    if config.is_null() && !platform.is_unknown() {
                        return Err(malformed("the config is not JSON".into()));
                    }
                    (config_bytes, config)
                } else {
                    (Bytes::new(), serde_json::Value::Null)
                };
                (manifest, bytes, config_bytes, config)
            }
        };
        for layer in manifest.layers() {
            Digest::try_from(layer.digest())
                .map_err(|e| malformed(format!("layer digest: {e}")))?;
        }
        Ok(BasePlatform {
            platform: platform.clone(),
            descriptor: entry.descriptor.clone(),
            manifest_digest,
            manifest,
            manifest_bytes,
            config_bytes,
            config,
            source: self.source(),
        })
    }
}

/// Replaces a name from `base-images/` that stands for a registry reference with that
/// reference, so the pipeline knows up front which registries it will talk to.
pub fn expand_alias(spec: &BaseSpec) -> Result<BaseSpec, BaseError> {
    let BaseSpec::Named(name) = spec else {
        return Ok(spec.clone());
    };
    let file = spec::find(name).ok_or_else(|| BaseError::UnknownName {
        name: name.clone(),
        known: spec::names().join(", "),
    })?;
    match file.reference {
        Some(r) => Ok(BaseSpec::Registry(r.parse().map_err(
            |e: crate::oci::ReferenceError| BaseError::Spec {
                name: name.clone(),
                message: e.to_string(),
            },
        )?)),
        None => Ok(spec.clone()),
    }
}
