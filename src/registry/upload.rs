//! Blob uploads: upload sessions, monolithic streamed `PUT`s, and the chunked fallback
//! that resumes where the registry says it stopped.

use super::blobs::BlobStream;
use super::{Client, RegistryError};
use crate::oci::Digest;
use crate::report::ProgressId;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
use reqwest::{Body, Method, StatusCode, Url};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering;
use tokio_util::io::ReaderStream;

/// The first chunk size after a registry refused a whole body (413).
const FIRST_CHUNK: u64 = 16 << 20;

/// Chunks are not halved below this after a refused chunk.
const MIN_CHUNK: usize = 1 << 20;

/// Opens a blob's bytes, verified as they flow (a [`BlobStream`]), from the start. An
/// upload calls it once per attempt (and again after a 401 spent the body, and for a
/// chunked fallback), since a stream cannot go back.
pub type OpenBlob<'a> = dyn Fn() -> BoxFuture<'a, Result<BlobStream, RegistryError>> + Sync + 'a;

/// Where the bytes of an upload come from. Every kind can be read again, so a failed
/// attempt is retried from the start in a fresh session.
pub enum UploadSource<'a> {
    File(&'a Path),
    Bytes(Bytes),
    /// A blob that lives elsewhere (say, in another registry), streamed through —
    /// verified on the way, never on disk — and opened anew for each attempt.
    Stream(&'a OpenBlob<'a>),
}

/// A streamed body for one attempt: taken once by the request, and the source's own error
/// kept aside, so a failure is reported as the source's (a reset, a wrong digest), not as
/// the destination's broken connection.
struct StreamedBody {
    stream: std::sync::Mutex<Option<BlobStream>>,
    failure: std::sync::Arc<std::sync::Mutex<Option<RegistryError>>>,
}

