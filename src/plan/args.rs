use super::Secret;
use clap::Args;
use std::path::PathBuf;

/// Where `imgpush build` writes an OCI layout when neither `--repo` nor `--oci-layout` is given.
pub const DEFAULT_LAYOUT_DIR: &str = "imgpush-out";

/// Flags of `imgpush build`. Most may also be set in `imgpush.toml` (docs/configuration.md
/// names each one's key, or says it is a flag only); flags win.
#[derive(Args, Debug, Default, Clone)]
pub struct BuildArgs {
    /// Directory with imgpush.toml, or a Cargo project to build (default: the working directory).
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,

    /// Target repository, REGISTRY/REPO (e.g. 127.0.0.1:5000/app/hello).
    #[arg(
        long,
        env = "IMGPUSH_REPO",
        hide_env_values = true,
        value_name = "REGISTRY/REPO"
    )]
    pub repo: Option<String>,

    /// Tag to push; repeatable [default: latest].
    #[arg(short = 't', long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Platforms, comma-separated (linux/amd64,linux/arm64), or `all` for every platform of
    /// the base that has an artifact or a Rust target [default: the artifacts' platforms;
    /// linux/amd64,linux/arm64 for Rust builds].
    #[arg(long, value_name = "LIST|all")]
    pub platform: Option<String>,

    /// Base image: a registry reference, oci-layout:DIR[:TAG|@DIGEST], oci-archive:FILE[:TAG|@DIGEST], docker-archive:FILE[@IMAGE-ID], a name from base-images/
    /// (static; nginx, glibc, busybox: built from Debian packages; distroless-static) or a
    /// package base spec PATH.toml [default: static, embedded, no network].
    #[arg(long, value_name = "REF|NAME")]
    pub base: Option<String>,

    /// A prebuilt file for one platform, PLATFORM=FILE; repeatable.
    #[arg(long = "artifact", value_name = "PLATFORM=FILE")]
    pub artifacts: Vec<String>,

    /// Where the artifact or built binary goes in the image [default: /app/<file name>, /app/<bin>].
    #[arg(long, value_name = "PATH")]
    pub dest: Option<String>,

    /// Entrypoint; given alone it clears the base's Cmd [default: the artifact's path].
    #[arg(long, num_args = 1.., value_name = "ARG")]
    pub entrypoint: Option<Vec<String>>,

    /// Cmd (arguments to the entrypoint).
    #[arg(long, num_args = 1.., value_name = "ARG")]
    pub cmd: Option<Vec<String>>,

    /// Environment variable, K=V; repeatable.
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,

    /// Working directory (absolute).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// User to run as: UID[:GID] or NAME.
    #[arg(long, value_name = "UID[:GID]|NAME")]
    pub user: Option<String>,

    /// Port to declare, PORT[/tcp|udp]; repeatable.
    #[arg(long = "expose", value_name = "PORT[/PROTO]")]
    pub expose: Vec<String>,

    /// Config label, K=V; repeatable.
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,

    /// Manifest and index annotation, K=V; repeatable.
    #[arg(long = "annotation", value_name = "K=V")]
    pub annotations: Vec<String>,

    /// A static bundle (e.g. `npm run build` output) to ship at --dest, in one layer shared by
    /// every platform; no program is built. Keeps the base's entrypoint.
    #[arg(long = "static", value_name = "DIR")]
    pub bundle_dir: Option<PathBuf>,

    /// Owner of the --static bundle's files, UID:GID (e.g. 101:101) [default: 0:0].
    #[arg(long, value_name = "UID:GID")]
    pub owner: Option<String>,

    /// Build this Go main package (an import path or ./relative path in the module) instead
    /// of the one in PATH.
    #[arg(long = "go", value_name = "IMPORTPATH")]
    pub go: Option<String>,

    /// Go: -ldflags for `go build`.
    #[arg(long, value_name = "FLAGS", allow_hyphen_values = true)]
    pub ldflags: Option<String>,

    /// Go: build tags for `go build` (comma-separated).
    #[arg(long = "tags", value_name = "TAGS")]
    pub go_tags: Option<String>,

    /// Extra file or directory for every platform, in one layer shared by all platforms;
    /// repeatable. MODE is octal (e.g. 0644; empty: 0755 if executable, else 0644), UID:GID
    /// numeric [default: 0:0].
    #[arg(long = "file", value_name = "SRC:DST[:MODE[:UID:GID]]")]
    pub files: Vec<String>,

    /// Write an OCI image layout with all platforms and every blob (base included)
    /// [default when --repo is not given: ./imgpush-out].
    #[arg(long, value_name = "DIR")]
    pub oci_layout: Option<PathBuf>,

    /// Write the image as one tar file too: an OCI archive with every platform (`skopeo copy
    /// oci-archive:FILE …`), or with --format docker-archive a `docker save` tarball of one
    /// platform for `docker load` / `podman load`. Byte-for-byte reproducible.
    #[arg(long, value_name = "FILE")]
    pub tarball: Option<PathBuf>,

    /// Also write each platform's programs as a release tarball in DIR,
    /// NAME-VERSION-TARGET.tar.gz (TARGET: the Rust target triple, or OS-ARCH), with a
    /// SHA256SUMS file: the same binaries as in the image, byte for byte.
    #[arg(long, value_name = "DIR")]
    pub dist: Option<PathBuf>,

    /// Media types and tarball layout: oci (OCI index and manifests), docker (Docker manifest
    /// list and schema2 manifests, for registries and tools without OCI support), or
    /// docker-archive (--tarball in `docker save` format; needs exactly one platform)
    /// [default: oci].
    #[arg(long, value_name = "oci|docker|docker-archive")]
    pub format: Option<String>,

    /// The SBOM attached to each platform image as an OCI referrer: spdx (SPDX 2.3 JSON),
    /// cyclonedx (CycloneDX 1.5 JSON) or none [default: spdx; none with --format docker,
    /// whose schema2 manifests cannot carry referrers].
    #[arg(long, value_name = "spdx|cyclonedx|none")]
    pub sbom: Option<String>,

    /// The SLSA v1 build provenance (an in-toto statement) attached to each platform image:
    /// slsa or none [default: slsa; none with --format docker].
    #[arg(long, value_name = "slsa|none")]
    pub provenance: Option<String>,

    /// One-off credentials for the target registry, USER:PASSWORD (or IMGPUSH_USERNAME and
    /// IMGPUSH_PASSWORD); otherwise docker's config.json and credential helpers.
    #[arg(long, value_name = "USER:PASSWORD", hide_env_values = true)]
    pub creds: Option<Secret>,

    /// Concurrent blob transfers [default: 4].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Layer compression: gzip[:LEVEL] (1-9, every runtime reads it) or zstd[:LEVEL] (1-19;
    /// smaller, needs containerd >= 1.5, podman >= 3, Docker >= 23) [default: gzip:3].
    #[arg(long, value_name = "gzip[:LEVEL]|zstd[:LEVEL]")]
    pub compression: Option<String>,

    /// Timestamp for file mtimes, config `created` and history: seconds since 1970, or `git`
    /// for the last commit's time in PATH [default: SOURCE_DATE_EPOCH, else 0].
    #[arg(long, value_name = "SECONDS|git")]
    pub epoch: Option<String>,

    /// Do not use imgpush's cache (~/.cache/imgpush or IMGPUSH_CACHE_DIR) for layers and
    /// registry manifests: everything is built and fetched again.
    #[arg(long)]
    pub no_cache: bool,

    /// Print one JSON object describing the result instead of the digest reference.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub cargo: CargoArgs,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// cargo's own flags, for building a Rust binary (`cargo imgpush`, or `imgpush build PATH`
