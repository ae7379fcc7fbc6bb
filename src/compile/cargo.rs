//! Cross-compiles Rust binaries for every platform in one cargo invocation, with
//! cargo-zigbuild (zig links every target) or plain cargo, building std from source when
//! only its source is installed: one image's binaries ([`prepare`]), or the binaries of
//! several images of one workspace at once ([`prepare_many`], `cargo imgpush
//! --workspace`), shared dependencies compiled once per target. `command()` returns the
//! command without running it.

use super::rustflags::{self, BuildPaths, EnvFlags, UserFlags};
use super::sbom::cargo::{self as cargo_sbom, CargoLock};
use super::stream::run_cargo;
use super::sysroot::StdCache;
use super::targets::rust_target;
use super::toolchain::{CheckStatus, StdSource, Toolchain, inspect};
use super::versions::{ToolVersion, probe};
use super::{Artifact, CompileError, prebuilt};
use crate::image::sbom::{Component, ComponentKind};
use crate::oci::Platform;
use crate::plan::{Builder, CargoPlan, Libc, PrebuiltArtifact, Tools, binary_dest};
use crate::report::{Event, Reporter, Stage};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// A checked, ready-to-run Rust build.
#[derive(Debug)]
pub struct CargoBuild {
    plan: CargoPlan,
    tools: Tools,
    toolchain: Toolchain,
    std: StdSource,
    zig: Option<PathBuf>,
    zigbuild: Option<PathBuf>,
    /// `(platform, triple)` in build order.
    targets: Vec<(Platform, &'static str)>,
    /// The images whose binaries this build makes (one for `prepare`).
    units: Vec<Unit>,
    /// The user's own rustflags, as cargo would choose them.
    user_flags: UserFlags,
    /// `rustc -vV`'s commit (for `/rustc/<commit>`, the name std's sources get).
    rustc_commit: Option<String>,
    /// The toolchain cache, when one is configured ([`CargoBuild::with_shared_cache`]).
    shared: Option<shared::Shared>,
}

/// One image's binaries: the package they are targets of, and where they go in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    pub package: String,
    pub bins: Vec<String>,
    /// `--dest` (a binary's place is [`binary_dest`] of it).
    pub dest: String,
}

/// Runs the same checks as `imgpush doctor` and fails with every missing piece and its fix.
pub fn prepare(
    plan: &CargoPlan,
    tools: &Tools,
    platforms: &[Platform],
    dest: &str,
) -> Result<CargoBuild, CompileError> {
    let unit = Unit {
        package: plan.package.clone(),
        bins: plan.bins.clone(),
        dest: dest.to_string(),
    };
    prepare_many(plan, vec![unit], tools, platforms)
}

/// [`prepare`] for the binaries of several images, built together: `plan` gives what
/// they share (the workspace, profile, features, libc, builder, target directory), each
/// unit its package, binaries and destination. [`CargoBuild::run_units`] returns each
/// unit's artifacts.
pub fn prepare_many(
    plan: &CargoPlan,
    units: Vec<Unit>,
    tools: &Tools,
    platforms: &[Platform],
) -> Result<CargoBuild, CompileError> {
    let mut targets = Vec::new();
    for p in platforms {
        let triple = rust_target(p, plan.libc).ok_or_else(|| CompileError::NoRustTarget {
            platform: p.clone(),
            libc: match plan.libc {
                Libc::Musl => "musl",
                Libc::Gnu => "gnu",
            },
        })?;
        targets.push((p.clone(), triple));
    }
    let triples: Vec<&str> = targets.iter().map(|(_, t)| *t).collect();
    let inspection = inspect(tools, &triples, plan.builder, plan.build_std);
    let problems: Vec<(String, String, String)> = inspection
        .problems()
        .into_iter()
        .filter_map(|c| match &c.status {
            CheckStatus::Missing { problem, fix } => {
                Some((c.name.clone(), problem.clone(), fix.clone()))
            }
            _ => None,
        })
        .collect();
    if !problems.is_empty() {
        return Err(CompileError::Toolchain { problems });
    }
    let (toolchain, std) = inspection
        .chosen
        .expect("no problems means a toolchain was chosen");
    let env = match (&tools.encoded_rustflags, &tools.rustflags) {
        (Some(e), _) => Some(EnvFlags::Encoded(e.clone())),
        (None, Some(r)) => Some(EnvFlags::Plain(r.clone())),
        (None, None) => None,
    };
    // Config rustflags count only when the environment has none (cargo's order).
    let (build, target) = match env {
        Some(_) => Default::default(),
        None => rustflags::config_flags(&toolchain.cargo),
    };
    let user_flags = UserFlags { env, build, target };
    let rustc_commit = rustflags::rustc_commit(&toolchain.rustc);
    Ok(CargoBuild {
        plan: plan.clone(),
        tools: tools.clone(),
        toolchain,
        std,
        zig: inspection.zig,
        zigbuild: inspection.zigbuild,
        targets,
        units,
        user_flags,
        rustc_commit,
        shared: None,
    })
}

