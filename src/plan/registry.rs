//! How to reach registries, shared by `build`, `doctor` and the image commands.

use super::values::invalid;
use super::{Environment, PlanError, RegistryArgs, RegistrySettings};
use std::path::PathBuf;
use std::time::Duration;

/// The registry settings a command was given (for `build`: merged from every place).
#[derive(Clone, Debug, Default)]
pub(crate) struct RegistryAccess {
    pub insecure_registries: Vec<String>,
    pub ca_certs: Vec<PathBuf>,
    pub retries: Option<u32>,
    pub timeout: Option<Duration>,
}

impl RegistryAccess {
    /// The registry flags of `inspect`, `copy` and `index create`, which read no file.
    pub fn from_flags(flags: &RegistryArgs) -> Result<RegistryAccess, PlanError> {
        Ok(RegistryAccess {
            insecure_registries: flags.insecure_registries.clone(),
            ca_certs: flags.ca_certs.clone(),
            retries: flags.retries,
            timeout: match flags.timeout {
                Some(0) => return Err(invalid("--timeout", "0", "must be at least 1 second")),
                t => t.map(Duration::from_secs),
            },
        })
    }
}

/// Registry access settings plus the environment. `--creds` (or
/// IMGPUSH_USERNAME/PASSWORD) apply to `targets` only.
pub(crate) fn registry_settings(
    env: &Environment,
    access: RegistryAccess,
    targets: &[&str],
    creds: Option<&str>,
    cache: Option<PathBuf>,
) -> Result<RegistrySettings, PlanError> {
    Ok(RegistrySettings {
        cache,
        tls: env.tls(&access.ca_certs),
        credentials: env.credential_store(targets, creds)?,
        insecure_registries: access.insecure_registries,
        retries: access.retries.unwrap_or(crate::registry::DEFAULT_RETRIES),
        read_timeout: access
            .timeout
            .unwrap_or(crate::registry::DEFAULT_READ_TIMEOUT),
    })
}
