//! Reads a Cargo project with `cargo metadata`: which package and binary to build, the
//! `[package.metadata.imgpush]` / `[workspace.metadata.imgpush]` settings, and the labels
//! the crate implies.

use super::load::from_file;
use super::low::{CargoSelection, LowSettings};
use super::origin::Origin;
use super::{CargoPlan, FileSettings, PlanError, Tools};
use cargo_metadata::{Metadata, MetadataCommand, Package, TargetKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the Cargo project says, before flags are applied.
#[derive(Debug)]
pub struct CargoProject {
    pub manifest_path: PathBuf,
    pub workspace_root: PathBuf,
    pub package: String,
    pub version: String,
    /// The binaries chosen, in the order given (`--bin` repeated, else one).
    pub bins: Vec<String>,
    /// Every binary target of the package.
    pub package_bins: Vec<String>,
    pub target_dir: PathBuf,
    /// `[package.metadata.imgpush]`.
    pub package_settings: LowSettings,
    /// `[workspace.metadata.imgpush]`.
    pub workspace_settings: LowSettings,
    /// OCI labels from Cargo.toml (title, version, description, licenses, source, revision).
    pub labels: BTreeMap<String, String>,
    pub git_sha: Option<String>,
}

fn cargo_error(manifest: &Path, why: impl Into<String>) -> PlanError {
    PlanError::Cargo {
        manifest: manifest.to_path_buf(),
        why: why.into(),
    }
}

/// The cargo used for `cargo metadata` (any cargo can answer it).
fn metadata_cargo(tools: &Tools) -> Option<PathBuf> {
    tools
        .cargo
        .clone()
        .or_else(|| {
            tools
                .path
                .iter()
                .map(|d| d.join("cargo"))
                .find(|p| p.is_file())
        })
        .or_else(|| Some(PathBuf::from("/usr/bin/cargo")).filter(|p| p.is_file()))
}

/// Finds the Cargo.toml for `context` (or `--manifest-path`), if there is one.
pub fn manifest_for(args: &CargoSelection, context: &Path) -> Option<PathBuf> {
    match &args.manifest_path {
        Some(m) => Some(m.clone()),
        None => Some(context.join("Cargo.toml")).filter(|p| p.is_file()),
    }
}

/// `cargo metadata --no-deps` of the project `manifest` is in (`missing`: what to say when
/// there is no such file).
fn read_metadata(manifest: &Path, tools: &Tools, missing: &str) -> Result<Metadata, PlanError> {
    if !manifest.is_file() {
        return Err(cargo_error(manifest, missing));
    }
    let cargo = metadata_cargo(tools).ok_or(PlanError::Tool {
        what: "cargo",
        fix: "install Rust: https://rustup.rs (or `apt-get install cargo`)".into(),
    })?;
    let mut cmd = MetadataCommand::new();
    cmd.cargo_path(&cargo).manifest_path(manifest).no_deps();
    if tools.rustup_toolchain.is_none() {
        cmd.env_remove("RUSTUP_TOOLCHAIN");
    }
    cmd.exec()
        .map_err(|e| cargo_error(manifest, format!("`cargo metadata` failed: {e}")))
}

/// A workspace member, as `--workspace` sees it.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub name: String,
    /// Its binary targets, in the manifest's order.
    pub bins: Vec<String>,
    /// `bin` in its `[package.metadata.imgpush]`.
    pub bin_setting: Option<String>,
    /// `repo` in its `[package.metadata.imgpush]`.
    pub repo: Option<String>,
    /// The `required-features` of its binaries that have some.
    pub required_features: BTreeMap<String, Vec<String>>,
}