impl Client {
    /// Opens an upload session: `POST /v2/<repo>/blobs/uploads/` → 202 + `Location`.
    pub async fn start_upload(&self, repo: &str) -> Result<Url, RegistryError> {
        let op = format!("starting an upload to {repo}");
        let url = self.url(&format!("{repo}/blobs/uploads/")).await?;
        let response = self
            .send(&op, Method::POST, url, &|r| Ok(r.header(CONTENT_LENGTH, 0)))
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.status_error(&op, response).await);
        }
        self.location_url(&op, &response).await
    }

    /// Uploads a blob into `session` (or a new session). A failed attempt (connection
    /// error, 429, 5xx, a source that broke off) is retried from the start in a fresh
    /// session, re-reading the file or re-fetching the source, within one retry budget.
    pub async fn upload_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: UploadSource<'_>,
        session: Option<Url>,
        progress: ProgressId,
    ) -> Result<(), RegistryError> {
        let op = format!("uploading blob {digest} to {repo}");
        self.budgeted(async {
            let mut session = session;
            loop {
                let s = match session.take() {
                    Some(s) => s,
                    None => self.start_upload(repo).await?,
                };
                match self
                    .upload_in_session(repo, digest, size, &source, s, progress)
                    .await
                {
                    Err(e) if e.is_transient() => {
                        if !self.pause(&op, &e.to_string(), e.retry_after()).await? {
                            return Err(e);
                        }
                    }
                    other => return other,
                }
            }
        })
        .await
    }

    /// One upload attempt in one session: monolithic `PUT ?digest=` streamed from the
    /// source; if the registry refuses a body that large (413), or chunked uploads are
    /// configured, `PATCH` chunks, always following the newest `Location`.
    async fn upload_in_session(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: &UploadSource<'_>,
        session: Url,
        progress: ProgressId,
    ) -> Result<(), RegistryError> {
        // Chunks when configured (files), or when this registry refused a whole body before
        // (a proxy's body limit): then every upload goes straight to chunks of the size
        // that worked.
        let configured = match source {
            UploadSource::File(_) => self.config.chunk_size,
            _ => None,
        };
        let remembered = self.chunk_limit.load(Ordering::Relaxed);
        if let Some(chunk) = configured.or((remembered > 0).then_some(remembered)) {
            let chunks = ChunkSource::open(source).await?;
            return self
                .upload_chunked(repo, digest, chunks, chunk, session, progress)
                .await;
        }
        let op = format!("uploading blob {digest} to {repo}");
        let url = with_digest(session, digest);
        let mut reopened = false;
        let response = loop {
            let streamed = match source {
                UploadSource::Stream(open) => Some(StreamedBody {
                    stream: Some(open().await?).into(),
                    failure: Default::default(),
                }),
                _ => None,
            };
            let sent = self
                .send_once(&op, Method::PUT, url.clone(), &|r| {
                    let body = self.body(&op, source, streamed.as_ref(), progress)?;
                    Ok(r.header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_LENGTH, size)
                        .body(body))
                })
                .await;
            // The source's own failure explains a broken upload better than the
            // destination's.
            if let Some(failure) = streamed
                .as_ref()
                .and_then(|s| s.failure.lock().expect("not poisoned").take())
            {
                return Err(failure);
            }
            match sent {
                // A 401 renewed the token after the streamed body was spent: fetch the
                // source again and send once more, in the same session.
                Err(RegistryError::Replay { .. }) if !reopened => reopened = true,
                other => break other?,
            }
        };
        match response.status() {
            StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::OK => {
                check_echoed_digest(self, &op, &response, digest)
            }
            // A proxy's body limit (Cloudflare's is 100 MB, nginx's default 1 MB): go on in
            // chunks, and remember it for every later upload to this registry.
            StatusCode::PAYLOAD_TOO_LARGE => {
                let _ = self.chunk_limit.compare_exchange(
                    0,
                    FIRST_CHUNK,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                let chunk = self.chunk_limit.load(Ordering::Relaxed);
                self.reporter.event(crate::report::Event::ChunkedUpload {
                    registry: self.registry().to_string(),
                    size,
                });
                let session = self.start_upload(repo).await?;
                let chunks = ChunkSource::open(source).await?;
                self.upload_chunked(repo, digest, chunks, chunk, session, progress)
                    .await
            }
            _ => Err(self.status_error(&op, response).await),
        }
    }

    fn body(
        &self,
        op: &str,
        source: &UploadSource<'_>,
        streamed: Option<&StreamedBody>,
        progress: ProgressId,
    ) -> Result<Body, RegistryError> {
        let reporter = self.reporter.clone();
        Ok(match (source, streamed) {
            (UploadSource::Bytes(b), _) => Body::from(b.clone()),
            (UploadSource::File(path), _) => {
                let file = std::fs::File::open(path).map_err(|source| RegistryError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                let stream =
                    ReaderStream::with_capacity(tokio::fs::File::from_std(file), 256 << 10)
                        .inspect(move |chunk| {
                            if let Ok(c) = chunk {
                                reporter.blob_progress(progress, c.len() as u64);
                            }
                        });
                Body::wrap_stream(stream)
            }
            (UploadSource::Stream(_), Some(body)) => {
                // Taken once: after a 401 the next attempt fetches the source again.
                let stream = body
                    .stream
                    .lock()
                    .expect("not poisoned")
                    .take()
                    .ok_or_else(|| RegistryError::Replay { op: op.to_string() })?;
                let failure = body.failure.clone();
                Body::wrap_stream(stream.map(move |chunk| match chunk {
                    Ok(c) => {
                        reporter.blob_progress(progress, c.len() as u64);
                        Ok(c)
                    }
                    Err(e) => {
                        *failure.lock().expect("not poisoned") = Some(e);
                        Err(std::io::Error::other(
                            "the source of the streamed blob failed",
                        ))
                    }
                }))
            }
            (UploadSource::Stream(_), None) => {
                return Err(RegistryError::Replay { op: op.to_string() });
            }
        })
    }

    /// `PATCH` chunks of `chunk_size`, then `PUT ?digest=`. After a failed chunk, a file
    /// resumes where the registry says it stopped; a stream cannot go back, so the failure
    /// ends this attempt and `upload_blob` starts over in a fresh session.
    async fn upload_chunked(
        &self,
        repo: &str,
        digest: &Digest,
        mut chunks: ChunkSource,
        chunk_size: u64,
        mut location: Url,
        progress: ProgressId,
    ) -> Result<(), RegistryError> {
        let op = format!("uploading blob {digest} to {repo} in chunks");
        let mut offset: u64 = 0;
        let chunk_size = usize::try_from(chunk_size).unwrap_or(usize::MAX).max(1);
        loop {
            let Some(chunk) = chunks.next(chunk_size).await? else {
                break;
            };
            let n = chunk.len();
            let range = format!("{}-{}", offset, offset + n as u64 - 1);
            let result = self
                .send_once(&op, Method::PATCH, location.clone(), &|r| {
                    Ok(r.header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_RANGE, range.clone())
                        .header(CONTENT_LENGTH, n)
                        .body(chunk.clone()))
                })
                .await;
            let failure = match result {
                Ok(response) if response.status() == StatusCode::ACCEPTED => {
                    // Each Location is single-use on distribution: always continue at the newest.
                    location = self.location_url(&op, &response).await?;
                    offset += n as u64;
                    self.reporter.blob_progress(progress, n as u64);
                    continue;
                }
                Ok(response)
                    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && n > MIN_CHUNK =>
                {
                    // Even this chunk is over the limit: halve it for the next attempt
                    // (a fresh session; a stream cannot go back).
                    let smaller = (n / 2).max(MIN_CHUNK) as u64;
                    self.chunk_limit.store(smaller, Ordering::Relaxed);
                    return Err(RegistryError::ChunkRefused {
                        op: op.clone(),
                        registry: self.registry().to_string(),
                        size: n as u64,
                        next: smaller,
                    });
                }
                Ok(response) => self.status_error(&op, response).await,
                Err(e) => e,
            };
            if !failure.is_transient()
                || !chunks.can_seek()
                || !self
                    .pause(&op, &failure.to_string(), failure.retry_after())
                    .await?
            {
                return Err(failure);
            }
            // Ask the registry how much of the upload it has and go on from there (the
            // distribution spec's upload status: 204 with `Range: 0-<last byte>`).
            let (stored, next) = self.upload_status(&op, &location).await?;
            if stored > offset.saturating_add(n as u64) {
                return Err(self.protocol(
                    &op,
                    format!("the registry reports {stored} bytes, more than were sent"),
                ));
            }
            self.reporter.event(crate::report::Event::UploadResumed {
                op: op.clone(),
                offset: stored,
            });
            offset = stored;
            location = next;
            chunks.seek(offset)?;
        }
        let response = self
            .send_once(&op, Method::PUT, with_digest(location, digest), &|r| {
                Ok(r.header(CONTENT_LENGTH, 0))
            })
            .await?;
        if !matches!(
            response.status(),
            StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::OK
        ) {
            return Err(self.status_error(&op, response).await);
        }
        check_echoed_digest(self, &op, &response, digest)
    }

    /// How many bytes an upload session holds, and the `Location` to continue at:
    /// `GET <location>` → 204 with `Range: 0-<last byte>`. distribution also answers `0-0`
    /// for an empty session; with chunks of more than one byte that can only mean 0.
    async fn upload_status(&self, op: &str, location: &Url) -> Result<(u64, Url), RegistryError> {
        let response = self.send(op, Method::GET, location.clone(), &Ok).await?;
        if response.status() != StatusCode::NO_CONTENT {
            return Err(self.status_error(op, response).await);
        }
        let end = response
            .headers()
            .get(reqwest::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once('-'))
            .and_then(|(_, end)| end.trim().parse::<u64>().ok())
            .ok_or_else(|| self.protocol(op, "the upload status has no Range header".into()))?;
        let stored = if end == 0 {
            0
        } else {
            end.checked_add(1)
                .ok_or_else(|| self.protocol(op, format!("impossible upload Range end {end}")))?
        };
        let next = match response.headers().get(reqwest::header::LOCATION) {
            Some(_) => self.location_url(op, &response).await?,
            None => location.clone(),
        };
        Ok((stored, next))
    }
}

