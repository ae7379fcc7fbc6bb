//! `cargo imgpush`: cross-compile the crate's binary for every platform and publish one
//! multi-arch image (or, with `--workspace`, one per binary of the workspace). Same flags
//! and code path as `imgpush build` on a Cargo project.

use anyhow::Context as _;
use clap::Parser;
use imgpush::commands::{self, output, render};
use imgpush::plan::BuildArgs;
use std::process::ExitCode;
use std::sync::Arc;

const EXAMPLES: &str = "\
Examples:
  cargo imgpush --repo ghcr.io/acme/api --platform linux/amd64,linux/arm64
  cargo imgpush -p api --bin server --repo 127.0.0.1:5000/acme/api -t '{version}' -t latest
  cargo imgpush --workspace --repo ghcr.io/acme   # every binary: ghcr.io/acme/<bin>, one cargo build
  cargo imgpush                      # no registry: OCI layout in <target-dir>/imgpush/<bin>

Settings may also come from [package.metadata.imgpush] / [workspace.metadata.imgpush] in
Cargo.toml and from imgpush.toml; flags override them. `imgpush doctor` checks the toolchain.
";

#[derive(Parser)]
#[command(
    name = "cargo-imgpush",
    bin_name = "cargo imgpush",
    version,
    about = "Cross-compile a Rust binary for every platform (no emulation) and publish one multi-arch image.",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(flatten)]
    build: BuildArgs,
}

fn main() -> ExitCode {
    // `cargo imgpush …` runs `cargo-imgpush imgpush …`: drop cargo's extra argument.
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "imgpush") {
        argv.remove(1);
    }
    let cli = Cli::parse_from(argv);
    match build(cli.build) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            render::print_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// `imgpush build`, step for step (`src/bin/imgpush/run.rs`).
fn build(args: BuildArgs) -> anyhow::Result<()> {
    let (env, console) = output::environment(!args.no_cache)?;
    let plan = commands::build::plan(&args, &env)?;
    let reporter = Arc::new(render::StderrReporter::new(plan.verbosity(), console));
    let out = commands::build::execute(&plan, reporter.clone());
    reporter.finish();
    out?.print(&plan).context("writing the result to stdout")
}