/// The members of the workspace `manifest` is in, and its `[workspace.metadata.imgpush]`
/// `repo`.
pub(crate) fn members(
    manifest: &Path,
    tools: &Tools,
) -> Result<(Vec<Member>, Option<String>), PlanError> {
    let metadata = read_metadata(
        manifest,
        tools,
        "no such file; --workspace and -p build a Cargo workspace: point --manifest-path (or PATH) at it",
    )?;
    let setting = |v: &serde_json::Value, key: &str| {
        v.get("imgpush")
            .and_then(|m| m.get(key))
            .and_then(|b| b.as_str())
            .map(str::to_string)
    };
    let members = metadata
        .workspace_packages()
        .into_iter()
        .map(|p| Member {
            name: p.name.to_string(),
            bins: p
                .targets
                .iter()
                .filter(|t| t.kind.contains(&TargetKind::Bin))
                .map(|t| t.name.clone())
                .collect(),
            bin_setting: setting(&p.metadata, "bin"),
            repo: setting(&p.metadata, "repo"),
            required_features: p
                .targets
                .iter()
                .filter(|t| t.kind.contains(&TargetKind::Bin) && !t.required_features.is_empty())
                .map(|t| (t.name.clone(), t.required_features.clone()))
                .collect(),
        })
        .collect();
    Ok((members, setting(&metadata.workspace_metadata, "repo")))
}

pub fn load(
    args: &CargoSelection,
    manifest: &Path,
    tools: &Tools,
) -> Result<CargoProject, PlanError> {
    let metadata = read_metadata(
        manifest,
        tools,
        "no such file; point --manifest-path (or PATH) at a Cargo project",
    )?;
    let package = select_package(&metadata, manifest, args)?;
    let bins: Vec<&str> = package
        .targets
        .iter()
        .filter(|t| t.kind.contains(&TargetKind::Bin))
        .map(|t| t.name.as_str())
        .collect();
    // `--bin` (repeatable), else `bin` in the package's `[package.metadata.imgpush]`.
    let chosen: Vec<String> = if args.bin.is_empty() {
        package
            .metadata
            .get("imgpush")
            .and_then(|m| m.get("bin"))
            .and_then(|b| b.as_str())
            .map(str::to_string)
            .into_iter()
            .collect()
    } else {
        args.bin.clone()
    };
    if let Some(b) = chosen.iter().find(|b| !bins.contains(&b.as_str())) {
        return Err(cargo_error(
            manifest,
            format!(
                "package `{}` has no binary `{b}` (it has: {})",
                package.name,
                list(&bins)
            ),
        ));
    }
    let mut chosen_unique: Vec<String> = Vec::new();
    for b in chosen {
        if !chosen_unique.contains(&b) {
            chosen_unique.push(b);
        }
    }
    let bins_chosen = match (chosen_unique, bins.as_slice()) {
        (chosen, _) if !chosen.is_empty() => chosen,
        (_, [one]) => vec![one.to_string()],
        (_, []) => {
            return Err(cargo_error(
                manifest,
                format!("package `{}` has no binary target", package.name),
            ));
        }
        (_, several) => {
            return Err(cargo_error(
                manifest,
                format!(
                    "package `{}` has several binaries ({}); choose one with --bin (or `bin` in [package.metadata.imgpush]; repeat --bin to ship several in one image)",
                    package.name,
                    several.join(", ")
                ),
            ));
        }
    };

    let package_dir = package
        .manifest_path
        .parent()
        .map(|p| p.as_std_path().to_path_buf())
        .unwrap_or_default();
    let table =
        |value: &serde_json::Value, dir: &Path, origin: Origin| match FileSettings::from_metadata(
            value, &origin,
        )? {
            Some(f) => from_file(f, dir, origin),
            None => Ok(LowSettings::default()),
        };
    let package_settings = table(
        &package.metadata,
        &package_dir,
        Origin::Cargo {
            manifest: package.manifest_path.as_std_path().to_path_buf(),
            workspace: false,
        },
    )?;
    let workspace_settings = table(
        &metadata.workspace_metadata,
        metadata.workspace_root.as_std_path(),
        Origin::Cargo {
            manifest: metadata.workspace_root.as_std_path().join("Cargo.toml"),
            workspace: true,
        },
    )?;

    let git_sha = git_head(&package_dir);
    let mut labels = BTreeMap::new();
    let mut label = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            labels.insert(format!("org.opencontainers.image.{k}"), v);
        }
    };
    let title = match bins_chosen.as_slice() {
        [one] => one.clone(),
        _ => package.name.to_string(),
    };
    label("title", Some(title));
    label("version", Some(package.version.to_string()));
    label("description", package.description.clone());
    label("licenses", package.license.clone());
    label("source", package.repository.clone());
    label("revision", git_sha.clone());

    Ok(CargoProject {
        manifest_path: package.manifest_path.as_std_path().to_path_buf(),
        workspace_root: metadata.workspace_root.as_std_path().to_path_buf(),
        package: package.name.to_string(),
        version: package.version.to_string(),
        bins: bins_chosen,
        package_bins: bins.iter().map(|b| b.to_string()).collect(),
        target_dir: match &args.target_dir {
            Some(t) => t.clone(),
            None => metadata.target_directory.as_std_path().to_path_buf(),
        },
        package_settings,
        workspace_settings,
        labels,
        git_sha,
    })
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// `-p NAME`; else the package whose manifest was given; else (a virtual workspace) the
/// only member with a binary, or the member that has `--bin`.
fn select_package<'a>(
    metadata: &'a Metadata,
    manifest: &Path,
    args: &CargoSelection,
) -> Result<&'a Package, PlanError> {
    let members: Vec<&Package> = metadata.workspace_packages();
    if let Some(p) = &args.package {
        return members
            .iter()
            .copied()
            .find(|m| m.name.as_str() == p)
            .ok_or_else(|| {
                let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
                cargo_error(
                    manifest,
                    format!("no workspace member `{p}` (members: {})", list(&names)),
                )
            });
    }
    let canonical = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    if let Some(p) = members
        .iter()
        .copied()
        .find(|m| m.manifest_path.as_std_path() == canonical)
    {
        return Ok(p);
    }
    let has_bin = |p: &&Package, name: Option<&str>| {
        p.targets
            .iter()
            .any(|t| t.kind.contains(&TargetKind::Bin) && name.is_none_or(|n| t.name == n))
    };
    let candidates: Vec<&Package> = members
        .iter()
        .copied()
        .filter(|p| {
            if args.bin.is_empty() {
                has_bin(p, None)
            } else {
                args.bin.iter().all(|b| has_bin(p, Some(b)))
            }
        })
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(cargo_error(
            manifest,
            match args.bin.as_slice() {
                [] => "no workspace member has a binary target".into(),
                [b] => format!("no workspace member has a binary `{b}`"),
                several => format!(
                    "no workspace member has all the binaries {}",
                    several.join(", ")
                ),
            },
        )),
        several => {
            let names: Vec<&str> = several.iter().map(|p| p.name.as_str()).collect();
            Err(cargo_error(
                manifest,
                format!(
                    "several workspace members have binaries ({}); choose one with -p",
                    names.join(", ")
                ),
            ))
        }
    }
}

