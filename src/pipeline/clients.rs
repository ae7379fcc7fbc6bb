use crate::base::ClientFor;
use crate::config::{BaseSpec, Plan};
use crate::error::Error;
use crate::registry::{Client, ClientConfig};
use crate::report::Reporter;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One client per registry host, each asking for every scope this run needs there, so a
/// single token covers pushing the target and pulling (mounting from) the base.
pub(crate) struct Clients {
    plan: Plan,
    scopes: HashMap<String, Vec<String>>,
    made: Mutex<HashMap<String, Arc<Client>>>,
    reporter: Arc<dyn Reporter>,
}

impl Clients {
    pub(crate) fn new(plan: &Plan, base: &BaseSpec, reporter: Arc<dyn Reporter>) -> Self {
        let mut scopes: HashMap<String, Vec<String>> = HashMap::new();
        // Push scope first: some registries only read the first scope.
        if let Some(repo) = &plan.repo {
            scopes
                .entry(repo.registry.clone())
                .or_default()
                .push(format!("repository:{}:pull,push", repo.path));
        }
        if let BaseSpec::Registry(r) = base {
            let scope = format!("repository:{}:pull", r.repository.path);
            let list = scopes.entry(r.repository.registry.clone()).or_default();
            if !list
                .iter()
                .any(|s| s.starts_with(&format!("repository:{}:", r.repository.path)))
            {
                list.push(scope);
            }
        }
        Clients {
            plan: plan.clone(),
            scopes,
            made: Mutex::new(HashMap::new()),
            reporter,
        }
    }

    pub(crate) fn get(&self, registry: &str) -> Result<Arc<Client>, Error> {
        let mut made = self.made.lock().expect("not poisoned");
        if let Some(c) = made.get(registry) {
            return Ok(c.clone());
        }
        let config = ClientConfig {
            registry: registry.to_string(),
            insecure: self.plan.insecure_registries.iter().any(|h| h == registry),
            credential: self.plan.credentials.lookup(registry)?,
            scopes: self.scopes.get(registry).cloned().unwrap_or_default(),
            chunk_size: None,
            retries: self.plan.retries,
            read_timeout: self.plan.read_timeout,
            extra_roots: crate::registry::load_ca_certs(
                registry,
                &self.plan.tls.ca_files,
                &self.plan.tls.certs_dirs,
            )
            .map_err(|source| Error::Registry {
                registry: registry.to_string(),
                source: Box::new(source),
            })?,
        };
        let client = Arc::new(Client::new(config, self.reporter.clone()));
        made.insert(registry.to_string(), client.clone());
        Ok(client)
    }
}

impl ClientFor for Clients {
    fn client_for(&self, registry: &str) -> Arc<Client> {
        // Credentials were looked up (and errors reported) before the base is opened.
        self.get(registry)
            .expect("clients are created before the base is opened")
    }
}
