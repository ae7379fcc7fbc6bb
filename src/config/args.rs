use clap::Args;
use std::path::PathBuf;

/// Where `imgpush build` writes an OCI layout when neither `--repo` nor `--oci-layout` is given.
pub const DEFAULT_LAYOUT_DIR: &str = "imgpush-out";

/// Flags of `imgpush build`. Every one may also be set in `imgpush.toml`; flags win.
#[derive(Args, Debug, Default, Clone)]
pub struct BuildArgs {
    /// Directory with imgpush.toml (default: the working directory).
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
    /// the base that has an artifact [default: the platforms of the artifacts].
    #[arg(long, value_name = "LIST|all")]
    pub platform: Option<String>,

    /// Base image: a registry reference, oci-layout:DIR[:TAG], or a name from base-images/
    /// (static, distroless-static, busybox, nginx) [default: static, embedded, no network].
    #[arg(long, value_name = "REF|NAME")]
    pub base: Option<String>,

    /// A prebuilt file for one platform, PLATFORM=FILE; repeatable.
    #[arg(long = "artifact", value_name = "PLATFORM=FILE")]
    pub artifacts: Vec<String>,

    /// Where artifacts go in the image [default: /app/<file name>].
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

    /// Write an OCI image layout with all platforms and every blob (base included)
    /// [default when --repo is not given: ./imgpush-out].
    #[arg(long, value_name = "DIR")]
    pub oci_layout: Option<PathBuf>,

    /// Allow plain HTTP and unverified TLS for this registry; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,

    /// Concurrent blob transfers [default: 4].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Print one JSON object describing the result instead of the digest reference.
    #[arg(long)]
    pub json: bool,

    /// More detail on stderr (-v: each blob, -vv: each HTTP request); never credentials.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
}
