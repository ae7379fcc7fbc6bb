//! What to build: `--static`, `--go`, artifacts, a Cargo project, or a Go main package in
//! PATH (most explicit first), for which platforms, where the program goes in the image,
//! and the extra files that ride along.

use super::artifacts::{self, absolute_in_image};
use super::cargo::{self, CargoProject, cargo_plan};
use super::file::Platforms;
use super::go;
use super::values::{invalid, parse_owner, parse_platforms};
use super::{
    BuildArgs, ConfigError, Environment, ExtraFile, FileConfig, PlatformRequest, Source, Tools,
};
use std::path::{Path, PathBuf};

/// Where ko's `kodata/` goes, and `KO_DATA_PATH` says so.
pub(crate) const KO_DATA_PATH: &str = "/var/run/ko";

/// The build side of a plan, and the settings it was decided with.
pub(crate) struct SourcePlan {
    pub project: Option<CargoProject>,
    /// `imgpush.toml` over the Cargo metadata settings.
    pub settings: FileConfig,
    pub platforms: PlatformRequest,
    pub source: Source,
    pub dest: String,
    pub bundle: Option<ExtraFile>,
    pub files: Vec<ExtraFile>,
    /// A Go package shipped its `kodata/` (set `KO_DATA_PATH`).
    pub kodata: bool,
}

pub(crate) fn resolve_source(
    args: &BuildArgs,
    env: &Environment,
    context: &Path,
    file: FileConfig,
    tools: &Tools,
) -> Result<SourcePlan, ConfigError> {
    let static_dir = args
        .static_dir
        .as_ref()
        .map(|d| env.cwd.join(d))
        .or(file.static_dir.as_ref().map(PathBuf::from));
    let go_import = args.go.clone();
    let explicit = static_dir.is_some()
        || go_import.is_some()
        || !args.artifacts.is_empty()
        || file.artifacts.is_some();
    let project = match cargo::manifest_for(&args.cargo, context, env) {
        Some(manifest) if !explicit => Some(cargo::load(&args.cargo, &manifest, env, tools)?),
        _ => None,
    };
    let settings = match &project {
        Some(p) => file.over(p.settings.clone()),
        None => file,
    };

    let platforms = match (&args.platform, &settings.platforms) {
        (Some(p), _) => parse_platforms(&Platforms::One(p.clone()))?,
        (None, Some(p)) => parse_platforms(p)?,
        // Builds and bundles default to the two platforms nearly everyone ships.
        (None, None)
            if project.is_some() || static_dir.is_some() || go_import.is_some() || !explicit =>
        {
            PlatformRequest::List(vec!["linux/amd64".parse()?, "linux/arm64".parse()?])
        }
        (None, None) => PlatformRequest::FromArtifacts,
    };

    let dest_flag = args.dest.clone().or(settings.dest.clone());
    let ldflags = args.ldflags.clone().or(settings.ldflags.clone());
    let go_tags = args.go_tags.clone().or(settings.go_tags.clone());
    let mut go_package_dir: Option<PathBuf> = None;
    let mut bundle: Option<ExtraFile> = None;
    let source = if let Some(dir) = &static_dir {
        bundle = Some(static_bundle(dir, dest_flag.as_deref(), args, &settings)?);
        Source::Static
    } else if let Some(import) = &go_import {
        let g = go::from_import_path(import, context, ldflags, go_tags)?;
        go_package_dir = g.package_dir;
        Source::Go(g.plan)
    } else if let Some(p) = &project {
        Source::Cargo(Box::new(cargo_plan(args, &settings, p)?))
    } else if !args.artifacts.is_empty() || settings.artifacts.is_some() {
        let raw = raw_artifacts(args, env, &settings)?;
        Source::Prebuilt(artifacts::prebuilt(raw, &platforms, dest_flag.as_deref())?)
    } else if let Some(g) = go::detect(context, ldflags, go_tags)? {
        go_package_dir = g.package_dir;
        Source::Go(g.plan)
    } else {
        return Err(ConfigError::Nothing(format!(
            "no --artifact, --static or --go given, and {} holds no Cargo.toml or Go main package",
            context.display()
        )));
    };
    let dest = match &source {
        Source::Prebuilt(a) => a[0].dest.clone(),
        Source::Static => bundle.as_ref().map(|b| b.dest.clone()).unwrap_or_default(),
        Source::Cargo(c) => built_dest(dest_flag.as_deref(), &c.bin)?,
        Source::Go(g) => built_dest(dest_flag.as_deref(), &g.name)?,
    };

    let mut files = extra_files(args, env, &settings)?;
    // ko's convention: kodata/ next to the main package is shipped at /var/run/ko.
    let kodata = go_package_dir
        .map(|d| d.join("kodata"))
        .filter(|k| k.is_dir());
    if let Some(kodata) = &kodata {
        files.push(ExtraFile {
            source: kodata.clone(),
            dest: KO_DATA_PATH.into(),
            mode: None,
            owner: (0, 0),
        });
    }
    Ok(SourcePlan {
        project,
        settings,
        platforms,
        source,
        dest,
        bundle,
        files,
        kodata: kodata.is_some(),
    })
}

