//! Each command: plan it, pick the reporter, execute it (`imgpush::commands`), print the
//! result. No logic here.

use anyhow::Context as _;
use imgpush::commands::{self, output, render::StderrReporter};
use imgpush::plan::{
    BaseBuildArgs, BaseLockArgs, BuildArgs, CopyArgs, DoctorArgs, IndexCreateArgs, InspectArgs,
    LoginArgs, LogoutArgs, OutdatedArgs, RebaseArgs, ResolveArgs, SbomArgs, Verbosity,
};
use std::sync::Arc;

const STDOUT: &str = "writing the result to stdout";

pub fn build(args: BuildArgs) -> anyhow::Result<()> {
    let (env, console) = output::environment(!args.no_cache)?;
    let plan = commands::build::plan(&args, &env)?;
    let reporter = Arc::new(StderrReporter::new(plan.verbosity(), console));
    let out = commands::build::execute(&plan, reporter.clone());
    reporter.finish();
    out?.print(&plan).context(STDOUT)
}

/// Prints the report on stdout; fails (exit 1) if anything needed is missing.
pub fn doctor(args: DoctorArgs) -> anyhow::Result<()> {
    let (env, _) = output::environment(false)?;
    let plan = commands::doctor::plan(&args, &env)?;
    let report = commands::doctor::execute(&plan)?;
    output::print_line(report.text().trim_end()).context(STDOUT)?;
    anyhow::ensure!(
        report.healthy(),
        "some things a build needs are missing; run the `fix:` commands above"
    );
    Ok(())
}

pub fn login(args: LoginArgs) -> anyhow::Result<()> {
    commands::login::check_args(&args)?;
    let (env, console) = output::environment(false)?;
    let stdin_password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        Some(line.trim_end_matches(['\n', '\r']).to_string())
    } else {
        None
    };
    let plan = commands::login::plan(&args, &env, stdin_password)?;
    let reporter = Arc::new(StderrReporter::new(Verbosity::Normal, console));
    let path = commands::login::execute(&plan, reporter)?;
    eprintln!(
        "imgpush: login succeeded; credentials for {} stored via {}",
        args.registry,
        path.display()
    );
    Ok(())
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let (env, _) = output::environment(false)?;
    if commands::login::execute_logout(&args, &env)? {
        eprintln!("imgpush: removed the credentials for {}", args.registry);
    } else {
        eprintln!("imgpush: no credentials were stored for {}", args.registry);
    }
    Ok(())
}

pub fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let (env, console) = output::environment(true)?;
    let plan = commands::inspect::plan(&args, &env)?;
    let reporter = Arc::new(StderrReporter::new(
        Verbosity::from_flags(args.registry.verbose, args.registry.quiet),
        console,
    ));
    let inspection = commands::inspect::execute(&plan, reporter)?;
    if args.raw {
        output::write_stdout(inspection.raw_bytes(plan.platform.is_some()))
            .context("writing the manifest to stdout")
    } else if args.json {
        output::print_json(&inspection).context(STDOUT)
    } else {
        output::print_line(inspection.text().trim_end()).context(STDOUT)
    }
}

/// The document on stdout, byte for byte (it hashes to its layer digest).
pub fn sbom(args: SbomArgs) -> anyhow::Result<()> {
    let (env, console) = output::environment(true)?;
    let plan = commands::sbom::plan(&args, &env)?;
    let reporter = Arc::new(StderrReporter::new(
        Verbosity::from_flags(args.registry.verbose, args.registry.quiet),
        console,
    ));
    let sbom = commands::sbom::execute(&plan, reporter)?;
    output::write_stdout(&sbom.document).context("writing the SBOM to stdout")
}

pub fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let (env, console) = output::environment(true)?;
    let plan = commands::copy::plan(&args, &env)?;
    let reporter = Arc::new(StderrReporter::new(
        Verbosity::from_flags(args.registry.verbose, args.registry.quiet),
        console,
    ));
    let out = commands::copy::execute(&plan, reporter.clone());
    reporter.finish();
    let out = out?;
    output::print_result(args.json, &out, |o| &o.reference).context(STDOUT)
}

