//! imgpush: multi-arch container images from host-built artifacts, no daemon, no emulation.
//!
//! The pipeline, one module per stage:
//! [`plan`] (flags + imgpush.toml → [`plan::Plan`]) → [`compile`] (plan → artifacts per
//! platform) → [`layer`] (files → tar.gz + digests, one pass) → [`image`] (base + layers →
//! configs, manifests, index) → [`publish`] (registry, OCI layout). [`base`] loads base
//! images, [`registry`] speaks the distribution API, [`report`] carries progress events to
//! whatever UI the binary draws. [`pipeline`] runs the stages in order. [`ops`] holds the
//! commands over images that already exist (inspect, copy, index create) and `resolve`.
//! [`commands`] has one `plan` + `execute` per command of the binaries, which only parse
//! flags, pick the reporter and print.

pub mod base;
pub mod cache;
pub mod commands;
pub mod compile;
mod error;
pub mod image;
pub mod layer;
pub mod oci;
pub mod ops;
pub mod pipeline;
pub mod plan;
pub mod publish;
pub mod registry;
pub mod report;

pub use error::Error;
