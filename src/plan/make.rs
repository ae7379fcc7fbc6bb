//! The merged settings → the final [`Plan`] for `imgpush build`: every default and every
//! rule between settings is applied here, once. Loading ([`super::load`]) and merging
//! ([`super::low::merge`]) came before; nothing after this parses a user's string.
//! Each part is decided in its own module: what to build ([`super::source`]), the image
//! config ([`super::image_settings`]), where it goes ([`super::outputs`]) and how to reach
//! registries ([`super::registry`]); this file puts them together.

use super::cargo::{self, CargoProject};
use super::image_settings::image_settings;
use super::load::{from_build_flags, from_environment, from_file};
use super::low::{LowSettings, merge};
use super::origin::{Origin, value};
use super::outputs::outputs;
use super::registry::{RegistryAccess, registry_settings};
use super::source::source_plan;
use super::values::invalid;
use super::{BaseSpec, BuildArgs, Environment, FileSettings, Plan, PlanError, Verbosity};
use std::path::Path;

/// Combines flags, `imgpush.toml`, Cargo metadata and the environment into a [`Plan`].
pub fn for_build(args: &BuildArgs, env: &Environment) -> Result<Plan, PlanError> {
    let flags = from_build_flags(args, env)?;
    plan_build(
        args.path.as_deref(),
        flags,
        env,
        true,
        LowSettings::default(),
    )
}

