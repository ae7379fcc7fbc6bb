use super::file::Platforms;
use super::{
    BaseSpec, BuildArgs, ConfigError, DEFAULT_LAYOUT_DIR, FileConfig, Plan, PlatformRequest,
    PrebuiltArtifact, Verbosity,
};
use crate::image::ImageSettings;
use crate::oci::{Digest, Platform, Reference, Repository, reference::valid_tag};
use crate::registry::CredentialStore;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The parts of the process environment a plan depends on, read in one place.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    pub cwd: PathBuf,
    pub source_date_epoch: Option<String>,
    pub docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl Environment {
    pub fn from_process() -> std::io::Result<Environment> {
        Ok(Environment {
            cwd: std::env::current_dir()?,
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
            docker_config: std::env::var_os("DOCKER_CONFIG").map(PathBuf::from),
            home: std::env::var_os("HOME").map(PathBuf::from),
        })
    }

    fn credential_store(&self) -> CredentialStore {
        let dir = self
            .docker_config
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".docker")));
        CredentialStore {
            docker_config: dir.map(|d| d.join("config.json")),
        }
    }
}

fn invalid(what: &'static str, given: &str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        what,
        given: given.to_string(),
        why: why.into(),
    }
}

fn key_value(what: &'static str, s: &str) -> Result<(String, String), ConfigError> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        Some(_) => Err(invalid(what, s, "the name before `=` is empty")),
        None => Err(invalid(
            what,
            s,
            "expected K=V (for an empty value write K=)",
        )),
    }
}

/// Merges the file's map with K=V flags; a flag replaces the file's value for its key.
fn merged(
    what: &'static str,
    file: &Option<BTreeMap<String, String>>,
    flags: &[String],
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out: Vec<(String, String)> = file.clone().unwrap_or_default().into_iter().collect();
    for f in flags {
        let (k, v) = key_value(what, f)?;
        match out.iter_mut().find(|(ek, _)| *ek == k) {
            Some(e) => e.1 = v,
            None => out.push((k, v)),
        }
    }
    Ok(out)
}

fn absolute_in_image(what: &'static str, p: &str) -> Result<String, ConfigError> {
    if !p.starts_with('/') {
        return Err(invalid(
            what,
            p,
            "must be an absolute path in the image (start with /)",
        ));
    }
    if p.split('/').any(|c| c == "..") {
        return Err(invalid(what, p, "must not contain `..`"));
    }
    Ok(p.to_string())
}

fn parse_expose(p: &str) -> Result<String, ConfigError> {
    let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let port: u16 = port
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid("--expose", p, "the port must be a number from 1 to 65535"))?;
    let proto = proto.to_ascii_lowercase();
    if proto != "tcp" && proto != "udp" {
        return Err(invalid("--expose", p, "the protocol must be tcp or udp"));
    }
    Ok(format!("{port}/{proto}"))
}

fn parse_user(u: &str) -> Result<String, ConfigError> {
    let ok = !u.is_empty()
        && u.split(':').count() <= 2
        && u.split(':').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        });
    if ok {
        Ok(u.to_string())
    } else {
        Err(invalid(
            "--user",
            u,
            "expected UID[:GID] or a user name (e.g. 65532, 65532:65532, nonroot)",
        ))
    }
}

/// `--base` / `base =`: `oci-layout:DIR[:TAG|@DIGEST]`, a name from base-images/, or a
/// registry reference.
pub fn parse_base(s: &str, relative_to: &Path) -> Result<BaseSpec, ConfigError> {
    if let Some(rest) = s.strip_prefix("oci-layout:") {
        let (dir, tag, digest) = if let Some((dir, d)) = rest.split_once('@') {
            let digest: Digest = d
                .parse()
                .map_err(|e| invalid("--base", s, format!("{e}")))?;
            (dir, None, Some(digest))
        } else {
            match rest.rsplit_once(':') {
                Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => {
                    if !valid_tag(tag) {
                        return Err(invalid("--base", s, format!("`{tag}` is not a valid tag")));
                    }
                    (dir, Some(tag.to_string()), None)
                }
                _ => (rest, None, None),
            }
        };
        if dir.is_empty() {
            return Err(invalid("--base", s, "write oci-layout:DIR[:TAG]"));
        }
        return Ok(BaseSpec::Layout {
            dir: relative_to.join(dir),
            tag,
            digest,
        });
    }
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Ok(BaseSpec::Named(s.to_string()));
    }
    Ok(BaseSpec::Registry(s.parse::<Reference>()?))
}

