use crate::base::BaseError;
use crate::compile::CompileError;
use crate::image::ImageError;
use crate::layer::LayerError;
use crate::plan::PlanError;
use crate::publish::PublishError;
use crate::registry::CredentialError;

/// Any failure of a run, by stage. Each stage's error names what it was working on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("registry credentials")]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Pool(#[from] crate::registry::PoolError),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Base(#[from] BaseError),
    #[error("building the layer for {platform}")]
    Layer {
        platform: String,
        #[source]
        source: LayerError,
    },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("checking the target registry {registry}")]
    Registry {
        registry: String,
        #[source]
        source: Box<crate::registry::RegistryError>,
    },
    #[error(transparent)]
    Ops(#[from] crate::ops::OpsError),
    #[error(transparent)]
    Resolve(#[from] crate::ops::resolve::ResolveError),
    /// One image of several (`cargo imgpush --workspace`) failed.
    #[error("image {image}")]
    OfImage {
        image: String,
        #[source]
        source: Box<Error>,
    },
    #[error(
        "creating a work directory in {path} (and in the working directory): set TMPDIR to a writable directory, e.g. a tmpfs or an emptyDir volume"
    )]
    WorkDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// What the user can do about it, when there is something specific to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Plan(e) => e.hint(),
            Error::Compile(e) => e.hint(),
            Error::Base(e) => e.hint(),
            Error::Ops(e) => e.hint(),
            Error::Resolve(e) => e.hint(),
            Error::Publish(e) => e.hint(),
            Error::Registry { source, .. } => source.hint(),
            Error::OfImage { source, .. } => source.hint(),
            Error::Credentials(e) | Error::Pool(crate::registry::PoolError::Credentials(e)) => {
                credential_hint(e)
            }
            Error::Pool(crate::registry::PoolError::Registry { source, .. }) => source.hint(),
            _ => None,
        }
    }
}

fn credential_hint(e: &CredentialError) -> Option<String> {
    match e {
        // Their messages already say what to do.
        CredentialError::HelperMissing { .. } | CredentialError::HelperTimeout { .. } => None,
        _ => Some(
            "fix or remove the file; imgpush reads `credHelpers`, `credsStore` and `auths` of docker's config.json and podman's auth.json"
                .into(),
        ),
    }
}

/// An error and its sources on one line (`outer: inner: innermost`), for reports that
/// are not printed by the binaries' error printer.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
