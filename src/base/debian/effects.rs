//! The layers of a package base: per platform, one layer with every package's files and its
//! dpkg record (`/var/lib/dpkg/status.d/<package>`, as distroless writes it, so scanners see
//! each package and version), then one layer of the declared effects that maintainer
//! scripts would have had (users and groups, files, directories, symlinks, the CA bundle).
//! Identical effects give one shared layer across platforms.

use super::DebianError;
use super::deb::{Deb, DebEntryKind};
use super::spec::{Arch, DebianSpec};
use crate::base::embedded::{
    GeneratedImage, base_config, declared_entries, write_layout as write_oci_layout,
};
use crate::layer::{EntrySource, Layer, LayerEntry, LayerEntryKind, LayerOptions, write_layer};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Writes the layout of base `name` from each platform's downloaded packages.
pub(super) fn write_layout(
    name: &str,
    spec: &DebianSpec,
    platforms: Vec<(Arch, Vec<(String, Deb)>)>,
    options: LayerOptions,
    work: &Path,
) -> Result<PathBuf, DebianError> {
    let dir = work.join(format!("base-{name}"));
    let io = |source| DebianError::Io {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut images = Vec::new();
    for (arch, debs) in platforms {
        let count = debs.len();
        let (entries, ca_certs) = package_entries(&arch.debian, debs)?;
        let effects = with_package_parents(effect_entries(spec, &ca_certs)?, &entries);
        let packages = layer(
            entries,
            format!(
                "imgpush base `{name}`: {count} Debian packages ({})",
                arch.debian
            ),
            options,
            &dir,
        )?;
        let effects = layer(
            effects,
            format!("imgpush base `{name}`: declared users, files and links"),
            options,
            &dir,
        )?;
        images.push(GeneratedImage {
            platform: arch.platform.clone(),
            layers: vec![packages, effects],
            config: image_config(spec),
        });
    }
    write_oci_layout(&dir, &images).map_err(io)?;
    Ok(dir)
}

fn layer(
    entries: Vec<LayerEntry>,
    created_by: String,
    options: LayerOptions,
    dir: &Path,
) -> Result<Layer, DebianError> {
    write_layer(entries, created_by, options, dir).map_err(DebianError::Layer)
}

/// A CA certificate a package ships: (in-image path, PEM bytes).
type CaCert = (String, Vec<u8>);

/// Every package's files merged (a directory in several packages once, with the first
/// package's metadata; a file or link in two packages is an error, as dpkg would refuse
/// it), plus the dpkg records; also the CA certificates shipped, for the bundle.
fn package_entries(
    arch: &str,
    debs: Vec<(String, Deb)>,
) -> Result<(Vec<LayerEntry>, Vec<CaCert>), DebianError> {
    // path → (package, entry)
    let mut tree: BTreeMap<String, (String, LayerEntry)> = BTreeMap::new();
    let mut hardlinks = Vec::new();
    for (package, deb) in debs {
        let package = &package;
        for e in deb.entries {
            let kind = match e.kind {
                DebEntryKind::Dir => LayerEntryKind::Dir,
                DebEntryKind::File(bytes) => LayerEntryKind::File(EntrySource::Bytes(bytes)),
                DebEntryKind::Symlink(t) => LayerEntryKind::Symlink(t),
                DebEntryKind::Hardlink(target) => {
                    hardlinks.push((package.clone(), target, e.path, e.mode, e.uid, e.gid));
                    continue;
                }
            };
            let entry = LayerEntry {
                path: e.path,
                kind,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
            };
            insert(&mut tree, package, entry, arch)?;
        }
        let record = status_record(&deb.control);
        let path = format!("/var/lib/dpkg/status.d/{package}");
        insert(
            &mut tree,
            package,
            LayerEntry::file(&path, EntrySource::Bytes(record.into_bytes()), 0o644),
            arch,
        )?;
        if let Some(md5sums) = &deb.md5sums {
            let path = format!("/var/lib/dpkg/status.d/{package}.md5sums");
            insert(
                &mut tree,
                package,
                LayerEntry::file(
                    &path,
                    EntrySource::Bytes(md5sums.clone().into_bytes()),
                    0o644,
                ),
                arch,
            )?;
        }
    }
    // The layer format has no hard links: each becomes a copy of its target's bytes.
    for (package, target, path, mode, uid, gid) in hardlinks {
        let bytes = match tree.get(&target).map(|(_, t)| &t.kind) {
            Some(LayerEntryKind::File(EntrySource::Bytes(b))) => b.clone(),
            _ => {
                return Err(DebianError::Spec(format!(
                    "{package} ({arch}): hard link {path} points at {target}, which is not a file of the packages"
                )));
            }
        };
        let entry = LayerEntry {
            path,
            kind: LayerEntryKind::File(EntrySource::Bytes(bytes)),
            mode,
            uid,
            gid,
        };
        insert(&mut tree, &package, entry, arch)?;
    }
    let ca_certs = tree
        .iter()
        .filter(|(p, _)| p.starts_with("/usr/share/ca-certificates/") && p.ends_with(".crt"))
        .filter_map(|(p, (_, e))| match &e.kind {
            LayerEntryKind::File(EntrySource::Bytes(b)) => Some((p.clone(), b.clone())),
            _ => None,
        })
        .collect();
    Ok((tree.into_values().map(|(_, e)| e).collect(), ca_certs))
}

/// The effects layer's entries plus, for each parent directory they need that the
/// packages have, that directory as the packages have it: otherwise the layer writer would
/// add it as `0755 root:root` and so change a package directory's owner or mode.
fn with_package_parents(mut effects: Vec<LayerEntry>, packages: &[LayerEntry]) -> Vec<LayerEntry> {
    let dirs: BTreeMap<&str, &LayerEntry> = packages
        .iter()
        .filter(|e| matches!(e.kind, LayerEntryKind::Dir))
        .map(|e| (e.path.as_str(), e))
        .collect();
    let mut have: std::collections::BTreeSet<String> =
        effects.iter().map(|e| e.path.clone()).collect();
    let mut extra = Vec::new();
    for e in &effects {
        let mut path = e.path.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            if parent.is_empty() {
                break;
            }
            if have.insert(parent.to_string())
                && let Some(d) = dirs.get(parent)
            {
                extra.push((*d).clone());
            }
            path = parent;
        }
    }
    effects.extend(extra);
    effects
}

