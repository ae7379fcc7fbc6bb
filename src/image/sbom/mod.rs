//! Software bills of materials: what one platform image ships, as the `compile` and `base`
//! stages found it, rendered as SPDX 2.3 JSON or CycloneDX 1.5 JSON. Pure and
//! deterministic: the same [`SbomInput`] always renders to the same bytes (creation time
//! from the build's epoch, identifiers derived from content, every list sorted).
//!
//! The model is format-neutral: a [`Component`] is one package or file with an `id` unique
//! in the document, and dependency edges name those ids. The collectors
//! (`compile::sbom`, `base::debian`) fill it; [`SbomFormat::render`] writes it.

use crate::oci::{Digest, Platform, media};

mod cyclonedx;
mod graph;
mod license;
mod rebase;
mod spdx;

pub use rebase::{Move, NotMovable};

/// The SBOM formats imgpush writes (`--sbom`) and `imgpush sbom --format` picks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SbomFormat {
    Spdx,
    CycloneDx,
}

impl SbomFormat {
    pub fn artifact_type(self) -> &'static str {
        match self {
            SbomFormat::Spdx => media::SPDX_JSON,
            SbomFormat::CycloneDx => media::CYCLONEDX_JSON,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "SPDX",
            SbomFormat::CycloneDx => "CycloneDX",
        }
    }

    /// The document for one platform image, as JSON bytes: the same input always gives the
    /// same bytes, whatever the order of its components.
    pub fn render(self, input: &SbomInput) -> Vec<u8> {
        match self {
            SbomFormat::Spdx => spdx::render(input),
            SbomFormat::CycloneDx => cyclonedx::render(input),
        }
    }

    /// An imgpush document of this format moved onto a new base (see [`Move`]): the
    /// image's own components as they were, the subject and the base replaced.
    pub fn rebase(self, document: &[u8], to: &Move) -> Result<Vec<u8>, NotMovable> {
        match self {
            SbomFormat::Spdx => rebase::spdx(document, to),
            SbomFormat::CycloneDx => rebase::cyclonedx(document, to),
        }
    }

    pub fn parse(name: &str) -> Option<SbomFormat> {
        match name {
            "spdx" => Some(SbomFormat::Spdx),
            "cyclonedx" => Some(SbomFormat::CycloneDx),
            _ => None,
        }
    }
}

/// What a component is; decides its purl type and how formats label it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentKind {
    /// A program imgpush built or was given (a Rust binary, a Go binary): the image's own.
    Application,
    /// A crate compiled into a Rust binary (`pkg:cargo`), std's crates included.
    Crate,
    /// A Go module linked into a Go binary (`pkg:golang`).
    GoModule,
    /// An npm package of a static bundle's lockfile (`pkg:npm`).
    NpmPackage,
    /// A Debian package of a package-built base (`pkg:deb`).
    DebPackage,
    /// A file shipped as it is (prebuilt artifacts, bundle files without a lockfile).
    File,
}

/// Checksum algorithms the collectors produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Checksum {
    pub algorithm: HashAlgorithm,
    /// Lowercase hex.
    pub hex: String,
}

/// One package or file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Component {
    /// Unique within one SBOM and stable across builds, e.g. `cargo:serde@1.0.200`,
    /// `golang:golang.org/x/net@v0.20.0`, `file:/app/server`, `deb:libc6@2.36-9+deb12u9:arm64`.
    /// Dependency edges name these.
    pub id: String,
    pub kind: ComponentKind,
    pub name: String,
    pub version: Option<String>,
    /// Package URL (`pkg:cargo/serde@1.0.200`), where the kind has one.
    pub purl: Option<String>,
    pub checksums: Vec<Checksum>,
    /// The license as the package declares it (an SPDX expression, as written).
    pub license: Option<String>,
    /// Who supplies it (`Organization: Debian`, a crate's authors' registry…), if known.
    pub supplier: Option<String>,
    /// Where it was downloaded from, if known.
    pub download: Option<String>,
    /// For files and applications: the path in the image.
    pub path: Option<String>,
    /// Ids of the components this one depends on directly.
    pub depends_on: Vec<String>,
}

/// The base image an image was built on: the SBOM's ancestor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseRef {
    /// A pullable reference (`org.opencontainers.image.base.name`); `None` for the
    /// embedded bases, which exist only inside imgpush.
    pub name: Option<String>,
    /// The base platform manifest's digest.
    pub digest: Digest,
    /// For package-built bases: their packages (`pkg:deb`).
    pub packages: Vec<Component>,
}

/// Everything one platform image's SBOM says.
#[derive(Clone, Debug)]
pub struct SbomInput {
    /// The image's name (`REGISTRY/REPO`, or the package name when there is none).
    pub name: String,
    pub platform: Platform,
    /// The platform manifest the SBOM describes (its subject).
    pub subject: Digest,
    pub base: Option<BaseRef>,
    /// What imgpush put on top of the base. Roots (what depends on the rest) are the
    /// components of kind `Application` and `File`, plus any that nothing depends on.
    pub components: Vec<Component>,
    /// Creation time, seconds since the epoch (`--epoch`).
    pub created: u64,
    /// The tool line, e.g. `imgpush-0.1.0`.
    pub tool: String,
}
