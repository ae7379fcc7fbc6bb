//! `imgpush`: parse flags → pick a reporter → run the library's command → print the result.

mod run;

use clap::{Parser, Subcommand};
use imgpush::plan::{
    BaseBuildArgs, BaseLockArgs, BuildArgs, CopyArgs, DoctorArgs, IndexCreateArgs, InspectArgs,
    LoginArgs, LogoutArgs, OutdatedArgs, RebaseArgs, ResolveArgs, SbomArgs,
};
use std::process::ExitCode;

const BUILD_EXAMPLES: &str = "\
Examples:
  # Two prebuilt static binaries → one multi-arch tag in a registry:
  imgpush build --repo 127.0.0.1:5000/app/hello \\
      --artifact linux/amd64=dist/hello-amd64 --artifact linux/arm64=dist/hello-arm64 \\
      --dest /app/hello
  ref=$(imgpush build --repo ghcr.io/acme/hello -t v1 -t latest --artifact linux/amd64=hello)

  # No registry: write an OCI layout (default directory ./imgpush-out):
  imgpush build --artifact linux/amd64=dist/hello-amd64 --artifact linux/arm64=dist/hello-arm64 --dest /app/hello
  skopeo inspect --raw oci:imgpush-out:latest

  # A Rust project (same as `cargo imgpush`): cross-compiled for linux/amd64 and linux/arm64
  imgpush build path/to/crate --repo 127.0.0.1:5000/app/api -t '{version}'

  # A Go main package (GOOS/GOARCH, CGO off; kodata/ shipped at /var/run/ko):
  imgpush build ./cmd/server --repo 127.0.0.1:5000/app/server

  # A static frontend bundle on nginx, one layer shared by every platform:
  imgpush build --static dist --dest /usr/share/nginx/html --base docker.io/library/nginx:stable-alpine --platform all

  # On a registry base, with settings:
  imgpush build --base docker.io/library/busybox:1.37 --repo 127.0.0.1:5000/app/hello \\
      --artifact linux/amd64=hello --env RUST_LOG=info --expose 8080 --user 65532

With neither --repo nor --oci-layout, the image is written as an OCI layout to ./imgpush-out
(for a Rust project: <target-dir>/imgpush/<bin>).
Settings may also come from imgpush.toml in PATH (or the working directory); flags override it.
";

#[derive(Parser)]
#[command(
    name = "imgpush",
    version,
    about = "Multi-arch container images from host-built artifacts: no Docker daemon, no emulation."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a multi-arch image from prebuilt artifacts or a Rust project and publish one
    /// manifest per platform plus an OCI index. Prints the digest reference on stdout.
    #[command(after_help = BUILD_EXAMPLES)]
    Build(Box<BuildArgs>),
    /// Check the tools a build needs (cargo, rustc, each target's std, zig, cargo-zigbuild,
    /// go) and the registry login; print the exact command that fixes each missing piece.
    Doctor(DoctorArgs),
    /// Check credentials against a registry and store them in docker's config.json (or its
    /// credential helper), like `docker login`.
    Login(LoginArgs),
    /// Remove stored credentials for a registry.
    Logout(LogoutArgs),
    /// Show what an image or index holds, platform by platform: digests, sizes, layers,
    /// created, entrypoint/cmd/user (--raw: the exact manifest bytes; --json).
    #[command(after_help = INSPECT_EXAMPLES)]
    Inspect(InspectArgs),
    /// Print the SBOM attached to an image (an OCI 1.1 referrer of a platform manifest),
    /// exactly as stored: SPDX or CycloneDX JSON.
    #[command(after_help = SBOM_EXAMPLES)]
    Sbom(SbomArgs),
    /// Copy an image or index between registries, OCI layouts and OCI archives, digests
    /// preserved (blobs mounted or streamed, never rebuilt).
    #[command(after_help = COPY_EXAMPLES)]
    Copy(CopyArgs),
    /// Put an image's own layers on a new base (say, one with a security fix) without
    /// rebuilding: checks that its lowest layers are the old base's, swaps them for the new
    /// base's, merges the configs, pushes new manifests and index. Prints REPO@sha256:….
    #[command(after_help = REBASE_EXAMPLES)]
    Rebase(RebaseArgs),
    /// Whether each image's recorded base (org.opencontainers.image.base.name) now points
    /// elsewhere than the digest it was built on: one HEAD per base.
    #[command(after_help = OUTDATED_EXAMPLES)]
    Outdated(OutdatedArgs),
    /// Base images built from Debian packages (base-images/): lock them, publish them.
    #[command(subcommand)]
    Base(BaseCommand),
    /// Work with image indexes (multi-platform manifests).
    #[command(subcommand)]
    Index(IndexCommand),
    /// Build every imgpush://PATH in Kubernetes YAML, push it, and print the YAML with each
    /// reference replaced by REPO@sha256:… (like `ko resolve`).
    #[command(after_help = RESOLVE_EXAMPLES)]
    Resolve(ResolveArgs),
}