pub fn rebase(args: RebaseArgs) -> anyhow::Result<()> {
    let (env, console) = output::environment(true)?;
    let plan = commands::rebase::plan(&args, &env)?;
    let reporter = Arc::new(StderrReporter::new(
        Verbosity::from_flags(args.registry.verbose, args.registry.quiet),
        console,
    ));
    let out = commands::rebase::execute(&plan, reporter.clone());
    reporter.finish();
    let out = out?;
    output::print_result(args.json, &out, |o| &o.reference).context(STDOUT)
}

/// One line per image (or the JSON list); true when `--exit-code` and some base moved.
pub fn outdated(args: OutdatedArgs) -> anyhow::Result<bool> {
    let (env, console) = output::environment(true)?;
    let plan = commands::outdated::plan(&args, &env)?;
    let reporter = Arc::new(StderrReporter::new(
        Verbosity::from_flags(args.registry.verbose, args.registry.quiet),
        console,
    ));
    let statuses = commands::outdated::execute(&plan, reporter.clone());
    reporter.finish();
    let statuses = statuses?;
    if args.json {
        output::print_json(&statuses).context(STDOUT)?;
    } else {
        for s in &statuses {
            output::print_line(&s.line()).context(STDOUT)?;
        }
    }
    Ok(args.exit_code && statuses.iter().any(|s| s.outdated))
}

pub fn index_create(args: IndexCreateArgs) -> anyhow::Result<()> {
    let (env, console) = output::environment(true)?;
    let plan = commands::index::plan(&args, &env)?;
    let reporter = Arc::new(StderrReporter::new(
        Verbosity::from_flags(args.registry.verbose, args.registry.quiet),
        console,
    ));
    let out = commands::index::execute(&plan, reporter.clone());
    reporter.finish();
    let out = out?;
    output::print_result(args.json, &out, |o| &o.reference).context(STDOUT)
}

pub fn resolve(args: ResolveArgs) -> anyhow::Result<()> {
    let (env, console) = output::environment(true)?;
    let plan = commands::resolve::plan(&args, &env)?;
    let reporter = Arc::new(StderrReporter::new(
        Verbosity::from_flags(args.registry.verbose, args.registry.quiet),
        console,
    ));
    let yaml = commands::resolve::execute(&plan, reporter.clone());
    reporter.finish();
    let yaml = yaml?;
    output::write_stdout(yaml.as_bytes()).context("writing the YAML to stdout")
}

pub fn base_lock(args: BaseLockArgs) -> anyhow::Result<()> {
    let (env, console) = output::environment(false)?;
    let reporter = Arc::new(StderrReporter::new(
        Verbosity::from_flags(args.verbose, args.quiet),
        console,
    ));
    let out = commands::base::lock(&args, &env, reporter.clone());
    reporter.finish();
    let out = out?;
    if !args.quiet {
        let counts: Vec<String> = out
            .packages
            .iter()
            .map(|(arch, n)| format!("{arch}: {n} packages"))
            .collect();
        eprintln!(
            "imgpush: {} {} ({})",
            out.file.display(),
            if out.changed {
                if args.check { "differs" } else { "written" }
            } else {
                "is up to date"
            },
            counts.join(", ")
        );
    }
    output::print_line(&out.file.display().to_string()).context(STDOUT)
}

pub fn base_spec(name: &str) -> anyhow::Result<()> {
    let text = commands::base::spec_text(name)?;
    output::write_stdout(text.as_bytes()).context(STDOUT)
}

pub fn base_build(args: BaseBuildArgs) -> anyhow::Result<()> {
    let (env, console) = output::environment(true)?;
    let reporter = Arc::new(StderrReporter::new(
        Verbosity::from_flags(args.registry.verbose, args.registry.quiet),
        console,
    ));
    let outs = commands::base::build(&args, &env, reporter.clone());
    reporter.finish();
    let outs = outs?;
    for out in &outs {
        output::print_result(args.json, out, |o| &o.reference).context(STDOUT)?;
    }
    Ok(())
}
