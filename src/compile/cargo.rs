//! Cross-compiles a Rust binary for every platform in one cargo invocation, with
//! cargo-zigbuild (zig links every target) or plain cargo, building std from source when
//! only its source is installed. `command()` returns the command without running it.

use super::rustflags::{self, BuildPaths, EnvFlags, UserFlags};
use super::sysroot::StdCache;
use super::targets::rust_target;
use super::toolchain::{CheckStatus, StdSource, Toolchain, inspect};
use super::versions::{ToolVersion, probe};
use super::{Artifact, CompileError, prebuilt};
use crate::oci::Platform;
use crate::plan::{Builder, CargoPlan, Libc, PrebuiltArtifact, Tools, binary_dest};
use crate::report::{Event, Reporter, Stage, Tool};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

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
    dest: String,
    /// The user's own rustflags, as cargo would choose them.
    user_flags: UserFlags,
    /// `rustc -vV`'s commit (for `/rustc/<commit>`, the name std's sources get).
    rustc_commit: Option<String>,
}

/// Runs the same checks as `imgpush doctor` and fails with every missing piece and its fix.
pub fn prepare(
    plan: &CargoPlan,
    tools: &Tools,
    platforms: &[Platform],
    dest: &str,
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
        dest: dest.to_string(),
        user_flags,
        rustc_commit,
    })
}

