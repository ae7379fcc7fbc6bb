//! The flags of the commands over existing images and of the helper commands (`inspect`,
//! `copy`, `index create`, `resolve`, `base`, `sbom`, `rebase`, `outdated`), as clap parses
//! them; `args` has `build`'s, the toolchain's and the registry's.

use super::Secret;
use super::args::RegistryArgs;
use clap::Args;
use std::path::PathBuf;

/// Flags of `imgpush inspect`.
#[derive(Args, Debug, Default, Clone)]
pub struct InspectArgs {
    /// The image: REGISTRY/REPO[:TAG|@DIGEST], oci-layout:DIR[:TAG|@DIGEST],
    /// oci-archive:FILE[:TAG|@DIGEST] or docker-archive:FILE[@IMAGE-ID].
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Print the exact manifest bytes (of the index, or with --platform of that platform's
    /// manifest); they hash to the digest.
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,

    /// Print one JSON object (see docs/user-guide.md for its fields).
    #[arg(long)]
    pub json: bool,

    /// Only this platform, e.g. linux/arm64.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// One-off credentials for the image's registry, USER:PASSWORD (or IMGPUSH_USERNAME
    /// and IMGPUSH_PASSWORD); otherwise docker's config.json and credential helpers.
    #[arg(long, value_name = "USER:PASSWORD", hide_env_values = true)]
    pub creds: Option<Secret>,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Flags of `imgpush copy`.
#[derive(Args, Debug, Default, Clone)]
pub struct CopyArgs {
    /// Where from: REGISTRY/REPO[:TAG|@DIGEST], oci-layout:DIR[:TAG|@DIGEST],
    /// oci-archive:FILE[:TAG|@DIGEST] or docker-archive:FILE[@IMAGE-ID].
    #[arg(value_name = "SRC")]
    pub source: String,

    /// Where to: REGISTRY/REPO[:TAG], oci-layout:DIR[:TAG] or oci-archive:FILE[:TAG]
    /// [default tag: the source's tag, else latest].
    #[arg(value_name = "DST")]
    pub dest: String,

    /// Copy every platform (and attestation) of an index, digest preserved (the default).
    #[arg(long, conflicts_with = "platform")]
    pub all: bool,

    /// Copy only these platforms (comma-separated). One platform copies its manifest as it
    /// is (same digest); several make a new index over them (a new digest), except that
    /// naming every platform of the source keeps its digest (the whole index is copied).
    #[arg(long, value_name = "LIST")]
    pub platform: Option<String>,

    /// Concurrent blob transfers [default: 4].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Print one JSON object describing the result instead of the digest reference.
    #[arg(long)]
    pub json: bool,

    /// One-off credentials for the source and destination registries, USER:PASSWORD (or
    /// IMGPUSH_USERNAME and IMGPUSH_PASSWORD); otherwise docker's config.json and
    /// credential helpers.
    #[arg(long, value_name = "USER:PASSWORD", hide_env_values = true)]
    pub creds: Option<Secret>,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Flags of `imgpush index create`.
#[derive(Args, Debug, Default, Clone)]
pub struct IndexCreateArgs {
    /// The index to write, REGISTRY/REPO:TAG.
    #[arg(short = 't', long = "tag", value_name = "REGISTRY/REPO:TAG")]
    pub tag: String,

    /// Images or indexes to merge: REGISTRY/REPO[:TAG|@DIGEST] (or oci-layout:DIR[:TAG],
    /// oci-archive:FILE[:TAG]). Each image contributes its platform; each index every entry.
    #[arg(value_name = "SRC", required = true)]
    pub sources: Vec<String>,

    /// Start from the index the tag holds now and add the sources to it (platforms already
    /// in it are replaced).
    #[arg(long)]
    pub append: bool,

    /// When two sources have the same platform, the later one wins (default: an error).
    #[arg(long)]
    pub replace: bool,

    /// Index annotation, K=V; repeatable (OCI indexes only).
    #[arg(long = "annotation", value_name = "K=V")]
    pub annotations: Vec<String>,

    /// Concurrent blob transfers [default: 4].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Print one JSON object describing the result instead of the digest reference.
    #[arg(long)]
    pub json: bool,

    /// One-off credentials for the target and source registries, USER:PASSWORD (or
    /// IMGPUSH_USERNAME and IMGPUSH_PASSWORD); otherwise docker's config.json and
    /// credential helpers.
    #[arg(long, value_name = "USER:PASSWORD", hide_env_values = true)]
    pub creds: Option<Secret>,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Flags of `imgpush resolve`.
#[derive(Args, Debug, Default, Clone)]
pub struct ResolveArgs {
    /// A YAML file (`-` for stdin) or a directory of *.yaml/*.yml files; repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR",
        required = true
    )]
    pub files: Vec<PathBuf>,

    /// Where images go: REGISTRY/PREFIX; each imgpush://PATH is pushed to PREFIX/<name of
    /// PATH> unless its imgpush.toml (or Cargo metadata) sets `repo`.
    #[arg(
        long,
        env = "IMGPUSH_REPO",
        hide_env_values = true,
        value_name = "REGISTRY/PREFIX"
    )]
    pub repo: Option<String>,

