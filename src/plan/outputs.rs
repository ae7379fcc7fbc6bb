//! Where the image goes and in what form: repository and tags, OCI layout, tarball,
//! media types, compression, and the cache.

use super::cargo::CargoProject;
use super::low::{LowSettings, OutputFormat};
use super::origin::at;
use super::source::SourcePlan;
use super::values::expand_tag;
use super::{
    DEFAULT_LAYOUT_DIR, Dist, Environment, PlanError, PlatformRequest, Source, Tarball,
    TarballKind, Tools,
};
use crate::image::ImageFormat;
use crate::image::sbom::SbomFormat;
use crate::layer::Compression;
use crate::oci::Repository;
use std::path::PathBuf;

pub(crate) struct Outputs {
    pub repo: Option<Repository>,
    pub tags: Vec<String>,
    pub oci_layout: Option<PathBuf>,
    pub tarball: Option<Tarball>,
    pub dist: Option<Dist>,
    pub format: ImageFormat,
    pub sbom: Option<SbomFormat>,
    pub provenance: bool,
    pub compression: Compression,
    pub cache: Option<PathBuf>,
    pub cache_max: u64,
}

pub(crate) fn outputs(
    settings: &LowSettings,
    env: &Environment,
    tools: &Tools,
    project: Option<&CargoProject>,
    built: &SourcePlan,
) -> Result<Outputs, PlanError> {
    let version = project.map(|p| p.version.as_str());
    let git_sha = project.and_then(|p| p.git_sha.as_deref());
    let tags = match &settings.tags {
        None => vec!["latest".to_string()],
        Some(tags) => tags
            .value
            .iter()
            .map(|t| expand_tag(t, version, git_sha).map_err(at(&tags.origin, "tags")))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let repo = settings.repo.as_ref().map(|r| r.value.clone());

    let format = settings
        .format
        .as_ref()
        .map(|f| f.value)
        .unwrap_or(OutputFormat::Oci);
    let compression = settings
        .compression
        .as_ref()
        .map(|c| c.value)
        .unwrap_or_default();
    let media_types = match format {
        OutputFormat::Docker => ImageFormat::Docker,
        OutputFormat::Oci | OutputFormat::DockerArchive => ImageFormat::Oci,
    };
    if media_types == ImageFormat::Docker {
        if matches!(compression, Compression::Zstd { .. }) {
            return Err(PlanError::Conflict(
                "--compression zstd: Docker schema2 (--format docker) has no zstd layer type; use gzip, or the default OCI format".into(),
            ));
        }
        if !settings.annotations.is_empty() {
            return Err(PlanError::Conflict(
                "--annotation: Docker schema2 manifests (--format docker) have no annotations; use --label, or the default OCI format".into(),
            ));
        }
    }
    let (sbom, provenance) = attachments(settings, media_types)?;
    let tarball_path = settings.tarball.as_ref().map(|t| t.value.clone());
    let tarball = match (tarball_path, format == OutputFormat::DockerArchive) {
        (None, true) => {
            return Err(PlanError::Conflict(
                "--format docker-archive describes the --tarball FILE; give --tarball too".into(),
            ));
        }
        (None, false) => None,
        (Some(path), false) => Some(Tarball {
            path,
            kind: TarballKind::OciArchive,
        }),
        (Some(path), true) => Some(docker_archive_tarball(path, built, repo.as_ref(), &tags)?),
    };
    let oci_layout = match &settings.oci_layout {
        Some(d) => Some(d.value.clone()),
        None if repo.is_none() && tarball.is_none() => Some(match &built.source {
            Source::Cargo(c) => c.target_dir.join("imgpush").join(c.name()),
            _ => env.cwd.join(DEFAULT_LAYOUT_DIR),
        }),
        None => None,
    };
    let dist = match &settings.dist {
        Some(d) => Some(dist(d.value.clone(), built)?),
        None => None,
    };
    Ok(Outputs {
        repo,
        tags,
        oci_layout,
        tarball,
        dist,
        format: media_types,
        sbom,
        provenance,
        compression,
        cache: tools.cache_dir.clone().filter(|_| !settings.no_cache),
        cache_max: settings
            .cache_max
            .as_ref()
            .map(|c| c.value)
            .unwrap_or(crate::cache::DEFAULT_MAX_BYTES),
    })
}

/// The documents attached to each platform image: an SBOM in SPDX unless told otherwise,
/// and SLSA provenance; neither for Docker schema2, which cannot carry referrers (asking
/// for one there is a conflict, not a silent no).
fn attachments(
    settings: &LowSettings,
    format: ImageFormat,
) -> Result<(Option<SbomFormat>, bool), PlanError> {
    let docker = format == ImageFormat::Docker;
    let sbom = match &settings.sbom {
        Some(s) if docker && s.value.is_some() => {
            return Err(PlanError::Conflict(format!(
                "sbom = {} ({}): Docker schema2 manifests (--format docker) cannot have referrers, so no SBOM can be attached; use --sbom none, or the default OCI format",
                s.value.map(|f| f.name()).unwrap_or_default(),
                s.origin
            )));
        }
        Some(s) => s.value,
        None if docker => None,
        None => Some(SbomFormat::Spdx),
    };
    let provenance = match &settings.provenance {
        Some(p) if docker && p.value => {
            return Err(PlanError::Conflict(format!(
                "provenance = slsa ({}): Docker schema2 manifests (--format docker) cannot have referrers, so no provenance can be attached; use --provenance none, or the default OCI format",
                p.origin
            )));
        }
        Some(p) => p.value,
        None => !docker,
    };
    Ok((sbom, provenance))
}

/// `--dist DIR`: named after the package (or Go binary, or prebuilt file).
fn dist(dir: PathBuf, built: &SourcePlan) -> Result<Dist, PlanError> {
    let (name, version, docs) = match &built.source {
        Source::Cargo(c) => (
            c.package.clone(),
            Some(c.version.clone()),
            package_docs(
                c.manifest_path
                    .parent()
                    .unwrap_or(std::path::Path::new(".")),
            ),
        ),
        Source::Go(g) => (g.name.clone(), None, Vec::new()),
        Source::Prebuilt(_) => (image_name(&built.source, &built.dest), None, Vec::new()),
        Source::Bundle => {
            return Err(PlanError::Conflict(
                "--dist packs each platform's programs; a --static bundle is one layer shared by every platform (ship it with --tarball or --oci-layout)".into(),
            ));
        }
    };
    Ok(Dist {
        dir,
        name,
        version,
        docs,
    })
}

/// What cargo-dist and most release archives carry beside the binaries: the package's
/// README, LICENSE, COPYING and CHANGELOG files (top level, any extension).
fn package_docs(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_ascii_uppercase();
            ["README", "LICENSE", "LICENCE", "COPYING", "CHANGELOG"]
                .iter()
                .any(|p| name.starts_with(p))
        })
        .map(|e| e.path())
        .collect();
    docs.sort();
    docs
}

