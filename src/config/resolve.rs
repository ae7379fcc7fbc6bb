//! Flags + `imgpush.toml` + Cargo metadata + environment → a [`Plan`] for `imgpush build`.
//! Each part is decided in its own module: what to build ([`super::source`]), the image
//! config ([`super::image_settings`]), where it goes ([`super::outputs`]) and how to reach
//! registries ([`super::registry`]); this file puts them together.

use super::image_settings::image_settings;
use super::outputs::outputs;
use super::registry::registry_settings;
use super::source::resolve_source;
use super::values::{invalid, parse_base};
use super::{
    BaseSpec, BuildArgs, ConfigError, Environment, FileConfig, Plan, RegistryArgs, Secret,
    Verbosity,
};

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
    let built = resolve_source(args, env, &context, file, &tools)?;
    let image = image_settings(args, env, &context, &built)?;
    let out = outputs(
        args,
        env,
        &tools,
        &built,
        !image.annotations.is_empty(),
        default_repo,
    )?;
    let settings = &built.settings;
    let base = match args.base.as_ref().or(settings.base.as_ref()) {
        // Paths in settings were made absolute when loaded.
        Some(b) => parse_base(b, &env.cwd)?,
        None => BaseSpec::Named("static".to_string()),
    };
    let mut insecure = settings.insecure_registries.clone().unwrap_or_default();
    insecure.extend(args.registry.insecure_registries.iter().cloned());
    let registry = registry_settings(
        env,
        &RegistryArgs {
            insecure_registries: insecure,
            retries: args.registry.retries.or(settings.retries),
            timeout: args.registry.timeout.or(settings.timeout),
            ..args.registry.clone()
        },
        out.repo.as_ref().map(|r| r.registry.as_str()),
        args.creds.as_ref().map(Secret::expose),
        out.cache.clone(),
    )?;
    let jobs = args.jobs.or(settings.jobs).unwrap_or(4);
    if jobs == 0 {
        return Err(invalid("--jobs", "0", "must be at least 1"));
    }
    Ok(Plan {
        json: args.json || settings.json.unwrap_or(false),
        verbosity: Verbosity::from_count(args.registry.verbose),
        platforms: built.platforms,
        base,
        source: built.source,
        dest: built.dest,
        bundle: built.bundle,
        files: built.files,
        tools,
        image,
        repo: out.repo,
        tags: out.tags,
        oci_layout: out.oci_layout,
        tarball: out.tarball,
        format: out.format,
        registry,
        jobs,
        compression: out.compression,
        cache: out.cache,
        cache_max: out.cache_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_LAYOUT_DIR, PlatformRequest, Source};
    use std::path::Path;

    fn prebuilt(plan: &Plan) -> &[crate::config::PrebuiltArtifact] {
        match &plan.source {
            Source::Prebuilt(a) => a,
            other => panic!("expected prebuilt artifacts, got {other:?}"),
        }
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
