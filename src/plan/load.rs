//! Each place settings come from → one [`LowSettings`], every value parsed here, once,
//! with its [`Origin`]: the `build` flags, the environment, an `imgpush.toml` or a Cargo
//! metadata table (both [`FileSettings`]), and the flags `resolve` shares with `build`.

use super::artifacts::{absolute_in_image, extra_file, parse_file_flag, parse_file_owner};
use super::file::{BuildStdSetting, FileSettings, Platforms};
use super::low::{Epoch, KeyValues, LowSettings, OutputFormat};
use super::origin::{Origin, Setting};
use super::values::{
    invalid, key_value, parse_base, parse_build_std, parse_builder, parse_compression,
    parse_expose, parse_libc, parse_owner, parse_platforms, parse_repo, parse_user,
};
use super::{BuildArgs, Environment, PlanError, RegistryArgs, ResolveArgs};
use crate::image::sbom::SbomFormat;
use crate::oci::Platform;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

type Result<T> = std::result::Result<T, PlanError>;

/// `Some(raw)` parsed by `parse` into a setting from `origin`; errors name `origin`/`key`.
fn load<R, T>(
    raw: Option<R>,
    origin: &Origin,
    key: &'static str,
    parse: impl FnOnce(R) -> Result<T>,
) -> Result<Option<Setting<T>>> {
    raw.map(|r| Setting::new(r, origin.clone()).parse(key, parse))
        .transpose()
}

fn each<T>(items: &[String], parse: impl Fn(&str) -> Result<T>) -> Result<Vec<T>> {
    items.iter().map(|i| parse(i)).collect()
}

fn non_empty<T>(v: &[T]) -> Option<&[T]> {
    (!v.is_empty()).then_some(v)
}

pub(crate) fn parse_epoch(s: &str) -> Result<Epoch> {
    let s = s.trim();
    if s == "git" {
        return Ok(Epoch::Git);
    }
    s.parse::<u64>().map(Epoch::Seconds).map_err(|_| {
        invalid(
            "--epoch",
            s,
            "must be a whole number of seconds since 1970, or `git`",
        )
    })
}

fn parse_format(s: &str) -> Result<OutputFormat> {
    match s {
        "oci" => Ok(OutputFormat::Oci),
        "docker" => Ok(OutputFormat::Docker),
        "docker-archive" => Ok(OutputFormat::DockerArchive),
        other => Err(invalid(
            "--format",
            other,
            "expected oci, docker or docker-archive",
        )),
    }
}

/// `REGISTRY/REPO`, or `none`.
fn parse_toolchain_cache(s: &str) -> Result<Option<crate::oci::Repository>> {
    match s.trim() {
        "none" => Ok(None),
        r => parse_repo(r)
            .map(Some)
            .map_err(|_| invalid("--toolchain-cache", s, "expected REGISTRY/REPO or none")),
    }
}

fn parse_sbom(s: &str) -> Result<Option<SbomFormat>> {
    match s {
        "none" => Ok(None),
        other => SbomFormat::parse(other)
            .map(Some)
            .ok_or_else(|| invalid("--sbom", other, "expected spdx, cyclonedx or none")),
    }
}

fn parse_provenance(s: &str) -> Result<bool> {
    match s {
        "slsa" => Ok(true),
        "none" => Ok(false),
        other => Err(invalid("--provenance", other, "expected slsa or none")),
    }
}

fn jobs(n: usize) -> Result<usize> {
    if n == 0 {
        return Err(invalid("--jobs", "0", "must be at least 1"));
    }
    Ok(n)
}

fn timeout(s: u64) -> Result<Duration> {
    if s == 0 {
        return Err(invalid("--timeout", "0", "must be at least 1 second"));
    }
    Ok(Duration::from_secs(s))
}

fn artifact_flag(a: &str, cwd: &Path) -> Result<(Platform, PathBuf)> {
    let (p, f) = a.split_once('=').ok_or_else(|| {
        invalid(
            "--artifact",
            a,
            "expected PLATFORM=FILE, e.g. linux/amd64=./hello",
        )
    })?;
    Ok((p.parse()?, cwd.join(f)))
}

fn flag_map(what: &'static str, flags: &[String]) -> Result<KeyValues> {
    let mut out = KeyValues::default();
    for f in flags {
        let (k, v) = key_value(what, f)?;
        out.set_in_order(k, v);
    }
    Ok(out)
}