    /// Tag to push each image with; repeatable [default: each one's own, else latest].
    #[arg(short = 't', long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Platforms for every image [default: each one's own, else linux/amd64,linux/arm64].
    #[arg(long, value_name = "LIST|all")]
    pub platform: Option<String>,

    /// Base image for every image [default: each one's own, else static].
    #[arg(long, value_name = "REF|NAME")]
    pub base: Option<String>,

    /// Concurrent blob transfers per image [default: 4].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Flags of `imgpush base lock`.
#[derive(Args, Debug, Default, Clone)]
pub struct BaseLockArgs {
    /// A package base: a name from ./base-images/ (NAME.toml there) or a spec file PATH.toml;
    /// its lock is written beside it (NAME.lock, PATH.lock).
    #[arg(value_name = "NAME|PATH.toml")]
    pub name: String,

    /// Only check: fail (exit 1) when the lock is missing or differs from a fresh
    /// resolution, write nothing.
    #[arg(long)]
    pub check: bool,

    /// More detail on stderr.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print only the result.
    #[arg(short = 'q', long = "quiet", conflicts_with = "verbose")]
    pub quiet: bool,
}

/// Flags of `imgpush base build`.
#[derive(Args, Debug, Default, Clone)]
pub struct BaseBuildArgs {
    /// The base: a name from base-images/ (embedded) or a spec file PATH.toml (its lock
    /// beside it).
    #[arg(value_name = "NAME|PATH.toml")]
    pub name: String,

    /// Push to this repository, REGISTRY/REPO.
    #[arg(
        long,
        value_name = "REGISTRY/REPO",
        required_unless_present = "oci_layout"
    )]
    pub repo: Option<String>,

    /// Tags to push [default: latest].
    #[arg(short = 't', long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Write an OCI layout to DIR instead of (or as well as) pushing.
    #[arg(long = "oci-layout", value_name = "DIR")]
    pub oci_layout: Option<PathBuf>,

    /// Concurrent blob transfers [default: 4].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Print one JSON object per destination instead of the digest reference.
    #[arg(long)]
    pub json: bool,

    /// One-off credentials for the registry, USER:PASSWORD (or IMGPUSH_USERNAME and
    /// IMGPUSH_PASSWORD); otherwise docker's config.json and credential helpers.
    #[arg(long, value_name = "USER:PASSWORD", hide_env_values = true)]
    pub creds: Option<Secret>,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Flags of `imgpush sbom`.
#[derive(Args, Debug, Default, Clone)]
pub struct SbomArgs {
    /// The image: REGISTRY/REPO[:TAG|@DIGEST], oci-layout:DIR[:TAG|@DIGEST] or
    /// oci-archive:FILE[:TAG|@DIGEST].
    #[arg(value_name = "REF")]
    pub reference: String,

