//! Where credentials come from, in docker's order: a one-off credential (`--creds`,
//! `IMGPUSH_USERNAME`/`IMGPUSH_PASSWORD`), then docker's config.json — `credHelpers`,
//! `credsStore` (running `docker-credential-<name> get` as docker does), `auths` — then
//! podman's auth file. Also writes config.json for `imgpush login` / `logout`.
//! Secrets never reach `Debug`, logs or error messages.

use base64::Engine as _;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod helpers;
mod login;

pub use helpers::HELPER_TIMEOUT;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: the `auth` entry for {registry} is not base64 of `user:password`")]
    BadAuth { path: PathBuf, registry: String },
    #[error(
        "credential helper docker-credential-{helper} (named in {path}) is not installed; install it or remove it from that file"
    )]
    HelperMissing { helper: String, path: PathBuf },
    #[error(
        "credential helper docker-credential-{helper} (named in {path}) gave no answer for {registry} within {} s and was stopped; it may be waiting for a locked keychain or a password prompt: run `echo {registry} | docker-credential-{helper} get` yourself to see, or remove it from that file",
        timeout.as_secs()
    )]
    HelperTimeout {
        helper: String,
        registry: String,
        path: PathBuf,
        timeout: Duration,
    },
    #[error("credential helper docker-credential-{helper} failed for {registry}: {message}")]
    Helper {
        helper: String,
        registry: String,
        message: String,
    },
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no docker config location: set DOCKER_CONFIG or HOME")]
    NoConfigPath,
}

/// Where credentials are looked up. Resolved by `config` (paths from the environment), read
/// here.
#[derive(Clone, Debug, Default)]
pub struct CredentialStore {
    /// `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// podman/containers auth files (`$REGISTRY_AUTH_FILE`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`), read after docker's.
    pub auth_files: Vec<PathBuf>,
    /// A one-off credential (`--creds`, `IMGPUSH_USERNAME`/`PASSWORD`) for the registries
    /// it applies to (`copy`: source and destination), and which of them gave it.
    pub explicit: Vec<(String, Credential, CredentialSource)>,
    /// Directories searched for `docker-credential-*` helpers (PATH). Only absolute ones
    /// are used.
    pub helper_path: Vec<PathBuf>,
    /// How long a helper may take; `None`: [`HELPER_TIMEOUT`].
    pub helper_timeout: Option<Duration>,
}

#[derive(serde::Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The server URL docker uses as a credential key (Docker Hub's is historical).
fn server_url(registry: &str) -> String {
    match normalize_host(registry).as_str() {
        "docker.io" => "https://index.docker.io/v1/".to_string(),
        host => host.to_string(),
    }
}

fn read_json<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
) -> Result<Option<T>, CredentialError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|source| CredentialError::Parse {
                    path: path.to_path_buf(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CredentialError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Where a credential was found, so that a rejection names it (never the secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// `--creds USER:PASSWORD`.
    Flag,
    /// `IMGPUSH_USERNAME`/`IMGPUSH_PASSWORD`.
    Environment,
    /// The username and password `imgpush login` is checking.
    Login,
    /// A CI system's own variables: GitLab's `CI_REGISTRY_USER`/`CI_REGISTRY_PASSWORD` for
    /// `CI_REGISTRY`, GitHub's `GITHUB_TOKEN` for `ghcr.io`.
    Ci { variables: &'static str },
    /// `docker-credential-<helper>`, named in `path`.
    Helper { helper: String, path: PathBuf },
    /// The `auths` entry of docker's config.json or of a podman auth file.
    File { path: PathBuf },
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Flag => write!(f, "--creds"),
            CredentialSource::Environment => write!(f, "IMGPUSH_USERNAME/IMGPUSH_PASSWORD"),
            CredentialSource::Login => write!(f, "the username and password given to login"),
            CredentialSource::Ci { variables } => write!(f, "the CI variables {variables}"),
            CredentialSource::Helper { helper, path } => write!(
                f,
                "credential helper docker-credential-{helper} (named in {})",
                path.display()
            ),
            CredentialSource::File { path } => write!(f, "the `auths` entry in {}", path.display()),
        }
    }
}

impl CredentialStore {
    /// The credential for `registry` (as written in a reference, e.g. `127.0.0.1:5000` or
    /// `docker.io`), or `None` for anonymous access.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        Ok(self.lookup_with_source(registry)?.map(|(c, _)| c))
    }

    /// [`CredentialStore::lookup`], and where the credential was found.
    pub fn lookup_with_source(
        &self,
        registry: &str,
    ) -> Result<Option<(Credential, CredentialSource)>, CredentialError> {
        let wanted = normalize_host(registry);
        if let Some((_, c, source)) = self
            .explicit
            .iter()
            .find(|(r, _, _)| normalize_host(r) == wanted)
        {
            return Ok(Some((c.clone(), source.clone())));
        }
        if let Some(path) = &self.docker_config
            && let Some(config) = read_json::<DockerConfig>(path)?
        {
            let helper = match config
                .cred_helpers
                .iter()
                .find(|(k, _)| normalize_host(k) == wanted)
            {
                Some((_, h)) => Some(h.clone()),
                None => config.creds_store.clone(),
            };
            // An empty name means no helper, the file itself (docker's
            // `getConfiguredCredentialStore`; Docker Desktop leaves `"credsStore": ""`).
            if let Some(helper) = helper.filter(|h| !h.is_empty())
                && let Some(c) = self.helper_get(&helper, registry, path)?
            {
                let source = CredentialSource::Helper {
                    helper,
                    path: path.clone(),
                };
                return Ok(Some((c, source)));
            }
            if let Some(c) = auths_entry(&config.auths, &wanted, path, registry)? {
                return Ok(Some((c, CredentialSource::File { path: path.clone() })));
            }
        }
        for path in &self.auth_files {
            if let Some(config) = read_json::<DockerConfig>(path)?
                && let Some(c) = auths_entry(&config.auths, &wanted, path, registry)?
            {
                return Ok(Some((c, CredentialSource::File { path: path.clone() })));
            }
        }
        Ok(None)
    }
}

