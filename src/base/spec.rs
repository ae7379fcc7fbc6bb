//! The declarative base image specs in `base-images/`, compiled into the binary.

use serde::Deserialize;

/// `(name, TOML text)` of every spec in `base-images/`.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("static", include_str!("../../base-images/static.toml")),
    (
        "distroless-static",
        include_str!("../../base-images/distroless-static.toml"),
    ),
    ("busybox", include_str!("../../base-images/busybox.toml")),
    ("nginx", include_str!("../../base-images/nginx.toml")),
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
pub struct FileSpec {
    pub path: String,
    pub mode: String,
    #[serde(default)]
    pub content: Option<String>,
    /// Generated content; `webpki-root-certs` is the Mozilla root store as PEM.
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Deserialize)]
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
    EMBEDDED.iter().map(|(n, _)| *n).collect()
}

pub fn find(name: &str) -> Option<BaseSpecFile> {
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, text)| {
        toml::from_str(text).expect("embedded base specs are checked by a unit test")
    })
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
        for (name, text) in EMBEDDED {
            let spec: BaseSpecFile = toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                spec.reference.is_some() != spec.generated.is_some(),
                "{name}: reference xor generated"
            );
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
