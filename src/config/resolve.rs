use super::artifacts::{self, absolute_in_image};
use super::cargo::{self, CargoProject};
use super::file::{BuildStdSetting, Platforms};
use super::go;
use super::values::{
    expand_tag, invalid, merged, parse_base, parse_build_std, parse_builder, parse_expose,
    parse_libc, parse_owner, parse_platforms, parse_repo, parse_user,
};
use super::{
    BaseSpec, BuildArgs, BuildStd, CargoPlan, ConfigError, DEFAULT_LAYOUT_DIR, Environment,
    ExtraFile, FileConfig, Plan, PlatformRequest, RegistryArgs, RegistrySettings, Source, Tarball,
    TarballKind, Verbosity,
};
use crate::image::{ImageFormat, ImageSettings};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn cargo_plan(
    args: &BuildArgs,
    settings: &FileConfig,
    project: &CargoProject,
) -> Result<CargoPlan, ConfigError> {
    let c = &args.cargo;
    let libc = parse_libc(c.toolchain.libc.as_deref().or(settings.libc.as_deref()))?;
    let builder = parse_builder(
        c.toolchain
            .builder
            .as_deref()
            .or(settings.builder.as_deref()),
    )?;
    let build_std = match (&c.toolchain.build_std, &settings.build_std) {
        (Some(s), _) | (None, Some(BuildStdSetting::Word(s))) => parse_build_std(Some(s))?,
        (None, Some(BuildStdSetting::Flag(true))) => BuildStd::Always,
        (None, Some(BuildStdSetting::Flag(false))) => BuildStd::Never,
        (None, None) => BuildStd::Auto,
    };
    let features: Vec<String> = if c.features.is_empty() {
        settings.features.clone().unwrap_or_default()
    } else {
        c.features
            .iter()
            .flat_map(|f| f.split([',', ' ']))
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect()
    };
    Ok(CargoPlan {
        manifest_path: project.manifest_path.clone(),
        package: project.package.clone(),
        version: project.version.clone(),
        bin: project.bin.clone(),
        features,
        all_features: c.all_features,
        no_default_features: c.no_default_features,
        profile: c
            .profile
            .clone()
            .or(settings.profile.clone())
            .unwrap_or_else(|| "release".into()),
        locked: c.locked,
        offline: c.offline,
        target_dir: project.target_dir.clone(),
        libc,
        glibc_version: c
            .glibc_version
            .clone()
            .or(settings.glibc_version.clone())
            .unwrap_or_else(|| "2.17".into()),
        builder,
        build_std,
    })
}

/// Registry access settings from the registry flags (already merged with file settings)
/// plus the environment. `--creds` (or IMGPUSH_USERNAME/PASSWORD) apply to `target` only.
pub(crate) fn registry_settings(
    env: &Environment,
    flags: &RegistryArgs,
    target: Option<&str>,
    creds: Option<&str>,
    cache: Option<PathBuf>,
) -> Result<RegistrySettings, ConfigError> {
    Ok(RegistrySettings {
        cache,
        insecure_registries: flags.insecure_registries.clone(),
        tls: env.tls(&flags.ca_certs),
        credentials: env.credential_store(target, creds)?,
        retries: flags.retries.unwrap_or(crate::registry::DEFAULT_RETRIES),
        read_timeout: match flags.timeout {
            Some(0) => return Err(invalid("--timeout", "0", "must be at least 1 second")),
            Some(s) => std::time::Duration::from_secs(s),
            None => crate::registry::DEFAULT_READ_TIMEOUT,
        },
    })
}

