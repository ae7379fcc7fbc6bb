//! Flags of `inspect`, `copy`, `index create`, `rebase`, `outdated` and `resolve` → their
//! plans.

use super::load::from_resolve_flags;
use super::low::LowSettings;
use super::make::plan_build;
use super::model::{CopyPlan, IndexCreatePlan, InspectPlan};
use super::origin::{Origin, Setting};
use super::outputs::repo_component;
use super::registry::{RegistryAccess, registry_settings};
use super::values::{invalid, merged, parse_base, parse_platform_list, parse_repo, unknown_scheme};
use super::{
    BaseSpec, CopyArgs, Destination, Environment, IndexCreateArgs, InspectArgs, OutdatedArgs, Plan,
    PlanError, PlatformRequest, RebaseArgs, RegistryArgs, RegistrySettings, ResolveArgs,
};
use crate::oci::reference::valid_tag;
use crate::oci::{Platform, Reference};
use std::path::Path;

/// `creds` (or IMGPUSH_USERNAME/IMGPUSH_PASSWORD) apply to the registries in `targets`.
fn registry(
    args: &RegistryArgs,
    env: &Environment,
    targets: &[&str],
    creds: Option<&super::Secret>,
) -> Result<RegistrySettings, PlanError> {
    registry_settings(
        env,
        RegistryAccess::from_flags(args)?,
        targets,
        creds.map(super::Secret::expose),
        env.tools().cache_dir,
    )
}

/// The registry a source reads from, if it is one.
fn source_registry(source: &BaseSpec) -> Option<&str> {
    match source {
        BaseSpec::Registry(r) => Some(r.repository.registry.as_str()),
        _ => None,
    }
}

fn jobs(n: Option<usize>) -> Result<usize, PlanError> {
    match n {
        Some(0) => Err(invalid("--jobs", "0", "must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(4),
    }
}

/// A location to read: a registry reference, `oci-layout:DIR[:TAG|@DIGEST]`,
/// `oci-archive:FILE[:TAG|@DIGEST]`, `docker-archive:FILE[@IMAGE-ID]`, or a name from
/// base-images/.
/// A name that is an alias for a registry image is resolved here, once.
fn source(s: &str, env: &Environment) -> Result<BaseSpec, PlanError> {
    let spec = parse_base(s, &env.cwd).map_err(|e| match e {
        PlanError::Invalid { given, why, .. } => PlanError::Invalid {
            what: "image",
            given,
            why,
        },
        other => other,
    })?;
    Ok(crate::base::expand_alias(&spec)?)
}

/// A place to write, with `default_tag` when none is written.
pub fn parse_destination(s: &str, cwd: &Path, default_tag: &str) -> Result<Destination, PlanError> {
    let tag_of = |t: Option<String>| -> Result<String, PlanError> {
        let t = t.unwrap_or_else(|| default_tag.to_string());
        if !valid_tag(&t) {
            return Err(invalid(
                "destination",
                s,
                match crate::oci::reference::suggest_tag(&t) {
                    Some(good) => format!("`{t}` is not a valid tag; did you mean `{good}`?"),
                    None => format!("`{t}` is not a valid tag"),
                },
            ));
        }
        Ok(t)
    };
    let split = |rest: &str| match rest.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') && !path.is_empty() => {
            (path.to_string(), Some(tag.to_string()))
        }
        _ => (rest.to_string(), None),
    };
    if let Some(rest) = s.strip_prefix("oci-layout:") {
        let (dir, tag) = split(rest);
        if dir.is_empty() || dir.contains('@') {
            return Err(invalid("destination", s, "write oci-layout:DIR[:TAG]"));
        }
        return Ok(Destination::Layout {
            dir: cwd.join(dir),
            tag: tag_of(tag)?,
        });
    }
    if let Some(rest) = s.strip_prefix("oci-archive:") {
        let (file, tag) = split(rest);
        if file.is_empty() {
            return Err(invalid("destination", s, "write oci-archive:FILE[:TAG]"));
        }
        return Ok(Destination::Archive {
            file: cwd.join(file),
            tag: tag_of(tag)?,
        });
    }
    if s.starts_with("docker-archive:") {
        return Err(invalid(
            "destination",
            s,
            "copy does not write docker archives; write one with `imgpush build --tarball FILE --format docker-archive`, or copy to oci-archive:FILE",
        ));
    }
    if let Some(scheme) = unknown_scheme(s) {
        return Err(invalid(
            "destination",
            s,
            format!(
                "unknown scheme `{scheme}:`; write REGISTRY/REPO[:TAG], oci-layout:DIR[:TAG] or oci-archive:FILE[:TAG]"
            ),
        ));
    }
    let mut r: Reference = s.parse()?;
    if r.digest.is_some() {
        return Err(invalid(
            "destination",
            s,
            "a destination is written by tag, not digest (the digest stays the source's)",
        ));
    }
    if r.repository.path.is_empty() || !s.contains('/') {
        return Err(invalid(
            "destination",
            s,
            "write REGISTRY/REPO[:TAG], oci-layout:DIR[:TAG] or oci-archive:FILE[:TAG]",
        ));
    }
    // The parser fills in `latest`; a destination without a tag takes the default.
    let written = s.rsplit('/').next().is_some_and(|last| last.contains(':'));
    r.tag = Some(tag_of(if written { r.tag } else { None })?);
    Ok(Destination::Registry(r))
}

