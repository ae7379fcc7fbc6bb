//! `--tarball FILE`: the image as one tar file, byte-for-byte reproducible (entries in a
//! fixed order, root-owned, one mtime, no user names).
//!
//! - OCI archive: the OCI layout [`LayoutSink`] writes, every platform, as one tar.
//! - docker-archive: what `docker save` writes for one image — `manifest.json`, the config
//!   as `<config hex>.json` and each layer uncompressed as `<diff_id hex>/layer.tar` — so
//!   `docker load` and `podman load` take it.

use super::{LayoutSink, PublishContext, PublishError, Published, Sink};
use crate::image::PlatformImage;
use crate::oci::{Digest, Sha256Writer};
use crate::plan::{Tarball, TarballKind};
use crate::report::{Event, Stage};
use futures_util::future::BoxFuture;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub struct ArchiveSink {
    pub tarball: Tarball,
    /// mtime of every tar entry (`SOURCE_DATE_EPOCH`, else 0).
    pub mtime: u64,
}

impl Sink for ArchiveSink {
    fn describe(&self) -> String {
        match self.tarball.kind {
            TarballKind::OciArchive => format!("oci-archive:{}", self.tarball.path.display()),
            TarballKind::DockerArchive { .. } => {
                format!("docker-archive:{}", self.tarball.path.display())
            }
        }
    }

    fn publish<'a>(
        &'a self,
        cx: &'a PublishContext<'a>,
    ) -> BoxFuture<'a, Result<Published, PublishError>> {
        Box::pin(self.write(cx))
    }
}

impl ArchiveSink {
    fn path(&self) -> &Path {
        &self.tarball.path
    }

    fn io(&self) -> impl Fn(std::io::Error) -> PublishError + '_ {
        |source| PublishError::ArchiveIo {
            path: self.path().to_path_buf(),
            source,
        }
    }

    fn err(&self, message: String) -> PublishError {
        PublishError::Archive {
            path: self.path().to_path_buf(),
            message,
        }
    }

    async fn write(&self, cx: &PublishContext<'_>) -> Result<Published, PublishError> {
        let parent = match self.path().parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(self.io())?;
        // Everything is staged next to the target and renamed into place complete.
        let staging = tempfile::Builder::new()
            .prefix(".imgpush-tarball-")
            .tempdir_in(&parent)
            .map_err(self.io())?;
        let out = super::output_temp_file(&parent).map_err(self.io())?;
        let file = out.reopen().map_err(self.io())?;
        let describe = self.describe();
        cx.reporter.event(Event::StageStarted(Stage::WriteArchive {
            target: describe.clone(),
        }));
        let (reference, names) = match &self.tarball.kind {
            TarballKind::OciArchive => {
                let layout = staging.path().join("layout");
                LayoutSink {
                    dir: layout.clone(),
                }
                .write_quiet(cx)
                .await?;
                let mtime = self.mtime;
                tokio::task::spawn_blocking(move || write_dir_tar(&layout, file, mtime))
                    .await
                    .expect("the tar task does not panic")
                    .map_err(self.io())?;
                (format!("{describe}@{}", cx.set.index.digest), None)
            }
            TarballKind::DockerArchive { repo_tags } => {
                let platforms: Vec<_> = cx.set.images.iter().map(|i| i.platform.clone()).collect();
                self.tarball
                    .check_platforms(&platforms)
                    .map_err(|e| self.err(e.to_string()))?;
                let image = &cx.set.images[0];
                if !image.referrers.is_empty() {
                    // `docker save`'s format has no place for referrers. Said at `-v`: every
                    // image has attachments by default, and the other outputs keep them.
                    cx.reporter.event(Event::Detail(format!(
                        "{describe}: the image's {} attachment(s) are not written: a docker-archive cannot hold them (an OCI archive, layout or registry can)",
                        image.referrers.len()
                    )));
                }
                let config = image
                    .config
                    .inline()
                    .ok_or_else(|| self.err("the image config is not at hand".into()))?
                    .clone();
                let names = (config.digest.clone(), config.media_type.clone());
                let layers = self
                    .uncompressed_layers(image, &config, staging.path())
                    .await?;
                let repo_tags = repo_tags.clone();
                let mtime = self.mtime;
                tokio::task::spawn_blocking(move || {
                    write_docker_archive(&config, &layers, &repo_tags, file, mtime)
                })
                .await
                .expect("the tar task does not panic")
                .map_err(self.io())?;
                // The image ID `docker load` and `podman load` print: the config digest.
                (format!("{describe}@{}", names.0), Some(names))
            }
        };
        out.persist(self.path()).map_err(|e| self.io()(e.error))?;
        Ok(Published {
            reference,
            repository: describe,
            names,
        })
    }

    /// Each layer of `image` decompressed into `dir`, checked against the config's
    /// diff_ids, as `(diff_id, path)` in stacking order.
    async fn uncompressed_layers(
        &self,
        image: &PlatformImage,
        config: &crate::image::Document,
        dir: &Path,
    ) -> Result<Vec<(Digest, PathBuf)>, PublishError> {
        let config: serde_json::Value = serde_json::from_slice(&config.bytes)
            .map_err(|e| self.err(format!("the config is not JSON: {e}")))?;
        let diff_ids: Vec<Digest> = config
            .pointer("/rootfs/diff_ids")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().and_then(|d| d.parse().ok()))
                    .collect()
            })
            .unwrap_or_default();
        if diff_ids.len() != image.layers.len() {
            return Err(self.err(format!(
                "the config lists {} diff_ids for {} layers",
                diff_ids.len(),
                image.layers.len()
            )));
        }
        let mut out = Vec::new();
        for (layer, diff_id) in image.layer_blobs().into_iter().zip(diff_ids) {
            let (digest, media_type) = (layer.digest, layer.media_type);
            let compressed = match layer.source.local_path(&digest) {
                Some(path) => path,
                None => {
                    let path = dir.join(digest.hex());
                    layer
                        .source
                        .download_to(&digest, layer.size, &path, &|_| {})
                        .await
                        .map_err(|_| {
                            self.err(format!(
                                "fetching layer {digest}: reading image {}",
                                layer.source.describe()
                            ))
                        })?;
                    path
                }
            };
            let dest = dir.join(format!("{}.tar", diff_id.hex()));
            let expected = diff_id.clone();
            let result = tokio::task::spawn_blocking(move || {
                decompress_verified(&compressed, &media_type, &dest, &expected).map(|_| dest)
            })
            .await
            .expect("the decompression task does not panic");
            let path = result.map_err(|m| self.err(format!("layer {digest}: {m}")))?;
            out.push((diff_id, path));
        }
        Ok(out)
    }
}

