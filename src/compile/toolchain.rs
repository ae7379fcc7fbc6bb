//! Finds the Rust toolchain, zig and cargo-zigbuild, and says what a build would need:
//! the same checks back `imgpush doctor` and the up-front check of `imgpush build`.

use crate::plan::Tools;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A cargo + rustc pair and what it can build.
#[derive(Clone, Debug)]
pub struct Toolchain {
    pub cargo: PathBuf,
    pub rustc: PathBuf,
    /// `rustc -V`, e.g. `rustc 1.96.0 (ac68faa20 2026-05-25)`.
    pub version: String,
    pub sysroot: PathBuf,
    /// Where it came from, for messages.
    pub origin: &'static str,
}

impl Toolchain {
    /// Is a prebuilt std for `triple` installed in the sysroot?
    pub fn has_std(&self, triple: &str) -> bool {
        let dir = self.sysroot.join("lib/rustlib").join(triple).join("lib");
        std::fs::read_dir(dir)
            .map(|entries| {
                entries.flatten().any(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with("libstd-") && name.ends_with(".rlib")
                })
            })
            .unwrap_or(false)
    }

    /// Is the std source (rustup's rust-src, Debian's rust-src / rust-web-src) installed, so
    /// std can be built for any target with `-Zbuild-std`?
    pub fn has_std_source(&self) -> bool {
        self.sysroot
            .join("lib/rustlib/src/rust/library/std/Cargo.toml")
            .is_file()
    }

    /// Managed by rustup (so `rustup target add` is the fix for a missing std)?
    pub fn is_rustup(&self) -> bool {
        self.sysroot
            .components()
            .any(|c| c.as_os_str() == ".rustup")
    }

    /// The command that installs std (or its source) for `triple` on this toolchain.
    pub fn std_fix(&self, triple: &str) -> String {
        if self.is_rustup() {
            format!("rustup target add {triple}")
        } else if self.version.contains("built from a source tarball")
            || self.sysroot == Path::new("/usr")
        {
            "apt-get install rust-web-src   # std source for Debian's rustc-web (rust-src for Debian's rustc); imgpush then builds std".to_string()
        } else {
            format!(
                "install the standard library for {triple} for {}",
                self.rustc.display()
            )
        }
    }
}

/// Runs `program args…` and returns trimmed stdout if it succeeds.
fn output(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub fn find_in_path(tools: &Tools, name: &str) -> Option<PathBuf> {
    tools
        .path
        .iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn probe(cargo: PathBuf, rustc: PathBuf, origin: &'static str) -> Option<Toolchain> {
    // The first line of `rustc -vV` is `rustc -V`.
    let version = output(&rustc, &["-vV"])?.lines().next()?.to_string();
    let sysroot = PathBuf::from(output(&rustc, &["--print", "sysroot"])?);
    output(&cargo, &["-V"])?;
    Some(Toolchain {
        cargo,
        rustc,
        version,
        sysroot,
        origin,
    })
}

/// Every usable toolchain, most preferred first: the one the user named (`IMGPUSH_CARGO` /
/// `IMGPUSH_RUSTC`, or `CARGO` / `RUSTC` when they were not exported by an outer
/// `cargo run`); otherwise `cargo`/`rustc` from PATH, then the distribution's in /usr/bin.
pub fn candidates(tools: &Tools) -> Vec<Toolchain> {
    if tools.cargo.is_some() || tools.rustc.is_some() {
        let cargo = tools.cargo.clone().or_else(|| find_in_path(tools, "cargo"));
        let rustc = tools.rustc.clone().or_else(|| {
            let sibling = cargo.as_ref()?.with_file_name("rustc");
            sibling.is_file().then_some(sibling)
        });
        let rustc = rustc.or_else(|| find_in_path(tools, "rustc"));
        return match (cargo, rustc) {
            (Some(c), Some(r)) => probe(c, r, "chosen by CARGO/RUSTC").into_iter().collect(),
            _ => Vec::new(),
        };
    }
    let mut out: Vec<Toolchain> = Vec::new();
    if let (Some(c), Some(r)) = (find_in_path(tools, "cargo"), find_in_path(tools, "rustc")) {
        out.extend(probe(c, r, "from PATH"));
    }
    let (c, r) = (
        PathBuf::from("/usr/bin/cargo"),
        PathBuf::from("/usr/bin/rustc"),
    );
    if c.is_file() && r.is_file() && !out.iter().any(|t| t.rustc == r) {
        out.extend(probe(c, r, "the distribution's /usr/bin"));
    }
    out
}

/// How std gets there for a build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdSource {
    Installed,
    /// Built from source with `-Zbuild-std`.
    Build,
}

/// Choose the toolchain for `triples`: the first candidate with a prebuilt std for every
/// target (faster), else the first that can build std from source (if allowed).
pub fn choose<'a>(
    candidates: &'a [Toolchain],
    triples: &[&str],
    build_std: crate::plan::BuildStd,
) -> Option<(&'a Toolchain, StdSource)> {
    use crate::plan::BuildStd;
    if build_std != BuildStd::Always
        && let Some(t) = candidates
            .iter()
            .find(|t| triples.iter().all(|x| t.has_std(x)))
    {
        return Some((t, StdSource::Installed));
    }
    if build_std != BuildStd::Never
        && let Some(t) = candidates.iter().find(|t| t.has_std_source())
    {
        return Some((t, StdSource::Build));
    }
    None
}

