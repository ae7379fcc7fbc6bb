use super::entry::components;
use super::{EntrySource, Layer, LayerEntry, LayerEntryKind, LayerError};
use crate::oci::{Digest, Sha256Writer, media};
use flate2::GzBuilder;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

/// Settings that change the bytes of a layer (and so belong to its identity).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// mtime of every entry: `SOURCE_DATE_EPOCH`, else 0.
    pub mtime: u64,
    pub compression: Compression,
}

/// How layer tars are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (zlib-rs), level 1–9: what every runtime reads.
    Gzip { level: u32 },
    /// zstd, level 1–19: smaller and faster to decompress; needs containerd ≥ 1.5,
    /// podman ≥ 3 or Docker ≥ 23 on the pulling side.
    Zstd { level: i32 },
}

impl Default for Compression {
    /// gzip level 3: on typical binaries within 3% of level 6's size at about 1.4× the
    /// speed (≥ 60 MiB/s per core; docs/performance.md has the measurements).
    fn default() -> Self {
        Compression::Gzip { level: 3 }
    }
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip { .. } => media::OCI_LAYER_GZIP,
            Compression::Zstd { .. } => media::OCI_LAYER_ZSTD,
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compression::Gzip { level } => write!(f, "gzip:{level}"),
            Compression::Zstd { level } => write!(f, "zstd:{level}"),
        }
    }
}

