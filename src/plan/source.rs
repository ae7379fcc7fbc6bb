//! What to build: `--static`, `--go`, artifacts, a Cargo project, or a Go main package in
//! PATH (most explicit first), for which platforms, where the program goes in the image,
//! and the extra files that ride along.

use super::artifacts;
use super::cargo::{CargoProject, cargo_plan};
use super::go;
use super::low::LowSettings;
use super::origin::at;
use super::values::invalid;
use super::{CargoPlan, ExtraFile, PlanError, PlatformRequest, Source};
use std::path::{Path, PathBuf};

/// Where ko's `kodata/` goes, and `KO_DATA_PATH` says so.
pub(crate) const KO_DATA_PATH: &str = "/var/run/ko";

/// The build side of a plan.
pub(crate) struct SourcePlan {
    pub platforms: PlatformRequest,
    pub source: Source,
    pub dest: String,
    pub bundle: Option<ExtraFile>,
    pub files: Vec<ExtraFile>,
    /// A Go package shipped its `kodata/` (set `KO_DATA_PATH`).
    pub kodata: bool,
}

/// What to build, from the merged settings; `project` is the Cargo project when no
/// `--static`, `--go` or artifacts were given and PATH (or `--manifest-path`) is one.
pub(crate) fn source_plan(
    settings: &LowSettings,
    context: &Path,
    project: Option<&CargoProject>,
) -> Result<SourcePlan, PlanError> {
    let bundle_dir = settings.bundle_dir.as_ref().map(|d| &d.value);
    let go_import = settings.go.as_ref().map(|g| &g.value);
    let platforms = match (&settings.platforms, &settings.artifacts) {
        (Some(p), _) => p.value.clone(),
        // Artifacts alone: their platforms.
        (None, Some(a)) if project.is_none() && bundle_dir.is_none() && go_import.is_none() => {
            PlatformRequest::List(a.value.iter().map(|(p, _)| p.clone()).collect())
        }
        // Builds and bundles default to the two platforms nearly everyone ships.
        (None, _) => PlatformRequest::List(vec!["linux/amd64".parse()?, "linux/arm64".parse()?]),
    };

    let dest_flag = settings.dest.as_ref().map(|d| d.value.as_str());
    let ldflags = settings.ldflags.as_ref().map(|l| l.value.clone());
    let go_tags = settings.go_tags.as_ref().map(|l| l.value.clone());
    let mut go_package_dir: Option<PathBuf> = None;
    let mut bundle: Option<ExtraFile> = None;
    let source = if let Some(dir) = bundle_dir {
        bundle = Some(bundle_settings(dir, dest_flag, settings)?);
        Source::Bundle
    } else if let Some(import) = go_import {
        let g = go::from_import_path(import, context, ldflags, go_tags)?;
        go_package_dir = g.package_dir;
        Source::Go(g.plan)
    } else if let Some(p) = project {
        Source::Cargo(Box::new(cargo_plan(settings, p)))
    } else if let Some(raw) = &settings.artifacts {
        Source::Prebuilt(
            artifacts::prebuilt(raw.value.clone(), &platforms, dest_flag)
                .map_err(at(&raw.origin, "artifacts"))?,
        )
    } else if let Some(g) = go::detect(context, ldflags, go_tags)? {
        go_package_dir = g.package_dir;
        Source::Go(g.plan)
    } else {
        return Err(PlanError::Nothing(format!(
            "no --artifact, --static or --go given, and {} holds no Cargo.toml or Go main package",
            context.display()
        )));
    };
    let dest = match &source {
        Source::Prebuilt(a) => a[0].dest.clone(),
        Source::Bundle => bundle.as_ref().map(|b| b.dest.clone()).unwrap_or_default(),
        Source::Cargo(c) => cargo_dest(dest_flag, c)?,
        Source::Go(g) => built_dest(dest_flag, &g.name),
    };

    let mut files = settings
        .files
        .as_ref()
        .map(|f| f.value.clone())
        .unwrap_or_default();
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
        platforms,
        source,
        dest,
        bundle,
        files,
        kodata: kodata.is_some(),
    })
}

/// `--static DIR --dest PATH [--owner UID:GID]`.
fn bundle_settings(
    dir: &Path,
    dest: Option<&str>,
    settings: &LowSettings,
) -> Result<ExtraFile, PlanError> {
    let shown = dir.display().to_string();
    let base_dest = settings
        .base
        .as_ref()
        .and_then(|b| base_bundle_dest(&b.value));
    let dest = dest.or(base_dest.as_deref()).ok_or_else(|| {
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
    Ok(ExtraFile {
        source: dir.to_path_buf(),
        dest: dest.to_string(),
        mode: None,
        owner: settings.owner.as_ref().map(|o| o.value).unwrap_or((0, 0)),
    })
}

/// Where the base's spec says a bundle goes (`bundle-dest`, e.g. nginx's html directory).
fn base_bundle_dest(base: &crate::base::BaseSpec) -> Option<String> {
    use crate::base::{BaseSpec, spec};
    match base {
        BaseSpec::Named(name) => spec::find(name)?.bundle_dest,
        BaseSpec::SpecFile(path) => spec::read_file(path).ok()?.0.bundle_dest,
        _ => None,
    }
}

/// Where a built binary goes: `--dest`, else `/app/<name>`.
/// One binary: like any built file. Several: `--dest` names the directory they all go in
/// (so it ends with `/`); by default `/app/`.
fn cargo_dest(dest: Option<&str>, c: &CargoPlan) -> Result<String, PlanError> {
    match (dest, c.bins.as_slice()) {
        (_, [one]) => Ok(built_dest(dest, one)),
        (None, _) => Ok("/app/".into()),
        (Some(d), _) if d.ends_with('/') => Ok(d.to_string()),
        (Some(d), bins) => Err(super::values::invalid(
            "--dest",
            d,
            format!(
                "with several binaries ({}) --dest names the directory they go in: end it with `/` (e.g. {d}/)",
                bins.join(", ")
            ),
        )),
    }
}

/// Where a built binary goes: `--dest` (a directory when it ends with `/`), else
/// `/app/NAME`.
pub fn binary_dest(dest: &str, name: &str) -> String {
    if dest.ends_with('/') {
        format!("{dest}{name}")
    } else {
        dest.to_string()
    }
}

fn built_dest(dest: Option<&str>, name: &str) -> String {
    match dest {
        Some(d) => d.to_string(),
        None => format!("/app/{name}"),
    }
}