/// The registry flags every image command shares.
fn registry_flags(r: &RegistryArgs, to: &mut LowSettings) -> Result<()> {
    let flag = Origin::Flag;
    to.insecure_registries = non_empty(&r.insecure_registries)
        .map(|v| Setting::new(v.to_vec(), flag("--insecure-registry")));
    to.ca_certs = r.ca_certs.clone();
    to.retries = r.retries.map(|n| Setting::new(n, flag("--retries")));
    to.timeout = load(r.timeout, &flag("--timeout"), "timeout", timeout)?;
    to.verbose = r.verbose;
    to.quiet = r.quiet;
    Ok(())
}

/// `imgpush build`'s flags. Relative paths are against the working directory.
pub fn from_build_flags(args: &BuildArgs, env: &Environment) -> Result<LowSettings> {
    let cwd = &env.cwd;
    let flag = Origin::Flag;
    let c = &args.cargo;
    let t = &c.toolchain;
    let mut s = LowSettings {
        // clap reads IMGPUSH_REPO into --repo; that value is the environment's layer.
        repo: load(
            args.repo
                .as_ref()
                .filter(|r| env.imgpush_repo.as_ref() != Some(*r)),
            &flag("--repo"),
            "repo",
            |r| parse_repo(r),
        )?,
        tags: non_empty(&args.tags).map(|t| Setting::new(t.to_vec(), flag("--tag"))),
        platforms: load(
            args.platform.as_ref(),
            &flag("--platform"),
            "platforms",
            |p| parse_platforms(&Platforms::One(p.clone())),
        )?,
        base: load(args.base.as_ref(), &flag("--base"), "base", |b| {
            parse_base(b, cwd)
        })?,
        artifacts: load(
            non_empty(&args.artifacts),
            &flag("--artifact"),
            "artifacts",
            |a| each(a, |a| artifact_flag(a, cwd)),
        )?,
        dest: load(args.dest.as_ref(), &flag("--dest"), "dest", |d| {
            absolute_in_image("--dest", d)
        })?,
        entrypoint: args
            .entrypoint
            .clone()
            .map(|e| Setting::new(e, flag("--entrypoint"))),
        cmd: args.cmd.clone().map(|e| Setting::new(e, flag("--cmd"))),
        env: flag_map("--env", &args.env)?,
        workdir: load(args.workdir.as_ref(), &flag("--workdir"), "workdir", |w| {
            absolute_in_image("--workdir", w)
        })?,
        user: load(args.user.as_ref(), &flag("--user"), "user", |u| {
            parse_user(u)
        })?,
        expose: load(non_empty(&args.expose), &flag("--expose"), "expose", |e| {
            each(e, parse_expose)
        })?,
        labels: flag_map("--label", &args.labels)?,
        annotations: flag_map("--annotation", &args.annotations)?,
        files: load(non_empty(&args.files), &flag("--file"), "files", |f| {
            each(f, |f| parse_file_flag(f, cwd))
        })?,
        bundle_dir: args
            .bundle_dir
            .as_ref()
            .map(|d| Setting::new(cwd.join(d), flag("--static"))),
        owner: load(args.owner.as_ref(), &flag("--owner"), "owner", |o| {
            parse_owner(o)
        })?,
        go: args.go.clone().map(|g| Setting::new(g, flag("--go"))),
        ldflags: args
            .ldflags
            .clone()
            .map(|l| Setting::new(l, flag("--ldflags"))),
        go_tags: args
            .go_tags
            .clone()
            .map(|l| Setting::new(l, flag("--tags"))),
        oci_layout: args
            .oci_layout
            .as_ref()
            .map(|d| Setting::new(cwd.join(d), flag("--oci-layout"))),
        tarball: args
            .tarball
            .as_ref()
            .map(|d| Setting::new(cwd.join(d), flag("--tarball"))),
        dist: args
            .dist
            .as_ref()
            .map(|d| Setting::new(cwd.join(d), flag("--dist"))),
        format: load(args.format.as_ref(), &flag("--format"), "format", |f| {
            parse_format(f)
        })?,
        sbom: load(args.sbom.as_ref(), &flag("--sbom"), "sbom", |s| {
            parse_sbom(s)
        })?,
        provenance: load(
            args.provenance.as_ref(),
            &flag("--provenance"),
            "provenance",
            |p| parse_provenance(p),
        )?,
        compression: load(
            args.compression.as_ref(),
            &flag("--compression"),
            "compression",
            |c| parse_compression(c),
        )?,
        epoch: load(args.epoch.as_ref(), &flag("--epoch"), "epoch", |e| {
            parse_epoch(e)
        })?,
        creds: args.creds.clone(),
        jobs: load(args.jobs, &flag("--jobs"), "jobs", jobs)?,
        json: args.json.then(|| Setting::new(true, flag("--json"))),
        no_cache: args.no_cache,
        features: non_empty(&c.features).map(|f| {
            Setting::new(
                f.iter()
                    .flat_map(|f| f.split([',', ' ']))
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect(),
                flag("--features"),
            )
        }),
        profile: c
            .profile
            .clone()
            .map(|p| Setting::new(p, flag("--profile"))),
        libc: load(t.libc.as_ref(), &flag("--libc"), "libc", |l| {
            parse_libc(Some(l))
        })?,
        glibc_version: c
            .glibc_version
            .clone()
            .map(|g| Setting::new(g, flag("--glibc-version"))),
        builder: load(t.builder.as_ref(), &flag("--builder"), "builder", |b| {
            parse_builder(Some(b))
        })?,
        build_std: load(
            t.build_std.as_ref(),
            &flag("--build-std"),
            "build-std",
            |b| parse_build_std(Some(b)),
        )?,
        toolchain_cache: load(
            c.toolchain_cache.as_ref(),
            &flag("--toolchain-cache"),
            "toolchain-cache",
            |r| parse_toolchain_cache(r),
        )?,
        cargo: super::low::CargoSelection {
            package: c.package.first().cloned(),
            bin: c.bin.clone(),
            manifest_path: c.manifest_path.as_ref().map(|m| cwd.join(m)),
            target_dir: c.target_dir.as_ref().map(|t| cwd.join(t)),
            all_features: c.all_features,
            no_default_features: c.no_default_features,
            locked: c.locked,
            offline: c.offline,
        },
        ..LowSettings::default()
    };
    registry_flags(&args.registry, &mut s)?;
    Ok(s)
}