fn one_platform(s: &str) -> Result<Platform, PlanError> {
    match parse_platform_list(s)? {
        PlatformRequest::List(l) if l.len() == 1 => Ok(l[0].clone()),
        _ => Err(invalid(
            "--platform",
            s,
            "name one platform, e.g. linux/arm64",
        )),
    }
}

pub fn for_inspect(args: &InspectArgs, env: &Environment) -> Result<InspectPlan, PlanError> {
    let src = source(&args.reference, env)?;
    let targets: Vec<&str> = source_registry(&src).into_iter().collect();
    let registry = registry(&args.registry, env, &targets, args.creds.as_ref())?;
    Ok(InspectPlan {
        source: src,
        name: args.reference.clone(),
        platform: args.platform.as_deref().map(one_platform).transpose()?,
        registry,
    })
}

pub fn for_copy(args: &CopyArgs, env: &Environment) -> Result<CopyPlan, PlanError> {
    let src = source(&args.source, env)?;
    let default_tag = match &src {
        BaseSpec::Registry(r) => r.tag.clone(),
        BaseSpec::Layout { tag, .. } | BaseSpec::Archive { tag, .. } => tag.clone(),
        BaseSpec::Named(_) | BaseSpec::SpecFile(_) | BaseSpec::DockerArchive { .. } => None,
    }
    .unwrap_or_else(|| "latest".to_string());
    let dest = parse_destination(&args.dest, &env.cwd, &default_tag)?;
    let platforms = match args
        .platform
        .as_deref()
        .map(parse_platform_list)
        .transpose()?
    {
        None => Vec::new(),
        Some(PlatformRequest::List(l)) => l,
        Some(_) => Vec::new(),
    };
    let mut targets: Vec<&str> = source_registry(&src).into_iter().collect();
    if let Destination::Registry(r) = &dest
        && !targets.contains(&r.repository.registry.as_str())
    {
        targets.push(&r.repository.registry);
    }
    let registry = registry(&args.registry, env, &targets, args.creds.as_ref())?;
    Ok(CopyPlan {
        source: src,
        dest,
        platforms,
        registry,
        jobs: jobs(args.jobs)?,
    })
}