/// `--static DIR --dest PATH [--owner UID:GID]`.
fn static_bundle(
    dir: &Path,
    dest: Option<&str>,
    args: &BuildArgs,
    settings: &FileConfig,
) -> Result<ExtraFile, ConfigError> {
    let shown = dir.display().to_string();
    let dest = dest.ok_or_else(|| {
        invalid(
            "--static",
            &shown,
            "needs --dest: where the bundle goes, e.g. --dest /usr/share/nginx/html",
        )
    })?;
    if !dir.is_dir() {
        return Err(invalid(
            "--static",
            &shown,
            if dir.exists() {
                "is not a directory; --static takes a directory (use --file for a single file)"
            } else {
                "does not exist"
            },
        ));
    }
    let owner = match args.owner.as_deref().or(settings.owner.as_deref()) {
        Some(o) => parse_owner(o)?,
        None => (0, 0),
    };
    Ok(ExtraFile {
        source: dir.to_path_buf(),
        dest: absolute_in_image("--dest", dest)?,
        mode: None,
        owner,
    })
}

/// `--artifact PLATFORM=FILE` flags, else the settings' `[artifacts]` table.
fn raw_artifacts(
    args: &BuildArgs,
    env: &Environment,
    settings: &FileConfig,
) -> Result<Vec<(String, PathBuf)>, ConfigError> {
    if args.artifacts.is_empty() {
        return Ok(settings
            .artifacts
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(p, f)| (p, PathBuf::from(f)))
            .collect());
    }
    args.artifacts
        .iter()
        .map(|a| {
            let (p, f) = a.split_once('=').ok_or_else(|| {
                invalid(
                    "--artifact",
                    a,
                    "expected PLATFORM=FILE, e.g. linux/amd64=./hello",
                )
            })?;
            Ok((p.to_string(), env.cwd.join(f)))
        })
        .collect()
}

/// Where a built binary goes: `--dest`, else `/app/<name>`.
fn built_dest(dest: Option<&str>, name: &str) -> Result<String, ConfigError> {
    match dest {
        Some(d) => absolute_in_image("--dest", d),
        None => Ok(format!("/app/{name}")),
    }
}

/// `--file SRC:DST[:MODE]` flags, else the settings' `files`.
fn extra_files(
    args: &BuildArgs,
    env: &Environment,
    settings: &FileConfig,
) -> Result<Vec<ExtraFile>, ConfigError> {
    if !args.files.is_empty() {
        return args
            .files
            .iter()
            .map(|f| artifacts::parse_file_flag(f, &env.cwd))
            .collect();
    }
    settings
        .files
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|f| artifacts::extra_file(&f.src, Path::new(&f.src), &f.dest, f.mode.as_deref()))
        .collect()
}
