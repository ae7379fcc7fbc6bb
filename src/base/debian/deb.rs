//! Reading a Debian binary package (`.deb`) in memory: the `ar` container (parsed by hand),
//! `debian-binary`, the control files (`control`, `md5sums`, `conffiles`) from
//! `control.tar[.gz|.xz|.zst]`, and every entry of `data.tar[.gz|.xz|.zst]` with its numeric
//! owner and permission bits. Nothing is dropped silently: device nodes, FIFOs, `..` paths and
//! unsupported compressions are errors naming the member and the entry.

use std::io::Read;

/// A parsed `.deb`: its control files and the entries of its data archive, in archive order.
#[derive(Clone, Debug)]
pub struct Deb {
    /// The text of `./control` from the control archive.
    pub control: String,
    pub md5sums: Option<String>,
    pub conffiles: Option<String>,
    pub entries: Vec<DebEntry>,
}

/// One entry of `data.tar`; the root `./` entry is not listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebEntry {
    /// Absolute in-image path (`./usr/sbin/nginx` → `/usr/sbin/nginx`), no trailing slash.
    pub path: String,
    pub kind: DebEntryKind,
    /// Permission bits including setuid, setgid and sticky (masked with `0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DebEntryKind {
    Dir,
    File(Vec<u8>),
    /// The target as stored in the archive.
    Symlink(String),
    /// The absolute in-image path of the link target.
    Hardlink(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("not a Debian package (no `!<arch>` magic)")]
    NotDeb,
    #[error("malformed ar archive at byte {offset}: {message}")]
    Ar { offset: usize, message: String },
    #[error("{member}: {message}")]
    Member { member: String, message: String },
    #[error("{member}: unsupported compression (only none, gzip, xz and zstd are supported)")]
    UnsupportedCompression { member: String },
    #[error("{member}: entry `{path}`: {message}")]
    Entry {
        member: String,
        path: String,
        message: String,
    },
}

fn member_err(member: &str, message: impl Into<String>) -> DebError {
    DebError::Member {
        member: member.to_string(),
        message: message.into(),
    }
}

/// Parses the members of an `ar` archive into (name, data) pairs.
fn ar_members(bytes: &[u8]) -> Result<Vec<(&str, &[u8])>, DebError> {
    let Some(mut rest) = bytes.strip_prefix(b"!<arch>\n") else {
        return Err(DebError::NotDeb);
    };
    let mut members = Vec::new();
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        let ar = |message: String| DebError::Ar { offset, message };
        if rest.len() < 60 {
            return Err(ar(format!(
                "truncated member header ({} bytes)",
                rest.len()
            )));
        }
        let (header, body) = rest.split_at(60);
        if &header[58..60] != b"`\n" {
            return Err(ar("bad member header terminator".into()));
        }
        let name = std::str::from_utf8(&header[..16])
            .map_err(|_| ar("member name is not UTF-8".into()))?
            .trim_end_matches(' ');
        let name = name.strip_suffix('/').unwrap_or(name);
        let size = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim_end_matches(' ').parse::<usize>().ok())
            .ok_or_else(|| ar(format!("member `{name}`: bad size field")))?;
        if size > body.len() {
            return Err(ar(format!(
                "member `{name}` is truncated: {size} bytes declared, {} present",
                body.len()
            )));
        }
        members.push((name, &body[..size]));
        // Data is padded to an even offset; a missing final pad byte is tolerated.
        rest = &body[(size + size % 2).min(body.len())..];
    }
    Ok(members)
}

/// A decompressing reader for a `control.tar*` or `data.tar*` member named `name`.
fn decoder<'a>(stem: &str, name: &str, data: &'a [u8]) -> Result<Box<dyn Read + 'a>, DebError> {
    Ok(match &name[stem.len()..] {
        "" => Box::new(data),
        ".gz" => Box::new(flate2::read::MultiGzDecoder::new(data)),
        ".xz" => Box::new(lzma_rust2::XzReader::new(data, true)),
        ".zst" => Box::new(
            zstd::stream::read::Decoder::with_buffer(data)
                .map_err(|e| member_err(name, format!("cannot start zstd decoder: {e}")))?,
        ),
        _ => {
            return Err(DebError::UnsupportedCompression {
                member: name.to_string(),
            });
        }
    })
}