    /// The platform whose SBOM to print, e.g. linux/arm64 (needed when several platforms
    /// have one).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// Which SBOM: spdx (application/spdx+json) or cyclonedx
    /// (application/vnd.cyclonedx+json) [default: SPDX if attached, else CycloneDX].
    #[arg(long, value_name = "FORMAT", value_parser = ["spdx", "cyclonedx"])]
    pub format: Option<String>,

    /// One-off credentials for the image's registry, USER:PASSWORD (or IMGPUSH_USERNAME
    /// and IMGPUSH_PASSWORD); otherwise docker's config.json and credential helpers.
    #[arg(long, value_name = "USER:PASSWORD", hide_env_values = true)]
    pub creds: Option<Secret>,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Flags of `imgpush rebase`.
#[derive(Args, Debug, Default, Clone)]
pub struct RebaseArgs {
    /// The image to rebase, REGISTRY/REPO[:TAG|@DIGEST]; the result is pushed to the same
    /// repository.
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// The new base, REGISTRY/REPO[:TAG|@DIGEST] (or a name from base-images/ that stands
    /// for one), with every platform of the image.
    #[arg(long, value_name = "REF", required = true)]
    pub base: String,

    /// The base the image was built on, when its annotations do not say (Docker-format
    /// images, embedded bases) or say wrongly: any location `copy` reads
    /// [default: org.opencontainers.image.base.name @ base.digest of each manifest].
    #[arg(long = "old-base", value_name = "REF")]
    pub old_base: Option<String>,

    /// Tag for the rebased image; repeatable [default: the tag IMAGE was given with; none
    /// for IMAGE@DIGEST].
    #[arg(short = 't', long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Rebase only these platforms (comma-separated); the new index holds only them
    /// [default: every platform of the image].
    #[arg(long, value_name = "LIST")]
    pub platform: Option<String>,

    /// The image's SBOMs: keep (moved onto the rebased manifests: the image's own
    /// components as built, the new base as the ancestor) or none [default: keep; none for
    /// Docker-format images, which cannot carry referrers].
    #[arg(long, value_name = "keep|none", value_parser = ["keep", "none"])]
    pub sbom: Option<String>,

    /// A SLSA v1 provenance statement of the rebase (the old image, the old and the new
    /// base) attached to each rebased platform image: slsa or none [default: slsa; none for
    /// Docker-format images].
    #[arg(long, value_name = "slsa|none", value_parser = ["slsa", "none"])]
    pub provenance: Option<String>,

    /// Concurrent blob transfers [default: 4].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Print one JSON object describing the result instead of the digest reference.
    #[arg(long)]
    pub json: bool,

    /// One-off credentials for the image's and the bases' registries, USER:PASSWORD (or
    /// IMGPUSH_USERNAME and IMGPUSH_PASSWORD); otherwise docker's config.json and
    /// credential helpers.
    #[arg(long, value_name = "USER:PASSWORD", hide_env_values = true)]
    pub creds: Option<Secret>,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Flags of `imgpush outdated`.
#[derive(Args, Debug, Default, Clone)]
pub struct OutdatedArgs {
    /// Images to check: REGISTRY/REPO[:TAG|@DIGEST], oci-layout:DIR[:TAG|@DIGEST] or
    /// oci-archive:FILE[:TAG|@DIGEST].
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,

    /// Print a JSON list of {image, base, recorded, current, outdated} instead of lines.
    #[arg(long)]
    pub json: bool,

    /// Exit with status 1 when any image's base moved (like `git diff --exit-code`); errors
    /// exit 1 too [default: 0 whatever the answer].
    #[arg(long = "exit-code")]
    pub exit_code: bool,

    /// One-off credentials for the images' registries, USER:PASSWORD (or IMGPUSH_USERNAME
    /// and IMGPUSH_PASSWORD); otherwise docker's config.json and credential helpers.
    #[arg(long, value_name = "USER:PASSWORD", hide_env_values = true)]
    pub creds: Option<Secret>,

    #[command(flatten)]
    pub registry: RegistryArgs,
}
