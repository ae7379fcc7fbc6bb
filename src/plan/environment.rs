use super::PlanError;
use super::Secret;
use super::Tools;
use crate::registry::{Credential, CredentialSource, CredentialStore};
use std::io::IsTerminal;
use std::path::PathBuf;

/// The parts of the process environment a plan depends on, read in one place.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    pub cwd: PathBuf,
    /// `IMGPUSH_REPO` (clap also reads it into `--repo`; this tells the two apart).
    pub imgpush_repo: Option<String>,
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
    pub encoded_rustflags: Option<String>,
    pub cargo_home: Option<PathBuf>,
    pub zig: Option<PathBuf>,
    pub go: Option<PathBuf>,
    pub stderr_is_terminal: bool,
    /// imgpush's cache directory, chosen by [`cache_dir`] (and created 0700); `None`: no
    /// usable private place, the cache is off.
    pub cache_dir: Option<PathBuf>,
    /// Why the cache is off, when it is; the binaries print it once as a warning.
    pub cache_warning: Option<String>,
    /// `IMGPUSH_CACHE_MAX_MB`: bound on the layer and document cache.
    pub cache_max_mb: Option<String>,
    /// `IMGPUSH_TOOLCHAIN_CACHE`: REGISTRY/REPO sharing std and zig's cache.
    pub toolchain_cache: Option<String>,
    /// One-off credentials for the target registry.
    pub imgpush_username: Option<String>,
    pub imgpush_password: Option<Secret>,
    /// GitLab CI's registry and job credentials (`CI_REGISTRY`, `CI_REGISTRY_USER`,
    /// `CI_REGISTRY_PASSWORD`).
    pub ci_registry: Option<String>,
    pub ci_registry_user: Option<String>,
    pub ci_registry_password: Option<Secret>,
    /// GitHub Actions' job token and actor, for `ghcr.io`.
    pub github_token: Option<Secret>,
    pub github_actor: Option<String>,
    /// podman's auth file locations.
    pub registry_auth_file: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
}

