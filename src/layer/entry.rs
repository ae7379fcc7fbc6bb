use super::LayerError;
use std::path::PathBuf;

/// Where a file's bytes come from.
#[derive(Clone, Debug)]
pub enum EntrySource {
    /// Streamed from disk when the tar is written; never read whole into memory.
    Path(PathBuf),
    /// Small generated content (e.g. `/etc/passwd` of the embedded base).
    Bytes(Vec<u8>),
}

#[derive(Clone, Debug)]
pub enum LayerEntryKind {
    Dir,
    File(EntrySource),
    Symlink(String),
}

/// One entry of a layer with its final in-image metadata. Ownership and mode are whatever
/// the plan decided; nothing is copied from the host file (no host uid, user name, mtime).
#[derive(Clone, Debug)]
pub struct LayerEntry {
    /// Absolute path in the image, e.g. `/app/hello`.
    pub path: String,
    pub kind: LayerEntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

impl LayerEntry {
    pub fn dir(path: &str, mode: u32, uid: u64, gid: u64) -> Self {
        LayerEntry {
            path: path.to_string(),
            kind: LayerEntryKind::Dir,
            mode,
            uid,
            gid,
        }
    }

    pub fn file(path: &str, source: EntrySource, mode: u32) -> Self {
        LayerEntry {
            path: path.to_string(),
            kind: LayerEntryKind::File(source),
            mode,
            uid: 0,
            gid: 0,
        }
    }

    pub(crate) fn describe_source(&self) -> String {
        match &self.kind {
            LayerEntryKind::File(EntrySource::Path(p)) => p.display().to_string(),
            LayerEntryKind::File(EntrySource::Bytes(_)) => "generated content".to_string(),
            LayerEntryKind::Dir => "a directory".to_string(),
            LayerEntryKind::Symlink(t) => format!("a symlink to {t}"),
        }
    }
}

/// Splits an absolute in-image path into its components, rejecting `..`, `.`, empty
/// components and NUL bytes so that no entry can escape the root when extracted.
pub(crate) fn components(path: &str) -> Result<Vec<&str>, LayerError> {
    let bad = |why| LayerError::BadPath {
        path: path.to_string(),
        why,
    };
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| bad("it must be absolute"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err(bad("it names the root directory"));
    }
    if path.contains('\0') {
        return Err(bad("it contains a NUL byte"));
    }
    rest.split('/')
        .map(|c| match c {
            "" => Err(bad("it has an empty component (`//`)")),
            "." | ".." => Err(bad("it contains `.` or `..`")),
            c => Ok(c),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_reject_escapes() {
        assert_eq!(components("/app/hello").unwrap(), vec!["app", "hello"]);
        assert_eq!(components("/etc/").unwrap(), vec!["etc"]);
        for bad in ["app/x", "/", "/a/../b", "/a//b", "/./a"] {
            assert!(components(bad).is_err(), "{bad}");
        }
    }
}
