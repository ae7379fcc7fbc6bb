//! Plan → the files that go into each platform's image. For prebuilt artifacts that means
//! checking them; compilers (cargo, go) plug in here later. Knows nothing of layers or
//! registries.

mod elf;

pub use elf::{ElfMachine, check_architecture};

use crate::config::PrebuiltArtifact;
use crate::layer::{EntrySource, LayerEntry};
use crate::oci::Platform;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// One file to ship, with its place and mode in the image.
#[derive(Clone, Debug)]
pub struct ArtifactFile {
    pub source: PathBuf,
    pub dest: String,
    pub mode: u32,
}

/// What one platform's image gets on top of the base.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub platform: Platform,
    pub files: Vec<ArtifactFile>,
}

impl Artifact {
    pub fn layer_entries(&self) -> Vec<LayerEntry> {
        self.files
            .iter()
            .map(|f| LayerEntry::file(&f.dest, EntrySource::Path(f.source.clone()), f.mode))
            .collect()
    }

    /// The image history line for the layer.
    pub fn description(&self) -> String {
        let files: Vec<&str> = self.files.iter().map(|f| f.dest.as_str()).collect();
        format!("imgpush: add {}", files.join(" "))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is an ELF binary for {found}, but it was given for {platform}: it would fail there with `exec format error`"
    )]
    WrongArchitecture {
        path: PathBuf,
        found: String,
        platform: Platform,
    },
}

impl BuildError {
    pub fn hint(&self) -> Option<String> {
        match self {
            BuildError::WrongArchitecture {
                platform, found, ..
            } => Some(format!(
                "give the {platform} build with --artifact {platform}=FILE (and this file under the platform it was built for: {found})"
            )),
            _ => None,
        }
    }
}

/// Checks every prebuilt artifact (readable, right CPU) and decides its mode: 0755 for
/// executables (an executable bit on the host or an ELF executable), else 0644.
pub fn prebuilt(artifacts: &[PrebuiltArtifact]) -> Result<Vec<Artifact>, BuildError> {
    artifacts
        .iter()
        .map(|a| {
            let machine = check_architecture(&a.path, &a.platform)?;
            let meta = std::fs::metadata(&a.path).map_err(|source| BuildError::Read {
                path: a.path.clone(),
                source,
            })?;
            let executable =
                meta.permissions().mode() & 0o111 != 0 || machine.is_some_and(|m| m.executable);
            Ok(Artifact {
                platform: a.platform.clone(),
                files: vec![ArtifactFile {
                    source: a.path.clone(),
                    dest: a.dest.clone(),
                    mode: if executable { 0o755 } else { 0o644 },
                }],
            })
        })
        .collect()
}