#[derive(Subcommand)]
enum BaseCommand {
    /// Resolve a package base against its repositories' signed indexes and rewrite its lock
    /// (NAME.lock beside the spec): every package, version, file and SHA-256, per
    /// architecture. Prints the lock's path.
    #[command(after_help = BASE_LOCK_EXAMPLES)]
    Lock(BaseLockArgs),
    /// Build a base by itself (from its lock, no emulation) and push it or write it as an
    /// OCI layout. Prints the digest reference.
    #[command(after_help = BASE_BUILD_EXAMPLES)]
    Build(BaseBuildArgs),
    /// Print an embedded base's spec (base-images/NAME.toml), to start a spec of your own:
    /// imgpush base spec nginx > web/base.toml && imgpush base lock web/base.toml
    Spec {
        /// A name from base-images/.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

const BASE_LOCK_EXAMPLES: &str = "\
Examples:
  imgpush base lock nginx                 # in imgpush's checkout: base-images/nginx.lock
  imgpush base lock ./web/base.toml       # your own spec: ./web/base.lock
  imgpush base lock ./web/base.toml --check   # CI: fail when the archive moved on

The mirror is IMGPUSH_DEBIAN_MIRROR (or `mirror` in the spec).
";

const BASE_BUILD_EXAMPLES: &str = "\
Examples:
  imgpush base build nginx --repo 127.0.0.1:5000/base/nginx -t 1.22 -t latest
  imgpush base build ./web/base.toml --oci-layout out/base
  IMGPUSH_DEBIAN_SNAPSHOT=https://snapshot.debian.org/archive imgpush base build glibc --repo REG/base/glibc
";

#[derive(Subcommand)]
enum IndexCommand {
    /// Merge images and indexes already pushed (e.g. one platform per CI runner) into one
    /// index at REGISTRY/REPO:TAG; blobs are mounted across repositories, not downloaded.
    #[command(after_help = INDEX_EXAMPLES)]
    Create(IndexCreateArgs),
}

const INSPECT_EXAMPLES: &str = "\
Examples:
  imgpush inspect 127.0.0.1:5000/app/hello:latest
  imgpush inspect --platform linux/arm64 --json ghcr.io/acme/api:v1
  imgpush inspect --raw oci-layout:imgpush-out | sha256sum
  imgpush inspect oci-archive:hello.tar
";

const SBOM_EXAMPLES: &str = "\
Examples:
  imgpush sbom 127.0.0.1:5000/app/hello:latest --platform linux/arm64 > hello-arm64.spdx.json
  imgpush sbom --format cyclonedx ghcr.io/acme/api:v1 --platform linux/amd64
  imgpush sbom oci-layout:imgpush-out:latest --platform linux/amd64 | jq .packages

--platform is needed when more than one platform has an SBOM; `imgpush inspect REF` lists
each platform's referrers.
";

const COPY_EXAMPLES: &str = "\
Examples:
  imgpush copy ghcr.io/acme/api:v1 127.0.0.1:5000/mirror/api          # every platform, same digest
  imgpush copy --platform linux/arm64 ghcr.io/acme/api:v1 oci-layout:api-arm64
  imgpush copy oci-archive:hello.tar 127.0.0.1:5000/app/hello:v1
";

const REBASE_EXAMPLES: &str = "\
Examples:
  # the base tag the image was built on moved (e.g. a patched base:latest); move the app onto it:
  imgpush rebase 127.0.0.1:5000/app/hello:v1 --base 127.0.0.1:5000/base:latest
  imgpush rebase ghcr.io/acme/api:v1 --base ghcr.io/acme/base:1.2.4 -t v1 -t v1-patched --json
  # an image without base annotations (Docker format, or not built by imgpush):
  imgpush rebase REG/app:v1 --old-base REG/base@sha256:… --base REG/base:latest

Nothing is pushed unless every platform's lowest layers are exactly the old base's and the
new base has every platform. Referrers (SBOM, provenance) of the old image are not copied.
";

const OUTDATED_EXAMPLES: &str = "\
Examples:
  imgpush outdated 127.0.0.1:5000/app/hello:v1 127.0.0.1:5000/app/api:v1
  imgpush outdated --json --exit-code ghcr.io/acme/api:v1 || imgpush rebase ghcr.io/acme/api:v1 --base ghcr.io/acme/base:latest

Exit status: 0, unless --exit-code and some base moved (1); errors exit 1 as well.
";

const INDEX_EXAMPLES: &str = "\
Examples:
  # each CI job pushed one platform; the merge job makes the multi-arch tag:
  imgpush index create --tag ghcr.io/acme/api:v1 ghcr.io/acme/api:v1-amd64 ghcr.io/acme/api:v1-arm64
  imgpush index create --append --tag ghcr.io/acme/api:v1 ghcr.io/acme/api:v1-riscv64
";

const RESOLVE_EXAMPLES: &str = "\
Examples:
  # deploy/app.yaml has `image: imgpush://./services/api` and `image: imgpush://./web`:
  imgpush resolve -f deploy/ --repo ghcr.io/acme | kubectl apply -f -
  IMGPUSH_REPO=127.0.0.1:5000/dev imgpush resolve -f deploy/app.yaml > resolved.yaml
";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => run::build(*args),
        Command::Doctor(args) => run::doctor(args),
        Command::Login(args) => run::login(args),
        Command::Logout(args) => run::logout(args),
        Command::Inspect(args) => run::inspect(args),
        Command::Sbom(args) => run::sbom(args),
        Command::Copy(args) => run::copy(args),
        Command::Rebase(args) => run::rebase(args),
        Command::Outdated(args) => match run::outdated(args) {
            // `--exit-code` and a base moved: not an error, nothing more to print.
            Ok(true) => return ExitCode::from(1),
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        },
        Command::Index(IndexCommand::Create(args)) => run::index_create(args),
        Command::Base(BaseCommand::Lock(args)) => run::base_lock(args),
        Command::Base(BaseCommand::Build(args)) => run::base_build(args),
        Command::Base(BaseCommand::Spec { name }) => run::base_spec(&name),
        Command::Resolve(args) => run::resolve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            imgpush::commands::render::print_error(&e);
            ExitCode::FAILURE
        }
    }
}
