//! Cross-compiles a Go main package per platform with the host's `go`: CGO off,
//! GOOS/GOARCH/GOARM from the platform, `-trimpath`, all platforms in parallel.

use super::toolchain::find_in_path;
use super::{Artifact, CompileError, prebuilt};
use crate::oci::Platform;
use crate::plan::{GoPlan, PrebuiltArtifact, Tools};
use crate::report::{Event, Reporter, Tool};
use std::path::{Path, PathBuf};
use std::process::Command;

/// GOARCH (and GOARM) for a platform.
pub fn go_target(platform: &Platform) -> Option<(&'static str, Option<&'static str>)> {
    Some(
        match (platform.architecture.as_str(), platform.variant.as_deref()) {
            ("amd64", _) => ("amd64", None),
            ("arm64", _) => ("arm64", None),
            ("arm", Some("v7")) => ("arm", Some("7")),
            ("arm", Some("v6")) => ("arm", Some("6")),
            ("386", _) => ("386", None),
            ("riscv64", _) => ("riscv64", None),
            ("ppc64le", _) => ("ppc64le", None),
            ("s390x", _) => ("s390x", None),
            _ => return None,
        },
    )
}

/// The `go` binary: `$GO`, else `go` on PATH.
pub fn find_go(tools: &Tools) -> Option<PathBuf> {
    tools
        .go
        .clone()
        .filter(|g| g.is_file())
        .or_else(|| find_in_path(tools, "go"))
}

pub const GO_FIX: &str = "apt-get install golang-go   (or download Go from https://go.dev/dl)";

#[derive(Debug)]
pub struct GoBuild {
    plan: GoPlan,
    go: PathBuf,
    targets: Vec<(Platform, &'static str, Option<&'static str>)>,
    out_dir: PathBuf,
    dest: String,
}

pub fn prepare(
    plan: &GoPlan,
    tools: &Tools,
    platforms: &[Platform],
    dest: &str,
    out_dir: &Path,
) -> Result<GoBuild, CompileError> {
    let go = find_go(tools).ok_or_else(|| CompileError::Toolchain {
        problems: vec![("go".into(), "not found ($GO or PATH)".into(), GO_FIX.into())],
    })?;
    let targets = platforms
        .iter()
        .map(|p| {
            let (arch, arm) = go_target(p).ok_or_else(|| CompileError::NoGoTarget {
                platform: p.clone(),
            })?;
            Ok((p.clone(), arch, arm))
        })
        .collect::<Result<_, CompileError>>()?;
    Ok(GoBuild {
        plan: plan.clone(),
        go,
        targets,
        out_dir: out_dir.to_path_buf(),
        dest: dest.to_string(),
    })
}

impl GoBuild {
    pub fn describe(&self) -> String {
        let platforms: Vec<String> = self.targets.iter().map(|(p, _, _)| p.to_string()).collect();
        format!(
            "building Go package {} in {} for {} with {} (CGO_ENABLED=0, -trimpath), in parallel",
            self.plan.package,
            self.plan.module_dir.display(),
            platforms.join(", "),
            self.go.display()
        )
    }

    /// The Go toolchain's version (for the provenance).
    pub fn tools_used(&self) -> Vec<super::versions::ToolVersion> {
        super::versions::probe("go", &self.go, &["version"])
            .into_iter()
            .collect()
    }

    fn output_path(&self, arch: &str, arm: Option<&str>) -> PathBuf {
        let dir = match arm {
            Some(v) => format!("linux-{arch}-v{v}"),
            None => format!("linux-{arch}"),
        };
        self.out_dir.join(dir).join(&self.plan.name)
    }

    /// `go build` for one platform, not yet run. `GOFLAGS` and the rest of the user's Go
    /// environment pass through.
    pub fn command(&self, arch: &str, arm: Option<&str>) -> Command {
        let mut cmd = Command::new(&self.go);
        cmd.current_dir(&self.plan.module_dir)
            .env("CGO_ENABLED", "0")
            .env("GOOS", "linux")
            .env("GOARCH", arch)
            // Use this go, never a toolchain download (ignored before Go 1.21).
            .env("GOTOOLCHAIN", "local");
        match arm {
            Some(v) => cmd.env("GOARM", v),
            None => cmd.env_remove("GOARM"),
        };
        cmd.args(["build", "-trimpath", "-o"])
            .arg(self.output_path(arch, arm));
        if let Some(l) = &self.plan.ldflags {
            cmd.arg(format!("-ldflags={l}"));
        }
        if let Some(t) = &self.plan.tags {
            cmd.arg(format!("-tags={t}"));
        }
        cmd.arg(&self.plan.package);
        cmd
    }