/// `--epoch` / `SOURCE_DATE_EPOCH`: seconds since 1970, or `git` (the last commit's
/// committer time in `dir`).
fn parse_epoch(what: &'static str, s: &str, dir: &Path) -> Result<u64, ConfigError> {
    let s = s.trim();
    if s == "git" {
        let out = std::process::Command::new("git")
            .args(["log", "-1", "--format=%ct"])
            .current_dir(dir)
            .output()
            .map_err(|e| invalid(what, s, format!("cannot run git: {e}")))?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        return text.parse().map_err(|_| {
            invalid(
                what,
                s,
                format!(
                    "{} is not in a git repository with commits (git says: {})",
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            )
        });
    }
    s.parse::<u64>().map_err(|_| {
        invalid(
            what,
            s,
            "must be a whole number of seconds since 1970, or `git`",
        )
    })
}

/// `--compression gzip[:LEVEL]|zstd[:LEVEL]`.
fn parse_compression(s: Option<&str>) -> Result<crate::layer::Compression, ConfigError> {
    use crate::layer::Compression;
    let Some(s) = s else {
        return Ok(Compression::default());
    };
    let (name, level) = match s.split_once(':') {
        Some((n, l)) => (n, Some(l)),
        None => (s, None),
    };
    let level = |range: std::ops::RangeInclusive<i64>, default: i64| -> Result<i64, ConfigError> {
        match level {
            None => Ok(default),
            Some(l) => l
                .parse::<i64>()
                .ok()
                .filter(|l| range.contains(l))
                .ok_or_else(|| {
                    invalid(
                        "--compression",
                        s,
                        format!("the level must be {}-{}", range.start(), range.end()),
                    )
                }),
        }
    };
    match name {
        "gzip" => Ok(Compression::Gzip {
            level: level(1..=9, 3)? as u32,
        }),
        "zstd" => Ok(Compression::Zstd {
            level: level(1..=19, 3)? as i32,
        }),
        _ => Err(invalid(
            "--compression",
            s,
            "expected gzip[:LEVEL] or zstd[:LEVEL]",
        )),
    }
}

/// `IMGPUSH_CACHE_MAX_MB`, in bytes.
fn cache_max(env: &Environment) -> Result<u64, ConfigError> {
    match &env.cache_max_mb {
        None => Ok(crate::cache::DEFAULT_MAX_BYTES),
        Some(s) => s
            .trim()
            .parse::<u64>()
            .map(|mb| mb * 1024 * 1024)
            .map_err(|_| invalid("IMGPUSH_CACHE_MAX_MB", s, "must be a whole number of MiB")),
    }
}

/// `--format`: the media types, and whether the tarball is a docker-archive.
fn parse_format(s: Option<&str>) -> Result<(ImageFormat, bool), ConfigError> {
    match s {
        None | Some("oci") => Ok((ImageFormat::Oci, false)),
        Some("docker") => Ok((ImageFormat::Docker, false)),
        Some("docker-archive") => Ok((ImageFormat::Oci, true)),
        Some(other) => Err(invalid(
            "--format",
            other,
            "expected oci, docker or docker-archive",
        )),
    }
}

/// A short image name when there is no repository: the binary's (or bundle's) file name.
pub(crate) fn image_name(source: &Source, dest: &str) -> String {
    let name = match source {
        Source::Cargo(c) => c.bin.clone(),
        Source::Go(g) => g.name.clone(),
        _ => dest
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or("image")
            .to_string(),
    };
    repo_component(&name)
}

/// A name made fit for a repository path component: lowercase, other characters `-`.
pub(crate) fn repo_component(name: &str) -> String {
    name.to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Combines flags, `imgpush.toml`, Cargo metadata and the environment into a [`Plan`].
pub fn resolve(args: &BuildArgs, env: &Environment) -> Result<Plan, ConfigError> {
    resolve_with(args, env, None)
}

/// [`resolve`], with a repository for when neither the flags nor the settings name one
/// (`imgpush resolve --repo PREFIX` gives PREFIX/<name>).
pub(crate) fn resolve_with(
    args: &BuildArgs,
    env: &Environment,
    default_repo: Option<String>,
) -> Result<Plan, ConfigError> {
    let tools = env.tools();
    let context = match &args.path {
        Some(p) => env.cwd.join(p),
        None => env.cwd.clone(),
    };
    if !context.is_dir() {
        return Err(invalid(
            "PATH",
            &context.display().to_string(),
            "is not a directory",
        ));
    }
    let file = FileConfig::load(&context)?;
    // What to build, most explicit first: --static, --go, artifacts, a Cargo project, a Go
    // main package in PATH.
    let static_dir = args
        .static_dir
        .as_ref()
        .map(|d| env.cwd.join(d))
        .or(file.static_dir.as_ref().map(PathBuf::from));
    let go_import = args.go.clone();
    let explicit = static_dir.is_some()
        || go_import.is_some()
        || !args.artifacts.is_empty()
        || file.artifacts.is_some();
    let project = match cargo::manifest_for(&args.cargo, &context, env) {
        Some(manifest) if !explicit => Some(cargo::load(&args.cargo, &manifest, env, &tools)?),
        _ => None,
    };
    let settings = match &project {
        Some(p) => file.over(p.settings.clone()),
        None => file,
    };

    let platforms = match (&args.platform, &settings.platforms) {
        (Some(p), _) => parse_platforms(&Platforms::One(p.clone()))?,
        (None, Some(p)) => parse_platforms(p)?,
        // Builds and bundles default to the two platforms nearly everyone ships.
        (None, None)
            if project.is_some() || static_dir.is_some() || go_import.is_some() || !explicit =>
        {
            PlatformRequest::List(vec!["linux/amd64".parse()?, "linux/arm64".parse()?])
        }
        (None, None) => PlatformRequest::FromArtifacts,
    };

    let dest_flag = args.dest.clone().or(settings.dest.clone());
    let ldflags = args.ldflags.clone().or(settings.ldflags.clone());
    let go_tags = args.go_tags.clone().or(settings.go_tags.clone());
    let mut go_package_dir: Option<PathBuf> = None;
    let mut bundle: Option<ExtraFile> = None;
    let source = if let Some(dir) = &static_dir {
        let dest = dest_flag.as_deref().ok_or_else(|| {
            invalid(
                "--static",
                &dir.display().to_string(),
                "needs --dest: where the bundle goes, e.g. --dest /usr/share/nginx/html",
            )
        })?;
        if !dir.is_dir() {
            return Err(invalid(
                "--static",
                &dir.display().to_string(),
                if dir.exists() {
                    "is not a directory; --static takes a directory (use --file for a single file)"
                } else {
                    "does not exist"
                },
            ));
        }
        let owner = match args.owner.as_deref().or(settings.owner.as_deref()) {
            Some(o) => parse_owner(o)?,
            None => (0, 0),
        };
        bundle = Some(ExtraFile {
            source: dir.clone(),
            dest: absolute_in_image("--dest", dest)?,
            mode: None,
            owner,
        });
        Source::Static
    } else if let Some(import) = &go_import {
        let g = go::from_import_path(import, &context, ldflags, go_tags)?;
        go_package_dir = g.package_dir;
        Source::Go(g.plan)
    } else if let Some(p) = &project {
        Source::Cargo(Box::new(cargo_plan(args, &settings, p)?))
    } else if !args.artifacts.is_empty() || settings.artifacts.is_some() {
        let raw: Vec<(String, PathBuf)> = if !args.artifacts.is_empty() {
            args.artifacts
                .iter()
                .map(|a| {
                    let (p, f) = a.split_once('=').ok_or_else(|| {
                        invalid(
                            "--artifact",
                            a,
                            "expected PLATFORM=FILE, e.g. linux/amd64=./hello",
                        )
                    })?;
                    Ok((p.to_string(), env.cwd.join(f)))
                })
                .collect::<Result<_, ConfigError>>()?
        } else {
            settings
                .artifacts
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(p, f)| (p, PathBuf::from(f)))
                .collect()
        };
        Source::Prebuilt(artifacts::prebuilt(raw, &platforms, dest_flag.as_deref())?)
    } else if let Some(g) = go::detect(&context, ldflags, go_tags)? {
        go_package_dir = g.package_dir;
        Source::Go(g.plan)
    } else {
        return Err(ConfigError::Nothing(format!(
            "no --artifact, --static or --go given, and {} holds no Cargo.toml or Go main package",
            context.display()
        )));
    };
    let dest = match &source {
        Source::Prebuilt(a) => a[0].dest.clone(),
        Source::Static => bundle.as_ref().map(|b| b.dest.clone()).unwrap_or_default(),
        Source::Cargo(_) | Source::Go(_) => match &dest_flag {
            Some(d) => absolute_in_image("--dest", d)?,
            None => format!(
                "/app/{}",
                match &source {
                    Source::Cargo(c) => c.bin.clone(),
                    Source::Go(g) => g.name.clone(),
                    _ => unreachable!(),
                }
            ),
        },
    };

    let mut files: Vec<ExtraFile> = Vec::new();
    if !args.files.is_empty() {
        for f in &args.files {
            files.push(artifacts::parse_file_flag(f, &env.cwd)?);
        }
    } else {
        for f in settings.files.clone().unwrap_or_default() {
            files.push(artifacts::extra_file(
                &f.src,
                Path::new(&f.src),
                &f.dest,
                f.mode.as_deref(),
            )?);
        }
    }

    // ko's convention: kodata/ next to the main package is shipped at /var/run/ko, and
    // KO_DATA_PATH says where.
    let mut settings_env = settings.env.clone().unwrap_or_default();
    if let Some(kodata) = go_package_dir
        .map(|d| d.join("kodata"))
        .filter(|k| k.is_dir())
    {
        files.push(ExtraFile {
            source: kodata,
            dest: "/var/run/ko".into(),
            mode: None,
            owner: (0, 0),
        });
        settings_env
            .entry("KO_DATA_PATH".into())
            .or_insert_with(|| "/var/run/ko".into());
    }
    let env_vars = merged("--env", &Some(settings_env), &args.env)?;
    // Crate labels < settings < flags.
    let mut label_base: BTreeMap<String, String> = project
        .as_ref()
        .map(|p| p.labels.clone())
        .unwrap_or_default();
    label_base.extend(settings.labels.clone().unwrap_or_default());
    let labels: BTreeMap<String, String> = merged("--label", &Some(label_base), &args.labels)?
        .into_iter()
        .collect();
    let annotations: BTreeMap<String, String> =
        merged("--annotation", &settings.annotations, &args.annotations)?
            .into_iter()
            .collect();
    let expose_raw = if args.expose.is_empty() {
        settings.expose.clone().unwrap_or_default()
    } else {
        args.expose.clone()
    };
    let expose = expose_raw
        .iter()
        .map(|p| parse_expose(p))
        .collect::<Result<Vec<_>, _>>()?;
    let workdir = match args.workdir.clone().or(settings.workdir.clone()) {
        Some(w) => Some(absolute_in_image("--workdir", &w)?),
        None => None,
    };
    let user = args
        .user
        .clone()
        .or(settings.user.clone())
        .map(|u| parse_user(&u))
        .transpose()?;
    let entrypoint = args
        .entrypoint
        .clone()
        .or(settings.entrypoint.clone())
        // A bundle keeps the base's entrypoint (nginx stays nginx).
        .or_else(|| (!matches!(source, Source::Static)).then(|| vec![dest.clone()]));
    let cmd = args.cmd.clone().or(settings.cmd.clone());

    let created = match (&args.epoch, &settings.epoch, &env.source_date_epoch) {
        (Some(e), _, _) | (None, Some(e), _) => parse_epoch("--epoch", e, &context)?,
        (None, None, Some(s)) if !s.trim().is_empty() => {
            parse_epoch("SOURCE_DATE_EPOCH", s, &context)?
        }
        _ => 0,
    };
    let compression = parse_compression(
        args.compression
            .as_deref()
            .or(settings.compression.as_deref()),
    )?;
    let cache = (!args.no_cache).then(|| tools.cache_dir.clone());

    let raw_tags = if !args.tags.is_empty() {
        args.tags.clone()
    } else {
        settings
            .tags
            .clone()
            .unwrap_or_else(|| vec!["latest".to_string()])
    };
    let version = project.as_ref().map(|p| p.version.as_str());
    let git_sha = project.as_ref().and_then(|p| p.git_sha.as_deref());
    let tags = raw_tags
        .iter()
        .map(|t| expand_tag(t, version, git_sha))
        .collect::<Result<Vec<_>, _>>()?;

    let repo = args
        .repo
        .clone()
        .or(settings.repo.clone())
        .or(default_repo)
        .map(|r| parse_repo(&r))
        .transpose()?;
    let base = match (&args.base, &settings.base) {
        (Some(b), _) => parse_base(b, &env.cwd)?,
        // Paths in settings were made absolute when loaded.
        (None, Some(b)) => parse_base(b, &env.cwd)?,
        (None, None) => BaseSpec::Named("static".to_string()),
    };
    let default_layout = match &source {
        Source::Cargo(c) => c.target_dir.join("imgpush").join(&c.bin),
        _ => env.cwd.join(DEFAULT_LAYOUT_DIR),
    };
    let (format, docker_archive) =
        parse_format(args.format.as_deref().or(settings.format.as_deref()))?;
    let tarball_path = match (&args.tarball, &settings.tarball) {
        (Some(t), _) => Some(env.cwd.join(t)),
        (None, Some(t)) => Some(PathBuf::from(t)),
        (None, None) => None,
    };
    let tarball = match (tarball_path, docker_archive) {
        (None, true) => {
            return Err(ConfigError::Conflict(
                "--format docker-archive describes the --tarball FILE; give --tarball too".into(),
            ));
        }
        (None, false) => None,
        (Some(path), false) => Some(Tarball {
            path,
            kind: TarballKind::OciArchive,
        }),
        (Some(path), true) => {
            let count = match (&platforms, &source) {
                (PlatformRequest::List(l), _) => Some(l.len()),
                (PlatformRequest::FromArtifacts, Source::Prebuilt(a)) => Some(a.len()),
                _ => None,
            };
            if let Some(n) = count
                && n != 1
            {
                return Err(ConfigError::Conflict(format!(
                    "--format docker-archive holds one platform, but {n} are requested; choose one with --platform (e.g. --platform linux/amd64)"
                )));
            }
            let name = match &repo {
                Some(r) => r.to_string(),
                None => format!("localhost/{}", image_name(&source, &dest)),
            };
            Some(Tarball {
                path,
                kind: TarballKind::DockerArchive {
                    repo_tags: tags.iter().map(|t| format!("{name}:{t}")).collect(),
                },
            })
        }
    };
    if format == ImageFormat::Docker
        && matches!(compression, crate::layer::Compression::Zstd { .. })
    {
        return Err(ConfigError::Conflict(
            "--compression zstd: Docker schema2 (--format docker) has no zstd layer type; use gzip, or the default OCI format".into(),
        ));
    }
    if format == ImageFormat::Docker && !annotations.is_empty() {
        return Err(ConfigError::Conflict(
            "--annotation: Docker schema2 manifests (--format docker) have no annotations; use --label, or the default OCI format".into(),
        ));
    }
    let oci_layout = match (&args.oci_layout, &settings.oci_layout) {
        (Some(d), _) => Some(env.cwd.join(d)),
        (None, Some(d)) => Some(PathBuf::from(d)),
        (None, None) if repo.is_none() && tarball.is_none() => Some(default_layout),
        (None, None) => None,
    };
    let repo_registry = repo.as_ref().map(|r| r.registry.clone());
    let mut insecure = settings.insecure_registries.clone().unwrap_or_default();
    insecure.extend(args.registry.insecure_registries.iter().cloned());
    let jobs = args.jobs.or(settings.jobs).unwrap_or(4);
    if jobs == 0 {
        return Err(invalid("--jobs", "0", "must be at least 1"));
    }

    Ok(Plan {
        platforms,
        base,
        source,
        dest,
        bundle,
        files,
        tools,
        image: ImageSettings {
            entrypoint,
            cmd,
            env: env_vars,
            workdir,
            user,
            expose,
            labels,
            annotations,
            created,
        },
        repo,
        tags,
        oci_layout,
        tarball,
        format,
        registry: registry_settings(
            env,
            &RegistryArgs {
                insecure_registries: insecure,
                retries: args.registry.retries.or(settings.retries),
                timeout: args.registry.timeout.or(settings.timeout),
                ..args.registry.clone()
            },
            repo_registry.as_deref(),
            args.creds.as_deref(),
            cache.clone(),
        )?,
        jobs,
        compression,
        cache,
        cache_max: cache_max(env)?,
        json: args.json || settings.json.unwrap_or(false),
        verbosity: Verbosity::from_count(args.registry.verbose),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prebuilt(plan: &Plan) -> &[crate::config::PrebuiltArtifact] {
        match &plan.source {
            Source::Prebuilt(a) => a,
            other => panic!("expected prebuilt artifacts, got {other:?}"),
        }
    }

    #[test]
    fn tag_templates() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            expand_tag("v{version}-{git_short_sha}", Some("1.2.3+meta"), Some(sha)).unwrap(),
            "v1.2.3-meta-0123456789ab"
        );
        assert_eq!(expand_tag("{git_sha}", None, Some(sha)).unwrap(), sha);
        assert!(
            expand_tag("{version}", None, None)
                .unwrap_err()
                .to_string()
                .contains("Cargo package")
        );
        assert!(
            expand_tag("{git_sha}", Some("1"), None)
                .unwrap_err()
                .to_string()
                .contains("git checkout")
        );
    }

    fn setup() -> (tempfile::TempDir, Environment) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hello-amd64"), b"x").unwrap();
        std::fs::write(dir.path().join("hello-arm64"), b"x").unwrap();
        let env = Environment {
            cwd: dir.path().to_path_buf(),
            ..Default::default()
        };
        (dir, env)
    }

    fn args(list: &[&str]) -> BuildArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            build: BuildArgs,
        }
        Cli::try_parse_from(std::iter::once("imgpush").chain(list.iter().copied()))
            .unwrap()
            .build
    }

    #[test]
    fn flags_override_the_file() {
        let (dir, env) = setup();
        std::fs::write(
            dir.path().join("imgpush.toml"),
            "repo = \"127.0.0.1:5000/from/file\"\ntags = [\"v1\"]\ndest = \"/bin/hello\"\n[artifacts]\n\"linux/amd64\" = \"hello-amd64\"\n[env]\nA = \"1\"\nB = \"2\"\n",
        )
        .unwrap();
        let plan = resolve(&args(&["--env", "B=3", "--tag", "v2"]), &env).unwrap();
        assert_eq!(plan.repo.as_ref().unwrap().path, "from/file");
        assert_eq!(plan.tags, vec!["v2"]);
        assert_eq!(
            plan.image.env,
            vec![("A".into(), "1".into()), ("B".into(), "3".into())]
        );
        assert_eq!(prebuilt(&plan)[0].dest, "/bin/hello");
        assert_eq!(plan.image.entrypoint, Some(vec!["/bin/hello".to_string()]));
        assert_eq!(plan.oci_layout, None);
    }

    #[test]
    fn unknown_key_in_file_is_an_error() {
        let (dir, env) = setup();
        std::fs::write(dir.path().join("imgpush.toml"), "repoo = \"x\"\n").unwrap();
        let err = resolve(&args(&["--artifact", "linux/amd64=hello-amd64"]), &env).unwrap_err();
        assert!(
            err.to_string().contains("imgpush.toml") && format!("{err}").contains("repoo"),
            "{err}"
        );
    }

    #[test]
    fn bad_inputs() {
        let (_dir, env) = setup();
        let cases: &[(&[&str], &str)] = &[
            (&["--artifact", "linux/amd64=missing"], "no such file"),
            (&["--artifact", "linux/amd64=."], "is a directory"),
            (
                &[
                    "--artifact",
                    "linux/amd64=hello-amd64",
                    "--artifact",
                    "linux/amd64=hello-arm64",
                ],
                "two artifacts",
            ),
            (
                &[
                    "--platform",
                    "linux/arm64",
                    "--artifact",
                    "linux/amd64=hello-amd64",
                ],
                "not among the requested",
            ),
            (
                &[
                    "--platform",
                    "linux/amd64,linux/arm64",
                    "--artifact",
                    "linux/amd64=hello-amd64",
                    "--dest",
                    "/a",
                ],
                "no artifact for linux/arm64",
            ),
            (&["--artifact", "linux/amd65=hello-amd64"], "amd65"),
            (&["--artifact", "arm64=hello-arm64"], "not a platform"),
            (
                &["--artifact", "linux/amd64=hello-amd64", "--env", "NOEQUALS"],
                "expected K=V",
            ),
            (
                &[
                    "--artifact",
                    "linux/amd64=hello-amd64",
                    "--repo",
                    "127.0.0.1:5000/App",
                ],
                "lower-case",
            ),
            (
                &[
                    "--artifact",
                    "linux/amd64=hello-amd64",
                    "--repo",
                    "127.0.0.1:5000/app:v1",
                ],
                "tags go in --tag",
            ),
            (
                &[
                    "--artifact",
                    "linux/amd64=hello-amd64",
                    "--artifact",
                    "linux/arm64=hello-arm64",
                ],
                "different paths",
            ),
            (
                &["--artifact", "linux/amd64=hello-amd64", "--expose", "99999"],
                "1 to 65535",
            ),
            (
                &["--artifact", "linux/amd64=hello-amd64", "--workdir", "rel"],
                "absolute",
            ),
            (&[], "nothing to build"),
            (
                &["--artifact", "linux/amd64=hello-amd64", "--file", "nope:/x"],
                "does not exist",
            ),
            (
                &[
                    "--artifact",
                    "linux/amd64=hello-amd64",
                    "--file",
                    "hello-arm64:/x:999",
                ],
                "octal mode",
            ),
        ];
        for (list, expected) in cases {
            let err = resolve(&args(list), &env).expect_err(&format!("{list:?} should fail"));
            assert!(
                err.to_string().contains(expected),
                "{list:?}: `{err}` lacks `{expected}`"
            );
        }
    }

    #[test]
    fn defaults() {
        let (dir, env) = setup();
        let plan = resolve(&args(&["--artifact", "linux/arm64=hello-arm64"]), &env).unwrap();
        assert_eq!(plan.platforms, PlatformRequest::FromArtifacts);
        assert_eq!(plan.base, BaseSpec::Named("static".into()));
        assert_eq!(plan.tags, vec!["latest"]);
        assert_eq!(plan.oci_layout, Some(dir.path().join(DEFAULT_LAYOUT_DIR)));
        assert_eq!(prebuilt(&plan)[0].dest, "/app/hello-arm64");
        assert_eq!(plan.image.created, 0);
    }

    #[test]
    fn base_forms() {
        let here = Path::new("/w");
        assert_eq!(
            parse_base("static", here).unwrap(),
            BaseSpec::Named("static".into())
        );
        assert_eq!(
            parse_base("oci-layout:out:v1", here).unwrap(),
            BaseSpec::Layout {
                dir: "/w/out".into(),
                tag: Some("v1".into()),
                digest: None
            }
        );
        assert!(matches!(
            parse_base("127.0.0.1:5000/base/busybox:1", here).unwrap(),
            BaseSpec::Registry(_)
        ));
        assert!(matches!(
            parse_base("alpine:3", here).unwrap(),
            BaseSpec::Registry(_)
        ));
    }
}
