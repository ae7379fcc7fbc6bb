//! One client per registry host for a run, each asking for every scope the run needs
//! there (push on the target first — some registries read only the first scope — and pull
//! on every repository read or mounted from), so a single token covers a whole push.

use super::credentials::{CredentialError, CredentialStore};
use super::{Client, ClientSettings, RegistryError};
use crate::oci::Repository;
use crate::report::Reporter;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How to reach registries: shared by `build` and every command that reads or writes images.
#[derive(Clone, Debug)]
pub struct RegistrySettings {
    /// Hosts where plain HTTP and unverified TLS are allowed.
    pub insecure_registries: Vec<String>,
    pub tls: TlsConfig,
    pub credentials: CredentialStore,
    /// Retries per registry request (connection errors, timeouts, 429, 5xx).
    pub retries: u32,
    /// How long an answer may stall before the request counts as failed (and is retried).
    pub read_timeout: std::time::Duration,
    /// Where fetched manifests and configs are kept by digest, unless `--no-cache`.
    pub cache: Option<PathBuf>,
}

/// Extra trust for registries' TLS certificates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// `--ca-cert FILE`: trusted for every registry of the run.
    pub ca_files: Vec<PathBuf>,
    /// certs.d directories holding `<registry>/*.crt`: `/etc/containers/certs.d`,
    /// `/etc/docker/certs.d`, `~/.docker/certs.d`.
    pub certs_dirs: Vec<PathBuf>,
}

/// Why a registry's client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("registry credentials")]
    Credentials(#[from] CredentialError),
    #[error("checking the target registry {registry}")]
    Registry {
        registry: String,
        #[source]
        source: Box<RegistryError>,
    },
}

/// The clients of one run, made on first use.
pub struct Pool {
    settings: RegistrySettings,
    scopes: HashMap<String, Vec<String>>,
    made: Mutex<HashMap<String, Arc<Client>>>,
    reporter: Arc<dyn Reporter>,
    /// Every client's answered HTTP requests, for the run's summary.
    requests: Arc<AtomicU64>,
}

impl Pool {
    /// A pool with no scopes yet; add them with [`Pool::want`] before the first `get`.
    pub fn new(settings: &RegistrySettings, reporter: Arc<dyn Reporter>) -> Pool {
        Pool {
            settings: settings.clone(),
            scopes: HashMap::new(),
            made: Mutex::new(HashMap::new()),
            reporter,
            requests: Arc::default(),
        }
    }

    /// HTTP requests the pool's clients have had answered so far, by every registry (and
    /// token server).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// imgpush's cache directory, unless `--no-cache`.
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.settings.cache.as_deref()
    }

    /// The reporter the pool's clients report to.
    pub fn reporter(&self) -> &dyn Reporter {
        self.reporter.as_ref()
    }

    /// Asks for pull (and push) access to `repo` in the token of its registry's client.
    pub fn want(&mut self, repo: &Repository, push: bool) {
        let prefix = format!("repository:{}:", repo.path);
        let scope = format!("{prefix}{}", if push { "pull,push" } else { "pull" });
        let list = self.scopes.entry(repo.registry.clone()).or_default();
        match list.iter_mut().find(|s| s.starts_with(&prefix)) {
            Some(existing) if push => *existing = scope,
            Some(_) => {}
            None => list.push(scope),
        }
    }

    /// The client for `registry`, made (credentials looked up, CAs loaded) on first use.
    pub fn get(&self, registry: &str) -> Result<Arc<Client>, PoolError> {
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = made.get(registry) {
            return Ok(c.clone());
        }
        let scopes = self.scopes.get(registry).cloned().unwrap_or_default();
        let config = client_config(&self.settings, registry, scopes)?;
        let client = Arc::new(
            Client::new(config, self.reporter.clone()).count_requests_in(self.requests.clone()),
        );
        made.insert(registry.to_string(), client.clone());
        Ok(client)
    }
}

/// The client settings for one registry host.
pub fn client_config(
    settings: &RegistrySettings,
    registry: &str,
    scopes: Vec<String>,
) -> Result<ClientSettings, PoolError> {
    let found = settings.credentials.lookup_with_source(registry)?;
    let (credential, credential_source) = match found {
        Some((c, s)) => (Some(c), Some(s)),
        None => (None, None),
    };
    Ok(ClientSettings {
        cache: settings.cache.as_ref().map(crate::cache::Cache::new),
        registry: registry.to_string(),
        insecure: settings.insecure_registries.iter().any(|h| h == registry),
        insecure_hosts: settings.insecure_registries.clone(),
        credential,
        credential_source,
        scopes,
        chunk_size: None,
        retries: settings.retries,
        read_timeout: settings.read_timeout,
        extra_roots: super::load_ca_certs(
            registry,
            &settings.tls.ca_files,
            &settings.tls.certs_dirs,
        )
        .map_err(|source| PoolError::Registry {
            registry: registry.to_string(),
            source: Box::new(source),
        })?,
    })
}