/// Decompresses a layer blob into `dest`, checking that the result hashes to `diff_id`.
fn decompress_verified(
    src: &Path,
    media_type: &str,
    dest: &Path,
    diff_id: &Digest,
) -> Result<(), String> {
    let input = std::fs::File::open(src).map_err(|e| format!("reading {}: {e}", src.display()))?;
    let input = std::io::BufReader::new(input);
    let mut reader: Box<dyn Read> = if media_type.ends_with("gzip") {
        Box::new(flate2::read::MultiGzDecoder::new(input))
    } else if media_type.ends_with("zstd") {
        Box::new(
            zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| format!("reading zstd: {e}"))?,
        )
    } else if media_type.ends_with(".tar") {
        Box::new(input)
    } else {
        return Err(format!(
            "media type `{media_type}` cannot be written to a docker-archive (gzip, zstd or uncompressed tar only)"
        ));
    };
    let file = std::fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut out = Sha256Writer::new(std::io::BufWriter::new(file));
    std::io::copy(&mut reader, &mut out).map_err(|e| format!("decompressing: {e}"))?;
    let (mut w, actual, _) = out.finish();
    w.flush().map_err(|e| e.to_string())?;
    if &actual != diff_id {
        return Err(format!(
            "decompresses to {actual}, but the config says its diff_id is {diff_id}"
        ));
    }
    Ok(())
}

/// A tar writer whose output depends only on what is added: ustar headers, root-owned,
/// one mtime, no user or group names.
struct Deterministic<W: Write> {
    tar: tar::Builder<W>,
    mtime: u64,
}

impl<W: Write> Deterministic<W> {
    fn new(out: W, mtime: u64) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        Deterministic { tar, mtime }
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        h.set_size(size);
        h
    }

    fn dir(&mut self, name: &str) -> std::io::Result<()> {
        let mut h = self.header(tar::EntryType::Directory, 0o755, 0);
        self.tar
            .append_data(&mut h, format!("{name}/"), std::io::empty())
    }

    fn bytes(&mut self, name: &str, data: &[u8]) -> std::io::Result<()> {
        let mut h = self.header(tar::EntryType::Regular, 0o644, data.len() as u64);
        self.tar.append_data(&mut h, name, data)
    }

    fn file(&mut self, name: &str, path: &Path) -> std::io::Result<()> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        let mut h = self.header(tar::EntryType::Regular, 0o644, size);
        self.tar
            .append_data(&mut h, name, std::io::BufReader::new(file).take(size))
    }

    fn finish(self) -> std::io::Result<W> {
        self.tar.into_inner()
    }
}

