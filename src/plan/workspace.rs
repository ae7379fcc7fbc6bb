//! `cargo imgpush --workspace` and repeated `-p`: the binaries of the selected workspace
//! members, each planned as its own image — the same [`Plan`] `cargo imgpush -p PKG --bin
//! BIN` would make, with its repository decided here:
//!
//! 1. the member's own `repo` in `[package.metadata.imgpush]` (`REPO/<bin>` when the
//!    member has several binaries and no `bin` setting choosing one);
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
            // Named by what the member ships, not by this run's selection: the same
            // binary always goes to the same repository.
            let ships_one =
                member.bins.len() == 1 || member.bin_setting.as_deref() == Some(bin.as_str());
            let repo = match (&member.repo, &prefix) {
                (Some(own), _) if ships_one => Some(own.clone()),
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
                        "packages `{}` and `{}` both have a binary `{bin}`: cargo writes both to one file of the target directory; leave one out (--exclude, or -p for the others)",
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
    // Every image its own outputs: two writing one place would overwrite each other
    // (settings from imgpush.toml or the workspace's metadata apply to every image).
    for (i, a) in images.iter().enumerate() {
        for b in &images[..i] {
            if let Some(place) = destinations(&a.plan)
                .into_iter()
                .find(|d| destinations(&b.plan).contains(d))
            {
                return Err(cargo_conflict(
                    &manifest,
                    format!(
                        "the images of `{}` and `{}` would both go to {place}; give each member its own `repo` in [package.metadata.imgpush], or a --repo PREFIX (each image then goes to PREFIX/<bin>), and no shared oci-layout, tarball or dist setting",
                        b.bin, a.bin
                    ),
                ));
            }
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

/// Whether `--features`/`--all-features` enable every `required-features` of `bin`.
fn features_enabled(args: &BuildArgs, member: &Member, bin: &str) -> bool {
    let Some(needed) = member.required_features.get(bin) else {
        return true;
    };
    if args.cargo.all_features {
        return true;
    }
    let given: Vec<&str> = args
        .cargo
        .features
        .iter()
        .flat_map(|f| f.split([',', ' ']))
        .filter(|f| !f.is_empty())
        .collect();
    needed.iter().all(|f| {
        given
            .iter()
            .any(|g| *g == f || *g == format!("{}/{f}", member.name))
    })
}

/// Where an image is written.
fn destinations(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(plan.repo.as_ref().map(|r| format!("the repository {r}")));
    out.extend(
        plan.oci_layout
            .as_ref()
            .map(|d| format!("the OCI layout {}", d.display())),
    );
    out.extend(
        plan.tarball
            .as_ref()
            .map(|t| format!("the tarball {}", t.path.display())),
    );
    out.extend(
        plan.dist
            .as_ref()
            .map(|d| format!("the dist directory {}", d.dir.display())),
    );
    out
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
            // As `cargo build --workspace`: a binary whose required features are not
            // enabled is not built.
            m.bins
                .iter()
                .filter(|b| features_enabled(args, m, b))
                .cloned()
                .collect()
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

#[cfg(test)]
mod tests {
    use super::super::make::tests::args;
    use super::*;

    /// A workspace: `api` (one binary), `tools` (two, with its own `repo`), `lib` (none).
    fn workspace() -> (tempfile::TempDir, Environment) {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"api\", \"tools\", \"lib\"]\nresolver = \"2\"\n",
        );
        let package = |name: &str, extra: &str| {
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{extra}"
            )
        };
        write("api/Cargo.toml", &package("api", ""));
        write("api/src/main.rs", "fn main() {}\n");
        write(
            "tools/Cargo.toml",
            &package(
                "tools",
                "[package.metadata.imgpush]\nrepo = \"reg.example/ops/tools\"\n",
            ),
        );
        write("tools/src/bin/migrate.rs", "fn main() {}\n");
        write("tools/src/bin/seed.rs", "fn main() {}\n");
        write("lib/Cargo.toml", &package("lib", ""));
        write("lib/src/lib.rs", "\n");
        // A binary built only with a feature.
        write(
            "api/Cargo.toml",
            &package(
                "api",
                "[features]\nadmin = []\n\n[[bin]]\nname = \"api\"\npath = \"src/main.rs\"\n\n[[bin]]\nname = \"admin\"\npath = \"src/admin.rs\"\nrequired-features = [\"admin\"]\n",
            ),
        );
        write("api/src/admin.rs", "fn main() {}\n");
        let env = Environment {
            cwd: dir.path().to_path_buf(),
            ..Default::default()
        };
        (dir, env)
    }

    fn names(plan: &WorkspacePlan) -> Vec<(String, Option<String>)> {
        plan.images
            .iter()
            .map(|i| (i.bin.clone(), i.plan.repo.as_ref().map(|r| r.to_string())))
            .collect()
    }

    #[test]
    fn images_are_named_by_their_package_or_the_prefix_and_the_binary() {
        let (_dir, env) = workspace();
        let plan = for_workspace(
            &args(&["--workspace", "--repo", "reg.example/fleet/"]),
            &env,
        )
        .unwrap();
        let s = |a: &str, b: &str| (a.to_string(), Some(b.to_string()));
        assert_eq!(
            names(&plan),
            [
                s("api", "reg.example/fleet/api"),
                s("migrate", "reg.example/ops/tools/migrate"),
                s("seed", "reg.example/ops/tools/seed"),
            ],
            "a member's own repo, else PREFIX/<bin>; the library is skipped"
        );
        let only = for_workspace(
            &args(&["-p", "api", "-p", "tools", "--bin", "seed", "--bin", "api"]),
            &env,
        )
        .unwrap();
        assert_eq!(
            names(&only),
            [
                ("api".to_string(), None),
                s("seed", "reg.example/ops/tools/seed"),
            ],
            "--bin narrows, the names stay; no prefix: a layout"
        );
        let excluded = for_workspace(&args(&["--workspace", "--exclude", "tools"]), &env).unwrap();
        assert_eq!(
            names(&excluded),
            [("api".to_string(), None)],
            "admin needs a feature that is not enabled"
        );
        let admin = for_workspace(
            &args(&[
                "--workspace",
                "--exclude",
                "tools",
                "--features",
                "api/admin",
            ]),
            &env,
        )
        .unwrap();
        assert_eq!(
            names(&admin),
            [("admin".to_string(), None), ("api".to_string(), None)]
        );
    }

    #[test]
    fn images_that_would_land_in_one_place_are_refused() {
        let (dir, env) = workspace();
        // A layout in imgpush.toml applies to every image.
        std::fs::write(dir.path().join("imgpush.toml"), "oci-layout = \"out\"\n").unwrap();
        let err = for_workspace(&args(&["--workspace"]), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("would both go to the OCI layout"), "{err}");
        // api's second binary is not the one its `bin` names: it gets REPO/<bin>.
        std::fs::remove_file(dir.path().join("imgpush.toml")).unwrap();
        let manifest = dir.path().join("api/Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(
            &manifest,
            text.replace(
                "[features]",
                "[package.metadata.imgpush]\nrepo = \"reg.example/api\"\nbin = \"api\"\n\n[features]",
            ),
        )
        .unwrap();
        let plan = for_workspace(
            &args(&[
                "-p",
                "api",
                "-p",
                "tools",
                "--bin",
                "api",
                "--bin",
                "admin",
                "--all-features",
            ]),
            &env,
        )
        .unwrap();
        let s = |a: &str, b: &str| (a.to_string(), Some(b.to_string()));
        assert_eq!(
            names(&plan),
            [
                s("api", "reg.example/api"),
                s("admin", "reg.example/api/admin")
            ]
        );
    }
}
