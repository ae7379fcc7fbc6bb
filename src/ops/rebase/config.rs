//! The rebased image config, from three small JSON documents: the image's config, the old
//! base's and the new base's. No layer is read: the diff_ids and history of the image's
//! own layers are already in its config.
//!
//! Rule, per field of `config`: where the image's value equals the old base's, the image
//! did not set it, so it takes the new base's (absent there: absent); otherwise the
//! image's own stays. `Env` follows it per variable, `Labels`, `ExposedPorts` and
//! `Volumes` per key: what a rebuild on the new base with the same settings would give
//! (the base's variables in the base's order, then the image's own).

use serde_json::{Map, Value, json};

/// Fields of `config` merged key by key rather than as one value.
const KEYED: &[&str] = &["Labels", "ExposedPorts", "Volumes"];

/// Why the configs do not fit the layers.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ConfigMismatch {
    NotAnObject(&'static str),
    /// The image's diff_ids do not start with the old base's: `index` is the first that
    /// differs (or is missing).
    DiffIds {
        index: usize,
        image: Option<String>,
        base: String,
    },
}

impl std::fmt::Display for ConfigMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigMismatch::NotAnObject(which) => {
                write!(f, "the {which} config is not a JSON object")
            }
            ConfigMismatch::DiffIds { index, image, base } => write!(
                f,
                "rootfs.diff_ids[{index}] is {} in the image's config but {base} in the old base's",
                image.as_deref().unwrap_or("missing")
            ),
        }
    }
}

