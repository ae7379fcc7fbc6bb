use crate::oci::Digest;
use std::path::PathBuf;

/// What went wrong talking to a registry. Each variant names the operation and the
/// registry; URLs never carry credentials.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {registry} at {url}{}", plain_http.as_deref().map(|p| format!(" (plain HTTP was tried too: {p})")).unwrap_or_default())]
    Unreachable {
        registry: String,
        url: String,
        #[source]
        source: reqwest::Error,
        /// What the plain-HTTP attempt got, when one was made (loopback,
        /// `--insecure-registry`) and failed as well.
        plain_http: Option<String>,
    },
    #[error("{op}: the connection to {registry} failed")]
    Transport {
        op: String,
        registry: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{op}: the answer from {registry} broke off")]
    Body {
        op: String,
        registry: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{op}: registry {registry} answered 401 Unauthorized{}", detail_suffix(.detail))]
    Unauthorized {
        op: String,
        registry: String,
        detail: Option<String>,
        had_credentials: bool,
        /// Where the rejected credential came from.
        credential_source: Option<super::CredentialSource>,
    },
    #[error("{op}: registry {registry} answered {status}{}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(), detail_suffix(.message))]
    Status {
        op: String,
        registry: String,
        status: u16,
        code: Option<String>,
        message: Option<String>,
        /// The registry's `Retry-After`, honoured when the operation is retried.
        retry_after: Option<std::time::Duration>,
    },
    #[error(
        "{op}: registry {registry} is rate-limiting and asks to wait {wait_secs} s (Retry-After), longer than the {cap_secs} s imgpush waits"
    )]
    RateLimited {
        op: String,
        registry: String,
        wait_secs: u64,
        cap_secs: u64,
    },
    /// The operation names who answered (the registry, or the token service at its URL).
    #[error("{op}: the answer sent more than {limit} bytes; refusing to read it")]
    TooLarge {
        op: String,
        registry: String,
        limit: u64,
    },
    #[error("{op}: {registry} sent us from https to plain http ({url}); refusing to follow")]
    Downgrade {
        op: String,
        registry: String,
        url: String,
    },
    #[error("{registry} sends credentials to a token service over plain http ({realm}); refusing")]
    InsecureRealm { registry: String, realm: String },
    #[error(
        "{op}: {registry} refused a {size}-byte chunk (413); trying again with {next}-byte chunks"
    )]
    ChunkRefused {
        op: String,
        registry: String,
        size: u64,
        next: u64,
    },
    #[error("{op}: a streamed body was asked for again, but it can only be read once")]
    Replay { op: String },
    #[error(
        "{what}: content does not match its digest (expected {expected}, got {actual}); refusing to use it"
    )]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: String,
    },
    #[error("{op}: unexpected answer from {registry}: {message}")]
    Protocol {
        op: String,
        registry: String,
        message: String,
    },
    /// The referrers tag holds something other than a referrers list (an OCI index); per
    /// the distribution spec it is left alone and the failure reported.
    #[error(
        "the referrers tag {reference} on {registry} is not a referrers list: {message}; leaving it alone"
    )]
    ReferrersTag {
        registry: String,
        reference: String,
        message: String,
    },
    #[error("CA certificate {path} for {registry}: {message}")]
    CaCert {
        registry: String,
        path: PathBuf,
        message: String,
    },
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading {path} to upload it")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Is an answer worth retrying? Throttling, and the server errors proxies and overloaded
/// registries give on bad days. (Here, not in `retry`, so that errors depend on nothing
/// else in the client.)
pub(crate) fn retryable_status(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

/// Does an error chain say the TLS peer's certificate was rejected?
fn certificate_rejected(e: &(dyn std::error::Error + 'static)) -> bool {
    let text = format!("{e:?}").to_ascii_lowercase();
    text.contains("invalidcertificate")
        || text.contains("certificate")
        || text.contains("unknownissuer")
}

impl RegistryError {
    /// The registry speaks TLS but its certificate was not trusted.
    pub fn is_certificate_rejection(&self) -> bool {
        match self {
            RegistryError::Unreachable { source, .. } | RegistryError::Transport { source, .. } => {
                certificate_rejected(source)
            }
            _ => false,
        }
    }

    /// The registry has no such manifest, blob or repository (404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::Status { status: 404, .. })
    }

    /// Worth retrying: the connection failed, or the registry was throttling or failing.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Transport { .. }
            | RegistryError::Body { .. }
            | RegistryError::Replay { .. }
            | RegistryError::ChunkRefused { .. } => true,
            RegistryError::Status { status, .. } => {
                retryable_status(reqwest::StatusCode::from_u16(*status).unwrap_or_default())
            }
            _ => false,
        }
    }

    /// How long the registry asked to wait before trying again.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            RegistryError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            RegistryError::Unreachable {
                registry, source, ..
            } => {
                let tls = certificate_rejected(source)
                    || format!("{source:?}").to_ascii_lowercase().contains("tls");
                Some(if tls {
                    format!(
                        "{registry}'s TLS certificate is not trusted; give its CA with --ca-cert FILE, or put it in /etc/containers/certs.d/{registry}/ca.crt or ~/.docker/certs.d/{registry}/ca.crt (--insecure-registry {registry} skips verification)"
                    )
                } else {
                    format!(
                        "check that the registry is running and that `{registry}` is the right address; a registry that speaks plain HTTP and is not on loopback needs --insecure-registry {registry}"
                    )
                })
            }
            RegistryError::Unauthorized {
                registry,
                had_credentials: false,
                ..
            } => Some(format!(
                "log in first: `imgpush login {registry} -u USER --password-stdin` or `docker login {registry}` (imgpush reads $DOCKER_CONFIG/config.json, default ~/.docker/config.json, and its credential helpers)"
            )),
            RegistryError::Unauthorized {
                registry,
                credential_source,
                ..
            } => Some(unauthorized_hint(registry, credential_source.as_ref())),
            RegistryError::RateLimited { registry, .. } => Some(format!(
                "wait and run again; anonymous pulls have the lowest limits, so logging in to {registry} (`imgpush login {registry}`) or mirroring the base into your own registry avoids them"
            )),
            RegistryError::Downgrade { registry, .. } | RegistryError::InsecureRealm { registry, .. } => Some(format!(
                "this exposes requests (and tokens) to the network; if {registry} really is meant to be used over plain http, pass --insecure-registry {registry}"
            )),
            RegistryError::ReferrersTag { reference, .. } => Some(format!(
                "another tool wrote something else under {reference}; look at it with `skopeo inspect --raw docker://{reference}` and delete or move it, or push to a registry with the OCI 1.1 referrers API"
            )),
            RegistryError::TooLarge { .. } => Some(
                "a registry sends manifests up to 4 MiB and small token and error answers; check that the registry address is right".to_string(),
            ),
            RegistryError::Status {
                status: 403,
                registry,
                ..
            } => Some(format!(
                "the account used for {registry} lacks permission for this repository"
            )),
            RegistryError::Status {
                code: Some(code), ..
            } if code == "MANIFEST_UNKNOWN" || code == "NAME_UNKNOWN" => {
                Some("check the repository name and tag".to_string())
            }
            _ => None,
        }
    }
}

