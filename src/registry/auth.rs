//! Registry authentication: `WWW-Authenticate` challenges, credentials from docker's
//! config.json, and the Bearer token exchange (one token for several scopes).

use base64::Engine as _;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

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
}

/// Where docker keeps credentials (`$DOCKER_CONFIG/config.json`). Resolved by `config`,
/// read here.
#[derive(Clone, Debug, Default)]
pub struct CredentialStore {
    pub docker_config: Option<PathBuf>,
}

#[derive(serde::Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
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

impl CredentialStore {
    /// The credential for `registry` (as written in a reference, e.g. `127.0.0.1:5000` or
    /// `docker.io`), or `None` for anonymous access.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let Some(path) = &self.docker_config else {
            return Ok(None);
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CredentialError::Read {
                    path: path.clone(),
                    source,
                });
            }
        };
        let config: DockerConfig =
            serde_json::from_str(&text).map_err(|source| CredentialError::Parse {
                path: path.clone(),
                source,
            })?;
        let wanted = normalize_host(registry);
        let Some(entry) = config
            .auths
            .iter()
            .find(|(k, _)| normalize_host(k) == wanted)
            .map(|(_, v)| v)
        else {
            return Ok(None);
        };
        entry_to_credential(entry, path, registry)
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

/// One challenge of a `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parses a `WWW-Authenticate` value, which may hold several challenges
/// (`Bearer realm="…",service="…", Basic realm="…"`); quoted values may contain commas.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        // A token followed by whitespace (or end) starts a new challenge; `k=v` continues one.
        let token_end = rest.find([' ', ',', '=']).unwrap_or(rest.len());
        let token = &rest[..token_end];
        let after = rest[token_end..].trim_start();
        if !after.starts_with('=') {
            if !token.is_empty() {
                out.push(Challenge {
                    scheme: token.to_ascii_lowercase(),
                    params: BTreeMap::new(),
                });
            }
            rest = after.trim_start_matches(',').trim_start();
            continue;
        }
        let mut value_rest = after[1..].trim_start();
        let value;
        if let Some(stripped) = value_rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = stripped.char_indices();
            let mut end = stripped.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n)
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            value_rest = &stripped[end.min(stripped.len())..];
        } else {
            let end = value_rest.find(',').unwrap_or(value_rest.len());
            value = value_rest[..end].trim().to_string();
            value_rest = &value_rest[end..];
        }
        if let Some(last) = out.last_mut() {
            last.params.insert(token.to_ascii_lowercase(), value);
        }
        rest = value_rest.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// The token endpoint's answer (`token` per the distribution spec, `access_token` per OAuth2).
#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_challenges_with_commas_in_quotes() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push", Basic realm="x y""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.example.com/token");
        assert_eq!(c[0].params["scope"], "repository:a/b:pull,push");
        assert_eq!(c[1].scheme, "basic");
        assert_eq!(c[1].params["realm"], "x y");
        let c = parse_challenges("Basic realm=Registry");
        assert_eq!(c[0].params["realm"], "Registry");
    }

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
}
