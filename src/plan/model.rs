use super::PlanError;
use crate::base::BaseSpec;
use crate::image::ImageSettings;
use crate::oci::{Platform, Reference, Repository};
use crate::registry::RegistrySettings;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where `copy` and `index create` write: a registry tag, or a tag in an OCI layout or
/// OCI archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `REGISTRY/REPO[:TAG]` (the tag is always set, `latest` by default).
    Registry(Reference),
    Layout {
        dir: PathBuf,
        tag: String,
    },
    Archive {
        file: PathBuf,
        tag: String,
    },
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Registry(r) => write!(f, "{r}"),
            Destination::Layout { dir, tag } => write!(f, "oci-layout:{}:{tag}", dir.display()),
            Destination::Archive { file, tag } => {
                write!(f, "oci-archive:{}:{tag}", file.display())
            }
        }
    }
}

/// A tar file output (`--tarball`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tarball {
    pub path: PathBuf,
    pub kind: TarballKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TarballKind {
    /// An OCI layout as one tar, every platform.
    OciArchive,
    /// `docker save` format (manifest.json, config, uncompressed layer tars) for one
    /// platform, tagged with these `REPO:TAG` names.
    DockerArchive { repo_tags: Vec<String> },
}

impl Tarball {
    /// The one rule of a docker-archive: it holds one image. Checked where the platforms
    /// become known — by the plan for a list, by the pipeline once the base answers `all`
    /// — and by the archive sink for what it is handed.
    pub fn check_platforms(&self, platforms: &[Platform]) -> Result<(), PlanError> {
        if !matches!(self.kind, TarballKind::DockerArchive { .. }) || platforms.len() == 1 {
            return Ok(());
        }
        Err(PlanError::Conflict(format!(
            "--format docker-archive holds one platform, but {} are selected ({}); choose one with --platform (e.g. --platform linux/amd64)",
            platforms.len(),
            platforms
                .iter()
                .map(Platform::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Which platforms to produce: a list, decided by the plan (the artifacts' platforms when
/// only artifacts are given), or `all`, which only the base can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlatformRequest {
    List(Vec<Platform>),
    /// Every platform of the base that can be produced: that there is an artifact for (an
    /// artifact for a platform the base lacks is an error), that the toolchain can build,
    /// or, for a `--static` bundle, all of them.
    All,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrebuiltArtifact {
    pub platform: Platform,
    pub path: PathBuf,
    /// Absolute path in the image.
    pub dest: String,
}

/// What produces each platform's files.
#[derive(Clone, Debug)]
pub enum Source {
    /// `--artifact PLATFORM=FILE`: files built elsewhere.
    Prebuilt(Vec<PrebuiltArtifact>),
    /// A Rust binary target, cross-compiled per platform.
    Cargo(Box<CargoPlan>),
    /// A Go main package, cross-compiled per platform with GOOS/GOARCH.
    Go(GoPlan),
    /// A bundle of platform-independent files (`--static DIR`, a frontend's build
    /// output): one shared layer, no per-platform build. Not the embedded `static` base.
    Bundle,
}

/// A Go main package to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoPlan {
    /// The module root (the directory with go.mod), where `go build` runs.
    pub module_dir: PathBuf,
    /// What to build: `./cmd/server` (relative to the module) or an import path (`--go`).
    pub package: String,
    /// The binary's name (the package directory's or import path's last element).
    pub name: String,
    pub ldflags: Option<String>,
    pub tags: Option<String>,
}

/// Which C library Rust binaries link against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Libc {
    /// Static musl binaries: run on any base, including the embedded `static`.
    #[default]
    Musl,
    /// glibc binaries, for bases that have glibc; zig pins the glibc version.
    Gnu,
}

/// What runs the compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Builder {
    /// cargo-zigbuild: zig links every target, no per-target C toolchain needed.
    #[default]
    Zigbuild,
    /// Plain cargo with the user's own linker configuration.
    Cargo,
}

/// Whether to compile std from source (`-Zbuild-std`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BuildStd {
    /// Only when a target's prebuilt std is missing and the std source is installed.
    #[default]
    Auto,
    Always,
    Never,
}

/// A Rust binary to build, resolved from cargo metadata and flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CargoPlan {
    pub manifest_path: PathBuf,
    /// The workspace's root directory (the package's own for a lone package).
    pub workspace_root: PathBuf,
    pub package: String,
    pub version: String,
    /// The binaries to build, in the order given; all go into the one image.
    pub bins: Vec<String>,
    /// Every binary target the package has (built or not): cargo's `--bin NAME` builds
    /// `NAME` in every selected package that has one, so packages sharing a binary name
    /// cannot be built in one invocation.
    pub package_bins: Vec<String>,
    pub features: Vec<String>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub profile: String,
    pub locked: bool,
    pub offline: bool,
    pub target_dir: PathBuf,
    pub libc: Libc,
    /// glibc version zig links against with `--libc gnu` (e.g. `2.17`).
    pub glibc_version: String,
    pub builder: Builder,
    pub build_std: BuildStd,
    /// `--toolchain-cache`: where std built from source and zig's cache are shared.
    pub toolchain_cache: Option<Repository>,
}

/// `--dist DIR`: each platform's programs (and, for a Cargo package, its README, LICENSE,
/// COPYING and CHANGELOG files) as `DIR/NAME[-VERSION]-TARGET.tar.gz`, one directory
/// of the same name inside, plus `DIR/SHA256SUMS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dist {
    pub dir: PathBuf,
    pub name: String,
    pub version: Option<String>,
    /// Files shipped beside the programs in every tarball, sorted by file name.
    pub docs: Vec<PathBuf>,
}

impl CargoPlan {
    /// The settings one cargo invocation shares among the packages it builds: this plan
    /// with the package, its version, binaries and manifest left out. Two plans with equal
    /// shared settings can be built together (`cargo imgpush --workspace`).
    pub fn shared_settings(&self) -> CargoPlan {
        CargoPlan {
            manifest_path: PathBuf::new(),
            package: String::new(),
            version: String::new(),
            bins: Vec::new(),
            package_bins: Vec::new(),
            ..self.clone()
        }
    }