fn with_digest(mut url: Url, digest: &Digest) -> Url {
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    url
}

fn check_echoed_digest(
    client: &Client,
    op: &str,
    response: &reqwest::Response,
    digest: &Digest,
) -> Result<(), RegistryError> {
    match response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        Some(echoed) if echoed != digest.as_str() => Err(client.protocol(
            op,
            format!("the registry stored digest {echoed}, not {digest}"),
        )),
        _ => Ok(()),
    }
}

/// What a chunked upload reads from.
enum ChunkSource {
    /// Can go back to any offset (to resume after a failed chunk).
    File(std::fs::File, std::path::PathBuf),
    /// All of it, and how far it has been read; can go back too.
    Bytes(Bytes, usize),
    /// A streamed blob, verified as it flows; only forward.
    Stream(BlobStream, bytes::BytesMut),
}

impl ChunkSource {
    async fn open(source: &UploadSource<'_>) -> Result<ChunkSource, RegistryError> {
        Ok(match source {
            UploadSource::File(path) => ChunkSource::File(
                std::fs::File::open(path).map_err(|source| RegistryError::Io {
                    path: path.to_path_buf(),
                    source,
                })?,
                path.to_path_buf(),
            ),
            UploadSource::Bytes(b) => ChunkSource::Bytes(b.clone(), 0),
            UploadSource::Stream(open) => {
                ChunkSource::Stream(open().await?, bytes::BytesMut::new())
            }
        })
    }

