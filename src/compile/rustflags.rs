//! The flags imgpush adds to every target crate — a source-built std's `--sysroot`, musl's
//! `-C link-self-contained=no`, and the path remaps that make a binary the same whichever
//! checkout, `CARGO_HOME`, user or temporary directory built it — merged with the user's
//! own flags exactly as cargo would have chosen them, never replacing them.
//!
//! cargo takes a target's flags from the first source that has any: `CARGO_ENCODED_RUSTFLAGS`,
//! `RUSTFLAGS`, then `target.<triple>.rustflags` joined with every matching
//! `target.'cfg(…)'.rustflags`, then `build.rustflags`. When the user's come from the
//! environment, ours are appended to the same variable. Otherwise ours go in as
//! `--config target.<triple>.rustflags=[…]`, which cargo joins after the user's
//! `target.<triple>` flags; when the user has only `build.rustflags` (which any
//! `target.<triple>.rustflags` would silence), those are carried into ours first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

/// A rewrite of a path prefix in everything rustc writes (panic locations, `file!()`,
/// debug info), as `--remap-path-prefix FROM=TO`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remap {
    pub from: PathBuf,
    pub to: String,
}

/// The machine-specific directories a build reads sources from or writes into, each with the
/// fixed name it gets in the binary (cargo's RFC 3127 `trim-paths` names).
#[derive(Clone, Debug, Default)]
pub struct BuildPaths {
    /// `$CARGO_HOME` (registry sources, git checkouts) → `/cargo`.
    pub cargo_home: Option<PathBuf>,
    /// The workspace root (path dependencies inside it, the compiler's working directory)
    /// → `.`.
    pub workspace_root: Option<PathBuf>,
    /// The target directory (`OUT_DIR` files of build scripts) → `/cargo/build-dir`.
    pub target_dir: Option<PathBuf>,
    /// `<sysroot>/lib/rustlib/src/rust` with the rustc commit → `/rustc/<commit>`, as
    /// rustup's std names its own sources.
    pub rust_src: Option<(PathBuf, String)>,
    /// imgpush's std cache (the empty crate and build directory std is compiled in) →
    /// `/imgpush/std`.
    pub std_cache: Option<PathBuf>,
}

impl BuildPaths {
    /// The remaps, shortest prefix first: rustc applies the last matching one, so a target
    /// directory or `CARGO_HOME` inside the workspace keeps its own name.
    pub fn remaps(&self) -> Vec<Remap> {
        let mut out: Vec<Remap> = Vec::new();
        let mut add = |from: &Option<PathBuf>, to: &str| {
            if let Some(from) = from {
                out.push(Remap {
                    from: from.clone(),
                    to: to.to_string(),
                });
            }
        };
        add(&self.workspace_root, ".");
        add(&self.cargo_home, "/cargo");
        add(&self.target_dir, "/cargo/build-dir");
        add(&self.std_cache, "/imgpush/std");
        if let Some((src, commit)) = &self.rust_src {
            out.push(Remap {
                from: src.clone(),
                to: format!("/rustc/{commit}"),
            });
        }
        out.sort_by_key(|r| r.from.as_os_str().len());
        out.dedup_by(|a, b| a.from == b.from);
        out
    }

    /// The remaps as rustc flags.
    pub fn flags(&self) -> Vec<String> {
        self.remaps()
            .into_iter()
            .map(|r| format!("--remap-path-prefix={}={}", r.from.display(), r.to))
            .collect()
    }
}

/// The user's rustflags, from wherever cargo would take them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserFlags {
    /// `CARGO_ENCODED_RUSTFLAGS` (unit-separated) or `RUSTFLAGS` (space-separated): when
    /// set, cargo reads no config rustflags at all.
    pub env: Option<EnvFlags>,
    /// `build.rustflags` from cargo's config (files, `CARGO_BUILD_RUSTFLAGS`, `--config`).
    pub build: Vec<String>,
    /// `target.<key>.rustflags` by key: a triple or a `cfg(…)` expression.
    pub target: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvFlags {
    Encoded(String),
    Plain(String),
}

