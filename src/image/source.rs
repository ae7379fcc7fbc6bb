//! A blob and how to get it, after go-containerregistry's `v1.Layer`: a composed image
//! holds descriptors plus the [`BlobSource`] their bytes come from, and the sinks ask the
//! source (can it be mounted? is it a local file? in memory? else open a stream) instead
//! of knowing where bases live. No source here names a registry client: the kinds that
//! talk to a registry or read a base's storage are implemented in `base`.
//!
//! A new kind of source (say, a blob inside an unpacked archive, or a package-built base)
//! is one more type implementing [`BlobSource`], made where the blob is found; no sink
//! changes unless the kind offers a new cheap way to move it.

use crate::oci::Digest;
use crate::registry::{BlobStream, RegistryError, verify_stream};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use std::path::{Path, PathBuf};

/// Where a blob's bytes can be had. Every method may be asked again (each upload attempt
/// opens the blob anew), and every byte handed out is verified against the digest.
pub trait BlobSource: Send + Sync + std::fmt::Debug {
    /// For messages: `REGISTRY/REPO`, `oci-layout:DIR`, a file path.
    fn describe(&self) -> String;

    /// The blob's bytes from the start, verified against `digest` and `size` as they
    /// flow: the stream ends in an error rather than yield content that does not match.
    fn open<'a>(
        &'a self,
        digest: &'a Digest,
        size: u64,
    ) -> BoxFuture<'a, Result<BlobStream, RegistryError>>;

    /// `(registry host, repository)` the blob can be mounted from, for a cross-repository
    /// mount within that registry.
    fn mount_from(&self) -> Option<(&str, &str)> {
        None
    }

    /// A local file holding the blob (read as it is; the reader verifies).
    fn local_path(&self, _digest: &Digest) -> Option<PathBuf> {
        None
    }

    /// The whole blob, when it is held in memory (a composed config).
    fn in_memory(&self) -> Option<Bytes> {
        None
    }

    /// Writes the blob to `dest` (through a temporary file beside it, renamed when
    /// verified); `on_chunk` sees the bytes as they arrive. Sources that can do better
    /// (fetch again when a transfer breaks off) override it.
    fn download_to<'a>(
        &'a self,
        digest: &'a Digest,
        size: u64,
        dest: &'a Path,
        on_chunk: &'a (dyn Fn(u64) + Sync),
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            let stream = self.open(digest, size).await?;
            write_stream(stream, dest, on_chunk).await
        })
    }
}

/// One of our layers: a `.tar.gz` on disk.
#[derive(Debug)]
pub struct LayerFile(pub PathBuf);

impl BlobSource for LayerFile {
    fn describe(&self) -> String {
        self.0.display().to_string()
    }

    fn open<'a>(
        &'a self,
        digest: &'a Digest,
        size: u64,
    ) -> BoxFuture<'a, Result<BlobStream, RegistryError>> {
        Box::pin(async move { file_stream(&self.0, digest, size) })
    }

    fn local_path(&self, _digest: &Digest) -> Option<PathBuf> {
        Some(self.0.clone())
    }
}

/// A blob held in memory (a config composed here).
#[derive(Debug)]
pub struct InMemory(pub Bytes);

impl BlobSource for InMemory {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn open<'a>(
        &'a self,
        digest: &'a Digest,
        size: u64,
    ) -> BoxFuture<'a, Result<BlobStream, RegistryError>> {
        let once = futures_util::stream::iter([Ok(self.0.clone())]).boxed();
        Box::pin(async move {
            Ok(verify_stream(
                once,
                digest.clone(),
                Some(size),
                "a blob in memory".into(),
            ))
        })
    }

    fn in_memory(&self) -> Option<Bytes> {
        Some(self.0.clone())
    }
}

/// A file's bytes as a verified stream.
pub fn file_stream(path: &Path, digest: &Digest, size: u64) -> Result<BlobStream, RegistryError> {
    let file = std::fs::File::open(path).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let owned = path.to_path_buf();
    let stream =
        tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 256 << 10)
            .map(move |chunk| {
                chunk.map_err(|source| RegistryError::Io {
                    path: owned.clone(),
                    source,
                })
            })
            .boxed();
    Ok(verify_stream(
        stream,
        digest.clone(),
        Some(size),
        path.display().to_string(),
    ))
}

/// Writes a verified stream to `dest` through a temporary file beside it, renamed into
/// place only when the stream ended verified.
pub async fn write_stream(
    mut stream: BlobStream,
    dest: &Path,
    on_chunk: &(dyn Fn(u64) + Sync),
) -> Result<(), RegistryError> {
    use std::io::Write;
    let io = |source| RegistryError::Write {
        path: dest.to_path_buf(),
        source,
    };
    let dir = dest.parent().unwrap_or(Path::new("."));
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
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(mut s: BlobStream) -> Result<Vec<u8>, RegistryError> {
        let mut out = Vec::new();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn plain_sources_open_verified() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"layer bytes").unwrap();
        let digest = Digest::of(b"layer bytes");
        let file = LayerFile(path.clone());
        assert_eq!(file.local_path(&digest), Some(path.clone()));
        assert_eq!(
            read_all(file.open(&digest, 11).await.unwrap())
                .await
                .unwrap(),
            b"layer bytes"
        );
        let wrong = Digest::of(b"other");
        assert!(
            read_all(file.open(&wrong, 11).await.unwrap())
                .await
                .is_err()
        );

        let mem = InMemory(Bytes::from_static(b"{}"));
        let d = Digest::of(b"{}");
        assert!(mem.in_memory().is_some() && mem.mount_from().is_none());
        assert_eq!(
            read_all(mem.open(&d, 2).await.unwrap()).await.unwrap(),
            b"{}"
        );
        assert!(read_all(mem.open(&d, 3).await.unwrap()).await.is_err());

        let dest = dir.path().join("copy");
        file.download_to(&digest, 11, &dest, &|_| {}).await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"layer bytes");
        assert!(
            file.download_to(&wrong, 11, &dir.path().join("bad"), &|_| {})
                .await
                .is_err()
        );
        assert!(!dir.path().join("bad").exists());
    }
}
