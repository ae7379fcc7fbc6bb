//! imgpush: multi-arch container images from host-built artifacts, no daemon, no emulation.
//!
//! The pipeline, one module per stage:
//! `config` (flags + imgpush.toml → [`config::Plan`]) → `build` (plan → artifacts per
//! platform) → `layer` (files → tar.gz + digests) → `image` (base + layers → configs,
//! manifests, index) → `publish` (registry, OCI layout). `base` loads base images,
//! `registry` speaks the distribution API, `report` carries progress events to the UI.

pub mod layer;
pub mod oci;
pub mod registry;
pub mod report;
