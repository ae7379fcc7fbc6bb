//! What each platform's files contain, as SBOM components (`image::sbom::Component`): the
//! crates cargo compiled for that target (`cargo`), the modules a Go binary embeds (`go`),
//! a static bundle's npm lockfile (`npm`), or the files themselves with their SHA-256.
//! Component ids: `cargo:NAME@VERSION`, `golang:MODULE@VERSION`, `npm:NAME@VERSION`,
//! `app:/path/in/image` (programs), `file:/path/in/image` (other files).

pub mod cargo;
pub mod go;
pub mod npm;

use super::CompileError;
use crate::image::sbom::{Checksum, Component, ComponentKind, HashAlgorithm};
use crate::layer::{EntrySource, LayerEntryKind};
use crate::plan::ExtraFile;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The SHA-256 of a file's content, lowercase hex, read in blocks.
pub fn file_sha256(path: &Path) -> Result<String, CompileError> {
    crate::oci::Digest::of_file(path)
        .map(|d| d.hex().to_string())
        .map_err(|source| CompileError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// A shipped file as a component: an `Application` (`app:DEST`) when it is a program,
/// else a `File` (`file:DEST`), named by its file name, with its SHA-256.
pub fn file_component(
    source: &Path,
    dest: &str,
    application: bool,
) -> Result<Component, CompileError> {
    let sha256 = file_sha256(source)?;
    let (prefix, kind) = if application {
        ("app", ComponentKind::Application)
    } else {
        ("file", ComponentKind::File)
    };
    Ok(Component {
        id: format!("{prefix}:{dest}"),
        kind,
        name: dest.rsplit('/').next().unwrap_or(dest).to_string(),
        version: None,
        purl: None,
        checksums: vec![Checksum {
            algorithm: HashAlgorithm::Sha256,
            hex: sha256,
        }],
        license: None,
        supplier: None,
        download: None,
        path: Some(dest.to_string()),
        depends_on: Vec::new(),
    })
}

/// The components of a static bundle shipped from `dir` to `dest`: the packages of the
/// npm lockfile of the bundle's project when it has one (see [`npm::project_lockfile`]),
/// otherwise every regular file of the bundle (symlinks are not followed; they point
/// inside the bundle, at files listed themselves) with its SHA-256.
pub fn bundle(dir: &Path, dest: &str) -> Result<Vec<Component>, CompileError> {
    if let Some(lockfile) = npm::project_lockfile(dir) {
        let text = std::fs::read_to_string(&lockfile).map_err(|source| CompileError::Read {
            path: lockfile.clone(),
            source,
        })?;
        if let Some(components) =
            npm::packages(&text).map_err(|message| CompileError::Lockfile {
                path: lockfile.clone(),
                message,
            })?
        {
            return Ok(components);
        }
    }
    let root = dest.trim_end_matches('/');
    let mut out = Vec::new();
    for (path, rel) in regular_files(dir)? {
        out.push(file_component(&path, &format!("{root}/{rel}"), false)?);
    }
    Ok(out)
}

/// The components of the extra files (`--file`, `files = [...]`, kodata): each regular
/// file, directories walked as the layer walks them (symlinks are not files of their
/// own), as an `Application` when it is an ELF executable, else a `File`.
pub fn extra_files(files: &[ExtraFile]) -> Result<Vec<Component>, CompileError> {
    let mut out = Vec::new();
    for entry in super::files::entries(files)? {
        if let LayerEntryKind::File(EntrySource::Path(source)) = &entry.kind {
            out.push(file_component(
                source,
                &entry.path,
                is_elf_executable(source)?,
            )?);
        }
    }
    Ok(out)
}

fn is_elf_executable(path: &Path) -> Result<bool, CompileError> {
    let mut header = Vec::with_capacity(64);
    std::fs::File::open(path)
        .and_then(|f| f.take(64).read_to_end(&mut header))
        .map_err(|source| CompileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(super::elf::parse_header(&header).is_some_and(|m| m.executable))
}

/// Every regular file below `dir` with its path relative to it (`/`-separated), sorted.
fn regular_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, CompileError> {
    let read = |path: &Path| {
        let p = path.to_path_buf();
        move |source| CompileError::Read { path: p, source }
    };
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(read(&d))? {
            let entry = entry.map_err(read(&d))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(read(&path))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(dir)
                    .expect("walked below the root")
                    .to_string_lossy()
                    .to_string();
                out.push((path, rel));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_files_are_listed_as_the_layer_walks_them() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("kodata");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::write(tree.join("sub/a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("sub/a.txt", tree.join("link")).unwrap();
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[16] = 3; // ET_DYN
        elf[18] = 183; // aarch64
        std::fs::write(dir.path().join("tool"), &elf).unwrap();
        let files = vec![
            ExtraFile {
                source: tree,
                dest: "/var/run/ko".into(),
                mode: None,
                owner: (0, 0),
            },
            ExtraFile {
                source: dir.path().join("tool"),
                dest: "/usr/bin/tool".into(),
                mode: None,
                owner: (0, 0),
            },
        ];
        let c = extra_files(&files).unwrap();
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["file:/var/run/ko/sub/a.txt", "app:/usr/bin/tool"]);
        assert_eq!(c[1].kind, ComponentKind::Application);
    }

    #[test]
    fn a_bundle_without_a_lockfile_lists_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        std::fs::create_dir_all(site.join("assets")).unwrap();
        std::fs::write(site.join("index.html"), "hi").unwrap();
        std::fs::write(site.join("assets/app.js"), "").unwrap();
        std::os::unix::fs::symlink("index.html", site.join("home.html")).unwrap();
        let c = bundle(&site, "/srv/www/").unwrap();
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            ["file:/srv/www/assets/app.js", "file:/srv/www/index.html"]
        );
        assert_eq!(
            c[1].checksums[0].hex,
            "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
        );
        assert_eq!(c[1].name, "index.html");
        assert_eq!(c[1].path.as_deref(), Some("/srv/www/index.html"));
        assert_eq!(
            c[0].checksums[0].hex,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
