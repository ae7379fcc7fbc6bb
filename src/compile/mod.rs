//! Plan → the files that go into each platform's image: prebuilt artifacts (checked),
//! Rust binaries (cross-compiled with cargo-zigbuild or cargo), extra files. Knows nothing
//! of layers or registries.

pub mod cargo;
mod elf;
pub mod files;
pub mod go;
pub mod rustflags;
pub mod sbom;
pub mod shared_cache;
mod stream;
pub mod sysroot;
mod targets;
pub mod toolchain;
pub mod versions;

pub use elf::{ElfMachine, check_architecture};
pub use targets::rust_target;

use crate::image::sbom::Component;
use crate::layer::{EntrySource, LayerEntry};
use crate::oci::Platform;
use crate::plan::PrebuiltArtifact;
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
    /// What these files contain, for the platform's SBOM (`compile::sbom`): the programs
    /// and files themselves, and what they were built from.
    pub sbom: Vec<Component>,
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
pub enum CompileError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Rust build cannot start: {}", problems.iter().map(|(name, problem, _)| format!("{name}: {problem}")).collect::<Vec<_>>().join("; "))]
    Toolchain {
        /// `(what, problem, fix)`.
        problems: Vec<(String, String, String)>,
    },
    #[error("imgpush has no Rust target for {platform} with libc {libc}")]
    NoRustTarget {
        platform: Platform,
        libc: &'static str,
    },
    #[error("Go has no GOARCH for {platform}")]
    NoGoTarget { platform: Platform },
    #[error("running {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} failed (exit status {}); its output is above, the last lines were:\n{stderr_tail}", status.map(|s| s.to_string()).unwrap_or_else(|| "signal".into()))]
    ToolFailed {
        tool: String,
        status: Option<i32>,
        stderr_tail: String,
    },
    #[error("the std cache at {path}")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the lockfile {path}: {message}")]
    Lockfile { path: PathBuf, message: String },
    #[error("`cargo metadata` for {manifest} failed after the build: {message}")]
    Metadata { manifest: PathBuf, message: String },
    #[error("reading `go version -m` of {path}: {message}")]
    GoBuildInfo { path: PathBuf, message: String },
    #[error("the build succeeded but {path} is missing")]
    OutputMissing { path: PathBuf },
    #[error("{path} is a symlink to {target}, which is outside the tree being shipped")]
    SymlinkEscapes { path: PathBuf, target: PathBuf },
    #[error("{path} is {what}, which cannot go into an image layer")]
    Unsupported { path: PathBuf, what: &'static str },
    #[error(
        "{path} is an ELF binary for {found}, but it was given for {platform}: it would fail there with `exec format error`"
    )]
    WrongArchitecture {
        path: PathBuf,
        found: String,
        platform: Platform,
    },
}

impl CompileError {
    pub fn hint(&self) -> Option<String> {
        match self {
            CompileError::WrongArchitecture {
                platform, found, ..
            } => Some(format!(
                "give the {platform} build with --artifact {platform}=FILE (and this file under the platform it was built for: {found})"
            )),
            CompileError::Toolchain { problems } => Some(
                problems
                    .iter()
                    .map(|(name, _, fix)| format!("{name}: {fix}"))
                    .collect::<Vec<_>>()
                    .join("\n        "),
            ),
            CompileError::Lockfile { path, .. } => Some(format!(
                "the SBOM lists the packages of {}; regenerate it (`npm install`, or `cargo generate-lockfile` for Cargo.lock) or fix the syntax error",
                path.display()
            )),
            CompileError::Metadata { .. } => Some(
                "the SBOM needs cargo's dependency graph; run `cargo metadata` in the project to see the problem".into(),
            ),
            CompileError::NoRustTarget { .. } => Some("see the platform table in docs/configuration.md; --libc musl covers the most platforms".into()),
            _ => None,
        }
    }
}

/// Checks every prebuilt artifact (readable, right CPU) and decides its mode: 0755 for
/// executables (an executable bit on the host or an ELF executable), else 0644; each file
/// is its own SBOM component (`Application` for an ELF executable, else `File`).
pub fn prebuilt(artifacts: &[PrebuiltArtifact]) -> Result<Vec<Artifact>, CompileError> {
    artifacts
        .iter()
        .map(|a| {
            let machine = check_architecture(&a.path, &a.platform)?;
            let meta = std::fs::metadata(&a.path).map_err(|source| CompileError::Read {
                path: a.path.clone(),
                source,
            })?;
            let executable =
                meta.permissions().mode() & 0o111 != 0 || machine.is_some_and(|m| m.executable);
            // A program is an executable ELF file; anything else is shipped as a file.
            let application = machine.is_some_and(|m| m.executable);
            Ok(Artifact {
                platform: a.platform.clone(),
                files: vec![ArtifactFile {
                    source: a.path.clone(),
                    dest: a.dest.clone(),
                    mode: if executable { 0o755 } else { 0o644 },
                }],
                sbom: vec![sbom::file_component(&a.path, &a.dest, application)?],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::sbom::ComponentKind;

    #[test]
    fn prebuilt_files_are_applications_when_elf_executables() {
        let dir = tempfile::tempdir().unwrap();
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[16] = 2; // ET_EXEC
        elf[18] = 62; // x86-64
        std::fs::write(dir.path().join("server"), &elf).unwrap();
        std::fs::write(dir.path().join("config.toml"), "port = 80\n").unwrap();
        let given = |name: &str, dest: &str| PrebuiltArtifact {
            platform: "linux/amd64".parse().unwrap(),
            path: dir.path().join(name),
            dest: dest.into(),
        };
        let built = prebuilt(&[
            given("server", "/app/server"),
            given("config.toml", "/etc/app.toml"),
        ])
        .unwrap();
        let app = &built[0].sbom[0];
        assert_eq!(app.kind, ComponentKind::Application);
        assert_eq!(app.id, "app:/app/server");
        assert_eq!(app.name, "server");
        assert_eq!(app.path.as_deref(), Some("/app/server"));
        assert_eq!(
            app.checksums[0].hex,
            crate::oci::Digest::of(&elf).hex(),
            "the SHA-256 of the file"
        );
        let file = &built[1].sbom[0];
        assert_eq!(file.kind, ComponentKind::File);
        assert_eq!(file.id, "file:/etc/app.toml");
        assert_eq!(file.name, "app.toml");
    }
}