/// The zig binary cargo-zigbuild should use: `CARGO_ZIGBUILD_ZIG_PATH`, `zig` on PATH, or
/// the one inside pip's `ziglang` package (found through `python3` on PATH, or the Python
/// next to a `python-zig` script).
pub fn find_zig(tools: &Tools) -> Option<PathBuf> {
    if let Some(z) = &tools.zig {
        return z.is_file().then(|| z.clone());
    }
    if let Some(z) = find_in_path(tools, "zig") {
        return Some(z);
    }
    let pythons = find_in_path(tools, "python-zig")
        .map(|p| p.with_file_name("python3"))
        .into_iter()
        .chain(find_in_path(tools, "python3"));
    for python in pythons.filter(|p| p.is_file()) {
        if let Some(dir) = output(
            &python,
            &[
                "-c",
                "import ziglang, os; print(os.path.dirname(ziglang.__file__))",
            ],
        ) {
            let zig = PathBuf::from(dir).join("zig");
            if zig.is_file() {
                return Some(zig);
            }
        }
    }
    None
}

pub fn find_zigbuild(tools: &Tools) -> Option<PathBuf> {
    find_in_path(tools, "cargo-zigbuild").or_else(|| {
        let p = tools.home.as_ref()?.join(".cargo/bin/cargo-zigbuild");
        p.is_file().then_some(p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_toolchain(dir: &Path, stds: &[&str], src: bool) -> Toolchain {
        for t in stds {
            let lib = dir.join("lib/rustlib").join(t).join("lib");
            std::fs::create_dir_all(&lib).unwrap();
            std::fs::write(lib.join("libstd-abc.rlib"), b"").unwrap();
        }
        if src {
            let s = dir.join("lib/rustlib/src/rust/library/std");
            std::fs::create_dir_all(&s).unwrap();
            std::fs::write(s.join("Cargo.toml"), b"").unwrap();
        }
        Toolchain {
            cargo: "cargo".into(),
            rustc: "rustc".into(),
            version: "rustc 1.0".into(),
            sysroot: dir.to_path_buf(),
            origin: "test",
        }
    }

    #[test]
    fn prefers_prebuilt_std_then_std_source() {
        use crate::plan::BuildStd;
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let only_host = fake_toolchain(a.path(), &["x86_64-unknown-linux-gnu"], false);
        let with_src = fake_toolchain(b.path(), &["x86_64-unknown-linux-gnu"], true);
        let list = vec![only_host, with_src];
        let (t, how) = choose(&list, &["aarch64-unknown-linux-musl"], BuildStd::Auto).unwrap();
        assert_eq!((t.sysroot.as_path(), how), (b.path(), StdSource::Build));
        let (t, how) = choose(&list, &["x86_64-unknown-linux-gnu"], BuildStd::Auto).unwrap();
        assert_eq!((t.sysroot.as_path(), how), (a.path(), StdSource::Installed));
        assert!(choose(&list, &["aarch64-unknown-linux-musl"], BuildStd::Never).is_none());
        assert_eq!(
            choose(&list, &["x86_64-unknown-linux-gnu"], BuildStd::Always)
                .unwrap()
                .1,
            StdSource::Build
        );
        assert_eq!(
            list[0].std_fix("aarch64-unknown-linux-musl"),
            format!("install the standard library for aarch64-unknown-linux-musl for rustc")
        );
    }
}

/// One line of `imgpush doctor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    Ok(String),
    /// Needed and missing; `fix` is the exact command that repairs it.
    Missing {
        problem: String,
        fix: String,
    },
    /// Not needed for this build; reported for information.
    Info(String),
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Ok(detail.into()),
        }
    }
    fn missing(
        name: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Missing {
                problem: problem.into(),
                fix: fix.into(),
            },
        }
    }
}

