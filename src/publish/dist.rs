//! `--dist DIR`: each platform's programs as a release tarball beside the image, the way
//! cargo-dist and GoReleaser name them (`NAME-VERSION-TARGET.tar.gz`, one directory of the
//! same name inside), and `SHA256SUMS` in the format `sha256sum -c` reads. The tarballs are
//! written by the layer writer (sorted entries, root-owned, mtime from the epoch), so the
//! same programs give the same archive bytes on any machine.

use super::PublishError;
use crate::compile::Artifact;
use crate::layer::{Compression, EntrySource, LayerEntry, LayerOptions, write_layer};
use crate::oci::Digest;
use crate::plan::Dist;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One release tarball written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistArchive {
    pub path: PathBuf,
    pub sha256: Digest,
    /// The target it holds (`x86_64-unknown-linux-musl`, `linux-amd64`).
    pub target: String,
}

/// The archive's file (and top directory) name, without `.tar.gz`.
pub fn archive_stem(dist: &Dist, target: &str) -> String {
    match &dist.version {
        Some(v) => format!("{}-{v}-{target}", dist.name),
        None => format!("{}-{target}", dist.name),
    }
}

/// Writes one tarball per `(target, artifact)` into `dist.dir` and merges their sums into
/// `SHA256SUMS` there (lines for other files are kept, so several runs can fill one DIR).
pub fn write(
    dist: &Dist,
    programs: &[(String, &Artifact)],
    mtime: u64,
) -> Result<Vec<DistArchive>, PublishError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PublishError::DistIo { path, source }
    };
    std::fs::create_dir_all(&dist.dir).map_err(io(&dist.dir))?;
    let mut written = Vec::new();
    for (target, artifact) in programs {
        let stem = archive_stem(dist, target);
        let path = dist.dir.join(format!("{stem}.tar.gz"));
        let mut entries = vec![LayerEntry::dir(&format!("/{stem}"), 0o755, 0, 0)];
        for f in &artifact.files {
            let name = f.dest.rsplit('/').next().unwrap_or(&f.dest);
            entries.push(LayerEntry::file(
                &format!("/{stem}/{name}"),
                EntrySource::Path(f.source.clone()),
                f.mode,
            ));
        }
        for doc in &dist.docs {
            let name = doc.file_name().unwrap_or_default().to_string_lossy();
            entries.push(LayerEntry::file(
                &format!("/{stem}/{name}"),
                EntrySource::Path(doc.clone()),
                0o644,
            ));
        }
        let options = LayerOptions {
            mtime,
            compression: Compression::Gzip { level: 9 },
        };
        let layer = write_layer(entries, String::new(), options, &dist.dir).map_err(|source| {
            PublishError::Dist {
                path: path.clone(),
                source,
            }
        })?;
        // Readable as any file the user writes (the layer writer's temporary file is 0600).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&layer.path, std::fs::Permissions::from_mode(0o644))
            .map_err(io(&layer.path))?;
        std::fs::rename(&layer.path, &path).map_err(io(&path))?;
        written.push(DistArchive {
            path,
            sha256: layer.digest,
            target: target.clone(),
        });
    }
    let sums = dist.dir.join("SHA256SUMS");
    let old = match std::fs::read_to_string(&sums) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(&sums)(e)),
    };
    let mut lines = parse_sums(&old);
    for a in &written {
        let name = a.path.file_name().unwrap_or_default().to_string_lossy();
        lines.insert(name.to_string(), a.sha256.hex().to_string());
    }
    super::write_file_atomic(&sums, render_sums(&lines).as_bytes()).map_err(io(&sums))?;
    Ok(written)
}

/// `HEX  NAME` (or `HEX *NAME`, binary mode) lines, by name; anything else is dropped.
fn parse_sums(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (hex, name) = l.split_once(' ')?;
            let name = name.trim_start_matches([' ', '*']);
            (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && !name.is_empty())
                .then(|| (name.to_string(), hex.to_ascii_lowercase()))
        })
        .collect()
}

