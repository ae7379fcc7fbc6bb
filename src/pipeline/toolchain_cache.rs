//! The toolchain cache in a registry (`--toolchain-cache REG/REPO`): each entry is an OCI
//! artifact under its tag (`std-<triple>-<key>`, `zig-<key>`), an artifact manifest whose
//! one layer is the entry's zstd tar and whose annotation holds the entry's identity.
//! Fetched blobs are verified against their digest as they stream in.
//!
//! The compile stage asks from a blocking thread; the requests run on the build's tokio
//! runtime. A registry that cannot be reached once is not asked again in the same run.

use crate::compile::shared_cache::{Entry, FetchError, IDENTITY_ANNOTATION, SharedCache};
use crate::image::{Blob, artifact_manifest};
use crate::layer::Layer;
use crate::oci::{Digest, EMPTY_JSON, EMPTY_JSON_DIGEST, Repository, Target, media};
use crate::registry::{Client, RegistryError, UploadSource};
use crate::report::ProgressId;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct RegistryToolchainCache {
    client: Arc<Client>,
    repo: Repository,
    location: String,
    runtime: tokio::runtime::Handle,
    /// Set when a request could not reach the registry: later entries fail at once.
    down: AtomicBool,
}

impl RegistryToolchainCache {
    /// Must be made on the build's runtime.
    pub fn new(client: Arc<Client>, repo: &Repository) -> RegistryToolchainCache {
        RegistryToolchainCache {
            client,
            location: repo.to_string(),
            repo: repo.clone(),
            runtime: tokio::runtime::Handle::current(),
            down: AtomicBool::new(false),
        }
    }

    /// A registry error as a fetch error. A registry that cannot be reached (connection,
    /// timeouts, 5xx after the retries) is not asked again in this run; a refused login
    /// is only a warning for that request (some registries answer 401 for a repository
    /// that does not exist yet, and a push may still be allowed).
    fn unreachable(&self, e: RegistryError) -> FetchError {
        if e.is_transient() || matches!(e, RegistryError::Unreachable { .. }) {
            self.down.store(true, Ordering::Relaxed);
        }
        let mut text = crate::error::chain(&e);
        if let Some(hint) = e.hint() {
            text.push_str(&format!("; {hint}"));
        }
        FetchError::Unreachable(text)
    }

    fn check_up(&self) -> Result<(), FetchError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(FetchError::Unreachable(
                "it could not be reached earlier in this run".into(),
            ));
        }
        Ok(())
    }

    async fn fetch_async(&self, entry: &Entry, dir: &Path) -> Result<Option<PathBuf>, FetchError> {
        let repo = &self.repo.path;
        let fetched = match self
            .client
            .get_manifest(repo, &Target::Tag(entry.tag.clone()))
            .await
        {
            Ok(m) => m,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(self.unreachable(e)),
        };
        let layer = check_manifest(&fetched.bytes, entry).map_err(FetchError::Damaged)?;
        let path = dir.join("archive.tar.zst");
        match self
            .client
            .download_blob(repo, &layer.0, Some(layer.1), &path, &|_| {})
            .await
        {
            Ok(()) => Ok(Some(path)),
            Err(e @ RegistryError::DigestMismatch { .. }) => {
                Err(FetchError::Damaged(crate::error::chain(&e)))
            }
            Err(e) if e.is_not_found() => Err(FetchError::Damaged(format!(
                "its manifest names blob {} which the registry does not have",
                layer.0
            ))),
            Err(e) => Err(self.unreachable(e)),
        }
    }

    async fn store_async(&self, entry: &Entry, archive: &Layer) -> Result<(), RegistryError> {
        let repo = &self.repo.path;
        let empty = Digest::of(EMPTY_JSON);
        if self.client.blob_exists(repo, &empty).await?.is_none() {
            let bytes = bytes::Bytes::from_static(EMPTY_JSON);
            let source = UploadSource::Bytes(bytes);
            let size = EMPTY_JSON.len() as u64;
            (self.client)
                .upload_blob(repo, &empty, size, source, None, ProgressId(0))
                .await?;
        }
        // Uploaded even when the registry has the digest: a damaged copy there is
        // replaced by good bytes.
        let source = UploadSource::File(&archive.path);
        (self.client)
            .upload_blob(
                repo,
                &archive.digest,
                archive.size,
                source,
                None,
                ProgressId(0),
            )
            .await?;
        let annotations = BTreeMap::from([
            (IDENTITY_ANNOTATION.to_string(), entry.identity.clone()),
            (
                "org.opencontainers.image.title".to_string(),
                format!("imgpush toolchain cache: {}", entry.kind.describe()),
            ),
        ]);
        let blob = Blob {
            media_type: archive.media_type,
            digest: &archive.digest,
            size: archive.size,
        };
        let manifest = artifact_manifest(entry.kind.artifact_type(), &blob, &annotations, None);
        self.client
            .put_manifest(repo, &entry.tag, &manifest.bytes, &manifest.media_type)
            .await?;
        Ok(())
    }
}

