//! What both binaries do once flags are parsed: resolve, run, print.

use crate::ui;
use anyhow::Context as _;
use imgpush::build::toolchain::CheckStatus;
use imgpush::config::{
    self, BuildArgs, CopyArgs, DoctorArgs, Environment, IndexCreateArgs, InspectArgs, LoginArgs,
    LogoutArgs, ResolveArgs, Verbosity,
};
use std::io::Write;
use std::sync::Arc;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Prints one line (or JSON) on stdout; a closed pipe is not an error worth a message.
fn print_result(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}").and_then(|_| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e).context("writing the result to stdout");
    }
    Ok(())
}

/// The environment of a command that uses the cache; says once if there is none.
fn environment_with_cache(use_cache: bool) -> anyhow::Result<Environment> {
    let env = Environment::from_process().context("reading the working directory")?;
    if use_cache && let Some(warning) = &env.cache_warning {
        eprintln!("imgpush: warning: {warning}");
    }
    Ok(env)
}

pub fn build(args: BuildArgs) -> anyhow::Result<()> {
    let env = environment_with_cache(!args.no_cache)?;
    let plan = config::resolve(&args, &env).map_err(imgpush::Error::from)?;
    let reporter = Arc::new(ui::StderrReporter::new(plan.verbosity));
    let output = runtime()?.block_on(imgpush::pipeline::build(&plan, reporter.clone()))?;
    reporter.finish();
    if plan.json {
        print_result(&serde_json::to_string_pretty(&output).expect("the output serializes"))
    } else {
        print_result(&output.reference)
    }
}

/// Prints the report on stdout; fails (exit 1) if anything needed is missing.
pub fn doctor(args: DoctorArgs) -> anyhow::Result<()> {
    let env = Environment::from_process().context("reading the working directory")?;
    let plan = config::resolve_doctor(&args, &env).map_err(imgpush::Error::from)?;
    let report = runtime()?.block_on(imgpush::doctor::run(&plan));
    let mut text = String::from("imgpush doctor\n");
    for (p, t) in &report.targets {
        text.push_str(&format!(
            "  platform {p} → Rust target {}\n",
            t.unwrap_or("(none)")
        ));
    }
    for c in &report.checks {
        match &c.status {
            CheckStatus::Ok(d) => text.push_str(&format!("  ok       {}: {d}\n", c.name)),
            CheckStatus::Info(d) => text.push_str(&format!("  info     {}: {d}\n", c.name)),
            CheckStatus::Missing { problem, fix } => text.push_str(&format!(
                "  MISSING  {}: {problem}\n           fix: {fix}\n",
                c.name
            )),
        }
    }
    print_result(text.trim_end())?;
    if report.healthy() {
        Ok(())
    } else {
        anyhow::bail!("some things a build needs are missing; run the `fix:` commands above")
    }
}

pub fn login(args: LoginArgs) -> anyhow::Result<()> {
    let env = Environment::from_process().context("reading the working directory")?;
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        env.imgpush_password
            .as_ref()
            .map(|p| p.expose().to_string())
            .context("no password: pipe it in with --password-stdin (or set IMGPUSH_PASSWORD)")?
    };
    anyhow::ensure!(!password.is_empty(), "the password is empty");
    // Only the file locations matter here, not a one-off credential.
    let mut env_files = env.clone();
    env_files.imgpush_username = None;
    env_files.imgpush_password = None;
    let store = env_files
        .credential_store(None, None)
        .map_err(imgpush::Error::from)?;
    let reporter = Arc::new(ui::StderrReporter::new(config::Verbosity::Normal));
    let path = runtime()?.block_on(imgpush::login::login(
        &store,
        &args.registry,
        &args.username,
        &password,
        args.insecure,
        &env.tls(&args.ca_certs),
        reporter,
    ))?;
    eprintln!(
        "imgpush: login succeeded; credentials for {} stored via {}",
        args.registry,
        path.display()
    );
    Ok(())
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let mut env = Environment::from_process().context("reading the working directory")?;
    env.imgpush_username = None;
    env.imgpush_password = None;
    let store = env
        .credential_store(None, None)
        .map_err(imgpush::Error::from)?;
    if imgpush::login::logout(&store, &args.registry)? {
        eprintln!("imgpush: removed the credentials for {}", args.registry);
    } else {
        eprintln!("imgpush: no credentials were stored for {}", args.registry);
    }
    Ok(())
}

