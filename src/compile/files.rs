//! Extra files (`--file SRC:DST[:MODE[:UID:GID]]`, `files = [...]`): one layer shared by every platform.

use super::CompileError;
use crate::layer::{EntrySource, LayerEntry};
use crate::plan::ExtraFile;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

fn default_mode(meta: &std::fs::Metadata) -> u32 {
    if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

/// Layer entries for the extra files. Directories are walked (sorted, iteratively, one
/// entry per file, contents left on disk); a symlink inside a tree is kept as a symlink if
/// it stays inside the tree, and is an error otherwise.
pub fn entries(files: &[ExtraFile]) -> Result<Vec<LayerEntry>, CompileError> {
    let mut out = Vec::new();
    for f in files {
        let read = |path: &Path| {
            let p = path.to_path_buf();
            move |source| CompileError::Read { path: p, source }
        };
        let meta = std::fs::metadata(&f.source).map_err(read(&f.source))?;
        if !meta.is_dir() {
            let mode = f.mode.unwrap_or_else(|| default_mode(&meta));
            out.push(owned(
                LayerEntry::file(&f.dest, EntrySource::Path(f.source.clone()), mode),
                f.owner,
            ));
            continue;
        }
        let root_dest = f.dest.trim_end_matches('/').to_string();
        out.push(LayerEntry::dir(
            if root_dest.is_empty() {
                "/"
            } else {
                &root_dest
            },
            0o755,
            f.owner.0,
            f.owner.1,
        ));
        let mut stack = vec![f.source.clone()];
        while let Some(dir) = stack.pop() {
            let mut children: Vec<_> = std::fs::read_dir(&dir)
                .map_err(read(&dir))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(read(&dir))?;
            children.sort_by_key(|e| e.file_name());
            for child in children {
                let path = child.path();
                let rel = path.strip_prefix(&f.source).expect("walked below the root");
                let dest = format!("{root_dest}/{}", rel.to_string_lossy());
                let meta = std::fs::symlink_metadata(&path).map_err(read(&path))?;
                if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&path).map_err(read(&path))?;
                    if !stays_inside(rel, &target) {
                        return Err(CompileError::SymlinkEscapes { path, target });
                    }
                    out.push(LayerEntry {
                        path: dest,
                        kind: crate::layer::LayerEntryKind::Symlink(
                            target.to_string_lossy().to_string(),
                        ),
                        mode: 0o777,
                        uid: f.owner.0,
                        gid: f.owner.1,
                    });
                } else if meta.is_dir() {
                    out.push(LayerEntry::dir(&dest, 0o755, f.owner.0, f.owner.1));
                    stack.push(path);
                } else if meta.is_file() {
                    let mode = f.mode.unwrap_or_else(|| default_mode(&meta));
                    out.push(owned(
                        LayerEntry::file(&dest, EntrySource::Path(path), mode),
                        f.owner,
                    ));
                } else {
                    return Err(CompileError::Unsupported {
                        path,
                        what: "a device, socket or FIFO",
                    });
                }
            }
        }
    }
    Ok(out)
}

fn owned(mut e: LayerEntry, (uid, gid): (u64, u64)) -> LayerEntry {
    e.uid = uid;
    e.gid = gid;
    e
}

/// Does a relative symlink at `link` (relative to the tree root) resolve inside the tree?
fn stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_trees_and_checks_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        std::fs::create_dir_all(root.join("assets/js")).unwrap();
        std::fs::write(root.join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::write(root.join("assets/js/app.js"), "1").unwrap();
        std::os::unix::fs::symlink("assets/js/app.js", root.join("latest.js")).unwrap();
        let files = vec![ExtraFile {
            source: root.clone(),
            dest: "/srv/www".into(),
            mode: None,
            owner: (101, 101),
        }];
        let e = entries(&files).unwrap();
        assert!(e.iter().all(|e| (e.uid, e.gid) == (101, 101)));
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/srv/www",
                "/srv/www/assets",
                "/srv/www/index.html",
                "/srv/www/latest.js",
                "/srv/www/assets/js",
                "/srv/www/assets/js/app.js"
            ]
        );
        std::os::unix::fs::symlink("../../etc/passwd", root.join("assets/escape")).unwrap();
        assert!(matches!(
            entries(&files),
            Err(CompileError::SymlinkEscapes { .. })
        ));
        assert!(stays_inside(Path::new("a/b/link"), Path::new("../c")));
        assert!(!stays_inside(Path::new("link"), Path::new("../c")));
        assert!(!stays_inside(Path::new("link"), Path::new("/etc/passwd")));
    }
}
