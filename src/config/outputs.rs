//! Where the image goes and in what form: repository and tags, OCI layout, tarball,
//! media types, compression, and the cache.

use super::source::SourcePlan;
use super::values::{expand_tag, invalid, parse_compression, parse_format, parse_repo};
use super::{
    BuildArgs, ConfigError, DEFAULT_LAYOUT_DIR, Environment, PlatformRequest, Source, Tarball,
    TarballKind, Tools,
};
use crate::image::ImageFormat;
use crate::layer::Compression;
use crate::oci::Repository;
use std::path::PathBuf;

pub(crate) struct Outputs {
    pub repo: Option<Repository>,
    pub tags: Vec<String>,
    pub oci_layout: Option<PathBuf>,
    pub tarball: Option<Tarball>,
    pub format: ImageFormat,
    pub compression: Compression,
    pub cache: Option<PathBuf>,
    pub cache_max: u64,
}

pub(crate) fn outputs(
    args: &BuildArgs,
    env: &Environment,
    tools: &Tools,
    built: &SourcePlan,
    has_annotations: bool,
    default_repo: Option<String>,
) -> Result<Outputs, ConfigError> {
    let settings = &built.settings;
    let raw_tags = if !args.tags.is_empty() {
        args.tags.clone()
    } else {
        settings
            .tags
            .clone()
            .unwrap_or_else(|| vec!["latest".to_string()])
    };
    let project = built.project.as_ref();
    let version = project.map(|p| p.version.as_str());
    let git_sha = project.and_then(|p| p.git_sha.as_deref());
    let tags = raw_tags
        .iter()
        .map(|t| expand_tag(t, version, git_sha))
        .collect::<Result<Vec<_>, _>>()?;
    let repo = args
        .repo
        .clone()
        .or(settings.repo.clone())
        .or(default_repo)
        .map(|r| parse_repo(&r))
        .transpose()?;

    let (format, docker_archive) =
        parse_format(args.format.as_deref().or(settings.format.as_deref()))?;
    let compression = parse_compression(
        args.compression
            .as_deref()
            .or(settings.compression.as_deref()),
    )?;
    if format == ImageFormat::Docker {
        if matches!(compression, Compression::Zstd { .. }) {
            return Err(ConfigError::Conflict(
                "--compression zstd: Docker schema2 (--format docker) has no zstd layer type; use gzip, or the default OCI format".into(),
            ));
        }
        if has_annotations {
            return Err(ConfigError::Conflict(
                "--annotation: Docker schema2 manifests (--format docker) have no annotations; use --label, or the default OCI format".into(),
            ));
        }
    }
    let tarball_path = match (&args.tarball, &settings.tarball) {
        (Some(t), _) => Some(env.cwd.join(t)),
        (None, Some(t)) => Some(PathBuf::from(t)),
        (None, None) => None,
    };
    let tarball = match (tarball_path, docker_archive) {
        (None, true) => {
            return Err(ConfigError::Conflict(
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
    let oci_layout = match (&args.oci_layout, &settings.oci_layout) {
        (Some(d), _) => Some(env.cwd.join(d)),
        (None, Some(d)) => Some(PathBuf::from(d)),
        (None, None) if repo.is_none() && tarball.is_none() => Some(match &built.source {
            Source::Cargo(c) => c.target_dir.join("imgpush").join(&c.bin),
            _ => env.cwd.join(DEFAULT_LAYOUT_DIR),
        }),
        (None, None) => None,
    };
    Ok(Outputs {
        repo,
        tags,
        oci_layout,
        tarball,
        format,
        compression,
        cache: tools.cache_dir.clone().filter(|_| !args.no_cache),
        cache_max: cache_max(env)?,
    })
}

/// `--tarball FILE --format docker-archive`: one platform, named `REPO:TAG` for each tag.
fn docker_archive_tarball(
    path: PathBuf,
    built: &SourcePlan,
    repo: Option<&Repository>,
    tags: &[String],
) -> Result<Tarball, ConfigError> {
    let count = match (&built.platforms, &built.source) {
        (PlatformRequest::List(l), _) => Some(l.len()),
        (PlatformRequest::FromArtifacts, Source::Prebuilt(a)) => Some(a.len()),
        _ => None,
    };
    if let Some(n) = count
        && n != 1
    {
        return Err(ConfigError::Conflict(format!(
            "--format docker-archive holds one platform, but {n} are requested; choose one with --platform (e.g. --platform linux/amd64)"
        )));
    }
    let name = match repo {
        Some(r) => r.to_string(),
        None => format!("localhost/{}", image_name(&built.source, &built.dest)),
    };
    Ok(Tarball {
        path,
        kind: TarballKind::DockerArchive {
            repo_tags: tags.iter().map(|t| format!("{name}:{t}")).collect(),
        },
    })
}

/// `IMGPUSH_CACHE_MAX_MB`, in bytes.
fn cache_max(env: &Environment) -> Result<u64, ConfigError> {
    match &env.cache_max_mb {
        None => Ok(crate::cache::DEFAULT_MAX_BYTES),
        Some(s) => s
            .trim()
            .parse::<u64>()
            .map(|mb| mb * 1024 * 1024)
            .map_err(|_| invalid("IMGPUSH_CACHE_MAX_MB", s, "must be a whole number of MiB")),
    }
}

/// A short image name when there is no repository: the binary's (or bundle's) file name.
fn image_name(source: &Source, dest: &str) -> String {
    let name = match source {
        Source::Cargo(c) => c.bin.clone(),
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