/// on a Cargo project).
#[derive(Args, Debug, Default, Clone)]
#[command(next_help_heading = "Rust build (cargo)")]
pub struct CargoArgs {
    /// Package to build (a workspace member); repeatable: each binary of each package
    /// becomes its own image, all compiled by one cargo invocation (as --workspace).
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub package: Vec<String>,

    /// Build every binary of every workspace member (its `bin` in
    /// [package.metadata.imgpush], if set), each as its own image named from its
    /// [package.metadata.imgpush] `repo` or --repo REGISTRY/PREFIX/<bin>, in one cargo
    /// invocation.
    #[arg(long)]
    pub workspace: bool,

    /// With --workspace: leave out this member; repeatable.
    #[arg(long, value_name = "SPEC", requires = "workspace")]
    pub exclude: Vec<String>,

    /// Binary target to build (required when the package has several); repeatable: the
    /// binaries go into one image, each at DIR/<bin> for `--dest DIR/` [default: /app/<bin>].
    #[arg(long, value_name = "NAME")]
    pub bin: Vec<String>,

    /// Features to activate (space- or comma-separated); repeatable.
    #[arg(short = 'F', long = "features", value_name = "FEATURES")]
    pub features: Vec<String>,

    /// Activate all available features.
    #[arg(long)]
    pub all_features: bool,

    /// Do not activate the `default` feature.
    #[arg(long)]
    pub no_default_features: bool,

    /// Cargo profile [default: release].
    #[arg(long, value_name = "PROFILE-NAME")]
    pub profile: Option<String>,

    /// Require Cargo.lock to be up to date.
    #[arg(long)]
    pub locked: bool,