impl CargoBuild {
    /// One line for the user: what builds, with what, and whether std is built.
    pub fn describe(&self) -> String {
        let tool = match self.plan.builder {
            Builder::Zigbuild => "cargo-zigbuild",
            Builder::Cargo => "cargo",
        };
        let triples: Vec<&str> = self.targets.iter().map(|(_, t)| *t).collect();
        let mut s = format!(
            "building {} (bin {}, profile {}) for {} with {tool}, {} ({})",
            self.plan.package,
            self.plan.bins.join(", "),
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
                c
            }
            _ => Command::new(&self.toolchain.cargo),
        };
        cmd.arg("build");
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
        // Without a cache (no private place for one) std goes in the project's own target
        // directory: slower for the next project, never in a directory others can write.
        let dir = match &self.tools.cache_dir {
            Some(dir) => dir.clone(),
            None => self.plan.target_dir.join("imgpush-cache"),
        };
        StdCache::new(&dir, &identity)
    }

    /// The build command, not yet run.
    pub fn command(&self) -> Command {
        let mut cmd = self.tool_command();
        let p = &self.plan;
        cmd.arg("--manifest-path").arg(&p.manifest_path);
        cmd.args(["-p", &p.package]);
        for bin in &p.bins {
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

    /// Makes sure the std cache has every target (building the missing ones from source),
    /// runs the build with cargo's output streamed to our stderr (stdout is for results
    /// only), then checks every binary with the architecture check.
    pub fn run(&self, reporter: &dyn Reporter) -> Result<Vec<Artifact>, CompileError> {
        if self.std == StdSource::Build {
            let cache = self.std_cache();
            let triples: Vec<&str> = self.targets.iter().map(|(_, t)| *t).collect();
            let missing: Vec<&str> = triples.iter().copied().filter(|t| !cache.has(t)).collect();
            if missing.is_empty() {
                reporter.event(Event::StdFromCache {
                    cache: cache.root.clone(),
                });
            } else {
                reporter.event(Event::StageStarted(Stage::BuildStd {
                    targets: missing.iter().map(|t| t.to_string()).collect(),
                    cache: cache.root.clone(),
                }));
            }
            cache.fill(
                &triples,
                |m, t, x| self.std_command(m, t, x),
                |cmd| run_streaming(cmd, reporter),
            )?;
        }
        run_streaming(self.command(), reporter)?;
        let mut built = Vec::new();
        for (platform, triple) in &self.targets {
            let artifacts: Vec<PrebuiltArtifact> = self
                .plan
                .bins
                .iter()
                .map(|bin| PrebuiltArtifact {
                    platform: platform.clone(),
                    path: self
                        .plan
                        .target_dir
                        .join(triple)
                        .join(self.plan.profile_dir())
                        .join(bin),
                    dest: binary_dest(&self.dest, bin),
                })
                .collect();
            if let Some(a) = artifacts.iter().find(|a| !a.path.is_file()) {
                return Err(CompileError::OutputMissing {
                    path: a.path.clone(),
                });
            }
            // One artifact per platform, holding every binary.
            built.push(Artifact {
                platform: platform.clone(),
                files: prebuilt(&artifacts)?
                    .into_iter()
                    .flat_map(|a| a.files)
                    .collect(),
            });
        }
        Ok(built)
    }
}

/// Runs a build tool with its stdout and stderr passed to the reporter line by line (the
/// tail of stderr kept for the error).
fn run_streaming(mut cmd: Command, reporter: &dyn Reporter) -> Result<(), CompileError> {
    let program = cmd.get_program().to_string_lossy().to_string();
    let spawn = |source| CompileError::Spawn {
        program: program.clone(),
        source,
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(spawn)?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let output = |line: &[u8]| {
        reporter.event(Event::ChildOutput {
            tool: Tool::Cargo,
            platform: None,
            line: String::from_utf8_lossy(line).to_string(),
        })
    };
    let mut tail: VecDeque<String> = VecDeque::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                output(&line);
            }
        });
        for line in BufReader::new(stderr).split(b'\n') {
            let Ok(line) = line else { break };
            output(&line);
            tail.push_back(String::from_utf8_lossy(&line).to_string());
            if tail.len() > 30 {
                tail.pop_front();
            }
        }
    });
    let status = child.wait().map_err(spawn)?;
    if status.success() {
        Ok(())
    } else {
        Err(CompileError::ToolFailed {
            tool: program,
            status: status.code(),
            stderr_tail: strip_ansi(&Vec::from(tail).join("\n")),
        })
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::BuildStd;

    fn build(builder: Builder, libc: Libc, std: StdSource) -> CargoBuild {
        let plan = CargoPlan {
            manifest_path: "/w/Cargo.toml".into(),
            workspace_root: "/w".into(),
            package: "api".into(),
            version: "1.0.0".into(),
            bins: vec!["api".into()],
            features: vec!["tls".into(), "json".into()],
            all_features: false,
            no_default_features: true,
            profile: "release".into(),
            locked: true,
            offline: false,
            target_dir: "/w/target".into(),
            libc,
            glibc_version: "2.17".into(),
            builder,
            build_std: BuildStd::Auto,
        };
        CargoBuild {
            plan,
            tools: Tools {
                rustflags: Some("-C opt-level=3".into()),
                cargo_home: Some("/h/.cargo".into()),
                ..Tools::default()
            },
            toolchain: Toolchain {
                cargo: "/usr/bin/cargo".into(),
                rustc: "/usr/bin/rustc".into(),
                version: "rustc 1.96.0".into(),
                sysroot: "/usr".into(),
                origin: "test",
            },
            std,
            zig: Some("/opt/zig".into()),
            zigbuild: Some("/opt/cargo-zigbuild".into()),
            targets: vec![
                (
                    "linux/amd64".parse().unwrap(),
                    rust_target(&"linux/amd64".parse().unwrap(), libc).unwrap(),
                ),
                (
                    "linux/arm64".parse().unwrap(),
                    rust_target(&"linux/arm64".parse().unwrap(), libc).unwrap(),
                ),
            ],
            dest: "/app/api".into(),
            user_flags: UserFlags {
                env: Some(EnvFlags::Plain("-C opt-level=3".into())),
                ..UserFlags::default()
            },
            rustc_commit: Some("abc".into()),
        }
    }

    const REMAPS: &str = "--remap-path-prefix=/w=. --remap-path-prefix=/h/.cargo=/cargo --remap-path-prefix=/w/target=/cargo/build-dir --remap-path-prefix=/usr/lib/rustlib/src/rust=/rustc/abc";

    fn args(c: &Command) -> Vec<String> {
        c.get_args()
            .map(|a| a.to_string_lossy().to_string())
            .collect()
    }

    fn env(c: &Command, k: &str) -> Option<String> {
        c.get_envs()
            .find(|(n, _)| *n == k)
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().to_string()))
    }

    #[test]
    fn zigbuild_with_std_from_source_uses_the_std_cache() {
        let b = build(Builder::Zigbuild, Libc::Musl, StdSource::Build);
        let c = b.command();
        assert_eq!(c.get_program(), "/opt/cargo-zigbuild");
        assert_eq!(
            args(&c).join(" "),
            "build --manifest-path /w/Cargo.toml -p api --bin api --profile release --features tls,json --no-default-features --locked --target-dir /w/target --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl"
        );
        assert_eq!(env(&c, "CARGO").as_deref(), Some("/usr/bin/cargo"));
        assert_eq!(env(&c, "RUSTC").as_deref(), Some("/usr/bin/rustc"));
        assert_eq!(
            env(&c, "RUSTC_BOOTSTRAP"),
            None,
            "the program itself needs no nightly features"
        );
        let sysroot = b.std_cache().sysroot();
        assert_eq!(
            env(&c, "RUSTFLAGS"),
            Some(format!(
                "-C opt-level=3 -Clink-self-contained=no --sysroot {} {REMAPS}",
                sysroot.display()
            ))
        );
        assert_eq!(
            env(&c, "CARGO_ZIGBUILD_ZIG_PATH").as_deref(),
            Some("/opt/zig")
        );
        assert!(
            c.get_envs()
                .any(|(k, v)| k == "RUSTUP_TOOLCHAIN" && v.is_none()),
            "RUSTUP_TOOLCHAIN is removed"
        );

        let s = b.std_command(
            std::path::Path::new("/c/empty/Cargo.toml"),
            std::path::Path::new("/c/build"),
            &["aarch64-unknown-linux-musl"],
        );
        assert_eq!(
            args(&s).join(" "),
            "build --manifest-path /c/empty/Cargo.toml --release --target-dir /c/build --target aarch64-unknown-linux-musl -Zbuild-std=std,panic_abort"
        );
        assert_eq!(env(&s, "RUSTC_BOOTSTRAP").as_deref(), Some("1"));
        assert_eq!(env(&s, "RUSTFLAGS"), None);
        assert_eq!(
            env(&s, "CARGO_ENCODED_RUSTFLAGS")
                .map(|f| f.replace('\u{1f}', " "))
                .as_deref(),
            Some(
                "-C opt-level=3 -Clink-self-contained=no -Cembed-bitcode=yes --remap-path-prefix=/c=/imgpush/std --remap-path-prefix=/h/.cargo=/cargo --remap-path-prefix=/usr/lib/rustlib/src/rust=/rustc/abc"
            )
        );
    }

    #[test]
    fn config_rustflags_are_kept_and_ours_join_them_per_target() {
        let mut b = build(Builder::Zigbuild, Libc::Musl, StdSource::Installed);
        b.user_flags = UserFlags {
            env: None,
            build: vec!["-Ctarget-cpu=x86-64-v2".into()],
            target: std::collections::BTreeMap::from([(
                "aarch64-unknown-linux-musl".to_string(),
                vec!["--cfg".to_string(), "arm".to_string()],
            )]),
        };
        let c = b.command();
        assert_eq!(env(&c, "RUSTFLAGS"), None, "config flags are not silenced");
        let a = args(&c);
        let configs: Vec<&String> = a
            .iter()
            .zip(a.iter().skip(1))
            .filter(|(k, _)| *k == "--config")
            .map(|(_, v)| v)
            .collect();
        let quoted = REMAPS
            .split(' ')
            .map(|r| format!("\"{r}\""))
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(
            configs,
            vec![
                &format!(
                    r#"target.x86_64-unknown-linux-musl.rustflags=["-Ctarget-cpu=x86-64-v2", {quoted}]"#
                ),
                &format!("target.aarch64-unknown-linux-musl.rustflags=[{quoted}]"),
            ]
        );
    }

    #[test]
    fn plain_cargo_with_installed_std_and_glibc() {
        let c = build(Builder::Cargo, Libc::Gnu, StdSource::Installed).command();
        assert_eq!(c.get_program(), "/usr/bin/cargo");
        let a = args(&c).join(" ");
        assert!(
            a.contains("--target x86_64-unknown-linux-gnu --target aarch64-unknown-linux-gnu"),
            "{a}"
        );
        assert!(!a.contains("build-std"));
        assert_eq!(env(&c, "RUSTC_BOOTSTRAP"), None);
        let z = build(Builder::Zigbuild, Libc::Gnu, StdSource::Installed).command();
        assert!(
            args(&z)
                .join(" ")
                .contains("--target aarch64-unknown-linux-gnu.2.17")
        );
    }
}