pub fn for_index_create(
    args: &IndexCreateArgs,
    env: &Environment,
) -> Result<IndexCreatePlan, PlanError> {
    let target = match parse_destination(&args.tag, &env.cwd, "latest")? {
        Destination::Registry(r) => r,
        _ => {
            return Err(invalid(
                "--tag",
                &args.tag,
                "an index is created in a registry: write REGISTRY/REPO:TAG",
            ));
        }
    };
    let sources = args
        .sources
        .iter()
        .map(|s| source(s, env))
        .collect::<Result<Vec<_>, _>>()?;
    let annotations = merged("--annotation", &None, &args.annotations)?
        .into_iter()
        .collect();
    let mut targets = vec![target.repository.registry.as_str()];
    for s in sources.iter().filter_map(source_registry) {
        if !targets.contains(&s) {
            targets.push(s);
        }
    }
    let registry = registry(&args.registry, env, &targets, args.creds.as_ref())?;
    Ok(IndexCreatePlan {
        registry,
        target,
        sources,
        append: args.append,
        replace: args.replace,
        annotations,
        jobs: jobs(args.jobs)?,
    })
}

/// `imgpush rebase IMAGE --base NEW`, resolved.
#[derive(Clone, Debug)]
pub struct RebasePlan {
    /// The image as given (by tag or digest); the result goes to its repository.
    pub image: Reference,
    /// The new base, a registry reference (recorded as `base.name` as written here).
    pub base: Reference,
    /// `--old-base`: where the old base is, instead of the image's base annotations.
    pub old_base: Option<BaseSpec>,
    /// Tags to write (validated); empty: pushed by digest only.
    pub tags: Vec<String>,
    /// Only these platforms; empty: every platform of the image.
    pub platforms: Vec<Platform>,
    /// `--sbom keep|none`: move the image's SBOMs onto the rebased manifests; `None`: the
    /// default (keep, except for Docker-format images, which cannot carry referrers).
    pub sbom: Option<bool>,
    /// `--provenance slsa|none`: attach a provenance statement of the rebase; `None` as
    /// for `sbom`.
    pub provenance: Option<bool>,
    pub registry: RegistrySettings,
    pub jobs: usize,
}

/// `imgpush outdated IMAGE…`, resolved.
#[derive(Clone, Debug)]
pub struct OutdatedPlan {
    /// Each image as written (for the output) and where it is.
    pub images: Vec<(String, BaseSpec)>,
    pub registry: RegistrySettings,
}

/// A registry reference for `what` (`image`, `--base`): rebase reads and writes registries.
fn registry_reference(
    s: &str,
    env: &Environment,
    what: &'static str,
    why: &str,
) -> Result<Reference, PlanError> {
    match source(s, env)? {
        BaseSpec::Registry(r) => Ok(r),
        _ => Err(invalid(what, s, why)),
    }
}

