//! `imgpush base lock` (re-resolve a package base and rewrite its lock) and `imgpush base
//! build` (publish a base by itself: generated in-process, then copied like any image).

use super::{CommandError, block_on};
use crate::base::{BaseError, debian, spec};
use crate::ops::copy::CopyOutput;
use crate::plan::{self, BaseBuildArgs, BaseLockArgs, CopyArgs, Environment};
use crate::report::Reporter;
use std::path::PathBuf;
use std::sync::Arc;

/// What `base lock` did.
#[derive(Debug, serde::Serialize)]
pub struct LockOutput {
    pub file: PathBuf,
    /// Packages per Debian architecture.
    pub packages: Vec<(String, usize)>,
    pub changed: bool,
}

/// The text of the embedded spec `name` (`imgpush base spec`).
pub fn spec_text(name: &str) -> Result<&'static str, CommandError> {
    spec::EMBEDDED
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, text, _)| *text)
        .ok_or_else(|| {
            CommandError::Base(format!(
                "unknown base `{name}` (known: {})",
                spec::names().join(", ")
            ))
        })
}

/// The spec file `imgpush base lock NAME|PATH.toml` works on.
fn spec_path(name: &str, env: &Environment) -> Result<PathBuf, CommandError> {
    if name.ends_with(".toml") {
        return Ok(env.cwd.join(name.strip_prefix("./").unwrap_or(name)));
    }
    let path = env.cwd.join("base-images").join(format!("{name}.toml"));
    if path.is_file() {
        return Ok(path);
    }
    let why = if spec::find(name).is_some() {
        format!(
            "`{name}` is embedded in imgpush; its lock is rewritten in imgpush's source tree \
             (run this in a checkout, where base-images/{name}.toml is). To lock your own \
             variant: imgpush base spec {name} > {name}.toml && imgpush base lock ./{name}.toml"
        )
    } else {
        format!(
            "no base-images/{name}.toml in {}; pass a spec file's path (PATH.toml)",
            env.cwd.display()
        )
    };
    Err(CommandError::Base(why))
}

pub fn lock(
    args: &BaseLockArgs,
    env: &Environment,
    reporter: Arc<dyn Reporter>,
) -> Result<LockOutput, CommandError> {
    let path = spec_path(&args.name, env)?;
    let (file, old) = spec::read_file(&path).map_err(|message| {
        crate::Error::from(BaseError::Spec {
            name: args.name.clone(),
            message,
        })
    })?;
    let debian = file.debian.as_ref().ok_or_else(|| {
        CommandError::Base(format!(
            "{} has no [debian] section: only package bases have a lock",
            path.display()
        ))
    })?;
    let overrides = debian::ArchiveOverrides::from_env();
    let name = args.name.as_str();
    let cache = env.cache_dir.as_ref().map(crate::cache::Cache::new);
    let lock = block_on(debian::lock(
        name,
        debian,
        path.parent(),
        &overrides,
        cache.as_ref(),
        reporter.as_ref(),
    ))?
    .map_err(|source| {
        crate::Error::from(BaseError::Debian {
            name: name.to_string(),
            source: Box::new(source),
        })
    })?;
    let lock_path = path.with_extension("lock");
    let shown = lock_path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let text = lock.render(if args.name.ends_with(".toml") {
        &args.name
    } else {
        &shown
    });
    let old_lock = old.as_deref().and_then(|t| debian::Lock::parse(t).ok());
    // A signed index older than the one the lock was made from is a replay or a stale
    // mirror: refuse it rather than move the lock back.
    if let Some(o) = &old_lock {
        for (new, was) in lock.repositories.iter().zip(&o.repositories) {
            let date = |d: &str| debian::release::parse_date(d).ok();
            if new.url == was.url
                && new.suite == was.suite
                && let (Some(n), Some(w)) = (date(&new.date), date(&was.date))
                && n < w
            {
                return Err(CommandError::Base(format!(
                    "{} ({}): the archive's signed index is dated {}, older than the {} the lock \
                     was made from: a stale mirror or a replayed index; use an up-to-date mirror",
                    new.suite, new.url, new.date, was.date
                )));
            }
        }
    }
    // Dates alone moving is no change: the same files resolve from a newer index.
    let changed = old_lock.as_ref().is_none_or(|o| {
        o.spec != lock.spec
            || o.packages != lock.packages
            || !o.same_repositories(&debian.repositories)
    });
    let mut packages: Vec<(String, usize)> = Vec::new();
    for p in &lock.packages {
        match packages.iter_mut().find(|(a, _)| *a == p.arch) {
            Some((_, n)) => *n += 1,
            None => packages.push((p.arch.clone(), 1)),
        }
    }
    if args.check {
        if changed {
            return Err(CommandError::Base(format!(
                "{} is out of date: the archive (or the spec) now resolves to other packages; \
                 run imgpush base lock {} to rewrite it",
                lock_path.display(),
                args.name
            )));
        }
    } else if changed {
        crate::publish::write_file_atomic(&lock_path, text.as_bytes()).map_err(|source| {
            crate::Error::from(BaseError::Io {
                path: lock_path.clone(),
                source,
            })
        })?;
    }
    Ok(LockOutput {
        file: lock_path,
        packages,
        changed,
    })
}

/// `imgpush base build`: one copy of the base per destination (the first generates it,
/// the others copy the pushed digest).
pub fn build(
    args: &BaseBuildArgs,
    env: &Environment,
    reporter: Arc<dyn Reporter>,
) -> Result<Vec<CopyOutput>, CommandError> {
    let is_package_base = args.name.ends_with(".toml")
        || spec::find(&args.name).is_some_and(|f| f.reference.is_none());
    if !is_package_base {
        return Err(CommandError::Base(match spec::find(&args.name) {
            Some(_) => format!(
                "`{}` stands for a registry image; copy it instead: imgpush copy {} DEST",
                args.name, args.name
            ),
            None => format!(
                "unknown base `{}` (known: {}); or pass a spec file PATH.toml",
                args.name,
                spec::names().join(", ")
            ),
        }));
    }
    let tags: Vec<String> = if args.tags.is_empty() {
        vec!["latest".to_string()]
    } else {
        args.tags.clone()
    };
    let mut dests = Vec::new();
    if let Some(repo) = &args.repo {
        dests.extend(tags.iter().map(|t| format!("{repo}:{t}")));
    }
    if let Some(dir) = &args.oci_layout {
        dests.extend(
            tags.iter()
                .map(|t| format!("oci-layout:{}:{t}", dir.display())),
        );
    }
    let mut out: Vec<CopyOutput> = Vec::new();
    for dest in dests {
        // After the first push to the registry, further tags copy that digest.
        let source = match out.first() {
            Some(first) if !dest.starts_with("oci-layout:") && args.repo.is_some() => {
                first.reference.clone()
            }
            _ => args.name.clone(),
        };
        let copy = CopyArgs {
            source,
            dest,
            jobs: args.jobs,
            creds: args.creds.clone(),
            registry: args.registry.clone(),
            ..CopyArgs::default()
        };
        let plan = plan::for_copy(&copy, env).map_err(crate::Error::from)?;
        out.push(
            block_on(crate::ops::copy::copy(&plan, reporter.clone()))?
                .map_err(crate::Error::from)?,
        );
    }
    Ok(out)
}
