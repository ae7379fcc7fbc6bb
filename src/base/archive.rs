//! Reading an OCI archive (an OCI image layout in one tar file): it is unpacked into a
//! directory and then read as a layout. Only the layout's own files are accepted.

use super::BaseError;
use std::path::{Component, Path, PathBuf};

/// Unpacks `file` into `dest` (which must exist). Entries outside `oci-layout`,
/// `index.json` and `blobs/` are ignored; absolute paths, `..`, links and devices are errors.
pub(crate) fn unpack(file: &Path, dest: &Path) -> Result<(), BaseError> {
    let err = |message: String| BaseError::Layout {
        path: file.to_path_buf(),
        message,
    };
    let input = std::fs::File::open(file).map_err(|source| BaseError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(input));
    let entries = archive
        .entries()
        .map_err(|e| err(format!("not a tar file: {e}")))?;
    let mut seen_index = false;
    for entry in entries {
        let mut entry = entry.map_err(|e| err(format!("not a valid tar file: {e}")))?;
        let rel = relative_path(&entry).map_err(&err)?;
        let wanted = rel == Path::new("oci-layout")
            || rel == Path::new("index.json")
            || rel.starts_with("blobs");
        if !wanted || rel.as_os_str().is_empty() {
            continue;
        }
        let out = dest.join(&rel);
        let io = |source| BaseError::Io {
            path: out.clone(),
            source,
        };
        match entry.header().entry_type() {
            tar::EntryType::Directory => std::fs::create_dir_all(&out).map_err(io)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = out.parent() {
                    std::fs::create_dir_all(parent).map_err(io)?;
                }
                let mut f = std::fs::File::create(&out).map_err(io)?;
                std::io::copy(&mut entry, &mut f).map_err(io)?;
                seen_index |= rel == Path::new("index.json");
            }
            other => {
                return Err(err(format!(
                    "entry `{}` is a {other:?}; an OCI archive holds only files and directories",
                    rel.display()
                )));
            }
        }
    }
    if !seen_index {
        return Err(err(
            "no index.json: this is not an OCI archive (for `docker save` output use a registry or an OCI layout)".into(),
        ));
    }
    Ok(())
}