/// What a Rust build would run with, and what is missing.
#[derive(Clone, Debug)]
pub struct Inspection {
    pub checks: Vec<Check>,
    pub chosen: Option<(Toolchain, StdSource)>,
    pub zig: Option<PathBuf>,
    pub zigbuild: Option<PathBuf>,
}

impl Inspection {
    pub fn problems(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| matches!(c.status, CheckStatus::Missing { .. }))
            .collect()
    }
}

/// Checks cargo, rustc, each target's std (or std source), zig and cargo-zigbuild.
pub fn inspect(
    tools: &Tools,
    triples: &[&str],
    builder: crate::plan::Builder,
    build_std: crate::plan::BuildStd,
) -> Inspection {
    let mut checks = Vec::new();
    let all = candidates(tools);
    if all.is_empty() {
        let named = tools.cargo.is_some() || tools.rustc.is_some();
        checks.push(Check::missing(
            "cargo + rustc",
            if named { "the toolchain named by IMGPUSH_CARGO/CARGO or IMGPUSH_RUSTC/RUSTC does not run" } else { "no Rust toolchain found on PATH or in /usr/bin" },
            "install Rust: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh   (or: apt-get install cargo-web rustc-web rust-web-src)",
        ));
    }
    let chosen = choose(&all, triples, build_std).map(|(t, s)| (t.clone(), s));
    let mut skipped = Vec::new();
    if let Some((picked, _)) = &chosen {
        for other in all.iter().filter(|t| t.rustc != picked.rustc) {
            let lacking: Vec<&&str> = triples.iter().filter(|x| !other.has_std(x)).collect();
            if !lacking.is_empty() {
                skipped.push(Check {
                    name: format!("skipped {}", other.rustc.display()),
                    status: CheckStatus::Info(format!(
                        "{} ({}) has no std for {}{}; to use it instead: {}",
                        other.version,
                        other.origin,
                        lacking
                            .iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        if other.has_std_source() {
                            ""
                        } else {
                            " and no std source"
                        },
                        other.std_fix(lacking[0]),
                    )),
                });
            }
        }
    }
    if let Some((t, how)) = &chosen {
        checks.push(Check::ok(
            "cargo",
            format!("{} ({})", t.cargo.display(), t.origin),
        ));
        checks.push(Check::ok(
            "rustc",
            format!("{} — {}", t.rustc.display(), t.version),
        ));
        for triple in triples {
            checks.push(match how {
                StdSource::Installed => Check::ok(format!("std for {triple}"), "installed"),
                StdSource::Build if t.has_std(triple) => Check::ok(
                    format!("std for {triple}"),
                    "installed (rebuilt with the others: --build-std always)",
                ),
                StdSource::Build => Check::ok(
                    format!("std for {triple}"),
                    format!(
                        "not installed; built from source ({}/lib/rustlib/src) by the first build for this target, then kept in imgpush's std cache",
                        t.sysroot.display()
                    ),
                ),
            });
        }
    } else if let Some(first) = all.first() {
        checks.push(Check::ok(
            "cargo",
            format!("{} ({})", first.cargo.display(), first.origin),
        ));
        checks.push(Check::ok(
            "rustc",
            format!("{} — {}", first.rustc.display(), first.version),
        ));
        for triple in triples.iter().filter(|x| !all.iter().any(|t| t.has_std(x))) {
            let why = match build_std {
                crate::plan::BuildStd::Never => "not installed (and --build-std never)",
                _ => "not installed, and no toolchain has the std source to build it",
            };
            checks.push(Check::missing(
                format!("std for {triple}"),
                why,
                first.std_fix(triple),
            ));
        }
    }
    checks.extend(skipped);
    let (mut zig, mut zigbuild) = (None, None);
    if builder == crate::plan::Builder::Zigbuild {
        zigbuild = find_zigbuild(tools);
        checks.push(match &zigbuild {
            Some(p) => Check::ok("cargo-zigbuild", p.display().to_string()),
            None => Check::missing(
                "cargo-zigbuild",
                "not found on PATH",
                "pip install cargo-zigbuild   (or: cargo install cargo-zigbuild)",
            ),
        });
        zig = find_zig(tools);
        checks.push(match &zig {
            Some(p) => Check::ok("zig", p.display().to_string()),
            None => Check::missing(
                "zig",
                "not found (CARGO_ZIGBUILD_ZIG_PATH, PATH, or pip's ziglang)",
                "pip install ziglang",
            ),
        });
    }
    Inspection {
        checks,
        chosen,
        zig,
        zigbuild,
    }
}