/// The image config on the new base: `created`, `author`, platform fields and anything
/// else at the top level are the image's; `config` is merged by the rule above;
/// `rootfs.diff_ids` and `history` are the new base's followed by the image's own.
pub(super) fn rebase_config(
    image: &Value,
    old: &Value,
    new: &Value,
) -> Result<Value, ConfigMismatch> {
    let mut root = image
        .as_object()
        .ok_or(ConfigMismatch::NotAnObject("image's"))?
        .clone();
    let old = old
        .as_object()
        .ok_or(ConfigMismatch::NotAnObject("old base's"))?;
    let new = new
        .as_object()
        .ok_or(ConfigMismatch::NotAnObject("new base's"))?;

    let image_ids = diff_ids(&root);
    let old_ids = diff_ids(old);
    for (i, base) in old_ids.iter().enumerate() {
        if image_ids.get(i) != Some(base) {
            return Err(ConfigMismatch::DiffIds {
                index: i,
                image: image_ids.get(i).cloned(),
                base: base.clone(),
            });
        }
    }
    let mut ids = diff_ids(new);
    ids.extend(image_ids[old_ids.len()..].iter().cloned());

    let image_history = array(&root, "history");
    let mut history = array(new, "history");
    history.extend(own_history(
        &image_history,
        &array(old, "history"),
        old_ids.len(),
    ));

    let merged = merge_config(
        root.get("config").and_then(Value::as_object),
        old.get("config").and_then(Value::as_object),
        new.get("config").and_then(Value::as_object),
    );
    match merged {
        Some(c) => root.insert("config".into(), Value::Object(c)),
        None => root.remove("config"),
    };
    let mut rootfs = root
        .get("rootfs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    rootfs.insert("type".into(), json!("layers"));
    rootfs.insert("diff_ids".into(), json!(ids));
    root.insert("rootfs".into(), Value::Object(rootfs));
    if history.is_empty() {
        root.remove("history");
    } else {
        root.insert("history".into(), Value::Array(history));
    }
    Ok(Value::Object(root))
}

fn diff_ids(config: &Map<String, Value>) -> Vec<String> {
    config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn array(config: &Map<String, Value>, key: &str) -> Vec<Value> {
    config
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The image's own history entries: what follows the old base's history when the image's
/// starts with it (every builder copies it); otherwise what follows the entry of the old
/// base's last layer (`empty_layer` entries add none).
fn own_history(image: &[Value], old: &[Value], old_layers: usize) -> Vec<Value> {
    if image.len() >= old.len() && image[..old.len()] == *old {
        return image[old.len()..].to_vec();
    }
    let mut layers = 0;
    let mut i = 0;
    while layers < old_layers && i < image.len() {
        if image[i].get("empty_layer").and_then(Value::as_bool) != Some(true) {
            layers += 1;
        }
        i += 1;
    }
    image[i..].to_vec()
}

fn merge_config(
    image: Option<&Map<String, Value>>,
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
) -> Option<Map<String, Value>> {
    let empty = Map::new();
    let (image_c, old_c, new_c) = (
        image.unwrap_or(&empty),
        old.unwrap_or(&empty),
        new.unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = image_c
        .keys()
        .chain(old_c.keys())
        .chain(new_c.keys())
        .collect();
    keys.sort();
    keys.dedup();
    let mut out = Map::new();
    for key in keys {
        let (i, o, n) = (image_c.get(key), old_c.get(key), new_c.get(key));
        let value = if key == "Env" && [i, o, n].iter().all(|v| v.is_none_or(Value::is_array)) {
            merge_env(i, o, n)
        } else if KEYED.contains(&key.as_str())
            && [i, o, n].iter().all(|v| v.is_none_or(Value::is_object))
        {
            merge_keyed(i, o, n)
        } else if i == o {
            n.cloned()
        } else {
            i.cloned()
        };
        if let Some(v) = value {
            out.insert(key.clone(), v);
        }
    }
    (image.is_some() || !out.is_empty()).then_some(out)
}

/// `KEY=VALUE` entries by key, in order (an entry without `=` is its own key).
fn env_entries(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|e| {
                    let key = e.split_once('=').map_or(e, |(k, _)| k);
                    (key.to_string(), e.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn merge_env(image: Option<&Value>, old: Option<&Value>, new: Option<&Value>) -> Option<Value> {
    let (i, o, n) = (env_entries(image), env_entries(old), env_entries(new));
    let get = |list: &[(String, String)], k: &str| {
        list.iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, e)| e.clone())
    };
    let mut out: Vec<String> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    // The new base's variables in its order: its value unless the image set its own.
    for (k, entry) in &n {
        if seen.contains(&k.as_str()) {
            continue;
        }
        seen.push(k);
        let (mine, was) = (get(&i, k), get(&o, k));
        if mine == was {
            out.push(get(&n, k).unwrap_or_else(|| entry.clone()));
        } else if let Some(mine) = mine {
            out.push(mine);
        }
    }
    // Then the image's own, in its order; what it only inherited from the old base goes.
    for (k, _) in &i {
        if seen.contains(&k.as_str()) {
            continue;
        }
        seen.push(k);
        let mine = get(&i, k);
        if mine != get(&o, k)
            && let Some(mine) = mine
        {
            out.push(mine);
        }
    }
    (image.is_some() || !out.is_empty()).then(|| json!(out))
}

fn merge_keyed(image: Option<&Value>, old: Option<&Value>, new: Option<&Value>) -> Option<Value> {
    let empty = Map::new();
    let obj = |v: Option<&Value>| v.and_then(Value::as_object).unwrap_or(&empty).clone();
    let (i, o, n) = (obj(image), obj(old), obj(new));
    let mut out = Map::new();
    for key in i.keys().chain(o.keys()).chain(n.keys()) {
        let (mine, was) = (i.get(key), o.get(key));
        let value = if mine == was { n.get(key) } else { mine };
        if let Some(v) = value {
            out.insert(key.clone(), v.clone());
        }
    }
    (image.is_some() || !out.is_empty()).then_some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(version: &str, ids: &[&str], env: &[&str]) -> Value {
        json!({
            "architecture": "amd64", "os": "linux", "created": format!("base {version}"),
            "config": {
                "Env": env, "Cmd": ["sh"], "WorkingDir": "/",
                "Labels": {"base.version": version, "vendor": "acme"},
                "Healthcheck": {"Test": ["CMD", version]}
            },
            "rootfs": {"type": "layers", "diff_ids": ids},
            "history": ids.iter().map(|i| json!({"created_by": format!("{version} {i}")})).collect::<Vec<_>>()
        })
    }

    /// What `imgpush build` made on `old`: entrypoint (so no Cmd), an env var of its own,
    /// one overriding the base's, a label, its layer.
    fn app_on(old: &Value) -> Value {
        let mut app = old.clone();
        app["created"] = json!("1970-01-01T00:00:00Z");
        app["author"] = json!("me");
        let c = &mut app["config"];
        c["Entrypoint"] = json!(["/app/hello"]);
        c.as_object_mut().unwrap().remove("Cmd");
        let mut env: Vec<Value> = c["Env"].as_array().unwrap().clone();
        env.retain(|e| !e.as_str().unwrap().starts_with("MODE="));
        env.push(json!("MODE=app"));
        env.push(json!("APP=1"));
        c["Env"] = json!(env);
        c["Labels"]["app"] = json!("hello");
        app["rootfs"]["diff_ids"]
            .as_array_mut()
            .unwrap()
            .push(json!("sha256:app"));
        app["history"]
            .as_array_mut()
            .unwrap()
            .push(json!({"created_by": "add /app/hello", "comment": "imgpush"}));
        app
    }

    #[test]
    fn fields_the_image_did_not_set_come_from_the_new_base() {
        let old = base(
            "v1",
            &["sha256:a1", "sha256:b1"],
            &["PATH=/bin", "MODE=base", "OLD=1"],
        );
        let new = base(
            "v2",
            &["sha256:a2"],
            &["PATH=/usr/bin:/bin", "NEW=2", "MODE=base2"],
        );
        let out = rebase_config(&app_on(&old), &old, &new).unwrap();
        assert_eq!(
            out["rootfs"]["diff_ids"],
            json!(["sha256:a2", "sha256:app"]),
            "the new base's diff_ids, then the image's own"
        );
        let history: Vec<&str> = out["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["created_by"].as_str().unwrap())
            .collect();
        assert_eq!(history, ["v2 sha256:a2", "add /app/hello"]);
        let c = &out["config"];
        assert_eq!(
            c["Env"],
            json!(["PATH=/usr/bin:/bin", "NEW=2", "MODE=app", "APP=1"]),
            "base variables from v2 in its order (OLD gone with v1), the image's own kept"
        );
        assert_eq!(c["Entrypoint"], json!(["/app/hello"]));
        assert!(
            c.get("Cmd").is_none(),
            "the image dropped the base's Cmd: {c}"
        );
        assert_eq!(c["WorkingDir"], json!("/"));
        assert_eq!(c["Healthcheck"], json!({"Test": ["CMD", "v2"]}));
        assert_eq!(
            c["Labels"],
            json!({"base.version": "v2", "vendor": "acme", "app": "hello"})
        );
        assert_eq!(out["created"], json!("1970-01-01T00:00:00Z"));
        assert_eq!(out["author"], json!("me"));
    }

    #[test]
    fn values_the_image_set_stay_even_when_the_new_base_changes_them() {
        let old = base("v1", &["sha256:a1"], &["PATH=/bin"]);
        let mut app = app_on(&old);
        app["config"]["WorkingDir"] = json!("/srv");
        app["config"]["Labels"]["base.version"] = json!("pinned");
        let mut new = base("v2", &["sha256:a2"], &["PATH=/usr/bin"]);
        new["config"]["WorkingDir"] = json!("/opt");
        new["config"]["User"] = json!("65532");
        new["config"]["ExposedPorts"] = json!({"80/tcp": {}});
        let out = rebase_config(&app, &old, &new).unwrap();
        let c = &out["config"];
        assert_eq!(c["WorkingDir"], json!("/srv"));
        assert_eq!(
            c["User"],
            json!("65532"),
            "new in the base, unset in both others"
        );
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(c["Labels"]["base.version"], json!("pinned"));
    }

    #[test]
    fn a_variable_the_image_removed_stays_removed() {
        let old = base("v1", &["sha256:a1"], &["PATH=/bin", "DEBUG=1"]);
        let mut app = old.clone();
        app["config"]["Env"] = json!(["PATH=/bin"]);
        let new = base("v2", &["sha256:a2"], &["PATH=/bin", "DEBUG=2"]);
        let out = rebase_config(&app, &old, &new).unwrap();
        assert_eq!(out["config"]["Env"], json!(["PATH=/bin"]));
    }

    #[test]
    fn diff_ids_not_starting_with_the_old_bases_are_refused() {
        let old = base("v1", &["sha256:a1", "sha256:b1"], &[]);
        let other = base("x", &["sha256:a1", "sha256:zz", "sha256:app"], &[]);
        let new = base("v2", &["sha256:a2"], &[]);
        assert_eq!(
            rebase_config(&other, &old, &new),
            Err(ConfigMismatch::DiffIds {
                index: 1,
                image: Some("sha256:zz".into()),
                base: "sha256:b1".into()
            })
        );
        assert!(rebase_config(&json!([]), &old, &new).is_err());
    }

    #[test]
    fn history_rewritten_by_another_builder_is_split_at_the_base_layers() {
        let image = vec![
            json!({"created_by": "x1"}),
            json!({"created_by": "x-env", "empty_layer": true}),
            json!({"created_by": "x2"}),
            json!({"created_by": "app"}),
        ];
        let old = vec![json!({"created_by": "other"})];
        assert_eq!(
            own_history(&image, &old, 2),
            vec![json!({"created_by": "app"})]
        );
        assert_eq!(own_history(&image, &image[..2], 1), image[2..].to_vec());
    }

    #[test]
    fn the_result_is_the_same_bytes_every_time() {
        let old = base("v1", &["sha256:a1"], &["PATH=/bin"]);
        let new = base("v2", &["sha256:a2"], &["PATH=/usr/bin"]);
        let app = app_on(&old);
        let a = crate::oci::canonical_json(&rebase_config(&app, &old, &new).unwrap());
        let b = crate::oci::canonical_json(&rebase_config(&app, &old, &new).unwrap());
        assert_eq!(a, b);
    }
}
