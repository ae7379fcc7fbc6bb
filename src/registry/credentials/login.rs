//! `imgpush login` / `logout`: storing and erasing a credential in docker's config.json
//! (or the helper it names), keeping the file's other keys and mode 0600.

use super::{CredentialError, CredentialStore, normalize_host, read_json, server_url};
use base64::Engine as _;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

impl CredentialStore {
    /// Stores a verified credential like `docker login`: in the configured helper when
    /// config.json names one for this registry, else base64 in `auths`. Other keys of the
    /// file are kept; the file is written atomically with mode 0600.
    pub fn store(
        &self,
        registry: &str,
        username: &str,
        password: &str,
    ) -> Result<PathBuf, CredentialError> {
        let path = self
            .docker_config
            .clone()
            .ok_or(CredentialError::NoConfigPath)?;
        let mut root = read_json::<Value>(&path)?.unwrap_or_else(|| Value::Object(Map::new()));
        let helper = configured_helper(&root, registry);
        let key = server_url(registry);
        let auths = object_entry(&mut root, "auths");
        auths.retain(|k, _| normalize_host(k) != normalize_host(registry));
        match helper {
            Some(h) => {
                let input =
                    serde_json::json!({"ServerURL": key, "Username": username, "Secret": password})
                        .to_string();
                let (ok, text) = self.run_helper(&h, "store", &input, registry, &path)?;
                if !ok {
                    return Err(CredentialError::Helper {
                        helper: h,
                        registry: registry.into(),
                        message: text
                            .lines()
                            .next()
                            .unwrap_or("store failed")
                            .chars()
                            .take(120)
                            .collect(),
                    });
                }
                auths.insert(key, serde_json::json!({}));
            }
            None => {
                let auth = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                auths.insert(key, serde_json::json!({ "auth": auth }));
            }
        }
        write_private(&path, &root)?;
        Ok(path)
    }

    /// Forgets the credential for `registry` (`imgpush logout`); `false` if there was none.
    pub fn erase(&self, registry: &str) -> Result<bool, CredentialError> {
        let path = self
            .docker_config
            .clone()
            .ok_or(CredentialError::NoConfigPath)?;
        let Some(mut root) = read_json::<Value>(&path)? else {
            return Ok(false);
        };
        let mut removed = false;
        if let Some(h) = configured_helper(&root, registry) {
            let (ok, _) = self.run_helper(&h, "erase", &server_url(registry), registry, &path)?;
            removed |= ok;
        }
        let auths = object_entry(&mut root, "auths");
        let before = auths.len();
        auths.retain(|k, _| normalize_host(k) != normalize_host(registry));
        removed |= auths.len() != before;
        write_private(&path, &root)?;
        Ok(removed)
    }
}

fn configured_helper(root: &Value, registry: &str) -> Option<String> {
    let wanted = normalize_host(registry);
    root.get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|m| m.iter().find(|(k, _)| normalize_host(k) == wanted))
        .and_then(|(_, v)| v.as_str().map(str::to_string))
        .or_else(|| {
            root.get("credsStore")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|h| !h.is_empty())
}

fn object_entry<'a>(root: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !root.is_object() {
        *root = Value::Object(Map::new());
    }
    let map = root.as_object_mut().expect("just made an object");
    let slot = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("just made an object")
}

fn write_private(path: &Path, value: &Value) -> Result<(), CredentialError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| CredentialError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(err)?;
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    tmp.write_all(text.as_bytes()).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Credential;

    #[test]
    fn store_and_erase_keep_other_keys_and_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("d/config.json");
        std::fs::create_dir_all(dir.path().join("d")).unwrap();
        std::fs::write(
            &config,
            r#"{"auths":{"other.io":{"auth":"eDp5"}},"proxies":{"default":{}}}"#,
        )
        .unwrap();
        let store = CredentialStore {
            docker_config: Some(config.clone()),
            ..Default::default()
        };
        store.store("index.docker.io", "alice", "pw").unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        assert_eq!(
            v["auths"]["https://index.docker.io/v1/"]["auth"],
            "YWxpY2U6cHc="
        );
        assert_eq!(v["auths"]["other.io"]["auth"], "eDp5");
        assert!(v.get("proxies").is_some());
        assert_eq!(
            std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            store.lookup("docker.io").unwrap(),
            Some(Credential::Basic {
                username: "alice".into(),
                password: "pw".into()
            })
        );
        assert!(store.erase("docker.io").unwrap());
        assert_eq!(store.lookup("docker.io").unwrap(), None);
        assert!(!store.erase("docker.io").unwrap());
    }
}
