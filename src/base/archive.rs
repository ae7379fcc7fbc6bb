//! Reading an OCI archive (an OCI image layout in one tar file): it is unpacked into a
//! directory and then read as a layout. Only the layout's own files are accepted.

use super::BaseError;
use std::path::{Component, Path};

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
        let path = entry
            .path()
            .map_err(|e| err(format!("bad entry name: {e}")))?
            .into_owned();
        let mut rel = std::path::PathBuf::new();
        for c in path.components() {
            match c {
                Component::Normal(p) => rel.push(p),
                Component::CurDir => {}
                _ => {
                    return Err(err(format!(
                        "entry `{}` points outside the archive",
                        path.display()
                    )));
                }
            }
        }
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
                    path.display()
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