    /// Builds every platform at once; each one's output goes to the reporter when all
    /// have finished.
    pub fn run(&self, reporter: &dyn Reporter) -> Result<Vec<Artifact>, CompileError> {
        let results: Vec<(Platform, std::io::Result<std::process::Output>)> =
            std::thread::scope(|s| {
                let handles: Vec<_> = self
                    .targets
                    .iter()
                    .map(|(p, arch, arm)| {
                        let mut cmd = self.command(arch, *arm);
                        let platform = p.clone();
                        s.spawn(move || (platform, cmd.stdin(std::process::Stdio::null()).output()))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("go build threads do not panic"))
                    .collect()
            });
        for (platform, result) in results {
            let label = platform.to_string();
            let out = result.map_err(|source| CompileError::Spawn {
                program: self.go.display().to_string(),
                source,
            })?;
            for line in String::from_utf8_lossy(&out.stdout)
                .lines()
                .chain(String::from_utf8_lossy(&out.stderr).lines())
            {
                reporter.event(Event::ChildOutput {
                    tool: Tool::Go,
                    platform: Some(platform.clone()),
                    line: line.to_string(),
                });
            }
            if !out.status.success() {
                let text = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = text
                    .lines()
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                return Err(CompileError::ToolFailed {
                    tool: format!("go build for {label}"),
                    status: out.status.code(),
                    stderr_tail: tail.join("\n"),
                });
            }
        }
        let artifacts: Vec<PrebuiltArtifact> = self
            .targets
            .iter()
            .map(|(p, arch, arm)| PrebuiltArtifact {
                platform: p.clone(),
                path: self.output_path(arch, *arm),
                dest: self.dest.clone(),
            })
            .collect();
        let mut built = prebuilt(&artifacts)?;
        for (artifact, a) in built.iter_mut().zip(&artifacts) {
            let info = self.build_info(&a.path)?;
            let app = artifact
                .sbom
                .pop()
                .expect("one component per prebuilt file");
            artifact.sbom = super::sbom::go::components(app, &info);
        }
        Ok(built)
    }

    /// What the binary says it was built from (`go version -m`).
    fn build_info(&self, binary: &Path) -> Result<super::sbom::go::BuildInfo, CompileError> {
        let out = Command::new(&self.go)
            .env("GOTOOLCHAIN", "local")
            .args(["version", "-m"])
            .arg(binary)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| CompileError::Spawn {
                program: self.go.display().to_string(),
                source,
            })?;
        if !out.status.success() {
            return Err(CompileError::ToolFailed {
                tool: format!("{} version -m {}", self.go.display(), binary.display()),
                status: out.status.code(),
                stderr_tail: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
            });
        }
        super::sbom::go::parse_version_m(&String::from_utf8_lossy(&out.stdout)).map_err(|message| {
            CompileError::GoBuildInfo {
                path: binary.to_path_buf(),
                message,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_for_arm_v7() {
        let b = GoBuild {
            plan: GoPlan {
                module_dir: "/m".into(),
                package: "./cmd/server".into(),
                name: "server".into(),
                ldflags: Some("-s -w".into()),
                tags: Some("netgo".into()),
            },
            go: "/usr/bin/go".into(),
            targets: vec![],
            out_dir: "/w".into(),
            dest: "/app/server".into(),
        };
        let c = b.command("arm", Some("7"));
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().to_string())
            .collect();
        assert_eq!(
            args.join(" "),
            "build -trimpath -o /w/linux-arm-v7/server -ldflags=-s -w -tags=netgo ./cmd/server"
        );
        let env = |k: &str| {
            c.get_envs()
                .find(|(n, _)| *n == k)
                .and_then(|(_, v)| v)
                .map(|v| v.to_string_lossy().to_string())
        };
        assert_eq!(env("GOARCH").as_deref(), Some("arm"));
        assert_eq!(env("GOARM").as_deref(), Some("7"));
        assert_eq!(env("CGO_ENABLED").as_deref(), Some("0"));
        assert_eq!(env("GOTOOLCHAIN").as_deref(), Some("local"));
        assert_eq!(c.get_current_dir(), Some(Path::new("/m")));
        assert_eq!(
            go_target(&"linux/arm/v6".parse().unwrap()),
            Some(("arm", Some("6")))
        );
    }
}