/// Normalises a tar path (`./usr/bin/x`, `usr/bin/x/`) to `/usr/bin/x` (`/` for the root).
fn in_image_path(raw: &[u8]) -> Result<String, String> {
    if raw.contains(&0) {
        return Err("path contains a NUL byte".into());
    }
    let s = std::str::from_utf8(raw).map_err(|_| "path is not UTF-8".to_string())?;
    if s.starts_with('/') {
        return Err("absolute path (expected `./…`)".into());
    }
    let mut out = String::new();
    for component in s.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err("path has a `..` component".into()),
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Iterates over a tar member, calling `f` with each entry and its in-image path.
fn each_entry<'a>(
    name: &str,
    reader: Box<dyn Read + 'a>,
    mut f: impl FnMut(&mut tar::Entry<'_, Box<dyn Read + 'a>>, String) -> Result<(), DebError>,
) -> Result<(), DebError> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| member_err(name, format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| member_err(name, format!("bad tar archive: {e}")))?;
        if entry.header().entry_type() == tar::EntryType::XGlobalHeader {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let path = in_image_path(&raw).map_err(|message| DebError::Entry {
            member: name.to_string(),
            path: String::from_utf8_lossy(&raw).into_owned(),
            message,
        })?;
        f(&mut entry, path)?;
    }
    Ok(())
}

fn read_control(
    name: &str,
    data: &[u8],
) -> Result<(String, Option<String>, Option<String>), DebError> {
    let (mut control, mut md5sums, mut conffiles) = (None, None, None);
    each_entry(name, decoder("control.tar", name, data)?, |entry, path| {
        let slot = match path.as_str() {
            "/control" => &mut control,
            "/md5sums" => &mut md5sums,
            "/conffiles" => &mut conffiles,
            _ => return Ok(()),
        };
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| DebError::Entry {
                member: name.to_string(),
                path: format!(".{path}"),
                message: format!("cannot read as UTF-8 text: {e}"),
            })?;
        *slot = Some(text);
        Ok(())
    })?;
    let control = control.ok_or_else(|| member_err(name, "no `./control` file"))?;
    Ok((control, md5sums, conffiles))
}

fn read_data(name: &str, data: &[u8]) -> Result<Vec<DebEntry>, DebError> {
    let mut entries = Vec::new();
    each_entry(name, decoder("data.tar", name, data)?, |entry, path| {
        let err = |message: String| DebError::Entry {
            member: name.to_string(),
            path: format!(".{path}"),
            message,
        };
        let header = entry.header();
        let mode = header.mode().map_err(|e| err(format!("bad mode: {e}")))? & 0o7777;
        let uid = header.uid().map_err(|e| err(format!("bad uid: {e}")))?;
        let gid = header.gid().map_err(|e| err(format!("bad gid: {e}")))?;
        let entry_type = header.entry_type();
        let link_name = || -> Result<Vec<u8>, DebError> {
            match entry.link_name_bytes() {
                Some(l) if !l.is_empty() => Ok(l.into_owned()),
                _ => Err(err("link without a target".into())),
            }
        };
        let kind = match entry_type {
            tar::EntryType::Directory => DebEntryKind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut content = Vec::with_capacity(entry.size().min(1 << 26) as usize);
                entry
                    .read_to_end(&mut content)
                    .map_err(|e| err(format!("cannot read contents: {e}")))?;
                DebEntryKind::File(content)
            }
            tar::EntryType::Symlink => {
                let target = link_name()?;
                if target.contains(&0) {
                    return Err(err("symlink target contains a NUL byte".into()));
                }
                let target = String::from_utf8(target)
                    .map_err(|_| err("symlink target is not UTF-8".into()))?;
                DebEntryKind::Symlink(target)
            }
            tar::EntryType::Link => {
                let target = in_image_path(&link_name()?)
                    .map_err(|m| err(format!("hard link target: {m}")))?;
                DebEntryKind::Hardlink(target)
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                return Err(err(format!(
                    "is a {entry_type:?} special file, which a container base cannot hold"
                )));
            }
            other => return Err(err(format!("unsupported tar entry type {other:?}"))),
        };
        match (path.as_str(), &kind) {
            ("/", DebEntryKind::Dir) => return Ok(()),
            ("/", _) => return Err(err("the archive root is not a directory".into())),
            _ => {}
        }
        entries.push(DebEntry {
            path,
            kind,
            mode,
            uid,
            gid,
        });
        Ok(())
    })?;
    Ok(entries)
}

