//! `imgpush login` / `logout`: verify credentials against the registry, then store them in
//! docker's config.json (or its credential helper) like `docker login` does.

use super::{CommandError, block_on};
use crate::error::Error;
use crate::plan::{Environment, LoginArgs, LogoutArgs, Secret, TlsConfig};
use crate::registry::credentials::normalize_host;
use crate::registry::{Client, ClientSettings, Credential, CredentialSource, CredentialStore};
use crate::report::Reporter;
use std::path::PathBuf;
use std::sync::Arc;

/// A checked login: where credentials are stored and what to store.
#[derive(Debug)]
pub struct LoginPlan {
    pub store: CredentialStore,
    pub registry: String,
    pub username: String,
    pub password: Secret,
    pub insecure: bool,
    pub tls: TlsConfig,
}

/// `stdin_password`: the line read with `--password-stdin`; without it the password comes
/// from `IMGPUSH_PASSWORD`.
pub fn plan(
    args: &LoginArgs,
    env: &Environment,
    stdin_password: Option<String>,
) -> Result<LoginPlan, CommandError> {
    check_args(args)?;
    let password = match stdin_password {
        Some(line) => line,
        None => env
            .imgpush_password
            .as_ref()
            .map(|p| p.expose().to_string())
            .ok_or(CommandError::NoPassword)?,
    };
    if password.is_empty() {
        return Err(CommandError::EmptyPassword);
    }
    Ok(LoginPlan {
        store: file_store(env)?,
        registry: args.registry.clone(),
        username: args.username.clone(),
        password: Secret::new(password),
        insecure: args.insecure,
        tls: env.tls(&args.ca_certs),
    })
}

/// Refuses `-p`/`--password`: passwords come from `--password-stdin` or `IMGPUSH_PASSWORD`.
pub fn check_args(args: &LoginArgs) -> Result<(), CommandError> {
    match args.password {
        Some(_) => Err(CommandError::PasswordFlag),
        None => Ok(()),
    }
}

/// Logs in; returns the file (or helper) the credentials went to.
pub fn execute(plan: &LoginPlan, reporter: Arc<dyn Reporter>) -> Result<PathBuf, CommandError> {
    Ok(block_on(login(
        &plan.store,
        &plan.registry,
        &plan.username,
        plan.password.expose(),
        plan.insecure,
        &plan.tls,
        reporter,
    ))??)
}

/// `imgpush logout`; `false` if nothing was stored for the registry.
pub fn execute_logout(args: &LogoutArgs, env: &Environment) -> Result<bool, CommandError> {
    Ok(logout(&file_store(env)?, &args.registry)?)
}

/// The credential store of docker's and podman's files, without a one-off credential.
fn file_store(env: &Environment) -> Result<CredentialStore, Error> {
    let mut env = env.clone();
    env.imgpush_username = None;
    env.imgpush_password = None;
    Ok(env.credential_store(&[], None)?)
}

/// Checks `username`/`password` against `registry` and stores them; returns the file written.
pub async fn login(
    store: &CredentialStore,
    registry: &str,
    username: &str,
    password: &str,
    insecure: bool,
    tls: &TlsConfig,
    reporter: Arc<dyn Reporter>,
) -> Result<PathBuf, Error> {
    let registry = normalize_host(registry);
    let registry_err = |source| Error::Registry {
        registry: registry.clone(),
        source: Box::new(source),
    };
    let extra_roots = crate::registry::load_ca_certs(&registry, &tls.ca_files, &tls.certs_dirs)
        .map_err(registry_err)?;
    let client = Client::new(
        ClientSettings {
            cache: None,
            registry: registry.clone(),
            insecure,
            insecure_hosts: if insecure {
                vec![registry.clone()]
            } else {
                vec![]
            },
            credential: Some(Credential::Basic {
                username: username.to_string(),
                password: password.to_string(),
            }),
            credential_source: Some(CredentialSource::Login),
            scopes: vec![],
            chunk_size: None,
            retries: crate::registry::DEFAULT_RETRIES,
            read_timeout: crate::registry::DEFAULT_READ_TIMEOUT,
            extra_roots,
        },
        reporter,
    );
    client
        .check_login()
        .await
        .map_err(|source| Error::Registry {
            registry: registry.clone(),
            source: Box::new(source),
        })?;
    Ok(store.store(&registry, username, password)?)
}

/// Forgets the stored credential; `false` if there was none.
pub fn logout(store: &CredentialStore, registry: &str) -> Result<bool, Error> {
    Ok(store.erase(&normalize_host(registry))?)
}