/// The commit checked out in `dir`, if it is in a git work tree.
fn git_head(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "-q", "HEAD"])
        .output()
        .ok()?;
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && sha.len() == 40).then_some(sha)
}

/// The Rust build: the project's package and binary, with the merged settings.
pub(crate) fn cargo_plan(settings: &LowSettings, project: &CargoProject) -> CargoPlan {
    let c = &settings.cargo;
    let text = |s: &Option<super::Setting<String>>, default: &str| {
        s.as_ref()
            .map(|s| s.value.clone())
            .unwrap_or_else(|| default.to_string())
    };
    CargoPlan {
        manifest_path: project.manifest_path.clone(),
        workspace_root: project.workspace_root.clone(),
        package: project.package.clone(),
        version: project.version.clone(),
        bins: project.bins.clone(),
        package_bins: project.package_bins.clone(),
        features: settings
            .features
            .as_ref()
            .map(|f| f.value.clone())
            .unwrap_or_default(),
        all_features: c.all_features,
        no_default_features: c.no_default_features,
        profile: text(&settings.profile, "release"),
        locked: c.locked,
        offline: c.offline,
        target_dir: project.target_dir.clone(),
        libc: settings.libc.as_ref().map(|l| l.value).unwrap_or_default(),
        glibc_version: text(&settings.glibc_version, "2.17"),
        builder: settings
            .builder
            .as_ref()
            .map(|b| b.value)
            .unwrap_or_default(),
        build_std: settings
            .build_std
            .as_ref()
            .map(|b| b.value)
            .unwrap_or_default(),
        toolchain_cache: settings
            .toolchain_cache
            .as_ref()
            .and_then(|t| t.value.clone()),
    }
}