/// The compressing stage of the one-pass writer.
enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    fn new(inner: W, compression: Compression) -> io::Result<Self> {
        Ok(match compression {
            Compression::Gzip { level } => Encoder::Gzip(
                GzBuilder::new()
                    .mtime(0)
                    .operating_system(255)
                    .write(inner, flate2::Compression::new(level)),
            ),
            Compression::Zstd { level } => {
                let mut e = zstd::stream::write::Encoder::new(inner, level)?;
                // A content checksum lets `zstd -t` and runtimes catch corruption.
                e.include_checksum(true)?;
                Encoder::Zstd(e)
            }
        })
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

/// Writes `entries` as one gzip-compressed tar layer into `dir` and returns its digests.
///
/// Entries are sorted by path components (a parent always precedes its children) and every
/// missing parent directory is added as `0755 root:root`, so the same set of entries gives
/// the same bytes whatever order it came in. File contents are streamed from disk.
pub fn write_layer(
    entries: Vec<LayerEntry>,
    created_by: String,
    options: LayerOptions,
    dir: &Path,
) -> Result<Layer, LayerError> {
    write_layer_reporting(entries, created_by, options, dir, &|_| {})
}

/// [`write_layer`], calling `on_bytes(n)` as each `n` bytes of file content are read (for
/// progress bars; tar headers are not counted).
pub fn write_layer_reporting(
    entries: Vec<LayerEntry>,
    created_by: String,
    options: LayerOptions,
    dir: &Path,
    on_bytes: &dyn Fn(u64),
) -> Result<Layer, LayerError> {
    let tree = normalize(entries)?;
    let write_err = |source| LayerError::Write {
        path: dir.to_path_buf(),
        source,
    };
    let tmp = tempfile::Builder::new()
        .prefix(".layer-")
        .suffix(".layer")
        .tempfile_in(dir)
        .map_err(write_err)?;
    let file = tmp.reopen().map_err(write_err)?;

    let compressed = Sha256Writer::new(BufWriter::with_capacity(1 << 20, file));
    let encoder = Encoder::new(compressed, options.compression).map_err(write_err)?;
    let mut tar = tar::Builder::new(Sha256Writer::new(encoder));

    for entry in tree.values() {
        append(&mut tar, entry, options.mtime, on_bytes)?;
    }

    let uncompressed = tar.into_inner().map_err(write_err)?;
    let (encoder, diff_id, _) = uncompressed.finish();
    let compressed = encoder.finish().map_err(write_err)?;
    let (mut buffered, digest, size) = compressed.finish();
    buffered.flush().map_err(write_err)?;

    let path = dir.join(format!("{}.layer", digest.hex()));
    tmp.persist(&path).map_err(|e| write_err(e.error))?;
    Ok(Layer {
        digest,
        diff_id,
        size,
        path,
        media_type: options.compression.media_type(),
        created_by,
    })
}

/// The identity of the layer `entries` and `options` would give, without writing it: a
/// hash over the layer format version, every option, and each entry (after the same
/// normalization `write_layer` does) with the sha256 of its content. Equal keys mean
/// byte-identical layers, which is what lets the cache skip tarring and compressing.
pub fn cache_key(entries: &[LayerEntry], options: &LayerOptions) -> Result<Digest, LayerError> {
    let tree = normalize(entries.to_vec())?;
    let mut h = Sha256Writer::new(io::sink());
    let mut line = |s: String| h.write_all(s.as_bytes()).and_then(|_| h.write_all(b"\n"));
    let io_err = |source| LayerError::Write {
        path: "layer cache key".into(),
        source,
    };
    line(format!(
        "imgpush-layer-v1 mtime={} compression={}",
        options.mtime, options.compression
    ))
    .map_err(io_err)?;
    for entry in tree.values() {
        let what = match &entry.kind {
            LayerEntryKind::Dir => "dir".to_string(),
            LayerEntryKind::Symlink(t) => format!("symlink {t:?}"),
            LayerEntryKind::File(EntrySource::Bytes(b)) => format!("file {}", Digest::of(b)),
            LayerEntryKind::File(EntrySource::Path(p)) => {
                let read_err = |source| LayerError::Read {
                    path: p.clone(),
                    source,
                };
                let mut file = File::open(p).map_err(read_err)?;
                let mut content = Sha256Writer::new(io::sink());
                io::copy(&mut file, &mut content).map_err(read_err)?;
                let (_, digest, size) = content.finish();
                format!("file {digest} {size}")
            }
        };
        line(format!(
            "{:?} {:o} {}:{} {what}",
            entry.path, entry.mode, entry.uid, entry.gid
        ))
        .map_err(io_err)?;
    }
    Ok(h.finish().1)
}

type Tree = BTreeMap<Vec<String>, LayerEntry>;

fn normalize(entries: Vec<LayerEntry>) -> Result<Tree, LayerError> {
    let mut tree: Tree = BTreeMap::new();
    for entry in entries {
        let key: Vec<String> = components(&entry.path)?
            .into_iter()
            .map(str::to_string)
            .collect();
        if let Some(existing) = tree.get(&key) {
            // The same directory declared twice with the same metadata is harmless.
            let same_dir = matches!(
                (&existing.kind, &entry.kind),
                (LayerEntryKind::Dir, LayerEntryKind::Dir)
            ) && (existing.mode, existing.uid, existing.gid)
                == (entry.mode, entry.uid, entry.gid);
            if !same_dir {
                return Err(LayerError::Duplicate {
                    path: entry.path.clone(),
                    first: existing.describe_source(),
                    second: entry.describe_source(),
                });
            }
            continue;
        }
        tree.insert(key, entry);
    }
    let keys: Vec<Vec<String>> = tree.keys().cloned().collect();
    for key in keys {
        for depth in 1..key.len() {
            let parent = key[..depth].to_vec();
            match tree.get(&parent) {
                Some(e) if !matches!(e.kind, LayerEntryKind::Dir) => {
                    return Err(LayerError::NotADirectory {
                        path: format!("/{}", parent.join("/")),
                        child: format!("/{}", key.join("/")),
                    });
                }
                Some(_) => {}
                None => {
                    let path = format!("/{}", parent.join("/"));
                    tree.insert(parent, LayerEntry::dir(&path, 0o755, 0, 0));
                }
            }
        }
    }
    Ok(tree)
}

fn header(entry: &LayerEntry, mtime: u64, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(entry.mode);
    h.set_uid(entry.uid);
    h.set_gid(entry.gid);
    h.set_mtime(mtime);
    h.set_size(size);
    h
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    entry: &LayerEntry,
    mtime: u64,
    on_bytes: &dyn Fn(u64),
) -> Result<(), LayerError> {
    let rel = entry.path.trim_start_matches('/').trim_end_matches('/');
    let write_err = |source| LayerError::Write {
        path: entry.path.clone().into(),
        source,
    };
    match &entry.kind {
        LayerEntryKind::Dir => {
            let mut h = header(entry, mtime, tar::EntryType::Directory, 0);
            tar.append_data(&mut h, format!("{rel}/"), io::empty())
                .map_err(write_err)
        }
        LayerEntryKind::Symlink(target) => {
            let mut h = header(entry, mtime, tar::EntryType::Symlink, 0);
            tar.append_link(&mut h, rel, target).map_err(write_err)
        }
        LayerEntryKind::File(EntrySource::Bytes(bytes)) => {
            let mut h = header(entry, mtime, tar::EntryType::Regular, bytes.len() as u64);
            tar.append_data(&mut h, rel, bytes.as_slice())
                .map_err(write_err)?;
            on_bytes(bytes.len() as u64);
            Ok(())
        }
        LayerEntryKind::File(EntrySource::Path(src)) => {
            let read_err = |source| LayerError::Read {
                path: src.clone(),
                source,
            };
            let file = File::open(src).map_err(read_err)?;
            let size = file.metadata().map_err(read_err)?.len();
            let mut h = header(entry, mtime, tar::EntryType::Regular, size);
            let mut counted = Counted {
                inner: file.take(size),
                count: 0,
                on_bytes,
            };
            tar.append_data(&mut h, rel, &mut counted)
                .map_err(write_err)?;
            if counted.count != size {
                return Err(LayerError::Changed {
                    path: src.clone(),
                    expected: size,
                    actual: counted.count,
                });
            }
            Ok(())
        }
    }
}

struct Counted<'a, R> {
    inner: R,
    count: u64,
    on_bytes: &'a dyn Fn(u64),
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        (self.on_bytes)(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Digest;
    use flate2::read::GzDecoder;

    fn sample(dir: &Path) -> Vec<LayerEntry> {
        let bin = dir.join("hello");
        std::fs::write(&bin, b"\x7fELF not really").unwrap();
        vec![
            LayerEntry::file("/app/hello", EntrySource::Path(bin), 0o755),
            LayerEntry::file("/etc/motd", EntrySource::Bytes(b"hi\n".to_vec()), 0o644),
            LayerEntry::dir("/tmp", 0o1777, 0, 0),
        ]
    }

    #[test]
    fn golden_digests() {
        // Guards the whole byte format: tar headers, ordering, gzip backend and level.
        // If this changes, every image digest imgpush produces changes with it.
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let layer = write_layer(
            sample(src.path()),
            "t".into(),
            LayerOptions::default(),
            out.path(),
        )
        .unwrap();
        assert_eq!(
            layer.diff_id.to_string(),
            "sha256:f91a4b1fb5109a31b0283cd09269150e507a2252092db6cff798dfda0364e1fc"
        );
        assert_eq!(
            layer.digest.to_string(),
            "sha256:c7db3506478e05bf4d838d776201c2015fa34f4f0db24fa46fd18b74891fa86e"
        );
    }

    #[test]
    fn order_and_directory_do_not_matter() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut entries_b = sample(b.path());
        entries_b.reverse();
        let la = write_layer(
            sample(a.path()),
            "t".into(),
            LayerOptions::default(),
            out.path(),
        )
        .unwrap();
        let lb = write_layer(entries_b, "t".into(), LayerOptions::default(), out.path()).unwrap();
        assert_eq!(la.digest, lb.digest);
    }

    #[test]
    fn digests_describe_the_file_and_entries_are_normalized() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let opts = LayerOptions {
            mtime: 1_700_000_000,
            compression: Compression::Gzip { level: 6 },
        };
        let layer = write_layer(sample(src.path()), "t".into(), opts, out.path()).unwrap();
        let bytes = std::fs::read(&layer.path).unwrap();
        assert_eq!(Digest::of(&bytes), layer.digest);
        assert_eq!(bytes.len() as u64, layer.size);
        let mut tar_bytes = Vec::new();
        GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut tar_bytes)
            .unwrap();
        assert_eq!(Digest::of(&tar_bytes), layer.diff_id);

        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let got: Vec<(String, u32, u64, u64, u64, String)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                    h.gid().unwrap(),
                    h.username().unwrap().unwrap_or("").to_string(),
                )
            })
            .collect();
        let names: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(names, ["app/", "app/hello", "etc/", "etc/motd", "tmp/"]);
        assert!(
            got.iter()
                .all(|g| g.2 == 0 && g.4 == 0 && g.3 == 1_700_000_000 && g.5.is_empty())
        );
        assert_eq!(got[1].1, 0o755);
        assert_eq!(got[3].1, 0o644);
        assert_eq!(got[4].1, 0o1777);
    }

    #[test]
    fn duplicates_and_bad_parents_are_errors() {
        let out = tempfile::tempdir().unwrap();
        let f = |p: &str| LayerEntry::file(p, EntrySource::Bytes(vec![]), 0o644);
        let err = write_layer(
            vec![f("/a"), f("/a")],
            "t".into(),
            LayerOptions::default(),
            out.path(),
        );
        assert!(matches!(err, Err(LayerError::Duplicate { .. })));
        let err = write_layer(
            vec![f("/a"), f("/a/b")],
            "t".into(),
            LayerOptions::default(),
            out.path(),
        );
        assert!(matches!(err, Err(LayerError::NotADirectory { .. })));
    }

    #[test]
    fn zstd_layers_decompress_to_the_diff_id() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let opts = LayerOptions {
            mtime: 0,
            compression: Compression::Zstd { level: 3 },
        };
        let layer = write_layer(sample(src.path()), "t".into(), opts, out.path()).unwrap();
        assert_eq!(layer.media_type, media::OCI_LAYER_ZSTD);
        let bytes = std::fs::read(&layer.path).unwrap();
        assert_eq!(Digest::of(&bytes), layer.digest);
        let tar = zstd::stream::decode_all(bytes.as_slice()).unwrap();
        assert_eq!(Digest::of(&tar), layer.diff_id);
        // Same tar as the gzip layer: compression does not change the diff_id.
        let gz = write_layer(
            sample(src.path()),
            "t".into(),
            LayerOptions::default(),
            out.path(),
        )
        .unwrap();
        assert_eq!(gz.diff_id, layer.diff_id);
        // And the same inputs give the same zstd bytes again.
        let again = write_layer(sample(src.path()), "t".into(), opts, out.path()).unwrap();
        assert_eq!(again.digest, layer.digest);
    }
}