impl CargoBuild {
    /// The toolchain chosen for the build.
    pub fn toolchain(&self) -> &Toolchain {
        &self.toolchain
    }

    /// One line for the user: what builds, with what, and whether std is built.
    pub fn describe(&self) -> String {
        let tool = match self.plan.builder {
            Builder::Zigbuild => "cargo-zigbuild",
            Builder::Cargo => "cargo",
        };
        let triples: Vec<&str> = self.targets.iter().map(|(_, t)| *t).collect();
        let what: Vec<String> = self
            .units
            .iter()
            .map(|u| format!("{} (bin {})", u.package, u.bins.join(", ")))
            .collect();
        let mut s = format!(
            "building {} (profile {}) for {} with {tool}, {} ({})",
            what.join(", "),
            self.plan.profile,
            triples.join(", "),
            self.toolchain.version,
            self.toolchain.cargo.display()
        );
        if self.std == StdSource::Build {
            s.push_str("; std from source (the targets' prebuilt std is not installed), kept in the std cache");
        }
        s
    }

    /// The tools this build runs and their versions (for the provenance).
    pub fn tools_used(&self) -> Vec<ToolVersion> {
        let mut tools = vec![ToolVersion {
            name: "rustc".into(),
            version: self.toolchain.version.clone(),
        }];
        tools.extend(probe("cargo", &self.toolchain.cargo, &["--version"]));
        if self.plan.builder == Builder::Zigbuild {
            if let Some(z) = &self.zigbuild {
                tools.extend(probe("cargo-zigbuild", z, &["--version"]));
            }
            if let Some(z) = &self.zig {
                tools.extend(probe("zig", z, &["version"]));
            }
        }
        tools
    }

    /// The target as given to `--target` (zig's glibc pin is a suffix: `…-gnu.2.17`).
    fn target_arg(&self, triple: &str) -> String {
        if self.plan.builder == Builder::Zigbuild && self.plan.libc == Libc::Gnu {
            format!("{triple}.{}", self.plan.glibc_version)
        } else {
            triple.to_string()
        }
    }

