//! `cargo imgpush --workspace` and repeated `-p`: the binaries of the selected workspace
//! members, each planned as its own image — the same [`Plan`] `cargo imgpush -p PKG --bin
//! BIN` would make, with its repository decided here:
//!
//! 1. the member's own `repo` in `[package.metadata.imgpush]` (`REPO/<bin>` when the
//!    member ships several binaries);
//! 2. else a prefix (`--repo`/`IMGPUSH_REPO`, then `imgpush.toml`'s `repo`, then
//!    `[workspace.metadata.imgpush]`'s) plus `/<bin>`, as ko names images;
//! 3. else none: each image goes to its default OCI layout, `<target-dir>/imgpush/<bin>`.
//!
//! A member's binaries: `--bin` (those of them it has), else its `bin` setting, else all of
//! them; members without binaries are skipped under `--workspace` and refused when named
//! with `-p`. Two images of one name are refused: they would land in one repository.

use super::cargo::{Member, members};
use super::outputs::repo_component;
use super::values::invalid;
use super::{BuildArgs, Environment, FileSettings, Plan, PlanError, for_build};

/// One image of a workspace run.
#[derive(Clone, Debug)]
pub struct WorkspaceImage {
    pub package: String,
    pub bin: String,
    pub plan: Plan,
}

/// Every image of a `--workspace` (or repeated `-p`) run, in workspace order.
#[derive(Clone, Debug)]
pub struct WorkspacePlan {
    pub images: Vec<WorkspaceImage>,
    /// `--json`: one document listing every image.
    pub json: bool,
    /// Images layered and published at once.
    pub jobs: usize,
}

/// Whether the flags ask for several images (`--workspace`, `-p` more than once).
pub fn is_workspace(args: &BuildArgs) -> bool {
    args.cargo.workspace || args.cargo.package.len() > 1
}

pub fn for_workspace(args: &BuildArgs, env: &Environment) -> Result<WorkspacePlan, PlanError> {
    for (given, flag) in [
        (args.oci_layout.is_some(), "--oci-layout"),
        (args.tarball.is_some(), "--tarball"),
        (args.dist.is_some(), "--dist"),
    ] {
        if given {
            return Err(PlanError::Conflict(format!(
                "{flag} names one output, and --workspace (or -p given more than once) makes one image per binary: push them with --repo REGISTRY/PREFIX (each to PREFIX/<bin>), or leave {flag} out (each goes to <target-dir>/imgpush/<bin>)"
            )));
        }
    }
    let context = match &args.path {
        Some(p) => env.cwd.join(p),
        None => env.cwd.clone(),
    };
    let manifest = match &args.cargo.manifest_path {
        Some(m) => env.cwd.join(m),
        None => context.join("Cargo.toml"),
    };
    let tools = env.tools();
    let (all, workspace_repo) = members(&manifest, &tools)?;
    let selected = select(args, &manifest, &all)?;
    let prefix = match &args.repo {
        Some(r) => Some(r.clone()),
        None => FileSettings::load(&context)?
            .and_then(|(f, _)| f.repo)
            .or(workspace_repo),
    };

    let mut images: Vec<WorkspaceImage> = Vec::new();
    for (member, bins) in selected {
        for bin in &bins {
            let repo = match (&member.repo, &prefix) {
                (Some(own), _) if bins.len() == 1 => Some(own.clone()),
                (Some(own), _) => Some(format!(
                    "{}/{}",
                    own.trim_end_matches('/'),
                    repo_component(bin)
                )),
                (None, Some(p)) => Some(format!(
                    "{}/{}",
                    p.trim_end_matches('/'),
                    repo_component(bin)
                )),
                (None, None) => None,
            };
            if let Some(other) = images.iter().find(|i| &i.bin == bin) {
                return Err(cargo_conflict(
                    &manifest,
                    format!(
                        "packages `{}` and `{}` both have a binary `{bin}`: their images would have one name; leave one out (--exclude, or -p for the others)",
                        other.package, member.name
                    ),
                ));
            }
            let mut one = args.clone();
            one.cargo.workspace = false;
            one.cargo.exclude.clear();
            one.cargo.package = vec![member.name.clone()];
            one.cargo.bin = vec![bin.clone()];
            one.cargo.manifest_path = Some(manifest.clone());
            one.repo = repo;
            let plan = for_build(&one, env)?;
            images.push(WorkspaceImage {
                package: member.name.clone(),
                bin: bin.clone(),
                plan,
            });
        }
    }
    let Some(first) = images.first() else {
        return Err(cargo_conflict(
            &manifest,
            "no selected workspace member has a binary target".into(),
        ));
    };
    Ok(WorkspacePlan {
        json: first.plan.json,
        jobs: first.plan.jobs,
        images,
    })
}

fn cargo_conflict(manifest: &std::path::Path, why: String) -> PlanError {
    PlanError::Cargo {
        manifest: manifest.to_path_buf(),
        why,
    }
}

/// The members to build and, for each, its binaries.
fn select<'a>(
    args: &BuildArgs,
    manifest: &std::path::Path,
    all: &'a [Member],
) -> Result<Vec<(&'a Member, Vec<String>)>, PlanError> {
    let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
    let unknown = |given: &str, what: &str| {
        cargo_conflict(
            manifest,
            format!(
                "no workspace member `{given}` ({what}; members: {})",
                names.join(", ")
            ),
        )
    };
    for e in &args.cargo.exclude {
        if !names.contains(&e.as_str()) {
            return Err(unknown(e, "--exclude"));
        }
    }
    let chosen: Vec<&Member> = if args.cargo.workspace {
        all.iter()
            .filter(|m| !args.cargo.exclude.contains(&m.name))
            .collect()
    } else {
        let mut out = Vec::new();
        for p in &args.cargo.package {
            let m = all
                .iter()
                .find(|m| &m.name == p)
                .ok_or_else(|| unknown(p, "-p"))?;
            if !out.iter().any(|o: &&Member| o.name == m.name) {
                out.push(m);
            }
        }
        out
    };
    let mut out = Vec::new();
    for m in chosen {
        let bins: Vec<String> = if !args.cargo.bin.is_empty() {
            args.cargo
                .bin
                .iter()
                .filter(|b| m.bins.contains(b))
                .cloned()
                .collect()
        } else if let Some(b) = &m.bin_setting {
            vec![b.clone()]
        } else {
            m.bins.clone()
        };
        if bins.is_empty() {
            if !args.cargo.workspace && args.cargo.bin.is_empty() {
                return Err(cargo_conflict(
                    manifest,
                    format!("package `{}` (-p) has no binary target", m.name),
                ));
            }
            continue;
        }
        out.push((m, bins));
    }
    for b in &args.cargo.bin {
        if !out.iter().any(|(_, bins)| bins.contains(b)) {
            return Err(invalid(
                "--bin",
                b,
                "no selected workspace member has this binary",
            ));
        }
    }
    Ok(out)
}