    fn can_seek(&self) -> bool {
        !matches!(self, ChunkSource::Stream(..))
    }

    /// The next chunk of at most `max` bytes; `None` at the end.
    async fn next(&mut self, max: usize) -> Result<Option<Bytes>, RegistryError> {
        match self {
            ChunkSource::File(file, path) => {
                let mut buf = vec![0u8; max];
                let mut filled = 0;
                while filled < max {
                    match file.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(source) => {
                            return Err(RegistryError::Io {
                                path: path.clone(),
                                source,
                            });
                        }
                    }
                }
                buf.truncate(filled);
                Ok((filled > 0).then(|| Bytes::from(buf)))
            }
            ChunkSource::Bytes(b, at) => {
                let n = (b.len() - *at).min(max);
                let chunk = b.slice(*at..*at + n);
                *at += n;
                Ok((n > 0).then_some(chunk))
            }
            ChunkSource::Stream(stream, pending) => {
                while pending.len() < max {
                    match stream.next().await {
                        Some(chunk) => pending.extend_from_slice(&chunk?),
                        None => break,
                    }
                }
                let n = pending.len().min(max);
                Ok((n > 0).then(|| pending.split_to(n).freeze()))
            }
        }
    }

    /// Goes back to `offset` (streams are never asked: see [`ChunkSource::can_seek`]).
    fn seek(&mut self, offset: u64) -> Result<(), RegistryError> {
        match self {
            ChunkSource::File(file, path) => {
                std::io::Seek::seek(file, std::io::SeekFrom::Start(offset)).map_err(|source| {
                    RegistryError::Io {
                        path: path.clone(),
                        source,
                    }
                })?;
            }
            ChunkSource::Bytes(b, at) => {
                *at = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
            }
            ChunkSource::Stream(..) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::blobs::tests::stream_of;
    use crate::registry::verify_stream;

    #[tokio::test]
    async fn chunk_sources_split_resume_and_end() {
        let mut bytes = ChunkSource::Bytes(Bytes::from_static(b"abcdefg"), 0);
        assert!(bytes.can_seek());
        assert_eq!(bytes.next(3).await.unwrap().unwrap(), "abc");
        assert_eq!(bytes.next(3).await.unwrap().unwrap(), "def");
        bytes.seek(2).unwrap();
        assert_eq!(bytes.next(10).await.unwrap().unwrap(), "cdefg");
        assert!(bytes.next(3).await.unwrap().is_none());

        let good = Digest::of(b"hello world");
        let stream = verify_stream(
            stream_of(&[b"hel", b"lo wo", b"rld"]),
            good,
            Some(11),
            "t".into(),
        );
        let mut chunks = ChunkSource::Stream(stream, bytes::BytesMut::new());
        assert!(!chunks.can_seek());
        assert_eq!(chunks.next(4).await.unwrap().unwrap(), "hell");
        assert_eq!(chunks.next(100).await.unwrap().unwrap(), "o world");
        // Asked again after the end (the stream is fused: no panic).
        assert!(chunks.next(4).await.unwrap().is_none());
        assert!(chunks.next(4).await.unwrap().is_none());
    }
}
