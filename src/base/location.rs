//! Where a base image comes from, as the user named it (resolved by `config`, opened by
//! [`super::open`]).

use crate::oci::{Digest, Reference};
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
    /// An OCI archive (an OCI layout in one tar file), unpacked before use.
    Archive {
        file: PathBuf,
        tag: Option<String>,
        digest: Option<Digest>,
    },
    /// A `docker save` tarball (`manifest.json`, configs, uncompressed layer tars), read as
    /// an image with uncompressed OCI layers; `id` (the config digest) picks one image.
    DockerArchive {
        file: PathBuf,
        id: Option<Digest>,
    },
    /// A spec from `base-images/` (`static` is the default).
    Named(String),
    /// A base spec file of the user's (`PATH.toml`, its lock at `PATH.lock`).
    SpecFile(PathBuf),
}

impl std::fmt::Display for BaseSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BaseSpec::Registry(r) => write!(f, "{r}"),
            BaseSpec::Layout { dir, tag, digest } => {
                write!(f, "oci-layout:{}", dir.display())?;
                match (tag, digest) {
                    (_, Some(d)) => write!(f, "@{d}"),
                    (Some(t), None) => write!(f, ":{t}"),
                    (None, None) => Ok(()),
                }
            }
            BaseSpec::Archive { file, tag, digest } => {
                write!(f, "oci-archive:{}", file.display())?;
                match (tag, digest) {
                    (_, Some(d)) => write!(f, "@{d}"),
                    (Some(t), None) => write!(f, ":{t}"),
                    (None, None) => Ok(()),
                }
            }
            BaseSpec::DockerArchive { file, id } => {
                write!(f, "docker-archive:{}", file.display())?;
                match id {
                    Some(d) => write!(f, "@{d}"),
                    None => Ok(()),
                }
            }
            BaseSpec::Named(n) => write!(f, "{n}"),
            BaseSpec::SpecFile(p) => write!(f, "{}", p.display()),
        }
    }
}
