//! `imgpush login` / `logout`: verify credentials against the registry, then store them in
//! docker's config.json (or its credential helper) like `docker login` does.

use crate::error::Error;
use crate::registry::credentials::normalize_host;
use crate::registry::{Client, ClientConfig, Credential, CredentialStore};
use crate::report::Reporter;
use std::path::PathBuf;
use std::sync::Arc;

/// Checks `username`/`password` against `registry` and stores them; returns the file written.
pub async fn login(
    store: &CredentialStore,
    registry: &str,
    username: &str,
    password: &str,
    insecure: bool,
    tls: &crate::config::TlsConfig,
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
        ClientConfig {
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
