//! Reading an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/`).

use super::BaseError;
use crate::oci::referrers::is_fallback_tag;
use crate::oci::{Digest, annotation};
use bytes::Bytes;
use oci_spec::image::{Descriptor, ImageIndex};
use std::path::{Path, PathBuf};

pub(crate) fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs").join("sha256").join(digest.hex())
}

/// Reads a (small) blob and checks it against its digest.
pub(crate) fn read_blob(dir: &Path, digest: &Digest) -> Result<Bytes, BaseError> {
    let path = blob_path(dir, digest);
    let bytes = std::fs::read(&path).map_err(|source| BaseError::Io {
        path: path.clone(),
        source,
    })?;
    let actual = Digest::of(&bytes);
    if &actual != digest {
        return Err(BaseError::Layout {
            path,
            message: format!("content does not match its digest {digest} (it hashes to {actual})"),
        });
    }
    Ok(Bytes::from(bytes))
}

/// Finds the image in a layout by tag (`org.opencontainers.image.ref.name`) or digest;
/// with neither, the layout must hold exactly one image.
pub(crate) fn lookup(
    dir: &Path,
    tag: Option<&str>,
    digest: Option<&Digest>,
) -> Result<(Descriptor, Bytes), BaseError> {
    let err = |message: String| BaseError::Layout {
        path: dir.to_path_buf(),
        message,
    };
    let index_path = dir.join("index.json");
    let text = std::fs::read(&index_path).map_err(|e| {
        err(format!(
            "cannot read index.json ({e}); is this an OCI image layout directory?"
        ))
    })?;
    let index: ImageIndex =
        serde_json::from_slice(&text).map_err(|e| err(format!("index.json is not valid: {e}")))?;
    let ref_name = |d: &Descriptor| {
        d.annotations()
            .as_ref()
            .and_then(|a| a.get(annotation::REF_NAME))
            .cloned()
    };
    let found: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| match (tag, digest) {
            (_, Some(want)) => Digest::try_from(d.digest()).ok().as_ref() == Some(want),
            (Some(t), None) => ref_name(d).as_deref() == Some(t),
            // A referrers tag (`sha256-<hex>`, see `oci::referrers`) lists what refers to
            // an image; it is not one.
            (None, None) => !ref_name(d).is_some_and(|n| is_fallback_tag(&n)),
        })
        .collect();
    let names: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(ref_name)
        .filter(|n| !is_fallback_tag(n))
        .collect();
    let desc = match found.as_slice() {
        [one] => (*one).clone(),
        [] => {
            let wanted = digest
                .map(|d| d.to_string())
                .or(tag.map(str::to_string))
                .unwrap_or_default();
            return Err(err(format!(
                "no image `{wanted}` in index.json (it has: {})",
                if names.is_empty() {
                    "no named images".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
        [first, ..] if digest.is_some() || found.iter().all(|d| d.digest() == first.digest()) => {
            (*first).clone()
        }
        _ => {
            return Err(err(format!(
                "index.json holds several images; name one with oci-layout:DIR:TAG (tags: {})",
                names.join(", ")
            )));
        }
    };
    let digest = Digest::try_from(desc.digest()).map_err(|e| err(e.to_string()))?;
    let bytes = read_blob(dir, &digest)?;
    Ok((desc, bytes))
}