fn auths_entry(
    auths: &BTreeMap<String, AuthEntry>,
    wanted: &str,
    path: &Path,
    registry: &str,
) -> Result<Option<Credential>, CredentialError> {
    match auths.iter().find(|(k, _)| normalize_host(k) == wanted) {
        Some((_, entry)) => entry_to_credential(entry, path, registry),
        None => Ok(None),
    }
}

/// A credential for one registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// docker's `identitytoken`: an OAuth2 refresh token for the token endpoint.
    IdentityToken {
        username: String,
        token: String,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: <redacted> }}"
                )
            }
            Credential::IdentityToken { username, .. } => {
                write!(
                    f,
                    "IdentityToken {{ username: {username:?}, token: <redacted> }}"
                )
            }
        }
    }
}

impl Credential {
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credential::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            Credential::IdentityToken { .. } => None,
        }
    }
}

/// The key docker uses for a registry host, with its aliases folded (`index.docker.io`,
/// `registry-1.docker.io` and `https://index.docker.io/v1/` are all Docker Hub).
pub fn normalize_host(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

fn entry_to_credential(
    entry: &AuthEntry,
    path: &Path,
    registry: &str,
) -> Result<Option<Credential>, CredentialError> {
    let (mut username, mut password) = (entry.username.clone(), entry.password.clone());
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let bad = || CredentialError::BadAuth {
            path: path.to_path_buf(),
            registry: registry.to_string(),
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (u, p) = decoded.split_once(':').ok_or_else(bad)?;
        username = Some(u.to_string());
        password = Some(p.to_string());
    }
    if let Some(token) = entry.identitytoken.clone().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken {
            username: username.unwrap_or_default(),
            token,
        }));
    }
    Ok(match (username, password) {
        (Some(username), Some(password)) => Some(Credential::Basic { username, password }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn docker_config_forms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{
                "https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
                "127.0.0.1:5000":{"username":"a","password":"b:c"},
                "ghcr.io":{"auth":"","identitytoken":"tok"}}}"#,
        )
        .unwrap();
        let store = CredentialStore {
            docker_config: Some(path),
            ..Default::default()
        };
        assert_eq!(
            store.lookup("docker.io").unwrap(),
            Some(Credential::Basic {
                username: "user".into(),
                password: "pass".into()
            })
        );
        assert_eq!(
            store.lookup("127.0.0.1:5000").unwrap(),
            Some(Credential::Basic {
                username: "a".into(),
                password: "b:c".into()
            })
        );
        assert!(matches!(
            store.lookup("ghcr.io").unwrap(),
            Some(Credential::IdentityToken { .. })
        ));
        assert_eq!(store.lookup("quay.io").unwrap(), None);
        let debug = format!("{:?}", store.lookup("docker.io").unwrap());
        assert!(
            !debug.contains("pass\"") && debug.contains("redacted"),
            "{debug}"
        );
    }

    pub(super) fn helper_script(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn helpers_explicit_and_podman_files_in_docker_order() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        // Answers only for 127.0.0.1:5000; records what it was asked.
        helper_script(
            &bin,
            "test",
            &format!(
                "read host; echo \"$1 $host\" >> {log}; if [ \"$host\" = 127.0.0.1:5000 ]; then echo '{{\"ServerURL\":\"x\",\"Username\":\"hu\",\"Secret\":\"hs\"}}'; else echo 'credentials not found in native keychain'; exit 1; fi",
                log = dir.path().join("log").display()
            ),
        );
        let config = dir.path().join("config.json");
        std::fs::write(&config, r#"{"credHelpers":{"127.0.0.1:5000":"test"},"auths":{"127.0.0.1:5000":{"auth":"dTpw"},"b.io":{"auth":"dTpw"}}}"#).unwrap();
        let podman = dir.path().join("auth.json");
        std::fs::write(&podman, r#"{"auths":{"c.io":{"auth":"cG9kOm1hbg=="}}}"#).unwrap();
        let store = CredentialStore {
            docker_config: Some(config),
            auth_files: vec![podman],
            explicit: vec![(
                "d.io".into(),
                Credential::Basic {
                    username: "e".into(),
                    password: "f".into(),
                },
                CredentialSource::Flag,
            )],
            helper_path: vec![bin],
            helper_timeout: None,
        };
        let basic = |u: &str, p: &str| {
            Some(Credential::Basic {
                username: u.into(),
                password: p.into(),
            })
        };
        assert_eq!(
            store.lookup("127.0.0.1:5000").unwrap(),
            basic("hu", "hs"),
            "credHelpers before auths"
        );
        assert_eq!(store.lookup("b.io").unwrap(), basic("u", "p"));
        assert_eq!(
            store.lookup("c.io").unwrap(),
            basic("pod", "man"),
            "podman's auth file"
        );
        assert_eq!(
            store.lookup("d.io").unwrap(),
            basic("e", "f"),
            "the one-off credential"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("log")).unwrap(),
            "get 127.0.0.1:5000\n"
        );

        let missing = CredentialStore {
            helper_path: vec![],
            ..store.clone()
        };
        let err = missing.lookup("127.0.0.1:5000").unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-test") && err.contains("not installed"),
            "{err}"
        );
    }

    #[test]
    fn creds_store_is_asked_before_auths_and_falls_through_when_it_has_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        helper_script(
            &bin,
            "store",
            "read host; if [ \"$host\" = a.io ]; then echo '{\"ServerURL\":\"a.io\",\"Username\":\"<token>\",\"Secret\":\"idt\"}'; else echo 'credentials not found in native keychain'; exit 1; fi",
        );
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"credsStore":"store","auths":{"a.io":{"auth":"dTpw"},"b.io":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        let store = CredentialStore {
            docker_config: Some(config),
            helper_path: vec![bin],
            ..Default::default()
        };
        assert!(
            matches!(store.lookup("a.io").unwrap(), Some(Credential::IdentityToken { token, .. }) if token == "idt"),
            "credsStore wins; `<token>` means an identity token"
        );
        assert_eq!(
            store.lookup("b.io").unwrap(),
            Some(Credential::Basic {
                username: "u".into(),
                password: "p".into()
            }),
            "nothing in the store: auths"
        );
    }

    #[test]
    fn an_empty_creds_store_means_the_file_itself() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"credsStore":"","credHelpers":{"b.io":""},"auths":{"a.io":{"auth":"dTpw"},"b.io":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        let store = CredentialStore {
            docker_config: Some(config.clone()),
            ..Default::default()
        };
        let up = Some(Credential::Basic {
            username: "u".into(),
            password: "p".into(),
        });
        assert_eq!(store.lookup("a.io").unwrap(), up);
        assert_eq!(
            store.lookup("b.io").unwrap(),
            up,
            "an empty credHelpers entry too"
        );
        // `login` stores in the file, not in a helper called "".
        store.store("c.io", "alice", "pw").unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        assert_eq!(v["auths"]["c.io"]["auth"], "YWxpY2U6cHc=");
        assert!(store.erase("c.io").unwrap());
    }
}