pub fn for_rebase(args: &RebaseArgs, env: &Environment) -> Result<RebasePlan, PlanError> {
    let image = registry_reference(
        &args.image,
        env,
        "image",
        "rebase pushes the result to the image's own repository: write REGISTRY/REPO[:TAG|@DIGEST] (copy a layout or archive to a registry first)",
    )?;
    let base = registry_reference(
        &args.base,
        env,
        "--base",
        "the new base must be in a registry (REGISTRY/REPO[:TAG|@DIGEST]): its layers are mounted or streamed into the image's repository, and its name is recorded as org.opencontainers.image.base.name",
    )?;
    let old_base = args
        .old_base
        .as_deref()
        .map(|s| {
            source(s, env).map_err(|e| match e {
                PlanError::Invalid { given, why, .. } => PlanError::Invalid {
                    what: "--old-base",
                    given,
                    why,
                },
                other => other,
            })
        })
        .transpose()?;
    let tags = if args.tags.is_empty() {
        // By digest: nothing to move; by tag: that tag now names the rebased image.
        match (&image.digest, &image.tag) {
            (None, Some(t)) => vec![t.clone()],
            _ => Vec::new(),
        }
    } else {
        for t in &args.tags {
            if !valid_tag(t) {
                return Err(invalid(
                    "--tag",
                    t,
                    match crate::oci::reference::suggest_tag(t) {
                        Some(good) => format!("not a valid tag; did you mean `{good}`?"),
                        None => "not a valid tag (up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)".into(),
                    },
                ));
            }
        }
        args.tags.clone()
    };
    let platforms = match args
        .platform
        .as_deref()
        .map(parse_platform_list)
        .transpose()?
    {
        None => Vec::new(),
        Some(PlatformRequest::List(l)) => l,
        Some(_) => {
            return Err(invalid(
                "--platform",
                args.platform.as_deref().unwrap_or_default(),
                "name the platforms to rebase, e.g. linux/amd64,linux/arm64 (leave it out for all of them)",
            ));
        }
    };
    let mut targets = vec![image.repository.registry.as_str()];
    for r in [
        Some(base.repository.registry.as_str()),
        old_base.as_ref().and_then(source_registry),
    ]
    .into_iter()
    .flatten()
    {
        if !targets.contains(&r) {
            targets.push(r);
        }
    }
    let registry = registry(&args.registry, env, &targets, args.creds.as_ref())?;
    Ok(RebasePlan {
        image,
        base,
        old_base,
        tags,
        platforms,
        sbom: args.sbom.as_deref().map(|s| s == "keep"),
        provenance: args.provenance.as_deref().map(|s| s == "slsa"),
        registry,
        jobs: jobs(args.jobs)?,
    })
}

pub fn for_outdated(args: &OutdatedArgs, env: &Environment) -> Result<OutdatedPlan, PlanError> {
    let images = args
        .images
        .iter()
        .map(|s| Ok((s.clone(), source(s, env)?)))
        .collect::<Result<Vec<_>, PlanError>>()?;
    let mut targets: Vec<&str> = Vec::new();
    for r in images.iter().filter_map(|(_, s)| source_registry(s)) {
        if !targets.contains(&r) {
            targets.push(r);
        }
    }
    let registry = registry(&args.registry, env, &targets, args.creds.as_ref())?;
    Ok(OutdatedPlan { images, registry })
}