    /// Run without accessing the network.
    #[arg(long)]
    pub offline: bool,

    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,

    /// Directory for all generated artifacts.
    #[arg(long, value_name = "DIRECTORY")]
    pub target_dir: Option<PathBuf>,

    /// glibc version to link against with --libc gnu [default: 2.17].
    #[arg(long, value_name = "VERSION")]
    pub glibc_version: Option<String>,

    /// Share std built from source and zig's cache through this repository: pulled when
    /// this machine lacks them, pushed when the repository does; `none`: off
    /// [env: IMGPUSH_TOOLCHAIN_CACHE].
    #[arg(long, value_name = "REG/REPO")]
    pub toolchain_cache: Option<String>,

    #[command(flatten)]
    pub toolchain: ToolchainArgs,
}

/// How Rust targets are built; shared by `build` and `doctor`.
#[derive(Args, Debug, Default, Clone)]
pub struct ToolchainArgs {
    /// C library: musl (static, any base) or gnu (glibc bases) [default: musl].
    #[arg(long, value_name = "musl|gnu")]
    pub libc: Option<String>,

    /// zigbuild (cargo-zigbuild, zig links every target) or cargo (your own linker config)
    /// [default: zigbuild].
    #[arg(long, value_name = "zigbuild|cargo")]
    pub builder: Option<String>,

    /// Build std from source (-Zbuild-std, once, into imgpush's std cache): auto (when a
    /// target's std is not installed but the std source is), always, never [default: auto].
    #[arg(long, value_name = "auto|always|never")]
    pub build_std: Option<String>,
}

/// Flags of `imgpush doctor`.
#[derive(Args, Debug, Default, Clone)]
pub struct DoctorArgs {
    /// Platforms to check for [default: linux/amd64,linux/arm64].
    #[arg(long, value_name = "LIST")]
    pub platform: Option<String>,

    /// Also check that this repository is reachable and the login works, REGISTRY/REPO.
    #[arg(
        long,
        env = "IMGPUSH_REPO",
        hide_env_values = true,
        value_name = "REGISTRY/REPO"
    )]
    pub repo: Option<String>,

    /// Allow plain HTTP and unverified TLS for this registry; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,

    /// CA certificate (PEM) to trust for the registry's TLS; repeatable.
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,

    #[command(flatten)]
    pub toolchain: ToolchainArgs,
}

/// Flags of `imgpush login`.
#[derive(Args, Debug, Default, Clone)]
pub struct LoginArgs {
    /// Registry host[:port], e.g. ghcr.io or 127.0.0.1:5000 (docker.io for Docker Hub).
    #[arg(value_name = "REGISTRY")]
    pub registry: String,

    /// User name.
    #[arg(short = 'u', long, value_name = "USER")]
    pub username: String,

    /// Read the password (or token) from stdin. Without it, IMGPUSH_PASSWORD is used;
    /// there is no flag for the password itself, so it never shows in `ps`.
    #[arg(long)]
    pub password_stdin: bool,

    /// Not accepted: only here so that `-p`/`--password` gets an error saying where
    /// passwords come from instead of clap's tip. Hidden from `--help`.
    #[arg(
        short = 'p',
        long = "password",
        hide = true,
        value_name = "PASSWORD",
        num_args = 0..=1,
        allow_hyphen_values = true
    )]
    pub password: Option<Option<String>>,

    /// Allow plain HTTP and unverified TLS for this registry.
    #[arg(long)]
    pub insecure: bool,

    /// CA certificate (PEM) to trust for the registry's TLS; repeatable.
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,
}

/// Flags of `imgpush logout`.
#[derive(Args, Debug, Default, Clone)]
pub struct LogoutArgs {
    /// Registry host[:port].
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
}

/// How to reach registries: shared by `build`, `inspect`, `copy`, `index create` and `resolve`.
#[derive(Args, Debug, Default, Clone)]
#[command(next_help_heading = "Registry access")]
pub struct RegistryArgs {
    /// Allow plain HTTP and unverified TLS for this registry; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,

    /// CA certificate (PEM) to trust for registries' TLS, on top of the system roots and
    /// certs.d/HOST/*.crt; repeatable.
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,

    /// Retries per registry request after a connection error, timeout, 429 or 5xx, with
    /// exponential backoff [default: 4].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,

    /// Seconds a registry answer may stall (no bytes at all) before the request is retried
    /// [default: 60].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// More detail on stderr (-v: each blob, -vv: each HTTP request); never credentials.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print only the result (and warnings and errors): no progress, no compiler output.
    #[arg(short = 'q', long = "quiet", conflicts_with = "verbose")]
    pub quiet: bool,
}
