//! Blob operations: existence checks, cross-repository mounts and verified downloads;
//! uploads are in `upload.rs`.

use super::{Client, MAX_DOCUMENT_BYTES, RegistryError};
use crate::oci::Digest;
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use reqwest::header::CONTENT_LENGTH;
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest as _, Sha256};
use std::path::Path;

/// The largest config read when its descriptor claims more (the descriptor comes from the
/// same registry, so its size alone bounds nothing).
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// A blob's bytes as they arrive; the stream ends with an error if the bytes do not hash
/// to the expected digest, so a consumer can never mistake bad content for good.
pub type BlobStream = BoxStream<'static, Result<Bytes, RegistryError>>;

pub enum MountResult {
    /// 201: the blob is now in the target repository.
    Mounted,
    /// 202: the registry could not mount and opened an upload session at this URL instead.
    Upload(Url),
}

impl Client {
    /// `HEAD /v2/<repo>/blobs/<digest>`: the blob's size if the repository has it.
    pub async fn blob_exists(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let op = format!("checking blob {digest} in {repo}");
        let url = self.url(&format!("{repo}/blobs/{digest}")).await?;
        let response = self.send(&op, Method::HEAD, url, &Ok).await?;
        match response.status() {
            s if s.is_success() => Ok(Some(
                response
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(&op, response).await),
        }
    }

    /// Cross-repository mount: `POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<from>`.
    pub async fn mount_blob(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<MountResult, RegistryError> {
        let op = format!("mounting blob {digest} from {from} into {repo}");
        let mut url = self.url(&format!("{repo}/blobs/uploads/")).await?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let response = self
            .send(&op, Method::POST, url, &|r| Ok(r.header(CONTENT_LENGTH, 0)))
            .await?;
        match response.status() {
            StatusCode::CREATED => Ok(MountResult::Mounted),
            StatusCode::ACCEPTED => Ok(MountResult::Upload(
                self.location_url(&op, &response).await?,
            )),
            _ => Err(self.status_error(&op, response).await),
        }
    }

    /// `GET /v2/<repo>/blobs/<digest>` as a stream that is verified against `digest` (and
    /// `size` when known) as it flows; memory use is one network chunk.
    pub async fn get_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<BlobStream, RegistryError> {
        let op = format!("downloading blob {digest} from {repo}");
        let url = self.url(&format!("{repo}/blobs/{digest}")).await?;
        let response = self.send(&op, Method::GET, url, &Ok).await?;
        if !response.status().is_success() {
            return Err(self.status_error(&op, response).await);
        }
        let registry = self.registry().to_string();
        let stream = response.bytes_stream().map(move |r| {
            r.map_err(|source| RegistryError::Body {
                op: op.clone(),
                registry: registry.clone(),
                source,
            })
        });
        Ok(verify_stream(
            stream.boxed(),
            digest.clone(),
            size,
            format!("blob {digest} from {repo}"),
        ))
    }

    /// Downloads a blob into the file `dest` (through a temporary file beside it, renamed
    /// when verified). A transfer that breaks off is fetched again from the start, within
    /// one retry budget; `on_chunk` sees the bytes of every attempt.
    pub async fn download_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        dest: &Path,
        on_chunk: &(dyn Fn(u64) + Sync),
    ) -> Result<(), RegistryError> {
        use std::io::Write;
        let op = format!("downloading blob {digest} from {repo}");
        let dir = dest.parent().unwrap_or(Path::new("."));
        let io = |source| RegistryError::Write {
            path: dest.to_path_buf(),
            source,
        };
        self.retry_body(&op, || async {
            let mut stream = self.get_blob(repo, digest, size).await?;
            let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
            let mut file = std::io::BufWriter::new(tmp.reopen().map_err(io)?);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                file.write_all(&chunk).map_err(io)?;
                on_chunk(chunk.len() as u64);
            }
            file.flush().map_err(io)?;
            tmp.persist(dest).map_err(|e| io(e.error))?;
            Ok(())
        })
        .await
    }

    /// A small blob (a config) read whole and verified: at most `size` bytes (its
    /// descriptor's), or [`MAX_DOCUMENT_BYTES`] when no descriptor gives one.
    pub async fn get_blob_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Bytes, RegistryError> {
        if let Some(bytes) = self.config.cache.as_ref().and_then(|c| c.get_bytes(digest)) {
            self.reporter.event(crate::report::Event::Trace(format!(
                "blob {digest} from the cache"
            )));
            return Ok(bytes);
        }
        let op = format!("downloading blob {digest} from {repo}");
        if size.is_some_and(|s| s > MAX_CONFIG_BYTES) {
            return Err(RegistryError::TooLarge {
                op,
                registry: self.registry().to_string(),
                limit: MAX_CONFIG_BYTES,
            });
        }
        let bytes = self
            .retry_body(&op, || async {
                // With a size, the stream itself refuses a byte more than it.
                let mut stream = self.get_blob(repo, digest, size).await?;
                let mut out = Vec::new();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk?;
                    if size.is_none() && out.len() + chunk.len() > MAX_DOCUMENT_BYTES as usize {
                        return Err(RegistryError::TooLarge {
                            op: op.clone(),
                            registry: self.registry().to_string(),
                            limit: MAX_DOCUMENT_BYTES,
                        });
                    }
                    out.extend_from_slice(&chunk);
                }
                Ok(Bytes::from(out))
            })
            .await?;
        if let Some(cache) = &self.config.cache {
            cache.put_bytes(digest, &bytes);
        }
        Ok(bytes)
    }
}

