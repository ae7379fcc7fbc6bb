use super::ConfigError;
use super::Tools;
use crate::registry::{Credential, CredentialStore};
use std::io::IsTerminal;
use std::path::PathBuf;

/// The parts of the process environment a plan depends on, read in one place.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    pub cwd: PathBuf,
    pub source_date_epoch: Option<String>,
    pub docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub path: Option<std::ffi::OsString>,
    /// `IMGPUSH_CARGO` / `IMGPUSH_RUSTC`: the toolchain to build with, always respected.
    pub imgpush_cargo: Option<PathBuf>,
    pub imgpush_rustc: Option<PathBuf>,
    pub cargo: Option<PathBuf>,
    pub rustc: Option<PathBuf>,
    pub rustup_toolchain: Option<String>,
    /// Set when an outer `cargo run` / `cargo test` started us: its `CARGO`, `RUSTC` and
    /// `RUSTUP_TOOLCHAIN` describe the toolchain that built imgpush, not the user's choice.
    pub under_cargo_run: bool,
    pub rustflags: Option<String>,
    pub zig: Option<PathBuf>,
    pub go: Option<PathBuf>,
    pub stderr_is_terminal: bool,
    pub cache_dir: Option<PathBuf>,
    /// `IMGPUSH_CACHE_MAX_MB`: bound on the layer and document cache.
    pub cache_max_mb: Option<String>,
    pub xdg_cache_home: Option<PathBuf>,
    /// One-off credentials for the target registry.
    pub imgpush_username: Option<String>,
    pub imgpush_password: Option<String>,
    /// podman's auth file locations.
    pub registry_auth_file: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
}