fn insert(
    tree: &mut BTreeMap<String, (String, LayerEntry)>,
    package: &str,
    entry: LayerEntry,
    arch: &str,
) -> Result<(), DebianError> {
    if let Some((first, existing)) = tree.get(&entry.path) {
        if matches!(existing.kind, LayerEntryKind::Dir) && matches!(entry.kind, LayerEntryKind::Dir)
        {
            return Ok(());
        }
        return Err(DebianError::FileConflict {
            path: entry.path.clone(),
            first: first.clone(),
            second: package.to_string(),
            arch: arch.to_string(),
        });
    }
    tree.insert(entry.path.clone(), (package.to_string(), entry));
    Ok(())
}

/// The dpkg status record of a package: its control file with `Status` set, as
/// `/var/lib/dpkg/status` would hold it.
fn status_record(control: &str) -> String {
    let mut out = String::new();
    let mut status_written = false;
    for line in control.trim_end().lines() {
        if line.to_ascii_lowercase().starts_with("status:") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if !status_written && line.to_ascii_lowercase().starts_with("package:") {
            out.push_str("Status: install ok installed\n");
            status_written = true;
        }
    }
    out
}

/// The declared effects, one layer's entries.
fn effect_entries(spec: &DebianSpec, ca_certs: &[CaCert]) -> Result<Vec<LayerEntry>, DebianError> {
    let bad = |m: String| DebianError::Spec(m);
    let mut entries = Vec::new();
    if !spec.users.is_empty() || !spec.groups.is_empty() {
        let mut passwd = String::from("root:x:0:0:root:/root:/usr/sbin/nologin\n");
        for u in &spec.users {
            passwd.push_str(&format!(
                "{}:x:{}:{}:{}:{}:{}\n",
                u.name, u.uid, u.gid, u.name, u.home, u.shell
            ));
        }
        let mut group = String::from("root:x:0:\n");
        for g in &spec.groups {
            group.push_str(&format!("{}:x:{}:{}\n", g.name, g.gid, g.members.join(",")));
        }
        // A user's primary group exists even when not declared (as adduser makes it).
        for u in &spec.users {
            if u.gid != 0 && !spec.groups.iter().any(|g| g.gid == u.gid) {
                group.push_str(&format!("{}:x:{}:\n", u.name, u.gid));
            }
        }
        entries.push(LayerEntry::file(
            "/etc/passwd",
            EntrySource::Bytes(passwd.into_bytes()),
            0o644,
        ));
        entries.push(LayerEntry::file(
            "/etc/group",
            EntrySource::Bytes(group.into_bytes()),
            0o644,
        ));
    }
    entries.extend(declared_entries(&spec.files, &spec.dirs).map_err(bad)?);
    for l in &spec.symlinks {
        entries.push(LayerEntry {
            path: l.path.clone(),
            kind: LayerEntryKind::Symlink(l.target.clone()),
            mode: 0o777,
            uid: 0,
            gid: 0,
        });
    }
    if spec.ca_certificates {
        if ca_certs.is_empty() {
            return Err(bad(
                "`ca-certificates = true` but no package ships certificates under /usr/share/ca-certificates; add ca-certificates to `packages`".into(),
            ));
        }
        // update-ca-certificates: /etc/ca-certificates.conf lists every certificate
        // (relative to /usr/share/ca-certificates), the bundle concatenates them in that
        // order, each ending in a newline.
        let mut conf = String::from(
            "# Written by imgpush: every certificate enabled, as the ca-certificates package's\n\
             # default answer does.\n",
        );
        let mut bundle = Vec::new();
        for (path, bytes) in ca_certs {
            conf.push_str(path.trim_start_matches("/usr/share/ca-certificates/"));
            conf.push('\n');
            bundle.extend_from_slice(bytes);
            if !bytes.ends_with(b"\n") {
                bundle.push(b'\n');
            }
        }
        entries.push(LayerEntry::file(
            "/etc/ca-certificates.conf",
            EntrySource::Bytes(conf.into_bytes()),
            0o644,
        ));
        entries.push(LayerEntry::file(
            "/etc/ssl/certs/ca-certificates.crt",
            EntrySource::Bytes(bundle),
            0o644,
        ));
    }
    Ok(entries)
}

fn image_config(spec: &DebianSpec) -> serde_json::Value {
    let mut value = base_config(&spec.env, spec.user.as_deref(), spec.workdir.as_deref());
    let config = value.as_object_mut().expect("base_config makes an object");
    if !spec.entrypoint.is_empty() {
        config.insert("Entrypoint".into(), json!(spec.entrypoint));
    }
    if !spec.cmd.is_empty() {
        config.insert("Cmd".into(), json!(spec.cmd));
    }
    if !spec.expose.is_empty() {
        let ports: serde_json::Map<String, serde_json::Value> = spec
            .expose
            .iter()
            .map(|p| (format!("{p}/tcp"), json!({})))
            .collect();
        config.insert("ExposedPorts".into(), serde_json::Value::Object(ports));
    }
    if let Some(s) = &spec.stop_signal {
        config.insert("StopSignal".into(), json!(s));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_records_say_installed() {
        let r =
            status_record("Package: nginx\nStatus: purge\nVersion: 1.22\nDescription: x\n more\n");
        assert_eq!(
            r,
            "Package: nginx\nStatus: install ok installed\nVersion: 1.22\nDescription: x\n more\n"
        );
    }
}