fn render_sums(lines: &BTreeMap<String, String>) -> String {
    lines
        .iter()
        .map(|(name, hex)| format!("{hex}  {name}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::ArtifactFile;
    use crate::oci::Platform;
    use std::io::Read;

    fn dist(dir: &Path, version: Option<&str>) -> Dist {
        Dist {
            dir: dir.to_path_buf(),
            name: "tool".into(),
            version: version.map(str::to_string),
            docs: Vec::new(),
        }
    }

    fn artifact(dir: &Path, platform: &str, bytes: &[u8]) -> Artifact {
        let src = dir.join(format!("bin-{}", platform.replace('/', "-")));
        std::fs::write(&src, bytes).unwrap();
        Artifact {
            platform: platform.parse::<Platform>().unwrap(),
            files: vec![ArtifactFile {
                source: src,
                dest: "/usr/local/bin/tool".into(),
                mode: 0o755,
            }],
            sbom: Vec::new(),
        }
    }

    fn entries(path: &Path) -> Vec<(String, u32, Vec<u8>)> {
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
        let mut archive = tar::Archive::new(gz);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut body = Vec::new();
                e.read_to_end(&mut body).unwrap();
                let path = e.path().unwrap().display().to_string();
                (path, e.header().mode().unwrap(), body)
            })
            .collect()
    }

    #[test]
    fn one_tarball_per_target_with_its_directory_and_sums() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let amd = artifact(src.path(), "linux/amd64", b"amd64 program");
        let arm = artifact(src.path(), "linux/arm64", b"arm64 program");
        let d = dist(out.path(), Some("1.2.3"));
        let written = write(
            &d,
            &[
                ("x86_64-unknown-linux-musl".into(), &amd),
                ("aarch64-unknown-linux-musl".into(), &arm),
            ],
            0,
        )
        .unwrap();
        assert_eq!(written.len(), 2);
        let first = out
            .path()
            .join("tool-1.2.3-x86_64-unknown-linux-musl.tar.gz");
        assert_eq!(written[0].path, first);
        assert_eq!(
            entries(&first),
            vec![
                (
                    "tool-1.2.3-x86_64-unknown-linux-musl/".into(),
                    0o755,
                    vec![]
                ),
                (
                    "tool-1.2.3-x86_64-unknown-linux-musl/tool".into(),
                    0o755,
                    b"amd64 program".to_vec()
                ),
            ]
        );
        let sums = std::fs::read_to_string(out.path().join("SHA256SUMS")).unwrap();
        let bytes = std::fs::read(&first).unwrap();
        let hex = crate::oci::Digest::of(&bytes).hex().to_string();
        assert!(
            sums.contains(&format!(
                "{hex}  tool-1.2.3-x86_64-unknown-linux-musl.tar.gz\n"
            )),
            "{sums}"
        );
        assert_eq!(sums.lines().count(), 2);
        // No temporary files are left in DIR.
        let names: Vec<String> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn same_programs_same_bytes_and_sums_merge() {
        let src = tempfile::tempdir().unwrap();
        let a = tempfile::tempdir().unwrap();
        let amd = artifact(src.path(), "linux/amd64", b"program");
        std::fs::write(
            a.path().join("SHA256SUMS"),
            format!("{}  other.zip\n", "ab".repeat(32)),
        )
        .unwrap();
        let one = write(&dist(a.path(), None), &[("linux-amd64".into(), &amd)], 7).unwrap();
        let two = write(&dist(a.path(), None), &[("linux-amd64".into(), &amd)], 7).unwrap();
        assert_eq!(one, two);
        assert_eq!(one[0].path, a.path().join("tool-linux-amd64.tar.gz"));
        let sums = std::fs::read_to_string(a.path().join("SHA256SUMS")).unwrap();
        assert_eq!(
            sums,
            format!(
                "{}  other.zip\n{}  tool-linux-amd64.tar.gz\n",
                "ab".repeat(32),
                one[0].sha256.hex()
            )
        );
    }

    #[test]
    fn sums_lines_in_both_modes() {
        let hex = "0f".repeat(32);
        let parsed = parse_sums(&format!("{hex}  a.tar.gz\n{hex} *b.tar.gz\nnot a line\n"));
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed["b.tar.gz"], hex);
    }
}
