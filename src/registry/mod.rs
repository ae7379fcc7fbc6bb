//! A client for the OCI distribution API: ping, auth, blobs, manifests. Moves bytes by
//! digest and knows nothing of cargo, plans or how images are composed.

pub mod auth;
mod blobs;
pub mod credentials;
mod error;
mod manifests;
mod origin;
mod pool;
mod referrers;
mod retry;
mod transport;
mod upload;

pub use blobs::{BlobStream, MountResult, verify_stream};
pub use credentials::{Credential, CredentialError, CredentialSource, CredentialStore};
pub use error::RegistryError;
pub use manifests::{FetchedManifest, ManifestPut};
pub use pool::{Pool, PoolError, RegistrySettings, TlsConfig, client_config};
pub use referrers::ReferrersTag;
pub use retry::RETRY_AFTER_CAP;

/// The most imgpush reads of a manifest or index (as containerd), and of a config whose
/// size no descriptor gives.
pub const MAX_DOCUMENT_BYTES: u64 = 4 << 20;
pub use transport::{Client, ClientSettings, DEFAULT_READ_TIMEOUT, DEFAULT_RETRIES};
pub use upload::{OpenBlob, UploadSource};

/// The CA certificates to trust for `registry`: the given files, then every `*.crt` in
/// `DIR/<registry>/` for each certs.d directory (docker's and containers' convention; the
/// client `*.cert`/`*.key` pairs there are not CAs and are left alone).
pub fn load_ca_certs(
    registry: &str,
    files: &[std::path::PathBuf],
    certs_dirs: &[std::path::PathBuf],
) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let mut paths: Vec<std::path::PathBuf> = files.to_vec();
    for dir in certs_dirs {
        let Ok(entries) = std::fs::read_dir(dir.join(registry)) else {
            continue;
        };
        let mut found: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        found.sort();
        paths.extend(found);
    }
    let mut out = Vec::new();
    for path in paths {
        let bad = |message: String| RegistryError::CaCert {
            registry: registry.to_string(),
            path: path.clone(),
            message,
        };
        let pem = std::fs::read(&path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(bad("it holds no PEM certificate".into()));
        }
        out.extend(certs);
    }
    Ok(out)
}

/// Is `host` (with optional port) a loopback address? Plain HTTP is allowed for those
/// without `--insecure-registry`, as docker does.
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        assert!(super::is_loopback("127.0.0.1:5000"));
        assert!(super::is_loopback("localhost"));
        assert!(super::is_loopback("[::1]:5000"));
        assert!(!super::is_loopback("10.0.0.1:5000"));
        assert!(!super::is_loopback("ghcr.io"));
    }
}
