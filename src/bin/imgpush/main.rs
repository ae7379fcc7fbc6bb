//! `imgpush`: parse flags → Plan → pick a reporter → run the library → print the result.

mod run;
mod ui;

use clap::{Parser, Subcommand};
use imgpush::config::{BuildArgs, DoctorArgs, LoginArgs, LogoutArgs};
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => run::build(*args),
        Command::Doctor(args) => run::doctor(args),
        Command::Login(args) => run::login(args),
        Command::Logout(args) => run::logout(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ui::print_error(&e);
            ExitCode::FAILURE
        }
    }
}
