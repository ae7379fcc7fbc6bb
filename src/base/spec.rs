//! The declarative base image specs in `base-images/`, compiled into the binary.

use serde::Deserialize;

/// `(name, TOML text, lock text)` of every spec in `base-images/`.
pub const EMBEDDED: &[(&str, &str, Option<&str>)] = &[
    (
        "static",
        include_str!("../../base-images/static.toml"),
        None,
    ),
    (
        "distroless-static",
        include_str!("../../base-images/distroless-static.toml"),
        None,
    ),
    (
        "busybox",
        include_str!("../../base-images/busybox.toml"),
        Some(include_str!("../../base-images/busybox.lock")),
    ),
    (
        "nginx",
        include_str!("../../base-images/nginx.toml"),
        Some(include_str!("../../base-images/nginx.lock")),
    ),
    (
        "glibc",
        include_str!("../../base-images/glibc.toml"),
        Some(include_str!("../../base-images/glibc.lock")),
    ),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseSpecFile {
    pub description: String,
    /// A registry reference this name stands for.
    #[serde(default)]
    pub reference: Option<String>,
    /// A base built in-process.
    #[serde(default)]
    pub generated: Option<GeneratedSpec>,
    /// A base built from Debian packages (with a lock file beside the spec).
    #[serde(default)]
    pub debian: Option<crate::base::debian::DebianSpec>,
    /// Where `--static DIR` goes on this base when `--dest` is not given
    /// (`/usr/share/nginx/html` for `nginx`).
    #[serde(default, rename = "bundle-dest")]
    pub bundle_dest: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratedSpec {
    pub platforms: Vec<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    #[serde(default)]
    pub dirs: Vec<DirSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(Clone)]
pub struct FileSpec {
    pub path: String,
    pub mode: String,
    #[serde(default)]
    pub content: Option<String>,
    /// Generated content; `webpki-root-certs` is the Mozilla root store as PEM.
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    pub path: String,
    pub mode: String,
    #[serde(default)]
    pub uid: u64,
    #[serde(default)]
    pub gid: u64,
}

pub fn names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|(n, _, _)| *n).collect()
}

pub fn find(name: &str) -> Option<BaseSpecFile> {
    EMBEDDED
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, text, _)| {
            toml::from_str(text).expect("embedded base specs are checked by a unit test")
        })
}

/// What a base is called inside its image (layer history, work directory): an embedded
/// name as it is, a spec file by its file stem (`./web/base.toml` → `base`).
pub fn label(name: &str) -> String {
    if name.ends_with(".toml") || name.contains('/') {
        std::path::Path::new(name)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "base".to_string())
    } else {
        name.to_string()
    }
}

/// The embedded lock of a package base.
pub fn embedded_lock(name: &str) -> Option<&'static str> {
    EMBEDDED
        .iter()
        .find(|(n, _, _)| *n == name)
        .and_then(|(_, _, lock)| *lock)
}

/// A spec file given by path (`--base ./web/base.toml`), with its lock (`base.lock`
/// beside it) when there is one.
pub fn read_file(path: &std::path::Path) -> Result<(BaseSpecFile, Option<String>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let spec: BaseSpecFile =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let lock_path = path.with_extension("lock");
    let lock = match std::fs::read_to_string(&lock_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", lock_path.display())),
    };
    Ok((spec, lock))
}

pub fn parse_mode(mode: &str) -> Option<u32> {
    u32::from_str_radix(mode, 8).ok().filter(|m| *m <= 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_base_images_is_embedded_and_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/base-images");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".toml"))
            .map(|n| n.trim_end_matches(".toml").to_string())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = names().into_iter().map(str::to_string).collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "add new base-images/*.toml to spec::EMBEDDED"
        );
        for (name, text, lock) in EMBEDDED {
            let spec: BaseSpecFile = toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let kinds = [
                spec.reference.is_some(),
                spec.generated.is_some(),
                spec.debian.is_some(),
            ];
            assert_eq!(
                kinds.iter().filter(|k| **k).count(),
                1,
                "{name}: one of reference, [generated], [debian]"
            );
            if let Some(d) = &spec.debian {
                let lock =
                    crate::base::debian::Lock::parse(lock.expect("package bases have a lock"))
                        .unwrap_or_else(|e| panic!("{name}.lock: {e}"));
                assert_eq!(
                    lock.spec,
                    d.fingerprint().to_string(),
                    "base-images/{name}.lock is stale: run imgpush base lock {name}"
                );
                d.arches().unwrap();
            }
            if let Some(g) = spec.generated {
                for p in &g.platforms {
                    p.parse::<crate::oci::Platform>().unwrap();
                }
                for f in &g.files {
                    assert!(parse_mode(&f.mode).is_some());
                    assert!(f.content.is_some() != f.source.is_some());
                }
            }
        }
    }
}
