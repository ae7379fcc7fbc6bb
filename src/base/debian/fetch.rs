//! Downloads from a Debian archive (live mirror, another mirror, or a snapshot archive),
//! with every `.deb` verified by size and SHA-256 and kept in imgpush's cache under its
//! SHA-256, so bases that share packages download them once.

use crate::cache::Cache;
use crate::oci::Digest;
use bytes::Bytes;
use std::time::Duration;

/// Largest file taken from an archive (the biggest bookworm `Packages.xz` is ~9 MB, the
/// biggest `.deb` of a base a few tens of MB).
const MAX_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
    #[error("GET {url}: not found (HTTP {status})")]
    NotFound { url: String, status: u16 },
    #[error(
        "{url}: expected {expected_size} bytes with SHA-256 {expected}, got {size} bytes with SHA-256 {actual}"
    )]
    Mismatch {
        url: String,
        expected: String,
        expected_size: u64,
        actual: String,
        size: u64,
    },
}

/// Where files come from: each repository URL as the spec writes it, with its scheme and
/// host replaced by `mirror`, or rewritten into `snapshot`'s form.
pub struct Fetcher {
    client: reqwest::Client,
    cache: Option<Cache>,
    mirror: Option<String>,
    snapshot: Option<String>,
}

/// What the fetcher did with one verified file (for the reporter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Got {
    Cached,
    Downloaded,
    /// The cached copy did not hash to its name; it was removed and downloaded again.
    Repaired,
}

impl Fetcher {
    pub fn new(
        cache: Option<Cache>,
        mirror: Option<String>,
        snapshot: Option<String>,
    ) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("imgpush/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| FetchError::Http {
                url: String::new(),
                message: e.to_string(),
            })?;
        Ok(Fetcher {
            client,
            cache,
            mirror: mirror.map(|m| m.trim_end_matches('/').to_string()),
            snapshot: snapshot.map(|s| s.trim_end_matches('/').to_string()),
        })
    }

    pub fn uses_snapshot(&self) -> bool {
        self.snapshot.is_some()
    }

    /// The URL of `path` in the repository at `url` (for a snapshot archive, at `timestamp`).
    pub fn url(&self, url: &str, path: &str, timestamp: Option<&str>) -> String {
        let url = url.trim_end_matches('/');
        let base = match (&self.snapshot, timestamp) {
            (Some(snapshot), Some(ts)) => {
                // http://deb.debian.org/debian-security → SNAPSHOT/debian-security/TS
                let archive = url.rsplit('/').next().unwrap_or("debian");
                format!("{snapshot}/{archive}/{ts}")
            }
            _ => match &self.mirror {
                Some(mirror) => match url.split_once("://") {
                    Some((_, rest)) => match rest.split_once('/') {
                        Some((_, path)) => format!("{mirror}/{path}"),
                        None => mirror.clone(),
                    },
                    None => format!("{mirror}/{url}"),
                },
                None => url.to_string(),
            },
        };
        format!("{base}/{path}")
    }

    /// A file whose digest is not known in advance (`InRelease`).
    pub async fn get(&self, url: &str) -> Result<Bytes, FetchError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.get_once(url).await {
                Err(FetchError::Http { .. }) if attempt < 3 => {
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn get_once(&self, url: &str) -> Result<Bytes, FetchError> {
        let http = |message: String| FetchError::Http {
            url: url.to_string(),
            message,
        };
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| http(error_chain(&e)))?;
        let status = response.status();
        if status.as_u16() == 404 || status.as_u16() == 410 {
            return Err(FetchError::NotFound {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(http(format!("HTTP {status}")));
        }
        if response.content_length().is_some_and(|n| n > MAX_BYTES) {
            return Err(http(format!("larger than {MAX_BYTES} bytes")));
        }
        let body = response.bytes().await.map_err(|e| http(error_chain(&e)))?;
        if body.len() as u64 > MAX_BYTES {
            return Err(http(format!("larger than {MAX_BYTES} bytes")));
        }
        Ok(body)
    }

    /// A file of known size and SHA-256: from the cache if it is there and intact, else
    /// downloaded, verified and cached.
    pub async fn get_verified(
        &self,
        url: &str,
        size: u64,
        sha256: &str,
    ) -> Result<(Bytes, Got), FetchError> {
        let digest: Digest = format!("sha256:{}", sha256.to_ascii_lowercase())
            .parse()
            .map_err(|e: crate::oci::DigestError| FetchError::Http {
                url: url.to_string(),
                message: format!("bad SHA-256 `{sha256}`: {}", e.0),
            })?;
        let mut got = Got::Downloaded;
        if let Some(cache) = &self.cache {
            let present = cache.blob_path(&digest).exists();
            match cache.get_bytes(&digest) {
                Some(bytes) if bytes.len() as u64 == size => return Ok((bytes, Got::Cached)),
                _ if present => got = Got::Repaired,
                _ => {}
            }
        }
        let bytes = self.get(url).await?;
        let actual = Digest::of(&bytes);
        if actual != digest || bytes.len() as u64 != size {
            return Err(FetchError::Mismatch {
                url: url.to_string(),
                expected: sha256.to_string(),
                expected_size: size,
                actual: actual.hex().to_string(),
                size: bytes.len() as u64,
            });
        }
        if let Some(cache) = &self.cache {
            cache.put_bytes(&digest, &bytes);
        }
        Ok((bytes, got))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_mirror_and_snapshot() {
        let f = Fetcher::new(None, None, None).unwrap();
        assert_eq!(
            f.url(
                "http://deb.debian.org/debian/",
                "dists/bookworm/InRelease",
                None
            ),
            "http://deb.debian.org/debian/dists/bookworm/InRelease"
        );
        let m = Fetcher::new(None, Some("http://127.0.0.1:8080/".into()), None).unwrap();
        assert_eq!(
            m.url("http://deb.debian.org/debian-security", "pool/x.deb", None),
            "http://127.0.0.1:8080/debian-security/pool/x.deb"
        );
        let s = Fetcher::new(
            None,
            Some("http://ignored".into()),
            Some("https://snapshot.debian.org/archive".into()),
        )
        .unwrap();
        assert_eq!(
            s.url(
                "http://deb.debian.org/debian-security",
                "pool/x.deb",
                Some("20251108T151425Z")
            ),
            "https://snapshot.debian.org/archive/debian-security/20251108T151425Z/pool/x.deb"
        );
    }
}