fn parse_repo(s: &str) -> Result<Repository, ConfigError> {
    let last = s.rsplit('/').next().unwrap_or(s);
    if s.contains('@') || (s.contains('/') && last.contains(':')) {
        return Err(invalid(
            "--repo",
            s,
            "give the repository without tag or digest; tags go in --tag",
        ));
    }
    Ok(s.parse::<Repository>()?)
}

fn parse_platforms(spec: &Platforms) -> Result<PlatformRequest, ConfigError> {
    let items: Vec<String> = match spec {
        Platforms::One(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        Platforms::List(l) => l.clone(),
    };
    if items.len() == 1 && items[0] == "all" {
        return Ok(PlatformRequest::All);
    }
    let mut out: Vec<Platform> = Vec::new();
    for i in items.iter().filter(|i| !i.is_empty()) {
        let p: Platform = i.parse()?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(invalid("--platform", &items.join(","), "no platform given"));
    }
    Ok(PlatformRequest::List(out))
}

/// Combines flags, `imgpush.toml` and the environment into a [`Plan`].
pub fn resolve(args: &BuildArgs, env: &Environment) -> Result<Plan, ConfigError> {
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

    let platforms = match (&args.platform, &file.platforms) {
        (Some(p), _) => parse_platforms(&Platforms::One(p.clone()))?,
        (None, Some(p)) => parse_platforms(p)?,
        (None, None) => PlatformRequest::FromArtifacts,
    };

    // Artifacts: flags replace the file's table (paths relative to where each was written).
    let raw_artifacts: Vec<(String, PathBuf)> = if !args.artifacts.is_empty() {
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
        file.artifacts
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(p, f)| (p, file.relative(&f)))
            .collect()
    };
    if raw_artifacts.is_empty() {
        let what = if context.join("Cargo.toml").exists() || context.join("go.mod").exists() {
            format!(
                "{} holds a Cargo/Go project, but this version of imgpush only packages prebuilt files",
                context.display()
            )
        } else {
            "no --artifact given".to_string()
        };
        return Err(ConfigError::Nothing(what));
    }
    let dest_flag = args.dest.clone().or(file.dest.clone());
    let mut artifacts: Vec<PrebuiltArtifact> = Vec::new();
    for (p, path) in raw_artifacts {
        let platform: Platform = p.parse()?;
        let bad = |why: &str| ConfigError::Artifact {
            platform: platform.to_string(),
            path: path.clone(),
            why: why.to_string(),
        };
        let meta = std::fs::metadata(&path).map_err(|e| {
            bad(&if e.kind() == std::io::ErrorKind::NotFound {
                "no such file".to_string()
            } else {
                e.to_string()
            })
        })?;
        if meta.is_dir() {
            return Err(bad("is a directory; --artifact takes one file"));
        }
        if let Some(other) = artifacts.iter().find(|a| a.platform == platform) {
            return Err(ConfigError::Conflict(format!(
                "two artifacts for {platform}: {} and {}; give one file per platform",
                other.path.display(),
                path.display()
            )));
        }
        if let PlatformRequest::List(list) = &platforms
            && !list.contains(&platform)
        {
            return Err(ConfigError::Conflict(format!(
                "artifact {} is for {platform}, which is not among the requested platforms ({})",
                path.display(),
                list.iter()
                    .map(Platform::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let dest = match &dest_flag {
            Some(d) => absolute_in_image("--dest", d)?,
            None => format!(
                "/app/{}",
                path.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            ),
        };
        artifacts.push(PrebuiltArtifact {
            platform,
            path,
            dest,
        });
    }
    if let PlatformRequest::List(list) = &platforms {
        let missing: Vec<String> = list
            .iter()
            .filter(|p| !artifacts.iter().any(|a| &a.platform == *p))
            .map(|p| p.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(ConfigError::Conflict(format!(
                "no artifact for {}; add --artifact {}=FILE",
                missing.join(", "),
                missing[0]
            )));
        }
    }
    let dests: Vec<&str> = artifacts.iter().map(|a| a.dest.as_str()).collect();
    if dests.iter().any(|d| *d != dests[0]) {
        return Err(ConfigError::Conflict(format!(
            "the artifacts would land at different paths ({}); every platform should run the program from the same path — pass --dest, e.g. --dest /app/hello",
            dests.join(", ")
        )));
    }

    let env_vars = merged("--env", &file.env, &args.env)?;
    let labels: BTreeMap<String, String> = merged("--label", &file.labels, &args.labels)?
        .into_iter()
        .collect();
    let annotations: BTreeMap<String, String> =
        merged("--annotation", &file.annotations, &args.annotations)?
            .into_iter()
            .collect();
    let expose_raw = if args.expose.is_empty() {
        file.expose.clone().unwrap_or_default()
    } else {
        args.expose.clone()
    };
    let expose = expose_raw
        .iter()
        .map(|p| parse_expose(p))
        .collect::<Result<Vec<_>, _>>()?;
    let workdir = match args.workdir.clone().or(file.workdir.clone()) {
        Some(w) => Some(absolute_in_image("--workdir", &w)?),
        None => None,
    };
    let user = args
        .user
        .clone()
        .or(file.user.clone())
        .map(|u| parse_user(&u))
        .transpose()?;
    let entrypoint = args
        .entrypoint
        .clone()
        .or(file.entrypoint.clone())
        .or_else(|| Some(vec![artifacts[0].dest.clone()]));
    let cmd = args.cmd.clone().or(file.cmd.clone());

    let created = match &env.source_date_epoch {
        Some(s) if !s.trim().is_empty() => s.trim().parse::<u64>().map_err(|_| {
            invalid(
                "SOURCE_DATE_EPOCH",
                s,
                "must be a whole number of seconds since 1970",
            )
        })?,
        _ => 0,
    };

    let tags = if !args.tags.is_empty() {
        args.tags.clone()
    } else {
        file.tags
            .clone()
            .unwrap_or_else(|| vec!["latest".to_string()])
    };
    for t in &tags {
        if !valid_tag(t) {
            return Err(invalid(
                "--tag",
                t,
                "tags are up to 128 of A-Z a-z 0-9 _ . - and do not start with . or -",
            ));
        }
    }

    let repo = args
        .repo
        .clone()
        .or(file.repo.clone())
        .map(|r| parse_repo(&r))
        .transpose()?;
    let base = match (&args.base, &file.base) {
        (Some(b), _) => parse_base(b, &env.cwd)?,
        (None, Some(b)) => parse_base(b, &file.dir)?,
        (None, None) => BaseSpec::Named("static".to_string()),
    };
    let oci_layout = match (&args.oci_layout, &file.oci_layout) {
        (Some(d), _) => Some(env.cwd.join(d)),
        (None, Some(d)) => Some(file.relative(d)),
        (None, None) if repo.is_none() => Some(env.cwd.join(DEFAULT_LAYOUT_DIR)),
        (None, None) => None,
    };
    let mut insecure = file.insecure_registries.clone().unwrap_or_default();
    insecure.extend(args.insecure_registries.iter().cloned());
    let jobs = args.jobs.or(file.jobs).unwrap_or(4);
    if jobs == 0 {
        return Err(invalid("--jobs", "0", "must be at least 1"));
    }

    Ok(Plan {
        context,
        platforms,
        base,
        artifacts,
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
        insecure_registries: insecure,
        credentials: env.credential_store(),
        work_dir: None,
        jobs,
        json: args.json || file.json.unwrap_or(false),
        verbosity: match args.verbose {
            0 => Verbosity::Normal,
            1 => Verbosity::Verbose,
            _ => Verbosity::Trace,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(plan.repo.unwrap().path, "from/file");
        assert_eq!(plan.tags, vec!["v2"]);
        assert_eq!(
            plan.image.env,
            vec![("A".into(), "1".into()), ("B".into(), "3".into())]
        );
        assert_eq!(plan.artifacts[0].dest, "/bin/hello");
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
        assert_eq!(plan.artifacts[0].dest, "/app/hello-arm64");
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