impl SharedCache for RegistryToolchainCache {
    fn location(&self) -> &str {
        &self.location
    }

    fn fetch(&self, entry: &Entry, dir: &Path) -> Result<Option<PathBuf>, FetchError> {
        self.check_up()?;
        self.runtime.block_on(self.fetch_async(entry, dir))
    }

    fn contains(&self, entry: &Entry) -> Result<bool, FetchError> {
        self.check_up()?;
        let target = Target::Tag(entry.tag.clone());
        match self
            .runtime
            .block_on(self.client.manifest_digest(&self.repo.path, &target))
        {
            Ok(d) => Ok(d.is_some()),
            // Not readable (yet): try to store it, which may be allowed.
            Err(e) if is_denied(&e) => Ok(false),
            Err(e) => Err(self.unreachable(e)),
        }
    }

    fn store(&self, entry: &Entry, archive: &Layer) -> Result<(), FetchError> {
        self.check_up()?;
        self.runtime
            .block_on(self.store_async(entry, archive))
            .map_err(|e| self.unreachable(e))
    }
}

/// A refused login or permission (401, 403).
fn is_denied(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::Unauthorized { .. } | RegistryError::Status { status: 403, .. }
    )
}

/// The one layer (digest, size) of a cache artifact, if the manifest is the artifact of
/// `entry`: its artifact type, its identity annotation, one zstd layer.
fn check_manifest(bytes: &[u8], entry: &Entry) -> Result<(Digest, u64), String> {
    let m: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("its manifest is not JSON: {e}"))?;
    let artifact_type = m["artifactType"].as_str().unwrap_or_default();
    if artifact_type != entry.kind.artifact_type() {
        return Err(format!(
            "it is a {artifact_type:?} artifact, not {}",
            entry.kind.artifact_type()
        ));
    }
    if m["annotations"][IDENTITY_ANNOTATION].as_str() != Some(entry.identity.as_str()) {
        return Err("it was built for another toolchain (its identity annotation differs)".into());
    }
    if m["config"]["digest"].as_str() != Some(EMPTY_JSON_DIGEST) {
        return Err("its config is not the empty descriptor".into());
    }
    let layers = m["layers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let [layer] = layers else {
        return Err(format!("it has {} layers, not one", layers.len()));
    };
    if layer["mediaType"].as_str() != Some(media::OCI_LAYER_ZSTD) {
        return Err(format!(
            "its layer is {}, not a zstd tar",
            layer["mediaType"]
        ));
    }
    let digest: Digest = layer["digest"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .ok_or("its layer has no valid digest")?;
    let size = layer["size"].as_u64().ok_or("its layer has no size")?;
    Ok((digest, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::shared_cache::EntryKind;

    #[test]
    fn only_the_artifact_of_the_entry_is_accepted() {
        let entry = Entry::new(EntryKind::Zig, "zig 0.17.1".into());
        let layer_digest = Digest::of(b"archive");
        let blob = Blob {
            media_type: media::OCI_LAYER_ZSTD,
            digest: &layer_digest,
            size: 7,
        };
        let make = |kind: &str, identity: &str, blob: &Blob<'_>| {
            let annotations =
                BTreeMap::from([(IDENTITY_ANNOTATION.to_string(), identity.to_string())]);
            artifact_manifest(kind, blob, &annotations, None).bytes
        };
        let good = make(entry.kind.artifact_type(), "zig 0.17.1", &blob);
        assert_eq!(
            check_manifest(&good, &entry).unwrap(),
            (layer_digest.clone(), 7)
        );
        let other = make(entry.kind.artifact_type(), "zig 0.16.0", &blob);
        assert!(
            check_manifest(&other, &entry)
                .unwrap_err()
                .contains("another toolchain")
        );
        let std = make("application/vnd.imgpush.rust-std.v1", "zig 0.17.1", &blob);
        assert!(
            check_manifest(&std, &entry)
                .unwrap_err()
                .contains("not application/vnd.imgpush.zig-cache.v1")
        );
        let gzip = Blob {
            media_type: media::OCI_LAYER_GZIP,
            ..blob
        };
        let gz = make(entry.kind.artifact_type(), "zig 0.17.1", &gzip);
        assert!(
            check_manifest(&gz, &entry)
                .unwrap_err()
                .contains("not a zstd tar")
        );
        assert!(check_manifest(b"{", &entry).is_err());
    }
}