/// Hashes a byte stream as it passes; yields a `DigestMismatch` error instead of a clean
/// end if the content is not what `expected` names (tampering or truncation).
///
/// One chunk is held back until the stream has ended and been verified: a consumer
/// streaming the bytes on (an upload to another registry) cannot complete with a wrong
/// body of the right size, because its last bytes only arrive once they are proven good.
pub fn verify_stream(
    inner: BlobStream,
    expected: Digest,
    size: Option<u64>,
    what: String,
) -> BlobStream {
    struct State {
        inner: BlobStream,
        hasher: Option<Sha256>,
        count: u64,
        held: Option<Bytes>,
    }
    let state = State {
        inner,
        hasher: Some(Sha256::new()),
        count: 0,
        held: None,
    };
    let mismatch =
        move |what: &str, expected: &Digest, actual: String| RegistryError::DigestMismatch {
            what: what.to_string(),
            expected: expected.clone(),
            actual,
        };
    futures_util::stream::unfold(state, move |mut st| {
        let expected = expected.clone();
        let what = what.clone();
        async move {
            loop {
                let hasher = st.hasher.as_mut()?;
                match st.inner.next().await {
                    Some(Ok(chunk)) if chunk.is_empty() => continue,
                    Some(Ok(chunk)) => {
                        hasher.update(&chunk);
                        st.count = st.count.saturating_add(chunk.len() as u64);
                        if let Some(s) = size
                            && st.count > s
                        {
                            st.hasher = None;
                            let actual = format!("more than the {s} bytes its descriptor gives");
                            return Some((Err(mismatch(&what, &expected, actual)), st));
                        }
                        match st.held.replace(chunk) {
                            Some(previous) => return Some((Ok(previous), st)),
                            None => continue,
                        }
                    }
                    Some(Err(e)) => {
                        st.hasher = None;
                        return Some((Err(e), st));
                    }
                    None => {
                        let actual = Digest::from_hasher(st.hasher.take()?);
                        let size_ok = size.is_none_or(|s| s == st.count);
                        if actual == expected && size_ok {
                            return st.held.take().map(|last| (Ok(last), st));
                        }
                        let actual = format!("{actual} ({} bytes)", st.count);
                        return Some((Err(mismatch(&what, &expected, actual)), st));
                    }
                }
            }
        }
    })
    // Polled again after its end (a consumer asking for one more chunk) it stays ended.
    .fuse()
    .boxed()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A blob stream of fixed chunks (also for the upload tests).
    pub(in crate::registry) fn stream_of(parts: &[&'static [u8]]) -> BlobStream {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
        .boxed()
    }

    #[tokio::test]
    async fn verify_stream_accepts_good_and_rejects_bad_content() {
        let good = Digest::of(b"hello world");
        let items: Vec<_> = verify_stream(
            stream_of(&[b"hello ", b"world"]),
            good.clone(),
            Some(11),
            "t".into(),
        )
        .collect()
        .await;
        assert!(items.iter().all(|i| i.is_ok()));
        let items: Vec<_> = verify_stream(
            stream_of(&[b"hello ", b"w0rld"]),
            good.clone(),
            None,
            "t".into(),
        )
        .collect()
        .await;
        assert!(matches!(
            items.last(),
            Some(Err(RegistryError::DigestMismatch { .. }))
        ));
        // A wrong body of the right size: nothing of its last chunk is released.
        let items: Vec<_> = verify_stream(
            stream_of(&[b"hello ", b"w0rld"]),
            good.clone(),
            Some(11),
            "t".into(),
        )
        .collect()
        .await;
        assert_eq!(items.len(), 2, "the first chunk, then the error");
        assert_eq!(items[0].as_ref().unwrap(), &Bytes::from_static(b"hello "));
        assert!(matches!(
            items[1],
            Err(RegistryError::DigestMismatch { .. })
        ));
        let items: Vec<_> = verify_stream(stream_of(&[b"hello "]), good, Some(11), "t".into())
            .collect()
            .await;
        assert!(matches!(
            items.last(),
            Some(Err(RegistryError::DigestMismatch { .. }))
        ));
    }
}