/// The flags `imgpush resolve` applies to every image it builds (`--repo` there is a
/// prefix, not a setting: see [`super::ops::for_reference`]).
pub fn from_resolve_flags(args: &ResolveArgs, env: &Environment) -> Result<LowSettings> {
    let flag = Origin::Flag;
    let mut s = LowSettings {
        tags: non_empty(&args.tags).map(|t| Setting::new(t.to_vec(), flag("--tag"))),
        platforms: load(
            args.platform.as_ref(),
            &flag("--platform"),
            "platforms",
            |p| parse_platforms(&Platforms::One(p.clone())),
        )?,
        base: load(args.base.as_ref(), &flag("--base"), "base", |b| {
            parse_base(b, &env.cwd)
        })?,
        jobs: load(args.jobs, &flag("--jobs"), "jobs", jobs)?,
        ..LowSettings::default()
    };
    registry_flags(&args.registry, &mut s)?;
    Ok(s)
}

/// The `IMGPUSH_*` (and `SOURCE_DATE_EPOCH`) settings. `with_repo`: whether
/// `IMGPUSH_REPO` names this image's repository (not for `resolve`, where it is a prefix).
pub fn from_environment(env: &Environment, with_repo: bool) -> Result<LowSettings> {
    let var = Origin::Env;
    Ok(LowSettings {
        repo: load(
            env.imgpush_repo.as_ref().filter(|_| with_repo),
            &var("IMGPUSH_REPO"),
            "repo",
            |r| parse_repo(r),
        )?,
        epoch: load(
            env.source_date_epoch
                .as_ref()
                .filter(|s| !s.trim().is_empty()),
            &var("SOURCE_DATE_EPOCH"),
            "epoch",
            |e| parse_epoch(e),
        )?,
        toolchain_cache: load(
            env.toolchain_cache
                .as_ref()
                .filter(|s| !s.trim().is_empty()),
            &var("IMGPUSH_TOOLCHAIN_CACHE"),
            "toolchain-cache",
            |r| parse_toolchain_cache(r),
        )?,
        cache_max: load(
            env.cache_max_mb.as_ref(),
            &var("IMGPUSH_CACHE_MAX_MB"),
            "cache-max",
            |s| {
                s.trim()
                    .parse::<u64>()
                    .map(|mb| mb * 1024 * 1024)
                    .map_err(|_| {
                        invalid("IMGPUSH_CACHE_MAX_MB", s, "must be a whole number of MiB")
                    })
            },
        )?,
        ..LowSettings::default()
    })
}