/// Reads a `.deb` held in memory.
pub fn read_deb(bytes: &[u8]) -> Result<Deb, DebError> {
    // Members whose name starts with `_` are reserved for local additions; dpkg ignores them.
    let members = ar_members(bytes)?;
    let mut members = members.into_iter().filter(|(n, _)| !n.starts_with('_'));
    let mut next = |stem: &str| match members.next() {
        Some((name, data)) if name.starts_with(stem) => Ok((name, data)),
        Some((name, _)) => Err(member_err(
            name,
            format!("unexpected member (want `{stem}`)"),
        )),
        None => Err(member_err(stem, "member missing")),
    };
    let (name, version) = next("debian-binary")?;
    if name != "debian-binary" || !(version.starts_with(b"2.") && version.ends_with(b"\n")) {
        let version = String::from_utf8_lossy(version);
        return Err(member_err(
            name,
            format!("unsupported format version {version:?}"),
        ));
    }
    let (name, data) = next("control.tar")?;
    let (control, md5sums, conffiles) = read_control(name, data)?;
    let (name, data) = next("data.tar")?;
    let entries = read_data(name, data)?;
    if let Some((extra, _)) = members.next() {
        return Err(member_err(extra, "unexpected member after data.tar"));
    }
    Ok(Deb {
        control,
        md5sums,
        conffiles,
        entries,
    })
}