/// `--tarball FILE --format docker-archive`: one platform, named `REPO:TAG` for each tag.
fn docker_archive_tarball(
    path: PathBuf,
    built: &SourcePlan,
    repo: Option<&Repository>,
    tags: &[String],
) -> Result<Tarball, PlanError> {
    let one_platform = |tarball: &Tarball| match &built.platforms {
        PlatformRequest::List(l) => tarball.check_platforms(l),
        PlatformRequest::All => Ok(()),
    };
    let name = match repo {
        Some(r) => r.to_string(),
        None => format!("localhost/{}", image_name(&built.source, &built.dest)),
    };
    let tarball = Tarball {
        path,
        kind: TarballKind::DockerArchive {
            repo_tags: tags.iter().map(|t| format!("{name}:{t}")).collect(),
        },
    };
    one_platform(&tarball)?;
    Ok(tarball)
}

/// A short image name when there is no repository: the binary's (or bundle's) file name.
fn image_name(source: &Source, dest: &str) -> String {
    let name = match source {
        Source::Cargo(c) => c.name().to_string(),
        Source::Go(g) => g.name.clone(),
        _ => dest
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or("image")
            .to_string(),
    };
    repo_component(&name)
}

/// A name made fit for a repository path component: lowercase, other characters `-`.
pub(crate) fn repo_component(name: &str) -> String {
    name.to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