    /// cargo-zigbuild or cargo, `build`, with the chosen toolchain in its environment.
    fn tool_command(&self) -> Command {
        let mut cmd = match (&self.plan.builder, &self.zigbuild) {
            (Builder::Zigbuild, Some(zigbuild)) => {
                let mut c = Command::new(zigbuild);
                // cargo-zigbuild runs `$CARGO`: point it at the chosen toolchain.
                c.env("CARGO", &self.toolchain.cargo);
                if let Some(zig) = &self.zig {
                    c.env("CARGO_ZIGBUILD_ZIG_PATH", zig);
                }
                if let Some(dir) = self.zig_global_cache() {
                    c.env("ZIG_GLOBAL_CACHE_DIR", dir);
                }
                c
            }
            _ => Command::new(&self.toolchain.cargo),
        };
        // JSON messages on stdout (the units compiled, for the SBOM); diagnostics rendered
        // by cargo on stderr, as without it.
        cmd.args(["build", "--message-format=json-render-diagnostics"]);
        cmd.env("RUSTC", &self.toolchain.rustc);
        match &self.tools.rustup_toolchain {
            Some(t) => cmd.env("RUSTUP_TOOLCHAIN", t),
            None => cmd.env_remove("RUSTUP_TOOLCHAIN"),
        };
        // Variables an outer `cargo run` sets for its child; they describe imgpush, not the
        // project being built.
        for k in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_CRATE_NAME",
        ] {
            cmd.env_remove(k);
        }
        if self.tools.color {
            cmd.args(["--color", "always"]);
        }
        cmd
    }

    fn target_args(&self, cmd: &mut Command, triples: &[&str]) {
        for triple in triples {
            cmd.arg("--target").arg(self.target_arg(triple));
        }
    }

    /// Flags std and the program are compiled with when std comes from source: for musl
    /// `-C link-self-contained=no` (the musl CRT objects ship with rustup's prebuilt
    /// targets, not with the std source; zig provides them). One argument per element.
    fn source_std_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if self.plan.libc == Libc::Musl {
            flags.push("-Clink-self-contained=no".into());
        }
        flags
    }

    /// `<sysroot>/lib/rustlib/src/rust` → `/rustc/<commit>`, when the commit is known.
    fn rust_src(&self) -> Option<(PathBuf, String)> {
        self.rustc_commit.as_ref().map(|c| {
            (
                self.toolchain.sysroot.join("lib/rustlib/src/rust"),
                c.clone(),
            )
        })
    }

    /// The path remaps of the program's build: the workspace, `CARGO_HOME`, the target
    /// directory and std's sources get fixed names, so that two checkouts, users and
    /// machines build the same bytes.
    fn program_paths(&self) -> BuildPaths {
        BuildPaths {
            cargo_home: self.tools.cargo_home.clone(),
            workspace_root: Some(self.plan.workspace_root.clone()),
            target_dir: Some(self.plan.target_dir.clone()),
            rust_src: self.rust_src(),
            std_cache: None,
        }
    }

    /// The same for std's own build in the std cache (std's crates.io dependencies come
    /// from `CARGO_HOME`, the empty crate and its build directory from the cache).
    fn std_paths(&self, cache_root: &std::path::Path) -> BuildPaths {
        BuildPaths {
            cargo_home: self.tools.cargo_home.clone(),
            workspace_root: None,
            target_dir: None,
            rust_src: self.rust_src(),
            std_cache: Some(cache_root.to_path_buf()),
        }
    }

    /// The user's `RUSTFLAGS`/`CARGO_ENCODED_RUSTFLAGS`, one argument per element: std
    /// from source is compiled with them too.
    fn env_flags(&self) -> Vec<String> {
        match &self.user_flags.env {
            Some(EnvFlags::Encoded(e)) => e
                .split('\u{1f}')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            Some(EnvFlags::Plain(p)) => p.split_whitespace().map(str::to_string).collect(),
            None => Vec::new(),
        }
    }

    /// The persistent std for this toolchain and these flags.
    pub fn std_cache(&self) -> StdCache {
        // The path remaps are in (as "remapped"): their sources are this machine's
        // paths, their targets fixed names.
        let mut flags = self.env_flags();
        flags.extend(self.source_std_flags());
        let identity = format!(
            "{} | {} | {} | {} | {:?} | paths remapped",
            self.toolchain.version,
            self.toolchain.rustc.display(),
            self.toolchain.sysroot.display(),
            flags.join(" "),
            self.plan.builder
        );
        StdCache::new(&self.cache_dir(), &identity)
    }

    /// The build command, not yet run.
    pub fn command(&self) -> Command {
        let mut cmd = self.tool_command();
        let p = &self.plan;
        cmd.arg("--manifest-path").arg(&p.manifest_path);
        let mut packages: Vec<&str> = Vec::new();
        for u in &self.units {
            if !packages.contains(&u.package.as_str()) {
                packages.push(&u.package);
            }
        }
        for package in packages {
            cmd.args(["-p", package]);
        }
        for bin in self.units.iter().flat_map(|u| &u.bins) {
            cmd.args(["--bin", bin]);
        }
        cmd.args(["--profile", &p.profile]);
        if !p.features.is_empty() {
            cmd.args(["--features", &p.features.join(",")]);
        }
        if p.all_features {
            cmd.arg("--all-features");
        }
        if p.no_default_features {
            cmd.arg("--no-default-features");
        }
        if p.locked {
            cmd.arg("--locked");
        }
        if p.offline {
            cmd.arg("--offline");
        }
        cmd.arg("--target-dir").arg(&p.target_dir);
        let triples: Vec<&str> = self.targets.iter().map(|(_, t)| *t).collect();
        self.target_args(&mut cmd, &triples);
        // Target flags reach only the target crates when --target is given, so build
        // scripts and proc-macros keep the host's own std.
        let mut flags = Vec::new();
        if self.std == StdSource::Build {
            flags.extend(self.source_std_flags());
            flags.push("--sysroot".into());
            flags.push(self.std_cache().sysroot().display().to_string());
        }
        flags.extend(self.program_paths().flags());
        let has_cfg_keys = self.user_flags.target.keys().any(|k| k.starts_with("cfg("));
        let targets: Vec<(&str, Vec<cargo_platform::Cfg>)> = triples
            .iter()
            .map(|t| {
                let cfgs = if has_cfg_keys {
                    rustflags::target_cfgs(&self.toolchain.rustc, t)
                } else {
                    Vec::new()
                };
                (*t, cfgs)
            })
            .collect();
        let delivery = self.user_flags.deliver(&targets, &flags);
        for (k, v) in delivery.env {
            cmd.env(k, v);
        }
        for c in delivery.config {
            cmd.arg("--config").arg(c);
        }
        cmd
    }

    /// Builds std from source for `triples` on an empty crate, for the std cache.
    fn std_command(
        &self,
        manifest: &std::path::Path,
        target_dir: &std::path::Path,
        triples: &[&str],
    ) -> Command {
        let mut cmd = self.tool_command();
        cmd.arg("--manifest-path").arg(manifest).arg("--release");
        cmd.arg("--target-dir").arg(target_dir);
        self.target_args(&mut cmd, triples);
        cmd.arg("-Zbuild-std=std,panic_abort");
        // Stable compilers accept -Z only with this.
        cmd.env("RUSTC_BOOTSTRAP", "1");
        let mut flags = self.env_flags();
        flags.extend(self.source_std_flags());
        // Keep bitcode in std's rlibs, as rustup's prebuilt std does, so LTO builds work.
        flags.push("-Cembed-bitcode=yes".into());
        let root = target_dir.parent().unwrap_or(target_dir);
        flags.extend(self.std_paths(root).flags());
        // One argument per element: paths may hold spaces.
        cmd.env_remove("RUSTFLAGS");
        cmd.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\u{1f}"));
        cmd
    }

    /// [`Self::run_units`] for a build of one image.
    pub fn run(&self, reporter: &dyn Reporter) -> Result<Vec<Artifact>, CompileError> {
        Ok(self.run_units(reporter)?.remove(0))
    }

    /// Makes sure the std cache has every target (building the missing ones from source),
    /// runs the build with cargo's output streamed to our stderr (stdout is for results
    /// only), checks every binary with the architecture check and lists, per platform,
    /// what its binaries were compiled from (`Artifact::sbom`). One list of artifacts (one
    /// per platform) per unit, in the units' order.
    pub fn run_units(&self, reporter: &dyn Reporter) -> Result<Vec<Vec<Artifact>>, CompileError> {
        let rust = cargo_sbom::rust_version(&self.toolchain.version);
        let commit = self.rustc_commit.as_deref();
        let triples: Vec<&str> = self.targets.iter().map(|(_, t)| *t).collect();
        let mut std_sbom: BTreeMap<&str, Vec<Component>> = BTreeMap::new();
        let zig = self.prepare_zig(reporter)?;
        let messages = if self.std == StdSource::Build {
            let cache = self.std_cache();
            let messages = self.with_std(&cache, &triples, reporter, || {
                run_cargo(self.command(), reporter)
            })?;
            for triple in &triples {
                let units = cache.units(triple)?;
                std_sbom.insert(triple, cargo_sbom::std_components(&units, &rust, commit));
            }
            messages
        } else {
            for triple in &triples {
                std_sbom.insert(triple, cargo_sbom::installed_std_components(&rust, commit));
            }
            run_cargo(self.command(), reporter)?
        };
        self.finish_zig(zig, reporter);
        let metadata = self.metadata()?;
        let lock = self.lock()?;
        let several = self.units.len() > 1;
        let mut out = Vec::new();
        for unit in &self.units {
            let root = metadata
                .packages
                .iter()
                .find(|p| {
                    p.name.as_str() == unit.package && metadata.workspace_members.contains(&p.id)
                })
                .ok_or_else(|| CompileError::Metadata {
                    manifest: self.plan.manifest_path.clone(),
                    message: format!(
                        "package {} is not among the workspace's members",
                        unit.package
                    ),
                })?;
            let mut built = Vec::new();
            for (platform, triple) in &self.targets {
                let compiled = cargo_sbom::compiled_for(&messages, triple, self.plan.profile_dir());
                let std = std_sbom.get(triple).cloned().unwrap_or_default();
                let cfgs = rustflags::target_cfgs(&self.toolchain.rustc, triple);
                let crates = cargo_sbom::target_crates(&cargo_sbom::TargetCrates {
                    metadata: &metadata,
                    lock: &lock,
                    compiled: &compiled,
                    triple,
                    cfgs: &cfgs,
                    std: (!std.is_empty()).then(|| cargo_sbom::std_id(&rust)),
                    // Built with other images' packages: only what this one's uses.
                    root: several.then_some(&root.id),
                });
                let artifacts = self.unit_binaries(unit, root, platform, triple, &compiled)?;
                // One artifact per platform, holding every binary of the unit.
                let mut files = Vec::new();
                let mut sbom = Vec::new();
                for a in prebuilt(&artifacts)? {
                    files.extend(a.files);
                    for mut app in a.sbom {
                        app.kind = ComponentKind::Application;
                        app.id = format!("app:{}", app.path.as_deref().unwrap_or_default());
                        app.version = Some(root.version.to_string());
                        app.depends_on = vec![cargo_sbom::crate_id(root)];
                        sbom.push(app);
                    }
                }
                sbom.extend(crates);
                sbom.extend(std);
                built.push(Artifact {
                    platform: platform.clone(),
                    files,
                    sbom,
                });
            }
            out.push(built);
        }
        Ok(out)
    }

    /// Where cargo wrote each binary of `unit` for `triple` (where it always goes
    /// otherwise), as artifacts to check.
    fn unit_binaries(
        &self,
        unit: &Unit,
        root: &cargo_metadata::Package,
        platform: &Platform,
        triple: &str,
        compiled: &[&cargo_metadata::Artifact],
    ) -> Result<Vec<PrebuiltArtifact>, CompileError> {
        let triple_dir = self.plan.target_dir.join(triple);
        let mut artifacts = Vec::new();
        for bin in &unit.bins {
            let path = compiled
                .iter()
                .filter(|a| a.package_id == root.id && a.target.name == *bin)
                .find_map(|a| a.executable.clone())
                .map(|p| p.into_std_path_buf())
                .unwrap_or_else(|| triple_dir.join(self.plan.profile_dir()).join(bin));
            if !path.is_file() {
                return Err(CompileError::OutputMissing { path });
            }
            artifacts.push(PrebuiltArtifact {
                platform: platform.clone(),
                path,
                dest: binary_dest(&unit.dest, bin),
            });
        }
        Ok(artifacts)
    }
}

#[path = "cargo_inputs.rs"]
mod inputs;

#[path = "cargo_shared.rs"]
mod shared;

#[cfg(test)]
#[path = "cargo_tests.rs"]
mod tests;
