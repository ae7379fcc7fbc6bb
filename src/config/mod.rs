//! Flags + `imgpush.toml` + environment → a validated [`Plan`]. The only module that reads
//! the environment; knows nothing of HTTP, tar or OCI JSON.

mod args;
mod file;
mod plan;
mod resolve;

pub use args::{BuildArgs, DEFAULT_LAYOUT_DIR};
pub use file::FileConfig;
pub use plan::{BaseSpec, Plan, PlatformRequest, PrebuiltArtifact, Verbosity};
pub use resolve::{Environment, resolve};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("{what} `{given}`: {why}")]
    Invalid {
        what: &'static str,
        given: String,
        why: String,
    },
    #[error("{0}")]
    Platform(#[from] crate::oci::PlatformError),
    #[error("{0}")]
    Reference(#[from] crate::oci::ReferenceError),
    #[error("artifact {path} for {platform}: {why}")]
    Artifact {
        platform: String,
        path: PathBuf,
        why: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("nothing to build: {0}")]
    Nothing(String),
}

impl ConfigError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Nothing(_) => Some(
                "give a prebuilt file per platform: imgpush build --artifact linux/amd64=./hello-amd64 --artifact linux/arm64=./hello-arm64".into(),
            ),
            ConfigError::ParseFile { .. } => Some("see docs/configuration.md for every key".into()),
            _ => None,
        }
    }
}