/// How our flags reach cargo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Environment variables to set (the user's own variable, extended).
    pub env: Vec<(String, String)>,
    /// `--config` arguments, one per target.
    pub config: Vec<String>,
}

/// One value of cargo's config (`cargo config get KEY`, as JSON), asked from the working
/// directory; `None` when it is not set or this cargo cannot say.
pub fn config_value(cargo: &Path, key: &str) -> Option<serde_json::Value> {
    let out = Command::new(cargo)
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "-Zunstable-options",
            "config",
            "get",
            "--format",
            "json-value",
        ])
        .arg(key)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// What cargo's config says about rustflags, asked of cargo itself (`cargo config get`,
/// unstable, so under `RUSTC_BOOTSTRAP=1` for this query only). A cargo without it gives
/// none: then only the environment's flags are known.
/// Asked from the working directory, as the build itself reads cargo's config.
pub fn config_flags(cargo: &Path) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let get = |key: &str| config_value(cargo, key);
    let list = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            serde_json::Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
            _ => Vec::new(),
        }
    };
    let build = get("build.rustflags").map(|v| list(&v)).unwrap_or_default();
    let mut target = BTreeMap::new();
    if let Some(serde_json::Value::Object(t)) = get("target") {
        for (key, table) in t {
            if let Some(flags) = table.get("rustflags") {
                target.insert(key, list(flags));
            }
        }
    }
    (build, target)
}

/// `rustc --print cfg --target TRIPLE`, for matching `target.'cfg(…)'` keys.
pub fn target_cfgs(rustc: &Path, triple: &str) -> Vec<cargo_platform::Cfg> {
    let Ok(out) = Command::new(rustc)
        .args(["--print", "cfg", "--target", triple])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| cargo_platform::Cfg::from_str(l).ok())
        .collect()
}

impl UserFlags {
    /// Does the user's config give `triple` flags of its own (so `build.rustflags` is not
    /// used for it)?
    fn has_target_flags(&self, triple: &str, cfgs: &[cargo_platform::Cfg]) -> bool {
        self.target.iter().any(|(key, flags)| {
            !flags.is_empty()
                && (key == triple
                    || (key.starts_with("cfg(")
                        && cargo_platform::Platform::from_str(key)
                            .is_ok_and(|p| p.matches(triple, cfgs))))
        })
    }

    /// Our `flags` for each `(triple, its cfgs)`, delivered so that the user's stay.
    pub fn deliver(
        &self,
        targets: &[(&str, Vec<cargo_platform::Cfg>)],
        flags: &[String],
    ) -> Delivery {
        match &self.env {
            Some(EnvFlags::Encoded(v)) => {
                let mut all: Vec<&str> = v.split('\u{1f}').filter(|s| !s.is_empty()).collect();
                all.extend(flags.iter().map(String::as_str));
                Delivery {
                    env: vec![("CARGO_ENCODED_RUSTFLAGS".into(), all.join("\u{1f}"))],
                    config: Vec::new(),
                }
            }
            Some(EnvFlags::Plain(v)) => {
                let mut all: Vec<&str> = v.split_whitespace().collect();
                all.extend(flags.iter().map(String::as_str));
                Delivery {
                    env: vec![("RUSTFLAGS".into(), all.join(" "))],
                    config: Vec::new(),
                }
            }
            None => Delivery {
                env: Vec::new(),
                config: targets
                    .iter()
                    .map(|(triple, cfgs)| {
                        let mut list: Vec<String> = if self.has_target_flags(triple, cfgs) {
                            Vec::new()
                        } else {
                            self.build.clone()
                        };
                        list.extend(flags.iter().cloned());
                        format!("target.{triple}.rustflags={}", toml_list(&list))
                    })
                    .collect(),
            },
        }
    }
}