/// What to do when the registry rejected credentials, by where they came from.
fn unauthorized_hint(registry: &str, source: Option<&super::CredentialSource>) -> String {
    use super::CredentialSource as S;
    let relogin = format!(
        "log in again with `imgpush login {registry} -u USER --password-stdin` or `docker login {registry}`"
    );
    match source {
        Some(S::Login) => format!(
            "check the username and the password (read from --password-stdin or IMGPUSH_PASSWORD); nothing was stored for {registry}"
        ),
        Some(S::Flag) => format!(
            "the credentials from --creds were rejected by {registry} or lack access; check the USER:PASSWORD given to --creds"
        ),
        Some(S::Environment) => format!(
            "the credentials from IMGPUSH_USERNAME/IMGPUSH_PASSWORD were rejected by {registry} or lack access; check those variables"
        ),
        Some(S::Ci { variables }) => format!(
            "the credentials from the CI variables {variables} were rejected by {registry} or lack access; check that the job may push there (GitLab: the project's registry; GitHub: `permissions: packages: write`)"
        ),
        Some(source @ (S::Helper { .. } | S::File { .. })) => format!(
            "the credentials for {registry} from {source} were rejected or lack access; {relogin}"
        ),
        None => format!("the credentials for {registry} were rejected or lack access; {relogin}"),
    }
}

/// The registry's JSON error body (`{"errors":[{"code":…,"message":…}]}`), when present.
pub(crate) fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(b) if !b.errors.is_empty() => (b.errors[0].code.clone(), b.errors[0].message.clone()),
        _ => {
            let text = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(200)
                .collect::<String>();
            (None, (!text.is_empty()).then_some(text))
        }
    }
}
