//! A client for the OCI distribution API: ping, auth, blobs, manifests. Moves bytes by
//! digest and knows nothing of cargo, plans or how images are composed.

pub mod auth;
mod blobs;
pub mod credentials;
mod error;
mod manifests;
mod transport;

pub use blobs::{BlobStream, MountResult, UploadSource};
pub use credentials::{Credential, CredentialError, CredentialStore};
pub use error::RegistryError;
pub use manifests::FetchedManifest;
pub use transport::{Client, ClientConfig, DEFAULT_RETRIES};

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