impl Environment {
    pub fn from_process() -> std::io::Result<Environment> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let path = |k: &str| var(k).map(PathBuf::from);
        Ok(Environment {
            cwd: std::env::current_dir()?,
            source_date_epoch: var("SOURCE_DATE_EPOCH"),
            docker_config: path("DOCKER_CONFIG"),
            home: path("HOME"),
            path: std::env::var_os("PATH"),
            imgpush_cargo: path("IMGPUSH_CARGO"),
            imgpush_rustc: path("IMGPUSH_RUSTC"),
            cargo: path("CARGO"),
            rustc: path("RUSTC"),
            rustup_toolchain: var("RUSTUP_TOOLCHAIN"),
            under_cargo_run: var("CARGO_PKG_NAME").is_some(),
            rustflags: var("RUSTFLAGS"),
            zig: path("CARGO_ZIGBUILD_ZIG_PATH"),
            go: path("GO"),
            stderr_is_terminal: std::io::stderr().is_terminal(),
            cache_dir: path("IMGPUSH_CACHE_DIR"),
            cache_max_mb: var("IMGPUSH_CACHE_MAX_MB"),
            xdg_cache_home: path("XDG_CACHE_HOME"),
            imgpush_username: var("IMGPUSH_USERNAME"),
            imgpush_password: var("IMGPUSH_PASSWORD"),
            registry_auth_file: path("REGISTRY_AUTH_FILE"),
            xdg_runtime_dir: path("XDG_RUNTIME_DIR"),
        })
    }

    /// Where credentials come from. `creds` (`--creds USER:PASSWORD`), else
    /// `IMGPUSH_USERNAME`/`IMGPUSH_PASSWORD`, is a one-off credential for `target`.
    pub fn credential_store(
        &self,
        target: Option<&str>,
        creds: Option<&str>,
    ) -> Result<CredentialStore, ConfigError> {
        let dir = self
            .docker_config
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".docker")));
        let mut auth_files: Vec<PathBuf> = self.registry_auth_file.iter().cloned().collect();
        auth_files.extend(
            self.xdg_runtime_dir
                .as_ref()
                .map(|d| d.join("containers/auth.json")),
        );
        let one_off = match (creds, &self.imgpush_username, &self.imgpush_password) {
            (Some(c), _, _) => Some(
                c.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
                    .ok_or_else(|| ConfigError::Invalid {
                        what: "--creds",
                        given: "(hidden)".into(),
                        why: "expected USER:PASSWORD".into(),
                    })?,
            ),
            (None, Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    what: "IMGPUSH_USERNAME/IMGPUSH_PASSWORD",
                    given: "(hidden)".into(),
                    why: "set both, or neither".into(),
                });
            }
            (None, None, None) => None,
        };
        Ok(CredentialStore {
            docker_config: dir.map(|d| d.join("config.json")),
            auth_files,
            explicit: match (one_off, target) {
                (Some((username, password)), Some(t)) => {
                    Some((t.to_string(), Credential::Basic { username, password }))
                }
                _ => None,
            },
            helper_path: self
                .path
                .as_ref()
                .map(|p| std::env::split_paths(p).collect())
                .unwrap_or_default(),
        })
    }

    /// `--ca-cert` files (relative to the working directory) and the certs.d directories.
    pub fn tls(&self, ca_certs: &[PathBuf]) -> super::TlsConfig {
        let mut certs_dirs = vec![
            PathBuf::from("/etc/containers/certs.d"),
            PathBuf::from("/etc/docker/certs.d"),
        ];
        certs_dirs.extend(self.home.as_ref().map(|h| h.join(".docker/certs.d")));
        super::TlsConfig {
            ca_files: ca_certs.iter().map(|c| self.cwd.join(c)).collect(),
            certs_dirs,
        }
    }

    /// Where the external tools are. `CARGO`/`RUSTC`/`RUSTUP_TOOLCHAIN` count as the user's
    /// choice unless an outer `cargo run` exported them (TOOLCHAIN pitfall: otherwise a
    /// build would silently use the toolchain that built imgpush).
    pub fn tools(&self) -> Tools {
        let own = |v: &Option<PathBuf>| {
            if self.under_cargo_run {
                None
            } else {
                v.clone()
            }
        };
        Tools {
            cargo: self.imgpush_cargo.clone().or_else(|| own(&self.cargo)),
            rustc: self.imgpush_rustc.clone().or_else(|| own(&self.rustc)),
            rustup_toolchain: if self.under_cargo_run {
                None
            } else {
                self.rustup_toolchain.clone()
            },
            rustflags: self.rustflags.clone(),
            zig: self.zig.clone(),
            go: self.go.clone(),
            path: self
                .path
                .as_ref()
                .map(|p| std::env::split_paths(p).collect())
                .unwrap_or_default(),
            home: self.home.clone(),
            color: self.stderr_is_terminal,
            cache_dir: self
                .cache_dir
                .clone()
                .or_else(|| self.xdg_cache_home.as_ref().map(|x| x.join("imgpush")))
                .or_else(|| self.home.as_ref().map(|h| h.join(".cache/imgpush")))
                .unwrap_or_else(|| std::env::temp_dir().join("imgpush-cache")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_exported_by_an_outer_cargo_run_is_not_the_users_choice() {
        let mut env = Environment {
            cargo: Some("/home/u/.rustup/toolchains/stable/bin/cargo".into()),
            rustc: Some("/usr/bin/rustc".into()),
            rustup_toolchain: Some("stable".into()),
            home: Some("/home/u".into()),
            ..Default::default()
        };
        let tools = env.tools();
        assert_eq!(
            tools.cargo.as_deref(),
            Some(std::path::Path::new(
                "/home/u/.rustup/toolchains/stable/bin/cargo"
            ))
        );
        assert_eq!(tools.rustup_toolchain.as_deref(), Some("stable"));
        assert_eq!(tools.cache_dir, PathBuf::from("/home/u/.cache/imgpush"));

        env.under_cargo_run = true;
        let tools = env.tools();
        assert_eq!(
            (tools.cargo, tools.rustc, tools.rustup_toolchain),
            (None, None, None)
        );

        env.imgpush_cargo = Some("/usr/bin/cargo".into());
        env.cache_dir = Some("/c".into());
        let tools = env.tools();
        assert_eq!(
            tools.cargo.as_deref(),
            Some(std::path::Path::new("/usr/bin/cargo")),
            "IMGPUSH_CARGO always wins"
        );
        assert_eq!(tools.cache_dir, PathBuf::from("/c"));
    }
}