impl Environment {
    pub fn from_process() -> std::io::Result<Environment> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let path = |k: &str| var(k).map(PathBuf::from);
        let home = path("HOME");
        let (cache_dir, cache_warning) = match cache_dir(&CacheDirInputs {
            imgpush_cache_dir: path("IMGPUSH_CACHE_DIR"),
            xdg_cache_home: path("XDG_CACHE_HOME"),
            home: home.clone(),
            temp_dir: std::env::temp_dir(),
            // SAFETY: geteuid has no preconditions and cannot fail.
            uid: unsafe { libc::geteuid() },
        }) {
            Ok(dir) => (Some(dir), None),
            Err(warning) => (None, Some(warning)),
        };
        Ok(Environment {
            cwd: std::env::current_dir()?,
            imgpush_repo: var("IMGPUSH_REPO"),
            source_date_epoch: var("SOURCE_DATE_EPOCH"),
            docker_config: path("DOCKER_CONFIG"),
            home,
            path: std::env::var_os("PATH"),
            imgpush_cargo: path("IMGPUSH_CARGO"),
            imgpush_rustc: path("IMGPUSH_RUSTC"),
            cargo: path("CARGO"),
            rustc: path("RUSTC"),
            rustup_toolchain: var("RUSTUP_TOOLCHAIN"),
            under_cargo_run: var("CARGO_PKG_NAME").is_some(),
            rustflags: var("RUSTFLAGS"),
            encoded_rustflags: var("CARGO_ENCODED_RUSTFLAGS"),
            cargo_home: path("CARGO_HOME"),
            zig: path("CARGO_ZIGBUILD_ZIG_PATH"),
            go: path("GO"),
            stderr_is_terminal: std::io::stderr().is_terminal(),
            cache_dir,
            cache_warning,
            cache_max_mb: var("IMGPUSH_CACHE_MAX_MB"),
            toolchain_cache: var("IMGPUSH_TOOLCHAIN_CACHE"),
            imgpush_username: var("IMGPUSH_USERNAME"),
            imgpush_password: var("IMGPUSH_PASSWORD").map(Secret::new),
            ci_registry: var("CI_REGISTRY"),
            ci_registry_user: var("CI_REGISTRY_USER"),
            ci_registry_password: var("CI_REGISTRY_PASSWORD").map(Secret::new),
            github_token: var("GITHUB_TOKEN").map(Secret::new),
            github_actor: var("GITHUB_ACTOR"),
            registry_auth_file: path("REGISTRY_AUTH_FILE"),
            xdg_runtime_dir: path("XDG_RUNTIME_DIR"),
        })
    }

    /// The credentials CI systems hand a job without a config.json: GitLab's
    /// `CI_REGISTRY_USER`/`CI_REGISTRY_PASSWORD` for `CI_REGISTRY`, and GitHub's
    /// `GITHUB_TOKEN` (as `GITHUB_ACTOR`) for `ghcr.io`.
    fn ci_credentials(&self) -> Vec<(String, Credential, CredentialSource)> {
        let mut out = Vec::new();
        if let (Some(registry), Some(user), Some(password)) = (
            &self.ci_registry,
            &self.ci_registry_user,
            &self.ci_registry_password,
        ) {
            out.push((
                registry.clone(),
                Credential::Basic {
                    username: user.clone(),
                    password: password.expose().to_string(),
                },
                CredentialSource::Ci {
                    variables: "CI_REGISTRY_USER/CI_REGISTRY_PASSWORD",
                },
            ));
        }
        if let Some(token) = &self.github_token {
            out.push((
                "ghcr.io".to_string(),
                Credential::Basic {
                    // GHCR accepts the job token with any username; the actor is what
                    // GitHub's own docs pass.
                    username: self
                        .github_actor
                        .clone()
                        .unwrap_or_else(|| "github-actions".to_string()),
                    password: token.expose().to_string(),
                },
                CredentialSource::Ci {
                    variables: "GITHUB_TOKEN",
                },
            ));
        }
        out
    }

    /// Where credentials come from. `creds` (`--creds USER:PASSWORD`), else
    /// `IMGPUSH_USERNAME`/`IMGPUSH_PASSWORD`, is a one-off credential for `targets`.
    pub fn credential_store(
        &self,
        targets: &[&str],
        creds: Option<&str>,
    ) -> Result<CredentialStore, PlanError> {
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
                    .map(|(u, p)| (u.to_string(), p.to_string(), CredentialSource::Flag))
                    .ok_or_else(|| PlanError::Invalid {
                        what: "--creds",
                        given: "(hidden)".into(),
                        why: "expected USER:PASSWORD".into(),
                    })?,
            ),
            (None, Some(u), Some(p)) => Some((
                u.clone(),
                p.expose().to_string(),
                CredentialSource::Environment,
            )),
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(PlanError::Invalid {
                    what: "IMGPUSH_USERNAME/IMGPUSH_PASSWORD",
                    given: "(hidden)".into(),
                    why: "set both, or neither".into(),
                });
            }
            (None, None, None) => None,
        };
        let mut explicit: Vec<(String, Credential, CredentialSource)> = match one_off {
            Some((username, password, source)) => targets
                .iter()
                .map(|t| {
                    let credential = Credential::Basic {
                        username: username.clone(),
                        password: password.clone(),
                    };
                    (t.to_string(), credential, source.clone())
                })
                .collect(),
            None => Vec::new(),
        };
        // A CI job's own credentials, after the one-off ones (first match wins) and before
        // any config.json: CI runners rarely have one, and these are the job's.
        explicit.extend(self.ci_credentials());
        Ok(CredentialStore {
            docker_config: dir.map(|d| d.join("config.json")),
            auth_files,
            explicit,
            helper_path: self
                .path
                .as_ref()
                .map(|p| std::env::split_paths(p).collect())
                .unwrap_or_default(),
            helper_timeout: None,
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
            encoded_rustflags: self.encoded_rustflags.clone(),
            cargo_home: self
                .cargo_home
                .clone()
                .or_else(|| self.home.as_ref().map(|h| h.join(".cargo"))),
            zig: self.zig.clone(),
            go: self.go.clone(),
            path: self
                .path
                .as_ref()
                .map(|p| std::env::split_paths(p).collect())
                .unwrap_or_default(),
            home: self.home.clone(),
            color: self.stderr_is_terminal,
            cache_dir: self.cache_dir.clone(),
        }
    }
}

