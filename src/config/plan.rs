use crate::image::ImageSettings;
use crate::oci::{Digest, Platform, Reference, Repository};
use crate::registry::CredentialStore;
use std::path::PathBuf;

/// Which base image to build on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseSpec {
    Registry(Reference),
    Layout {
        dir: PathBuf,
        tag: Option<String>,
        digest: Option<Digest>,
    },
    /// A spec from `base-images/` (`static` is the default).
    Named(String),
}

/// Which platforms to produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlatformRequest {
    List(Vec<Platform>),
    /// Every platform of the base that there is an artifact for.
    All,
    /// The platforms of the given artifacts.
    FromArtifacts,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrebuiltArtifact {
    pub platform: Platform,
    pub path: PathBuf,
    /// Absolute path in the image.
    pub dest: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    #[default]
    Normal,
    Verbose,
    Trace,
}

/// Everything a run needs, validated, every default decided. Nothing after `config`
/// parses user strings or reads the environment.
#[derive(Clone, Debug)]
pub struct Plan {
    pub context: PathBuf,
    pub platforms: PlatformRequest,
    pub base: BaseSpec,
    pub artifacts: Vec<PrebuiltArtifact>,
    pub image: ImageSettings,
    pub repo: Option<Repository>,
    pub tags: Vec<String>,
    /// OCI layout outputs (`--oci-layout`, or the default directory when nothing else is asked).
    pub oci_layout: Option<PathBuf>,
    pub insecure_registries: Vec<String>,
    pub credentials: CredentialStore,
    /// Where temporary layer files go.
    pub work_dir: Option<PathBuf>,
    /// Concurrent blob transfers.
    pub jobs: usize,
    pub json: bool,
    pub verbosity: Verbosity,
}