/// The build plan for one `imgpush://PATH` of `imgpush resolve`: `imgpush build PATH`
/// with the shared flags, pushed to the directory's own `repo` or PREFIX/<name>.
pub fn for_reference(args: &ResolveArgs, env: &Environment, path: &str) -> Result<Plan, PlanError> {
    let dir = env.cwd.join(path);
    if !dir.is_dir() {
        return Err(invalid(
            "imgpush:// reference",
            path,
            format!("{} is not a directory", dir.display()),
        ));
    }
    let flags = from_resolve_flags(args, env)?;
    // ko's --base-import-paths naming: PREFIX/<directory name>.
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| repo_component(&n.to_string_lossy())))
        .unwrap_or_else(|| "image".into());
    let default_repo = args
        .repo
        .as_deref()
        .map(|p| format!("{}/{name}", p.trim_end_matches('/')))
        .map(|r| Setting::new(r, Origin::Flag("--repo")).parse("repo", |r| parse_repo(&r)))
        .transpose()?;
    let defaults = LowSettings {
        repo: default_repo,
        ..LowSettings::default()
    };
    let plan = plan_build(Some(&dir), flags, env, false, defaults)?;
    if plan.repo.is_none() {
        return Err(PlanError::Conflict(format!(
            "imgpush://{path}: resolve pushes every image; give --repo REGISTRY/PREFIX (or IMGPUSH_REPO), or set `repo` in {path}/imgpush.toml"
        )));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let cwd = Path::new("/w");
        let d = |s: &str| parse_destination(s, cwd, "v3").unwrap();
        match d("127.0.0.1:5000/mirror/hello") {
            Destination::Registry(r) => {
                assert_eq!(r.to_string(), "127.0.0.1:5000/mirror/hello:v3")
            }
            other => panic!("{other:?}"),
        }
        match d("127.0.0.1:5000/mirror/hello:latest") {
            Destination::Registry(r) => assert_eq!(r.tag.as_deref(), Some("latest")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            d("oci-layout:out:arm"),
            Destination::Layout {
                dir: "/w/out".into(),
                tag: "arm".into()
            }
        );
        assert_eq!(
            d("oci-archive:/tmp/a.tar"),
            Destination::Archive {
                file: "/tmp/a.tar".into(),
                tag: "v3".into()
            }
        );
        for bad in [
            "127.0.0.1:5000/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "oci-layout:",
            "oci-layout:out:bad tag",
            "docker-archive:x.tar",
            "dir:/tmp/x",
        ] {
            assert!(parse_destination(bad, cwd, "v3").is_err(), "{bad}");
        }
    }

    #[test]
    fn rebase_plans() {
        let env = Environment {
            cwd: "/w".into(),
            ..Default::default()
        };
        let d = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        let args = |image: &str, base: &str, tags: &[&str]| RebaseArgs {
            image: image.into(),
            base: base.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        };
        let plan = for_rebase(
            &args("127.0.0.1:5000/app:v1", "127.0.0.1:5000/base", &[]),
            &env,
        )
        .unwrap();
        assert_eq!(plan.tags, ["v1"], "the tag IMAGE was given with moves");
        assert_eq!(plan.base.to_string(), "127.0.0.1:5000/base:latest");
        assert!(plan.old_base.is_none() && plan.platforms.is_empty() && plan.jobs == 4);
        let by_digest = format!("127.0.0.1:5000/app@{d}");
        let plan = for_rebase(&args(&by_digest, "127.0.0.1:5000/base:v2", &[]), &env).unwrap();
        assert!(plan.tags.is_empty(), "by digest: no tag to move");
        let plan = for_rebase(
            &args(&by_digest, "127.0.0.1:5000/base:v2", &["a", "b"]),
            &env,
        )
        .unwrap();
        assert_eq!(plan.tags, ["a", "b"]);
        let mut with_old = args("127.0.0.1:5000/app:v1", "127.0.0.1:5000/base:v2", &[]);
        with_old.old_base = Some("oci-layout:old".into());
        with_old.platform = Some("linux/arm64".into());
        let plan = for_rebase(&with_old, &env).unwrap();
        assert!(matches!(plan.old_base, Some(BaseSpec::Layout { .. })));
        assert_eq!(plan.platforms.len(), 1);
        for (image, base, tags, needle) in [
            (
                "oci-layout:app",
                "127.0.0.1:5000/base",
                &[][..],
                "own repository",
            ),
            (
                "127.0.0.1:5000/app:v1",
                "oci-layout:base",
                &[][..],
                "must be in a registry",
            ),
            (
                "127.0.0.1:5000/app:v1",
                "static",
                &[][..],
                "must be in a registry",
            ),
            (
                "127.0.0.1:5000/app:v1",
                "127.0.0.1:5000/base",
                &["bad tag"][..],
                "not a valid tag",
            ),
        ] {
            let e = for_rebase(&args(image, base, tags), &env)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{image} {base} {tags:?}: {e}");
        }
        let mut all = args("127.0.0.1:5000/app:v1", "127.0.0.1:5000/base", &[]);
        all.platform = Some("all".into());
        assert!(for_rebase(&all, &env).is_err());
    }

    #[test]
    fn outdated_plans_read_any_location() {
        let env = Environment {
            cwd: "/w".into(),
            ..Default::default()
        };
        let plan = for_outdated(
            &OutdatedArgs {
                images: vec!["127.0.0.1:5000/app:v1".into(), "oci-layout:out".into()],
                ..Default::default()
            },
            &env,
        )
        .unwrap();
        assert_eq!(plan.images[0].0, "127.0.0.1:5000/app:v1");
        assert!(matches!(plan.images[1].1, BaseSpec::Layout { .. }));
    }
}