/// The value of a single-line field (`Package`, `Version`, `Architecture`, …) of a control
/// paragraph; the field name is matched case-insensitively.
pub fn control_field<'a>(control: &'a str, name: &str) -> Option<&'a str> {
    control.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        let plain = !field.starts_with([' ', '\t']);
        (plain && field.eq_ignore_ascii_case(name)).then(|| value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DebEntryKind::{Dir, Hardlink, Symlink};
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    use tar::EntryType as T;

    const CONTROL: &str = "Package: hello\nVersion: 1.0-1\nArchitecture: all\n\
        Maintainer: T <t@example.org>\nDescription: test\n multi-line\n";

    fn dpkg_deb_build(compression: &str) -> Vec<u8> {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("pkg");
        for (p, content, mode) in [
            ("", None, 0o755),
            ("DEBIAN", None, 0o755),
            ("DEBIAN/control", Some(CONTROL), 0o644),
            ("DEBIAN/conffiles", Some("/etc/hello.conf\n"), 0o644),
            ("DEBIAN/md5sums", Some("0123  usr/bin/hello\n"), 0o644),
            ("etc", None, 0o755),
            ("etc/hello.conf", Some("greeting=hi\n"), 0o644),
            ("usr", None, 0o755),
            ("usr/share", None, 0o755),
            ("usr/share/doc", None, 0o755),
            ("usr/share/doc/README", Some("hello\n"), 0o644),
            ("usr/bin", None, 0o755),
            ("usr/bin/hello", Some("#!/bin/sh\necho hi\n"), 0o755),
            ("usr/bin/su-hello", Some("#!/bin/sh\n"), 0o4755),
            ("var-sticky", None, 0o1777),
        ] {
            let path = root.join(p);
            match content {
                Some(c) => std::fs::write(&path, c).unwrap(),
                None => std::fs::create_dir_all(&path).unwrap(),
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::os::unix::fs::symlink("hello", root.join("usr/bin/hi")).unwrap();
        std::fs::hard_link(root.join("usr/bin/hello"), root.join("usr/bin/hello2")).unwrap();
        let out = tmp.path().join("out.deb");
        let z = format!("-Z{compression}");
        let mut command = Command::new("dpkg-deb");
        command.args(["--build", "--root-owner-group", &z]);
        let output = (command.arg(&root).arg(&out).output())
            .unwrap_or_else(|e| panic!("cannot run dpkg-deb ({e}): install the `dpkg` package"));
        assert!(output.status.success(), "dpkg-deb failed: {output:?}");
        std::fs::read(out).unwrap()
    }

    #[test]
    fn dpkg_deb_packages_in_every_compression() {
        let file = |content: &str| DebEntryKind::File(content.into());
        let expected = [
            ("/etc", Dir, 0o755),
            ("/etc/hello.conf", file("greeting=hi\n"), 0o644),
            ("/usr", Dir, 0o755),
            ("/usr/bin", Dir, 0o755),
            ("/usr/bin/hello", file("#!/bin/sh\necho hi\n"), 0o755),
            ("/usr/bin/hello2", Hardlink("/usr/bin/hello".into()), 0o755),
            ("/usr/bin/hi", Symlink("hello".into()), 0o777),
            ("/usr/bin/su-hello", file("#!/bin/sh\n"), 0o4755),
            ("/usr/share", Dir, 0o755),
            ("/usr/share/doc", Dir, 0o755),
            ("/usr/share/doc/README", file("hello\n"), 0o644),
            ("/var-sticky", Dir, 0o1777),
        ];
        for z in ["xz", "zstd", "gzip", "none"] {
            let ext = match z {
                "xz" => ".xz",
                "zstd" => ".zst",
                "gzip" => ".gz",
                _ => "",
            };
            let bytes = dpkg_deb_build(z);
            let names: Vec<_> = ar_members(&bytes).unwrap().iter().map(|m| m.0).collect();
            assert_eq!(names[2], format!("data.tar{ext}"), "{z}");
            let deb = read_deb(&bytes).unwrap_or_else(|e| panic!("{z}: {e}"));
            assert_eq!(deb.control, CONTROL, "{z}");
            assert_eq!(deb.conffiles.as_deref(), Some("/etc/hello.conf\n"));
            assert_eq!(deb.md5sums.as_deref(), Some("0123  usr/bin/hello\n"));
            assert!(deb.entries.iter().all(|e| (e.uid, e.gid) == (0, 0)), "{z}");
            let mut got: Vec<_> = (deb.entries.iter())
                .map(|e| (e.path.as_str(), e.kind.clone(), e.mode))
                .collect();
            got.sort_by_key(|e| e.0);
            assert_eq!(got, expected, "{z}");
        }
    }

    fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        for (name, data) in members {
            let size = data.len();
            let header = format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n",
                0, 0, 0, 100644
            );
            assert_eq!(header.len(), 60);
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            if size % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    fn tar_gz(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    /// A header with `path` written raw (so `..` and `/` can be tested).
    fn header(path: &str, kind: T, mode: u32, size: usize) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        h
    }

    fn one(path: &str, kind: T) -> Vec<u8> {
        tar_gz(|b| b.append(&header(path, kind, 0o644, 0), &[][..]).unwrap())
    }

    fn hand_deb(data_name: &str, data: &[u8]) -> Vec<u8> {
        let control = tar_gz(|b| {
            let h = header("./control", T::Regular, 0o644, CONTROL.len());
            b.append(&h, CONTROL.as_bytes()).unwrap();
        });
        let members = [
            ("debian-binary/", &b"2.0\n"[..]),
            ("control.tar.gz/", &control),
        ];
        ar(&[&members[..], &[(data_name, data)]].concat())
    }

    #[test]
    fn hand_built_deb_with_long_names_owners_and_odd_member_size() {
        let long = format!("./usr/lib/{}/file", "x".repeat(120));
        let (mut data, mut filler) = (Vec::new(), 0);
        while data.len() % 2 == 0 {
            filler += 1;
            data = tar_gz(|b| {
                b.append(&header("./", T::Directory, 0o755, 0), &[][..])
                    .unwrap();
                let mut h = header("", T::Regular, 0o2750, filler);
                h.set_uid(1234);
                h.set_gid(5678);
                let content = vec![b'a'; filler];
                b.append_data(&mut h, &long, content.as_slice()).unwrap();
                let mut h = header("", T::Link, 0o644, 0);
                b.append_link(&mut h, "./usr/bin/other", &long).unwrap();
            });
        }
        let mut bytes = hand_deb("data.tar.gz/", &data);
        bytes.extend(ar(&[("_extra", b"ignored")]).split_off(8));
        let deb = read_deb(&bytes).unwrap();
        assert_eq!(control_field(&deb.control, "package"), Some("hello"));
        assert_eq!(deb.entries.len(), 2);
        let e = &deb.entries[0];
        assert_eq!(
            (&e.path[..], e.mode, e.uid, e.gid),
            (&long[1..], 0o2750, 1234, 5678)
        );
        assert_eq!(e.kind, DebEntryKind::File(vec![b'a'; filler]));
        let e = &deb.entries[1];
        assert_eq!(e.path, "/usr/bin/other");
        assert_eq!(e.kind, DebEntryKind::Hardlink(long[1..].into()));
    }

    #[test]
    fn malformed_packages_are_errors_naming_the_problem() {
        let good = hand_deb("data.tar.gz", &one("./etc/x", T::Regular));
        assert!(read_deb(&good).is_ok());
        let no_control = one("./md5sums", T::Regular);
        let bad_data = |path: &str, kind| hand_deb("data.tar.gz", &one(path, kind));
        let bad_fmag = [&good[..66], b"x", &good[67..]].concat();
        #[rustfmt::skip]
        let cases: [(Vec<u8>, &str); 15] = [
            (b"hello world".to_vec(), "not a Debian package (no `!<arch>` magic)"),
            (good[..good.len() - 20].to_vec(), "member `data.tar.gz` is truncated"),
            (good[..good.len() / 2].to_vec(), "is truncated"),
            (good[..82].to_vec(), "truncated member header (10 bytes)"),
            (bad_fmag, "bad member header terminator"),
            (bad_data("./../etc/passwd", T::Regular),
                "data.tar.gz: entry `./../etc/passwd`: path has a `..` component"),
            (bad_data("/etc/passwd", T::Regular), "data.tar.gz: entry `/etc/passwd`: absolute"),
            (bad_data("./dev/null", T::Char), "data.tar.gz: entry `./dev/null`: is a Char special"),
            (bad_data("./run/fifo", T::Fifo), "data.tar.gz: entry `./run/fifo`: is a Fifo special"),
            (hand_deb("data.tar.bz2", b"BZh9"), "data.tar.bz2: unsupported compression"),
            (hand_deb("data.tar.lzma", b"]"), "data.tar.lzma: unsupported compression"),
            (hand_deb("data.tar.xz", b"not xz"), "data.tar.xz: "),
            (ar(&[("debian-binary", b"3.0\n")]), "debian-binary: unsupported format version"),
            (ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &no_control)]),
                "control.tar.gz: no `./control` file"),
            (ar(&[("debian-binary", b"2.0\n")]), "control.tar: member missing"),
        ];
        for (bytes, want) in cases {
            let e = read_deb(&bytes).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }

    #[test]
    fn control_fields() {
        assert_eq!(control_field(CONTROL, "Package"), Some("hello"));
        assert_eq!(control_field(CONTROL, "VERSION"), Some("1.0-1"));
        assert_eq!(control_field(CONTROL, "architecture"), Some("all"));
        assert_eq!(control_field(CONTROL, "Depends"), None);
        assert_eq!(control_field(" Package: no\n", "Package"), None);
    }

    /// Network: downloads the real busybox-static from deb.debian.org.
    #[test]
    fn real_busybox_static_from_debian() {
        let tmp = tempfile::tempdir().unwrap();
        let mut command = Command::new("apt-get");
        command
            .args(["download", "busybox-static"])
            .current_dir(tmp.path());
        let output = command.output().expect("cannot run apt-get");
        assert!(
            output.status.success(),
            "apt-get download busybox-static: {output:?}"
        );
        let mut files = std::fs::read_dir(tmp.path()).unwrap();
        let file = files.next().expect("no .deb downloaded").unwrap().path();
        let bytes = std::fs::read(&file).unwrap();
        let start = std::time::Instant::now();
        let deb = read_deb(&bytes).unwrap();
        eprintln!("read_deb({}): {:?}", file.display(), start.elapsed());
        assert_eq!(
            control_field(&deb.control, "Package"),
            Some("busybox-static")
        );
        let busybox = deb.entries.iter().find(|e| e.path == "/bin/busybox");
        let busybox = busybox.expect("no /bin/busybox");
        assert_eq!(busybox.mode, 0o755);
        assert!(matches!(&busybox.kind, DebEntryKind::File(c) if c.starts_with(b"\x7fELF")));
    }
}
