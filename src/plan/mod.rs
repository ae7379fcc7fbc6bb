//! Flags + `imgpush.toml` + Cargo metadata + environment → a validated [`Plan`]. The only module that reads
//! the environment; knows nothing of HTTP, tar or OCI JSON.
//!
//! Settings are resolved once, as ripgrep does (`LowArgs` → `HiArgs`): every place loads
//! into one typed [`LowSettings`] ([`load`]), each value parsed there and remembering its
//! [`Origin`]; [`low::merge`] layers them by the documented precedence; [`Plan::new`]
//! applies every default and cross-setting rule. Errors name the origin.

mod args;
mod artifacts;
mod cargo;
mod doctor;
mod environment;
mod file;
mod go;
mod image_settings;
mod load;
mod low;
mod make;
mod model;
mod ops;
mod ops_args;
mod origin;
mod outputs;
mod registry;
mod secret;
mod source;
mod values;
mod workspace;

pub use crate::base::BaseSpec;
pub use crate::registry::{RegistrySettings, TlsConfig};
pub use args::{
    BuildArgs, CargoArgs, DEFAULT_LAYOUT_DIR, DoctorArgs, LoginArgs, LogoutArgs, RegistryArgs,
    ToolchainArgs,
};
pub use doctor::{DoctorPlan, ProjectNeeds, for_doctor};
pub use environment::{CacheDirInputs, Environment, cache_dir};
pub use file::FileSettings;
pub use low::{Epoch, KeyValues, LowSettings, OutputFormat};
pub use make::for_build;
pub use model::{
    BuildStd, Builder, CargoPlan, CopyPlan, Destination, Dist, ExtraFile, GoPlan, IndexCreatePlan,
    InspectPlan, Libc, Plan, PlatformRequest, PrebuiltArtifact, Source, Tarball, TarballKind,
    Tools, Verbosity,
};
pub use ops::{
    OutdatedPlan, RebasePlan, for_copy, for_index_create, for_inspect, for_outdated, for_rebase,
    for_reference,
};
pub use ops_args::{
    BaseBuildArgs, BaseLockArgs, CopyArgs, IndexCreateArgs, InspectArgs, OutdatedArgs, RebaseArgs,
    ResolveArgs, SbomArgs,
};
pub use origin::{Origin, Setting};
pub use secret::Secret;
pub use source::binary_dest;
pub use values::parse_platform_list;
pub use workspace::{WorkspaceImage, WorkspacePlan, for_workspace, is_workspace};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A base named by a spec in `base-images/` that is unknown or broken (resolved here,
    /// once, so the plan holds the base as it will be opened).
    #[error(transparent)]
    Base(#[from] crate::base::BaseError),
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
    /// A bad value in a file, named by the file and key.
    #[error("{origin}: {key} = {given}: {why}")]
    Setting {
        origin: Origin,
        key: &'static str,
        given: String,
        why: String,
    },
    /// Another error about a file's value, named by the file and key.
    #[error("{origin}: {key}: {inner}")]
    InSetting {
        origin: Origin,
        key: &'static str,
        inner: Box<PlanError>,
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
    #[error("Go package {dir}: {why}")]
    Go { dir: PathBuf, why: String },
    #[error("Cargo project {manifest}: {why}")]
    Cargo { manifest: PathBuf, why: String },
    #[error("{what} is not installed")]
    Tool { what: &'static str, fix: String },
}

impl PlanError {
    pub fn hint(&self) -> Option<String> {
        match self {
            PlanError::Nothing(_) => Some(
                "give a prebuilt file per platform (imgpush build --artifact linux/amd64=./hello-amd64 --artifact linux/arm64=./hello-arm64), or run it in a Cargo project (imgpush build PATH, cargo imgpush)".into(),
            ),
            PlanError::ParseFile { message, .. } => Some(match file::nearest_key(message) {
                Some(key) => {
                    format!("did you mean `{key}`? (docs/configuration.md lists every key)")
                }
                None => "see docs/configuration.md for every key".into(),
            }),
            PlanError::Tool { fix, .. } => Some(fix.clone()),
            PlanError::InSetting { inner, .. } => inner.hint(),
            PlanError::Base(e) => e.hint(),
            _ => None,
        }
    }
}