/// What the cache location depends on.
#[derive(Clone, Debug)]
pub struct CacheDirInputs {
    pub imgpush_cache_dir: Option<PathBuf>,
    pub xdg_cache_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
    /// `$TMPDIR`, else /tmp.
    pub temp_dir: PathBuf,
    /// The effective uid, which must own a cache in the temporary directory.
    pub uid: u32,
}

/// The cache directory, created 0700: `IMGPUSH_CACHE_DIR`, else `$XDG_CACHE_HOME/imgpush`,
/// else `$HOME/.cache/imgpush`, else — no usable HOME (unset, relative, missing, read-only,
/// as for system users and bare containers) — `$TMPDIR/imgpush-<uid>`. That last one is in
/// a directory every user can write to, where anyone could have made it first and filled
/// it with layers we would push, so it is used only if it is a real directory owned by us
/// and closed to everyone else. `Err`: why there is no cache (a warning for the user).
pub fn cache_dir(inputs: &CacheDirInputs) -> Result<PathBuf, String> {
    use crate::cache::create_private_dir;
    if let Some(dir) = &inputs.imgpush_cache_dir {
        return create_private_dir(dir).map(|_| dir.clone()).map_err(|e| {
            format!(
                "cannot create IMGPUSH_CACHE_DIR {} ({e}); the cache is off",
                dir.display()
            )
        });
    }
    // The XDG base directory spec says relative paths are invalid and to be ignored.
    let usable = |p: &Option<PathBuf>| p.clone().filter(|p| p.is_absolute());
    let candidates = [
        usable(&inputs.xdg_cache_home).map(|x| x.join("imgpush")),
        usable(&inputs.home)
            .filter(|h| h.is_dir())
            .map(|h| h.join(".cache/imgpush")),
    ];
    for dir in candidates.into_iter().flatten() {
        if create_private_dir(&dir).is_ok() {
            return Ok(dir);
        }
    }
    let dir = inputs.temp_dir.join(format!("imgpush-{}", inputs.uid));
    private_temp_dir(&dir, inputs.uid).map(|_| dir.clone()).map_err(|why| {
        format!(
            "no usable HOME or XDG_CACHE_HOME, and {} {why}; the cache is off (set IMGPUSH_CACHE_DIR to a private directory to turn it on)",
            dir.display()
        )
    })
}