/// A file's settings (`imgpush.toml` or a Cargo metadata table); relative paths are
/// against `dir`, the file's directory.
pub fn from_file(f: FileSettings, dir: &Path, origin: Origin) -> Result<LowSettings> {
    let o = &origin;
    // `bin` picks among a package's own binaries: only its [package.metadata.imgpush] says.
    load(f.bin, o, "bin", |b| match o {
        Origin::Cargo {
            workspace: false, ..
        } => Ok(b),
        _ => Err(super::values::invalid(
            "bin",
            &b,
            "`bin` belongs in the package's [package.metadata.imgpush] (or use --bin)",
        )),
    })?;
    let path = |p: String| -> Result<PathBuf> { Ok(dir.join(p)) };
    let table = |m: Option<BTreeMap<String, String>>| KeyValues::from_table(m.unwrap_or_default());
    Ok(LowSettings {
        repo: load(f.repo, o, "repo", |r| parse_repo(&r))?,
        tags: f.tags.map(|t| Setting::new(t, o.clone())),
        platforms: load(f.platforms, o, "platforms", |p| parse_platforms(&p))?,
        base: load(f.base, o, "base", |b| parse_base(&b, dir))?,
        artifacts: load(f.artifacts, o, "artifacts", |a| {
            a.into_iter()
                .map(|(p, file)| Ok((p.parse()?, dir.join(file))))
                .collect()
        })?,
        dest: load(f.dest, o, "dest", |d| absolute_in_image("--dest", &d))?,
        entrypoint: f.entrypoint.map(|e| Setting::new(e, o.clone())),
        cmd: f.cmd.map(|e| Setting::new(e, o.clone())),
        env: table(f.env),
        workdir: load(f.workdir, o, "workdir", |w| {
            absolute_in_image("--workdir", &w)
        })?,
        user: load(f.user, o, "user", |u| parse_user(&u))?,
        expose: load(f.expose, o, "expose", |e| each(&e, parse_expose))?,
        labels: table(f.labels),
        annotations: table(f.annotations),
        files: load(f.files, o, "files", |files| {
            files
                .iter()
                .map(|e| {
                    let src = dir.join(&e.src);
                    let given = src.to_string_lossy();
                    let owner = e
                        .owner
                        .as_deref()
                        .map(|o| match o.split_once(':') {
                            Some((uid, gid)) => parse_file_owner(&given, uid, gid),
                            None => Err(invalid(
                                "--file",
                                &given,
                                format!("owner `{o}`: expected numeric UID:GID, e.g. 1000:1000"),
                            )),
                        })
                        .transpose()?;
                    extra_file(&given, &src, &e.dest, e.mode.as_deref(), owner)
                })
                .collect()
        })?,
        bundle_dir: load(f.bundle_dir, o, "static", path)?,
        owner: load(f.owner, o, "owner", |w| parse_owner(&w))?,
        ldflags: f.ldflags.map(|l| Setting::new(l, o.clone())),
        go_tags: f.go_tags.map(|l| Setting::new(l, o.clone())),
        oci_layout: load(f.oci_layout, o, "oci-layout", path)?,
        tarball: load(f.tarball, o, "tarball", path)?,
        dist: load(f.dist, o, "dist", path)?,
        format: load(f.format, o, "format", |v| parse_format(&v))?,
        sbom: load(f.sbom, o, "sbom", |v| parse_sbom(&v))?,
        provenance: load(f.provenance, o, "provenance", |v| parse_provenance(&v))?,
        compression: load(f.compression, o, "compression", |c| parse_compression(&c))?,
        epoch: load(f.epoch, o, "epoch", |e| parse_epoch(&e))?,
        insecure_registries: f.insecure_registries.map(|i| Setting::new(i, o.clone())),
        jobs: load(f.jobs, o, "jobs", jobs)?,
        retries: f.retries.map(|r| Setting::new(r, o.clone())),
        timeout: load(f.timeout, o, "timeout", timeout)?,
        json: f.json.map(|j| Setting::new(j, o.clone())),
        features: f.features.map(|v| Setting::new(v, o.clone())),
        profile: f.profile.map(|v| Setting::new(v, o.clone())),
        libc: load(f.libc, o, "libc", |l| parse_libc(Some(&l)))?,
        glibc_version: f.glibc_version.map(|v| Setting::new(v, o.clone())),
        builder: load(f.builder, o, "builder", |b| parse_builder(Some(&b)))?,
        build_std: load(f.build_std, o, "build-std", |b| match b {
            BuildStdSetting::Flag(true) => Ok(super::BuildStd::Always),
            BuildStdSetting::Flag(false) => Ok(super::BuildStd::Never),
            BuildStdSetting::Word(w) => parse_build_std(Some(&w)),
        })?,
        toolchain_cache: load(f.toolchain_cache, o, "toolchain-cache", |r| {
            parse_toolchain_cache(&r)
        })?,
        ..LowSettings::default()
    })
}
