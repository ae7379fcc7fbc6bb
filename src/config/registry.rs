//! How to reach registries, shared by `build`, `doctor` and the image commands.

use super::values::invalid;
use super::{ConfigError, Environment, RegistryArgs, RegistrySettings};
use std::path::PathBuf;

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