    /// What the image is called when nothing else names it: its one binary, or the package
    /// when it ships several.
    pub fn name(&self) -> &str {
        match self.bins.as_slice() {
            [one] => one,
            _ => &self.package,
        }
    }

    /// The directory cargo puts a profile's output in (`dev` → `debug`).
    pub fn profile_dir(&self) -> &str {
        match self.profile.as_str() {
            "dev" | "test" => "debug",
            "release" | "bench" => "release",
            other => other,
        }
    }
}

/// Where the external tools are, as the environment says. Only `config` reads the
/// environment; builders get this.
#[derive(Clone, Debug, Default)]
pub struct Tools {
    /// `IMGPUSH_CARGO`, or `CARGO` unless it was exported by an outer `cargo run`/`cargo test`.
    pub cargo: Option<PathBuf>,
    /// `IMGPUSH_RUSTC`, or `RUSTC` (same rule).
    pub rustc: Option<PathBuf>,
    /// `RUSTUP_TOOLCHAIN` when the user set it (not the one rustup's proxy exported).
    pub rustup_toolchain: Option<String>,
    /// The user's `RUSTFLAGS`, kept when imgpush adds flags.
    pub rustflags: Option<String>,
    /// The user's `CARGO_ENCODED_RUSTFLAGS` (cargo prefers it to `RUSTFLAGS`).
    pub encoded_rustflags: Option<String>,
    /// `CARGO_HOME`, else `~/.cargo`: where registry sources and git checkouts live.
    pub cargo_home: Option<PathBuf>,
    /// `CARGO_ZIGBUILD_ZIG_PATH`.
    pub zig: Option<PathBuf>,
    /// `$GO`, for Go builds.
    pub go: Option<PathBuf>,
    pub path: Vec<PathBuf>,
    pub home: Option<PathBuf>,
    /// Is stderr a terminal (cargo gets `--color always` then)?
    pub color: bool,
    /// imgpush's cache (`IMGPUSH_CACHE_DIR`, else `$XDG_CACHE_HOME/imgpush`, else
    /// `~/.cache/imgpush`, else a private `$TMPDIR/imgpush-<uid>`): std built from source
    /// lives here. `None`: no private place for it, the cache is off.
    pub cache_dir: Option<PathBuf>,
}

/// A file or directory to ship in every platform's image (one shared layer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraFile {
    pub source: PathBuf,
    pub dest: String,
    /// Mode for files (directories are 0755); default 0755 if executable, else 0644.
    pub mode: Option<u32>,
    /// Owner of every entry (`--owner UID:GID` for `--static`); default 0:0.
    pub owner: (u64, u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    /// `--quiet`: only the result (stdout), warnings and errors.
    Quiet,
    #[default]
    Normal,
    Verbose,
    Trace,
}

impl Verbosity {
    /// From the number of `-v` flags and `--quiet` (clap keeps the two apart).
    pub fn from_flags(v: u8, quiet: bool) -> Verbosity {
        match v {
            _ if quiet => Verbosity::Quiet,
            0 => Verbosity::Normal,
            1 => Verbosity::Verbose,
            _ => Verbosity::Trace,
        }
    }
}

/// Everything a run needs, validated, every default decided. Nothing after `config`
/// parses user strings or reads the environment.
#[derive(Clone, Debug)]
pub struct Plan {
    pub platforms: PlatformRequest,
    pub base: BaseSpec,
    pub source: Source,
    /// Where the program goes in the image (`--dest`, `/app/<file name>`, `/app/<bin>`).
    pub dest: String,
    /// `--static DIR`: the bundle, in its own layer shared by all platforms.
    pub bundle: Option<ExtraFile>,
    /// Shipped in every platform's image, in one layer shared by all platforms.
    pub files: Vec<ExtraFile>,
    pub tools: Tools,
    pub image: ImageSettings,
    pub repo: Option<Repository>,
    pub tags: Vec<String>,
    /// OCI layout outputs (`--oci-layout`, or the default directory when nothing else is asked).
    pub oci_layout: Option<PathBuf>,
    /// `--tarball FILE`.
    pub tarball: Option<Tarball>,
    /// `--dist DIR`: release tarballs of each platform's programs.
    pub dist: Option<Dist>,
    /// Media types of everything written (`--format oci|docker`).
    pub format: crate::image::ImageFormat,
    /// The SBOM attached to each platform image (`--sbom`); `None`: no SBOM.
    pub sbom: Option<crate::image::sbom::SbomFormat>,
    /// SLSA provenance attached to each platform image (`--provenance`).
    pub provenance: bool,
    pub registry: RegistrySettings,
    /// Concurrent blob transfers.
    pub jobs: usize,
    pub compression: crate::layer::Compression,
    /// The layer cache, unless `--no-cache`.
    pub cache: Option<PathBuf>,
    /// Bound on the cache's blobs, in bytes (`IMGPUSH_CACHE_MAX_MB`).
    pub cache_max: u64,
    pub json: bool,
    pub verbosity: Verbosity,
}

/// `imgpush copy SRC DST`, resolved.
pub struct CopyPlan {
    pub source: BaseSpec,
    pub dest: Destination,
    /// Empty: everything (`--all`, the default). One: that platform's manifest alone,
    /// digest preserved. Several: a new index over them (a new digest).
    pub platforms: Vec<Platform>,
    pub registry: RegistrySettings,
    pub jobs: usize,
}

/// `imgpush index create --tag REPO:TAG SRC…`, resolved.
pub struct IndexCreatePlan {
    /// `REPO:TAG` to write.
    pub target: Reference,
    pub sources: Vec<BaseSpec>,
    /// Start from the index the target tag holds now.
    pub append: bool,
    /// A platform given twice: the later source wins instead of an error.
    pub replace: bool,
    pub annotations: BTreeMap<String, String>,
    pub registry: RegistrySettings,
    pub jobs: usize,
}

/// `imgpush inspect REF`, resolved.
pub struct InspectPlan {
    pub source: BaseSpec,
    /// As the user wrote it, for `name`.
    pub name: String,
    /// Only this platform (`--platform`).
    pub platform: Option<Platform>,
    pub registry: RegistrySettings,
}