/// Makes (or accepts) `dir` in a shared temporary directory: a directory, not a symlink,
/// owned by `uid`, with no permissions for group or others.
fn private_temp_dir(dir: &std::path::Path, uid: u32) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot be created ({e})")),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot be read ({e})"))?;
    if !meta.file_type().is_dir() {
        return Err("exists and is not a directory".into());
    }
    if meta.uid() != uid {
        return Err(format!("belongs to uid {}, not to us ({uid})", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "has mode {:o}, open to other users (expected 700)",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_variables_are_credentials_for_their_registry_only() {
        let env = Environment {
            ci_registry: Some("registry.gitlab.com".into()),
            ci_registry_user: Some("gitlab-ci-token".into()),
            ci_registry_password: Some(Secret::new("glpat-job".to_string())),
            github_token: Some(Secret::new("ghs_job".to_string())),
            github_actor: Some("octocat".into()),
            ..Default::default()
        };
        let store = env
            .credential_store(&["registry.gitlab.com"], None)
            .unwrap();
        let found = |r: &str| store.lookup_with_source(r).unwrap();
        let (gitlab, source) = found("registry.gitlab.com").unwrap();
        assert!(matches!(
            gitlab,
            Credential::Basic { ref username, ref password }
                if username == "gitlab-ci-token" && password == "glpat-job"
        ));
        assert_eq!(
            source.to_string(),
            "the CI variables CI_REGISTRY_USER/CI_REGISTRY_PASSWORD"
        );
        let (ghcr, source) = found("ghcr.io").unwrap();
        assert!(matches!(
            ghcr,
            Credential::Basic { ref username, ref password }
                if username == "octocat" && password == "ghs_job"
        ));
        assert_eq!(source.to_string(), "the CI variables GITHUB_TOKEN");
        assert!(found("docker.io").is_none());
        // --creds for the target comes first.
        let store = env
            .credential_store(&["registry.gitlab.com"], Some("me:mine"))
            .unwrap();
        let (_, source) = store
            .lookup_with_source("registry.gitlab.com")
            .unwrap()
            .unwrap();
        assert_eq!(source.to_string(), "--creds");
        // And none of it shows in Debug.
        let shown = format!("{env:?}");
        assert!(
            !shown.contains("glpat-job") && !shown.contains("ghs_job"),
            "{shown}"
        );
    }

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

        env.under_cargo_run = true;
        let tools = env.tools();
        assert_eq!(
            (tools.cargo, tools.rustc, tools.rustup_toolchain),
            (None, None, None)
        );

        env.imgpush_cargo = Some("/usr/bin/cargo".into());
        let tools = env.tools();
        assert_eq!(
            tools.cargo.as_deref(),
            Some(std::path::Path::new("/usr/bin/cargo")),
            "IMGPUSH_CARGO always wins"
        );
    }

    fn mode(p: &std::path::Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn uid() -> u32 {
        // SAFETY: no preconditions.
        unsafe { libc::geteuid() }
    }

    #[test]
    fn the_cache_goes_to_the_first_usable_private_place() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let tmp = t.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let inputs = CacheDirInputs {
            imgpush_cache_dir: Some(t.path().join("explicit/c")),
            xdg_cache_home: Some(t.path().join("xdg")),
            home: Some(home.clone()),
            temp_dir: tmp.clone(),
            uid: uid(),
        };
        assert_eq!(cache_dir(&inputs).unwrap(), t.path().join("explicit/c"));
        assert_eq!(mode(&t.path().join("explicit/c")), 0o700);

        let inputs = CacheDirInputs {
            imgpush_cache_dir: None,
            ..inputs
        };
        assert_eq!(cache_dir(&inputs).unwrap(), t.path().join("xdg/imgpush"));

        // A relative XDG_CACHE_HOME is invalid (XDG spec): HOME decides.
        let inputs = CacheDirInputs {
            xdg_cache_home: Some("rel".into()),
            ..inputs
        };
        assert_eq!(cache_dir(&inputs).unwrap(), home.join(".cache/imgpush"));
        assert_eq!(mode(&home.join(".cache")), 0o700);
        assert_eq!(mode(&home.join(".cache/imgpush")), 0o700);

        // No HOME, or one that does not exist: a private directory in $TMPDIR, never a
        // shared one.
        for home in [None, Some(t.path().join("nonexistent"))] {
            let inputs = CacheDirInputs {
                xdg_cache_home: None,
                home,
                ..inputs.clone()
            };
            let dir = cache_dir(&inputs).unwrap();
            assert_eq!(dir, tmp.join(format!("imgpush-{}", uid())));
            assert_eq!(mode(&dir), 0o700);
        }
    }

    #[test]
    fn a_temporary_cache_directory_someone_else_could_control_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let inputs = CacheDirInputs {
            imgpush_cache_dir: None,
            xdg_cache_home: None,
            home: None,
            temp_dir: t.path().to_path_buf(),
            uid: uid(),
        };
        let dir = t.path().join(format!("imgpush-{}", uid()));

        // Made by someone before us, open to others.
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = cache_dir(&inputs).unwrap_err();
        assert!(
            err.contains("mode 777") && err.contains("cache is off"),
            "{err}"
        );

        // A symlink (to a private directory of ours, even).
        std::fs::remove_dir(&dir).unwrap();
        let target = t.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(&target, &dir).unwrap();
        let err = cache_dir(&inputs).unwrap_err();
        assert!(err.contains("not a directory"), "{err}");

        // Owned by another user: as seen by a run whose uid is not the owner's.
        std::fs::remove_file(&dir).unwrap();
        let other = CacheDirInputs {
            uid: uid() + 1,
            ..inputs.clone()
        };
        let theirs = t.path().join(format!("imgpush-{}", uid() + 1));
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = cache_dir(&other).unwrap_err();
        assert!(err.contains("belongs to uid"), "{err}");

        // Our own, private: accepted.
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(cache_dir(&inputs).unwrap(), dir);
    }
}
