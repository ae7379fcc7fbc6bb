use crate::base::ClientFor;
use crate::config::{BaseSpec, Plan, RegistrySettings};
use crate::error::Error;
use crate::oci::Repository;
use crate::registry::{Client, ClientConfig};
use crate::report::Reporter;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One client per registry host, each asking for every scope this run needs there, so a
/// single token covers pushing the target and pulling (mounting from) the base.
pub(crate) struct Clients {
    settings: RegistrySettings,
    scopes: HashMap<String, Vec<String>>,
    made: Mutex<HashMap<String, Arc<Client>>>,
    reporter: Arc<dyn Reporter>,
}

impl Clients {
    pub(crate) fn new(plan: &Plan, base: &BaseSpec, reporter: Arc<dyn Reporter>) -> Self {
        let mut clients = Clients::with_settings(&plan.registry, reporter);
        // Push scope first: some registries only read the first scope.
        if let Some(repo) = &plan.repo {
            clients.want(repo, true);
        }
        if let BaseSpec::Registry(r) = base {
            clients.want(&r.repository, false);
        }
        clients
    }

    /// Clients with no scopes yet; add them with [`Clients::want`] before the first `get`.
    pub(crate) fn with_settings(settings: &RegistrySettings, reporter: Arc<dyn Reporter>) -> Self {
        Clients {
            settings: settings.clone(),
            scopes: HashMap::new(),
            made: Mutex::new(HashMap::new()),
            reporter,
        }
    }

    /// Asks for pull (and push) access to `repo` in the token of its registry's client.
    pub(crate) fn want(&mut self, repo: &Repository, push: bool) {
        let prefix = format!("repository:{}:", repo.path);
        let scope = format!("{prefix}{}", if push { "pull,push" } else { "pull" });
        let list = self.scopes.entry(repo.registry.clone()).or_default();
        match list.iter_mut().find(|s| s.starts_with(&prefix)) {
            Some(existing) if push => *existing = scope,
            Some(_) => {}
            None => list.push(scope),
        }
    }

    pub(crate) fn get(&self, registry: &str) -> Result<Arc<Client>, Error> {
        let mut made = self.made.lock().expect("not poisoned");
        if let Some(c) = made.get(registry) {
            return Ok(c.clone());
        }
        let scopes = self.scopes.get(registry).cloned().unwrap_or_default();
        let config = client_config(&self.settings, registry, scopes)?;
        let client = Arc::new(Client::new(config, self.reporter.clone()));
        made.insert(registry.to_string(), client.clone());
        Ok(client)
    }
}

/// The client settings for one registry host.
pub(crate) fn client_config(
    settings: &RegistrySettings,
    registry: &str,
    scopes: Vec<String>,
) -> Result<ClientConfig, Error> {
    Ok(ClientConfig {
        cache: settings.cache.as_ref().map(crate::cache::Cache::new),
        registry: registry.to_string(),
        insecure: settings.insecure_registries.iter().any(|h| h == registry),
        insecure_hosts: settings.insecure_registries.clone(),
        credential: settings.credentials.lookup(registry)?,
        scopes,
        chunk_size: None,
        retries: settings.retries,
        read_timeout: settings.read_timeout,
        extra_roots: crate::registry::load_ca_certs(
            registry,
            &settings.tls.ca_files,
            &settings.tls.certs_dirs,
        )
        .map_err(|source| Error::Registry {
            registry: registry.to_string(),
            source: Box::new(source),
        })?,
    })
}

impl ClientFor for Clients {
    fn client_for(&self, registry: &str) -> Arc<Client> {
        // Credentials were looked up (and errors reported) before the base is opened.
        self.get(registry)
            .expect("clients are created before the base is opened")
    }
}
