use super::values::{parse_build_std, parse_builder, parse_libc, parse_platform_list, parse_repo};
use super::{
    BuildStd, Builder, DoctorArgs, Environment, Libc, PlanError, PlatformRequest, RegistrySettings,
    Tools,
};
use crate::oci::{Platform, Repository};

/// What `imgpush doctor` checks.
#[derive(Clone, Debug)]
pub struct DoctorPlan {
    pub platforms: Vec<Platform>,
    pub libc: Libc,
    pub builder: Builder,
    pub build_std: BuildStd,
    pub tools: Tools,
    pub repo: Option<Repository>,
    pub registry: RegistrySettings,
    /// What the project in the working directory needs, so that only that can fail.
    pub needs: ProjectNeeds,
}

/// What the project `doctor` runs in needs. Without a recognisable project everything a
/// build may need is required, as before.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectNeeds {
    /// Why no Rust toolchain (nor zig) is needed: `Some("gives prebuilt artifacts")`.
    pub no_rust: Option<&'static str>,
    /// A Go program (go.mod, no Cargo.toml): Go is required.
    pub go: bool,
}

impl ProjectNeeds {
    /// Reads the working directory: a Cargo.toml needs Rust; else an imgpush.toml with
    /// `artifacts` or `static`, or a go.mod, needs none.
    pub fn of(dir: &std::path::Path) -> ProjectNeeds {
        if dir.join("Cargo.toml").is_file() {
            return ProjectNeeds::default();
        }
        let file = super::FileSettings::load(dir)
            .ok()
            .flatten()
            .map(|(f, _)| f);
        let go = dir.join("go.mod").is_file();
        let no_rust = match &file {
            Some(f) if f.artifacts.as_ref().is_some_and(|a| !a.is_empty()) => {
                Some("gives prebuilt artifacts")
            }
            Some(f) if f.bundle_dir.is_some() => Some("is a static bundle"),
            _ if go => Some("is a Go program"),
            _ => None,
        };
        ProjectNeeds { no_rust, go }
    }
}

pub fn for_doctor(args: &DoctorArgs, env: &Environment) -> Result<DoctorPlan, PlanError> {
    let platforms = match args
        .platform
        .as_deref()
        .map(parse_platform_list)
        .transpose()?
    {
        Some(PlatformRequest::List(l)) => l,
        Some(_) => {
            return Err(PlanError::Invalid {
                what: "--platform",
                given: "all".into(),
                why: "doctor needs the platforms to check, e.g. linux/amd64,linux/arm64".into(),
            });
        }
        None => vec!["linux/amd64".parse()?, "linux/arm64".parse()?],
    };
    let repo = args.repo.as_deref().map(parse_repo).transpose()?;
    Ok(DoctorPlan {
        platforms,
        libc: parse_libc(args.toolchain.libc.as_deref())?,
        builder: parse_builder(args.toolchain.builder.as_deref())?,
        build_std: parse_build_std(args.toolchain.build_std.as_deref())?,
        tools: env.tools(),
        repo: repo.clone(),
        registry: super::registry::registry_settings(
            env,
            super::registry::RegistryAccess {
                insecure_registries: args.insecure_registries.clone(),
                ca_certs: args.ca_certs.clone(),
                ..Default::default()
            },
            &repo.iter().map(|r| r.registry.as_str()).collect::<Vec<_>>(),
            None,
            None,
        )?,
        needs: ProjectNeeds::of(&env.cwd),
    })
}