/// Tars a directory tree (directories and regular files only) in sorted order.
fn write_dir_tar(dir: &Path, out: std::fs::File, mtime: u64) -> std::io::Result<()> {
    fn walk(root: &Path, rel: &str, out: &mut Vec<(String, bool)>) -> std::io::Result<()> {
        let mut names: Vec<(String, bool)> = std::fs::read_dir(root.join(rel))?
            .map(|e| {
                let e = e?;
                Ok((
                    e.file_name().to_string_lossy().to_string(),
                    e.file_type()?.is_dir(),
                ))
            })
            .collect::<std::io::Result<_>>()?;
        names.sort();
        for (name, is_dir) in names {
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            out.push((path.clone(), is_dir));
            if is_dir {
                walk(root, &path, out)?;
            }
        }
        Ok(())
    }
    let mut entries = Vec::new();
    walk(dir, "", &mut entries)?;
    let mut tar = Deterministic::new(std::io::BufWriter::new(out), mtime);
    for (name, is_dir) in entries {
        if is_dir {
            tar.dir(&name)?;
        } else {
            tar.file(&name, &dir.join(&name))?;
        }
    }
    tar.finish()?.flush()
}

fn write_docker_archive(
    config: &crate::image::Document,
    layers: &[(Digest, PathBuf)],
    repo_tags: &[String],
    out: std::fs::File,
    mtime: u64,
) -> std::io::Result<()> {
    let config_name = format!("{}.json", config.digest.hex());
    let layer_names: Vec<String> = layers
        .iter()
        .map(|(d, _)| format!("{}/layer.tar", d.hex()))
        .collect();
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": repo_tags,
        "Layers": layer_names,
    }]);
    let mut tar = Deterministic::new(std::io::BufWriter::new(out), mtime);
    tar.bytes(&config_name, &config.bytes)?;
    let mut written: Vec<&Digest> = Vec::new();
    for (diff_id, path) in layers {
        // The same layer twice in one image is stored once.
        if written.contains(&diff_id) {
            continue;
        }
        written.push(diff_id);
        tar.dir(diff_id.hex())?;
        tar.bytes(&format!("{}/VERSION", diff_id.hex()), b"1.0")?;
        tar.file(&format!("{}/layer.tar", diff_id.hex()), path)?;
    }
    tar.bytes("manifest.json", &crate::oci::canonical_json(&manifest))?;
    tar.finish()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_tars_are_independent_of_creation_order_and_mtimes() {
        let tar_of = |names: &[&str]| {
            let dir = tempfile::tempdir().unwrap();
            for n in names {
                let p = dir.path().join(n);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, n.as_bytes()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let out = tempfile::NamedTempFile::new().unwrap();
            write_dir_tar(dir.path(), out.reopen().unwrap(), 7).unwrap();
            std::fs::read(out.path()).unwrap()
        };
        let a = tar_of(&[
            "index.json",
            "blobs/sha256/bb",
            "blobs/sha256/aa",
            "oci-layout",
        ]);
        let b = tar_of(&[
            "oci-layout",
            "blobs/sha256/aa",
            "index.json",
            "blobs/sha256/bb",
        ]);
        assert_eq!(a, b);
        let mut archive = tar::Archive::new(a.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                assert_eq!(e.header().mtime().unwrap(), 7);
                assert_eq!(e.header().uid().unwrap(), 0);
                e.path().unwrap().to_string_lossy().to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "blobs/",
                "blobs/sha256/",
                "blobs/sha256/aa",
                "blobs/sha256/bb",
                "index.json",
                "oci-layout"
            ]
        );
    }

    #[test]
    fn decompression_checks_the_diff_id() {
        use crate::oci::media;
        let dir = tempfile::tempdir().unwrap();
        let raw = b"not really a tar, but bytes";
        let gz = dir.path().join("l.gz");
        let mut enc =
            flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
        enc.write_all(raw).unwrap();
        enc.finish().unwrap();
        let dest = dir.path().join("l.tar");
        decompress_verified(&gz, media::OCI_LAYER_GZIP, &dest, &Digest::of(raw)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), raw);
        let wrong = Digest::of(b"other");
        let e = decompress_verified(&gz, media::OCI_LAYER_GZIP, &dest, &wrong).unwrap_err();
        assert!(e.contains("diff_id"), "{e}");
        let e = decompress_verified(&gz, "application/x-zip", &dest, &wrong).unwrap_err();
        assert!(e.contains("cannot be written"), "{e}");
    }
}