pub fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let env = environment_with_cache(true)?;
    let plan = config::resolve_inspect(&args, &env).map_err(imgpush::Error::from)?;
    let reporter = Arc::new(ui::StderrReporter::new(Verbosity::from_count(
        args.registry.verbose,
    )));
    let inspection = runtime()?
        .block_on(imgpush::ops::inspect::inspect(&plan, reporter))
        .map_err(imgpush::Error::from)?;
    if args.raw {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(inspection.raw_bytes(plan.platform.is_some()))
            .and_then(|_| stdout.flush())
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .context("writing the manifest to stdout")
    } else if args.json {
        print_result(&serde_json::to_string_pretty(&inspection).expect("the output serializes"))
    } else {
        print_result(inspection.text().trim_end())
    }
}

/// Runs one library operation with a stderr reporter, then prints its `reference` line
/// (or, with `--json`, the whole result).
fn run_and_print<T, E, Fut>(
    verbose: u8,
    json: bool,
    op: impl FnOnce(Arc<dyn imgpush::report::Reporter>) -> Fut,
    reference: impl Fn(&T) -> &str,
) -> anyhow::Result<()>
where
    T: serde::Serialize,
    Fut: std::future::Future<Output = Result<T, E>>,
    imgpush::Error: From<E>,
{
    let reporter = Arc::new(ui::StderrReporter::new(Verbosity::from_count(verbose)));
    let out = runtime()?
        .block_on(op(reporter.clone()))
        .map_err(imgpush::Error::from)?;
    reporter.finish();
    if json {
        print_result(&serde_json::to_string_pretty(&out).expect("the output serializes"))
    } else {
        print_result(reference(&out))
    }
}

pub fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let env = environment_with_cache(true)?;
    let plan = config::resolve_copy(&args, &env).map_err(imgpush::Error::from)?;
    run_and_print(
        args.registry.verbose,
        args.json,
        |r| imgpush::ops::copy::copy(&plan, r),
        |out| &out.reference,
    )
}

pub fn index_create(args: IndexCreateArgs) -> anyhow::Result<()> {
    let env = environment_with_cache(true)?;
    let plan = config::resolve_index_create(&args, &env).map_err(imgpush::Error::from)?;
    run_and_print(
        args.registry.verbose,
        args.json,
        |r| imgpush::ops::index::create(&plan, r),
        |out| &out.reference,
    )
}

pub fn resolve(args: ResolveArgs) -> anyhow::Result<()> {
    use imgpush::ops::resolve as r;
    let env = environment_with_cache(true)?;
    let inputs: Vec<std::path::PathBuf> = args
        .files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                f.clone()
            } else {
                env.cwd.join(f)
            }
        })
        .collect();
    let documents = r::load(&inputs).map_err(imgpush::Error::from)?;
    let mut plans = std::collections::BTreeMap::new();
    for path in r::references(&documents) {
        let plan = config::resolve_reference(&args, &env, &path).map_err(|e| match e {
            config::ConfigError::Invalid { why, .. } if !env.cwd.join(&path).is_dir() => {
                imgpush::Error::from(r::missing_path(&documents, &path, &why))
            }
            other => imgpush::Error::from(other),
        })?;
        plans.insert(path, plan);
    }
    let reporter = Arc::new(ui::StderrReporter::new(Verbosity::from_count(
        args.registry.verbose,
    )));
    let resolved = runtime()?.block_on(imgpush::pipeline::build_each(&plans, reporter.clone()))?;
    let text = r::substitute(&documents, &resolved);
    reporter.finish();
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing the YAML to stdout")
        }
        _ => Ok(()),
    }
}