/// Loads every place settings come from for the build in `path`, merges them with the
/// `flags` on top and `defaults` at the bottom, and makes the [`Plan`]. `repo_from_env`:
/// whether `IMGPUSH_REPO` is this image's repository (`resolve` uses it as a prefix).
pub(crate) fn plan_build(
    path: Option<&Path>,
    flags: LowSettings,
    env: &Environment,
    repo_from_env: bool,
    defaults: LowSettings,
) -> Result<Plan, PlanError> {
    let context = match path {
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
    let file = match FileSettings::load(&context)? {
        Some((f, path)) => from_file(f, &context, Origin::File(path))?,
        None => LowSettings::default(),
    };
    let environment = from_environment(env, repo_from_env)?;
    let tools = env.tools();
    // A Cargo project is built (and its metadata read) only when nothing more explicit is
    // given by the flags or imgpush.toml.
    let explicit = [&flags, &file]
        .iter()
        .any(|s| s.bundle_dir.is_some() || s.go.is_some() || s.artifacts.is_some());
    let project = match cargo::manifest_for(&flags.cargo, &context) {
        Some(manifest) if !explicit => Some(cargo::load(&flags.cargo, &manifest, &tools)?),
        _ => None,
    };
    let (package, workspace) = match &project {
        Some(p) => (p.package_settings.clone(), p.workspace_settings.clone()),
        None => Default::default(),
    };
    let settings = merge([flags, environment, file, package, workspace, defaults]);
    Plan::new(settings, &context, project.as_ref(), env, tools)
}

impl Plan {
    /// The final plan from merged settings: defaults and cross-setting rules applied.
    pub(crate) fn new(
        settings: LowSettings,
        context: &Path,
        project: Option<&CargoProject>,
        env: &Environment,
        tools: super::Tools,
    ) -> Result<Plan, PlanError> {
        let built = source_plan(&settings, context, project)?;
        let image = image_settings(&settings, context, project, &built)?;
        let out = outputs(&settings, env, &tools, project, &built)?;
        let access = RegistryAccess {
            insecure_registries: value(&settings.insecure_registries).unwrap_or_default(),
            ca_certs: settings.ca_certs.clone(),
            retries: value(&settings.retries),
            timeout: value(&settings.timeout),
        };
        let registry = registry_settings(
            env,
            access,
            &out.repo
                .iter()
                .map(|r| r.registry.as_str())
                .collect::<Vec<_>>(),
            settings.creds.as_ref().map(super::Secret::expose),
            out.cache.clone(),
        )?;
        Ok(Plan {
            json: value(&settings.json).unwrap_or(false),
            verbosity: Verbosity::from_flags(settings.verbose, settings.quiet),
            platforms: built.platforms,
            // The base is decided here, once: the default, and a name from `base-images/`
            // that is an alias for a registry image.
            base: crate::base::expand_alias(
                &value(&settings.base).unwrap_or_else(|| BaseSpec::Named("static".to_string())),
            )?,
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
            dist: out.dist,
            format: out.format,
            sbom: out.sbom,
            provenance: out.provenance,
            registry,
            jobs: value(&settings.jobs).unwrap_or(4),
            compression: out.compression,
            cache: out.cache,
            cache_max: out.cache_max,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::values::parse_base;
    use crate::plan::{DEFAULT_LAYOUT_DIR, PlatformRequest, Source};
    use std::path::Path;

    fn prebuilt(plan: &Plan) -> &[crate::plan::PrebuiltArtifact] {
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

    /// Build flags as clap parses them.
    pub(crate) fn args(list: &[&str]) -> BuildArgs {
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
        let plan = for_build(&args(&["--env", "B=3", "--tag", "v2"]), &env).unwrap();
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
    fn files_in_the_file_and_as_flags_carry_mode_and_owner() {
        let (dir, env) = setup();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::write(
            dir.path().join("imgpush.toml"),
            "files = [\n  { src = \"a.txt\", dest = \"/etc/a.txt\", mode = \"0600\", owner = \"1000:1001\" },\n  { src = \"a.txt\", dest = \"/etc/b.txt\" },\n]\n",
        )
        .unwrap();
        let amd = ["--artifact", "linux/amd64=hello-amd64"];
        let plan = for_build(&args(&amd), &env).unwrap();
        let got: Vec<_> = plan
            .files
            .iter()
            .map(|f| (f.dest.as_str(), f.mode, f.owner))
            .collect();
        assert_eq!(
            got,
            [
                ("/etc/a.txt", Some(0o600), (1000, 1001)),
                ("/etc/b.txt", None, (0, 0))
            ]
        );
        // The flag form gives the same file.
        let (dir2, env2) = setup();
        std::fs::write(dir2.path().join("a.txt"), "a").unwrap();
        let flag = for_build(
            &args(&[amd[0], amd[1], "--file", "a.txt:/etc/a.txt:0600:1000:1001"]),
            &env2,
        )
        .unwrap();
        assert_eq!(
            (flag.files[0].mode, flag.files[0].owner),
            (Some(0o600), (1000, 1001))
        );
        // A bad owner in the file is named by the file and key.
        for (owner, expected) in [
            ("1000", "expected numeric UID:GID"),
            ("root:0", "the UID `root` is not a number"),
            ("0:1:2", "the GID `1:2` is not a number"),
        ] {
            std::fs::write(
                dir.path().join("imgpush.toml"),
                format!("files = [{{ src = \"a.txt\", dest = \"/a\", owner = \"{owner}\" }}]\n"),
            )
            .unwrap();
            let err = for_build(&args(&amd), &env).unwrap_err().to_string();
            assert!(
                err.contains("imgpush.toml: files = ") && err.contains(expected),
                "{owner}: {err}"
            );
        }
        std::fs::write(
            dir.path().join("imgpush.toml"),
            "files = [{ src = \"a.txt\", dest = \"/a\", uid = 1 }]\n",
        )
        .unwrap();
        let err = for_build(&args(&amd), &env).unwrap_err().to_string();
        assert!(err.contains("unknown field `uid`"), "{err}");
    }

    #[test]
    fn unknown_key_in_file_is_an_error() {
        let (dir, env) = setup();
        std::fs::write(dir.path().join("imgpush.toml"), "repoo = \"x\"\n").unwrap();
        let err = for_build(&args(&["--artifact", "linux/amd64=hello-amd64"]), &env).unwrap_err();
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
            let err = for_build(&args(list), &env).expect_err(&format!("{list:?} should fail"));
            assert!(
                err.to_string().contains(expected),
                "{list:?}: `{err}` lacks `{expected}`"
            );
        }
    }

    #[test]
    fn defaults() {
        let (dir, env) = setup();
        let plan = for_build(&args(&["--artifact", "linux/arm64=hello-arm64"]), &env).unwrap();
        assert_eq!(
            plan.platforms,
            PlatformRequest::List(vec!["linux/arm64".parse().unwrap()])
        );
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
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            parse_base(&format!("oci-archive:a.tar@{d}"), here).unwrap(),
            BaseSpec::Archive {
                file: "/w/a.tar".into(),
                tag: None,
                digest: Some(d.parse().unwrap())
            }
        );
        assert_eq!(
            parse_base(&format!("docker-archive:d.tar@{d}"), here).unwrap(),
            BaseSpec::DockerArchive {
                file: "/w/d.tar".into(),
                id: Some(d.parse().unwrap())
            }
        );
        for registry in [
            "localhost:5000/app",
            "127.0.0.1:5000/x:tag",
            "foo:bar",
            "host:1/a/b",
        ] {
            assert!(
                matches!(parse_base(registry, here).unwrap(), BaseSpec::Registry(_)),
                "{registry}"
            );
        }
        for scheme in ["foo:./x", "foo:/x", "foo:a/b", "docker:x", "dir:x", "oci:x"] {
            let e = parse_base(scheme, here).unwrap_err().to_string();
            assert!(e.contains("unknown scheme"), "{scheme}: {e}");
        }
    }

    #[test]
    fn errors_name_where_the_value_was_written() {
        let (dir, env) = setup();
        let amd = ["--artifact", "linux/amd64=hello-amd64"];
        let cases: &[(&str, &str)] = &[
            (
                "expose = [\"99999\"]\n",
                "imgpush.toml: expose = 99999: the port must be a number from 1 to 65535",
            ),
            (
                "user = \"a:b:c\"\n",
                "imgpush.toml: user = a:b:c: expected UID[:GID]",
            ),
            (
                "platforms = [\"linux/amd65\"]\n",
                "imgpush.toml: platforms: platform `linux/amd65`",
            ),
            ("jobs = 0\n", "imgpush.toml: jobs = 0: must be at least 1"),
            (
                "compression = \"zstd\"\nformat = \"tar\"\n",
                "imgpush.toml: format = tar: expected oci, docker or docker-archive",
            ),
        ];
        for (text, expected) in cases {
            std::fs::write(dir.path().join("imgpush.toml"), text).unwrap();
            let err = for_build(&args(&amd), &env).unwrap_err().to_string();
            assert!(
                err.starts_with(&dir.path().display().to_string()) && err.contains(expected),
                "{text}: `{err}` lacks `{expected}`"
            );
        }
        // The same value as a flag is named by the flag.
        std::fs::remove_file(dir.path().join("imgpush.toml")).unwrap();
        let err = for_build(&args(&[amd[0], amd[1], "--expose", "99999"]), &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--expose `99999`: the port must be a number from 1 to 65535"
        );
        // And from the environment, by the variable.
        let env = Environment {
            source_date_epoch: Some("yesterday".into()),
            ..env
        };
        let err = for_build(&args(&amd), &env).unwrap_err().to_string();
        assert!(err.starts_with("SOURCE_DATE_EPOCH `yesterday`"), "{err}");
    }

    #[test]
    fn cargo_metadata_errors_name_the_table() {
        let cargo = Origin::Cargo {
            manifest: "/src/app/Cargo.toml".into(),
            workspace: false,
        };
        let file: FileSettings = toml::from_str("user = \"a b\"\n").unwrap();
        let err = from_file(file, Path::new("/src/app"), cargo)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/src/app/Cargo.toml [package.metadata.imgpush]: user = a b: "),
            "{err}"
        );
    }

    #[test]
    fn precedence_flag_env_file() {
        let (dir, mut env) = setup();
        std::fs::write(
            dir.path().join("imgpush.toml"),
            "repo = \"127.0.0.1:5000/file\"\nepoch = \"5\"\ninsecure-registries = [\"a:1\"]\n",
        )
        .unwrap();
        let amd = ["--artifact", "linux/amd64=hello-amd64"];
        let plan = for_build(&args(&amd), &env).unwrap();
        assert_eq!(plan.repo.unwrap().path, "file");
        assert_eq!(plan.image.created, 5);
        env.imgpush_repo = Some("127.0.0.1:5000/env".into());
        env.source_date_epoch = Some("7".into());
        // clap puts IMGPUSH_REPO into --repo; it still ranks as the environment.
        let plan = for_build(
            &args(&[amd[0], amd[1], "--repo", "127.0.0.1:5000/env"]),
            &env,
        )
        .unwrap();
        assert_eq!(plan.repo.unwrap().path, "env");
        assert_eq!(
            plan.image.created, 7,
            "SOURCE_DATE_EPOCH over the file's epoch"
        );
        let plan = for_build(
            &args(&[
                amd[0],
                amd[1],
                "--repo",
                "127.0.0.1:5000/flag",
                "--epoch",
                "9",
                "--insecure-registry",
                "b:2",
            ]),
            &env,
        )
        .unwrap();
        assert_eq!(plan.repo.unwrap().path, "flag");
        assert_eq!(plan.image.created, 9);
        assert_eq!(plan.registry.insecure_registries, ["a:1", "b:2"]);
    }
}