/// A TOML array of strings, for `--config KEY=VALUE`.
fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| toml::Value::String(s.clone()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// `rustc -vV`, whole: release, commit, host, LLVM version (no paths).
pub fn rustc_verbose_version(rustc: &Path) -> Option<String> {
    let out = Command::new(rustc).arg("-vV").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// The rustc commit (`rustc -vV`'s `commit-hash`), else its release number.
pub fn rustc_commit(rustc: &Path) -> Option<String> {
    let out = Command::new(rustc).arg("-vV").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty() && v != "unknown")
    };
    field("commit-hash:").or_else(|| field("release:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfgs(lines: &[&str]) -> Vec<cargo_platform::Cfg> {
        lines
            .iter()
            .map(|l| cargo_platform::Cfg::from_str(l).unwrap())
            .collect()
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn remaps_put_the_most_specific_prefix_last() {
        let paths = BuildPaths {
            cargo_home: Some("/ws/.cargo".into()),
            workspace_root: Some("/ws".into()),
            target_dir: Some("/ws/target".into()),
            rust_src: Some(("/usr/lib/rustlib/src/rust".into(), "abc".into())),
            std_cache: Some("/home/u/.cache/imgpush/std-1".into()),
        };
        assert_eq!(
            paths.flags(),
            strings(&[
                "--remap-path-prefix=/ws=.",
                "--remap-path-prefix=/ws/.cargo=/cargo",
                "--remap-path-prefix=/ws/target=/cargo/build-dir",
                "--remap-path-prefix=/usr/lib/rustlib/src/rust=/rustc/abc",
                "--remap-path-prefix=/home/u/.cache/imgpush/std-1=/imgpush/std",
            ])
        );
    }

    #[test]
    fn environment_flags_are_extended_in_place() {
        let ours = strings(&["--remap-path-prefix=/a=/b"]);
        let plain = UserFlags {
            env: Some(EnvFlags::Plain("-C  target-cpu=native".into())),
            build: strings(&["ignored"]),
            ..UserFlags::default()
        };
        assert_eq!(
            plain.deliver(&[("x86_64-unknown-linux-musl", vec![])], &ours),
            Delivery {
                env: vec![(
                    "RUSTFLAGS".into(),
                    "-C target-cpu=native --remap-path-prefix=/a=/b".into()
                )],
                config: vec![],
            }
        );
        let encoded = UserFlags {
            env: Some(EnvFlags::Encoded("--cfg\u{1f}x y".into())),
            ..UserFlags::default()
        };
        assert_eq!(
            encoded.deliver(&[], &ours).env[0].1,
            "--cfg\u{1f}x y\u{1f}--remap-path-prefix=/a=/b"
        );
    }

    #[test]
    fn build_rustflags_are_carried_only_where_no_target_flags_silence_them() {
        let user = UserFlags {
            env: None,
            build: strings(&["-C", "opt-level=2"]),
            target: BTreeMap::from([
                (
                    "cfg(target_arch = \"aarch64\")".to_string(),
                    strings(&["--cfg", "arm"]),
                ),
                ("riscv64gc-unknown-linux-gnu".to_string(), strings(&["-Cx"])),
            ]),
        };
        let amd = cfgs(&["target_arch=\"x86_64\"", "target_os=\"linux\"", "unix"]);
        let arm = cfgs(&["target_arch=\"aarch64\"", "target_os=\"linux\"", "unix"]);
        let d = user.deliver(
            &[
                ("x86_64-unknown-linux-musl", amd),
                ("aarch64-unknown-linux-musl", arm),
                ("riscv64gc-unknown-linux-gnu", vec![]),
            ],
            &strings(&["--sysroot", "/s y"]),
        );
        assert!(d.env.is_empty());
        assert_eq!(
            d.config,
            strings(&[
                r#"target.x86_64-unknown-linux-musl.rustflags=["-C", "opt-level=2", "--sysroot", "/s y"]"#,
                r#"target.aarch64-unknown-linux-musl.rustflags=["--sysroot", "/s y"]"#,
                r#"target.riscv64gc-unknown-linux-gnu.rustflags=["--sysroot", "/s y"]"#,
            ])
        );
    }
}
