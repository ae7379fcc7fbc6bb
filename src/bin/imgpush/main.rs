//! `imgpush`: parse flags → Plan → pick a reporter → run the library → print the result.

mod ui;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use imgpush::config::{self, BuildArgs, Environment};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

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

  # On a registry base, with settings:
  imgpush build --base docker.io/library/busybox:1.37 --repo 127.0.0.1:5000/app/hello \\
      --artifact linux/amd64=hello --env RUST_LOG=info --expose 8080 --user 65532

With neither --repo nor --oci-layout, the image is written as an OCI layout to ./imgpush-out.
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
    /// Put prebuilt artifacts on a multi-arch base and publish one manifest per platform
    /// plus an OCI index. Prints the digest reference on stdout.
    #[command(after_help = BUILD_EXAMPLES)]
    Build(BuildArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => run_build(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ui::print_error(&e);
            ExitCode::FAILURE
        }
    }
}

fn run_build(args: BuildArgs) -> anyhow::Result<()> {
    let env = Environment::from_process().context("reading the working directory")?;
    let plan = config::resolve(&args, &env).map_err(imgpush::Error::from)?;
    let reporter = Arc::new(ui::StderrReporter::new(plan.verbosity));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let output = runtime.block_on(imgpush::pipeline::build(&plan, reporter.clone()))?;
    reporter.finish();
    let text = if plan.json {
        serde_json::to_string_pretty(&output).expect("the output serializes")
    } else {
        output.reference.clone()
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}").and_then(|_| stdout.flush()) {
        // A closed pipe (`imgpush build … | head -0`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("writing the result to stdout");
        }
    }
    Ok(())
}