/// Reads a `docker save` tarball (`manifest.json`, the config and each layer as an
/// uncompressed tar) into an OCI layout at `dest` holding one image manifest over the
/// same config and layers: layers stay as they are (`…layer.v1.tar`, or `+gzip` when
/// compressed), so their digests are their diff_ids. `id` (the config digest, the image
/// ID `docker load` prints) picks the image when the archive holds several.
pub(crate) fn docker_to_layout(
    file: &Path,
    id: Option<&crate::oci::Digest>,
    dest: &Path,
) -> Result<(), BaseError> {
    use crate::oci::{Digest, Sha256Writer, canonical_json, media};
    let err = |message: String| BaseError::Layout {
        path: file.to_path_buf(),
        message,
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BaseError::Io { path, source }
    };
    let raw = dest.join("docker-save");
    let input = std::fs::File::open(file).map_err(io(file))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(input));
    let entries = archive
        .entries()
        .map_err(|e| err(format!("not a tar file: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| err(format!("not a valid tar file: {e}")))?;
        if !matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        ) {
            continue;
        }
        let rel = relative_path(&entry).map_err(&err)?;
        let out = raw.join(&rel);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut f = std::fs::File::create(&out).map_err(io(&out))?;
        std::io::copy(&mut entry, &mut f).map_err(io(&out))?;
    }
    let manifest_path = raw.join("manifest.json");
    let text = std::fs::read(&manifest_path).map_err(|_| {
        err("no manifest.json: this is not a docker archive (`docker save` output)".into())
    })?;
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(rename = "Config")]
        config: String,
        #[serde(rename = "Layers")]
        layers: Vec<String>,
    }
    let entries: Vec<Entry> = serde_json::from_slice(&text)
        .map_err(|e| err(format!("manifest.json is not valid: {e}")))?;
    let inside = |name: &str| -> Result<std::path::PathBuf, BaseError> {
        let p = Path::new(name);
        if p.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(err(format!(
                "manifest.json names `{name}` outside the archive"
            )));
        }
        Ok(raw.join(p))
    };
    let mut configs = Vec::new();
    for e in &entries {
        let bytes = std::fs::read(inside(&e.config)?).map_err(|_| {
            err(format!(
                "manifest.json names config `{}`, which is missing",
                e.config
            ))
        })?;
        configs.push((Digest::of(&bytes), bytes));
    }
    let ids: Vec<String> = configs.iter().map(|(d, _)| d.to_string()).collect();
    let chosen = match id {
        Some(want) => configs.iter().position(|(d, _)| d == want).ok_or_else(|| {
            err(format!(
                "no image `{want}` in manifest.json (it has: {})",
                ids.join(", ")
            ))
        })?,
        None if configs.len() == 1 => 0,
        None if configs.is_empty() => return Err(err("manifest.json lists no image".into())),
        None => {
            return Err(err(format!(
                "the archive holds several images; name one with docker-archive:FILE@ID (IDs: {})",
                ids.join(", ")
            )));
        }
    };
    let blobs = dest.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(io(&blobs))?;
    let put = |bytes: &[u8]| -> Result<(Digest, u64), BaseError> {
        let d = Digest::of(bytes);
        let p = blobs.join(d.hex());
        std::fs::write(&p, bytes).map_err(io(&p))?;
        Ok((d, bytes.len() as u64))
    };
    let (config_digest, config_bytes) = &configs[chosen];
    put(config_bytes)?;
    let mut layers = Vec::new();
    for name in &entries[chosen].layers {
        let path = inside(name)?;
        let mut input = std::fs::File::open(&path).map_err(|_| {
            err(format!(
                "manifest.json names layer `{name}`, which is missing"
            ))
        })?;
        let mut magic = [0u8; 2];
        let gzip = std::io::Read::read(&mut input, &mut magic).map_err(io(&path))? == 2
            && magic == [0x1f, 0x8b];
        let mut input = std::fs::File::open(&path).map_err(io(&path))?;
        let mut w = Sha256Writer::new(std::io::sink());
        std::io::copy(&mut input, &mut w).map_err(io(&path))?;
        let (_, digest, size) = w.finish();
        let target = blobs.join(digest.hex());
        if !target.exists() {
            std::fs::rename(&path, &target).map_err(io(&target))?;
        }
        layers.push(serde_json::json!({
            "mediaType": if gzip { media::OCI_LAYER_GZIP } else { "application/vnd.oci.image.layer.v1.tar" },
            "digest": digest.to_string(),
            "size": size,
        }));
    }
    let manifest = canonical_json(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {
            "mediaType": media::OCI_CONFIG,
            "digest": config_digest.to_string(),
            "size": config_bytes.len(),
        },
        "layers": layers,
    }));
    let (manifest_digest, manifest_size) = put(&manifest)?;
    let index = canonical_json(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [{
            "mediaType": media::OCI_MANIFEST,
            "digest": manifest_digest.to_string(),
            "size": manifest_size,
        }],
    }));
    let write = |name: &str, bytes: &[u8]| {
        let p = dest.join(name);
        std::fs::write(&p, bytes).map_err(io(&p))
    };
    write("index.json", &index)?;
    write("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    std::fs::remove_dir_all(&raw).map_err(io(&raw))
}

/// An entry's path inside the archive, relative and without `.`; an absolute path or `..`
/// (which would write outside the unpacking directory) is an error message.
fn relative_path<R: std::io::Read>(entry: &tar::Entry<R>) -> Result<PathBuf, String> {
    let path = entry
        .path()
        .map_err(|e| format!("bad entry name: {e}"))?
        .into_owned();
    let mut rel = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => rel.push(p),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "entry `{}` points outside the archive",
                    path.display()
                ));
            }
        }
    }
    Ok(rel)
}
