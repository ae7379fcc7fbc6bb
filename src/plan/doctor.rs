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
    })
}
