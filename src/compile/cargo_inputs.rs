//! What a Rust build reads besides the sources, after cargo ran: the std source's
//! `Cargo.lock`, the resolved dependency graph (`cargo metadata` with the build's
//! features) and the workspace's `Cargo.lock` — the SBOM's inputs.

use super::{CargoBuild, CargoLock};
use crate::compile::CompileError;
use std::path::PathBuf;

impl CargoBuild {
    /// The std source's `Cargo.lock` (under `library/` since Rust 1.77, at the top before).
    pub(super) fn std_lock(&self) -> PathBuf {
        let src = self.toolchain.sysroot.join("lib/rustlib/src/rust");
        let library = src.join("library/Cargo.lock");
        if library.is_file() {
            library
        } else {
            src.join("Cargo.lock")
        }
    }

    /// The resolved dependency graph, with the build's features, for versions, licenses
    /// and edges (after the build, so the lock is settled and nothing is fetched).
    pub(super) fn metadata(&self) -> Result<cargo_metadata::Metadata, CompileError> {
        let p = &self.plan;
        let mut cmd = cargo_metadata::MetadataCommand::new();
        cmd.cargo_path(&self.toolchain.cargo)
            .manifest_path(&p.manifest_path)
            .env("RUSTC", &self.toolchain.rustc);
        match &self.tools.rustup_toolchain {
            Some(t) => cmd.env("RUSTUP_TOOLCHAIN", t),
            None => cmd.env_remove("RUSTUP_TOOLCHAIN"),
        };
        if p.all_features {
            cmd.features(cargo_metadata::CargoOpt::AllFeatures);
        }
        if p.no_default_features {
            cmd.features(cargo_metadata::CargoOpt::NoDefaultFeatures);
        }
        if !p.features.is_empty() {
            cmd.features(cargo_metadata::CargoOpt::SomeFeatures(p.features.clone()));
        }
        let mut other = Vec::new();
        if p.locked {
            other.push("--locked".to_string());
        }
        if p.offline {
            other.push("--offline".to_string());
        }
        cmd.other_options(other);
        cmd.exec().map_err(|e| CompileError::Metadata {
            manifest: p.manifest_path.clone(),
            message: e.to_string(),
        })
    }

    /// The workspace's `Cargo.lock`, which the build has just written or checked.
    pub(super) fn lock(&self) -> Result<CargoLock, CompileError> {
        let path = self.plan.workspace_root.join("Cargo.lock");
        let text = std::fs::read_to_string(&path).map_err(|source| CompileError::Read {
            path: path.clone(),
            source,
        })?;
        CargoLock::parse(&text).map_err(|message| CompileError::Lockfile { path, message })
    }
}
