//! The image config: base config + our diff_ids + history + the user's overrides.

use crate::oci::rfc3339;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Everything the user can set on the image config and manifests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSettings {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `KEY=VALUE`, applied in order (a key given again replaces the earlier value).
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `PORT/proto`, e.g. `8080/tcp`.
    pub expose: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Set on every manifest and on the index.
    pub annotations: BTreeMap<String, String>,
    /// Seconds since the epoch for `created` and history (`SOURCE_DATE_EPOCH`, else 0).
    pub created: u64,
}

/// Applies `settings` to a copy of the base config. `history` lists one `created_by` per
/// added layer, `diff_ids` their uncompressed digests.
pub(crate) fn compose_config(
    base: &Value,
    diff_ids: &[String],
    history: &[String],
    settings: &ImageSettings,
) -> Option<Value> {
    let mut root = base.as_object()?.clone();
    let created = rfc3339(settings.created);
    root.insert("created".into(), json!(created));

    let cfg = object_at(&mut root, "config");
    if let Some(entrypoint) = &settings.entrypoint {
        cfg.insert("Entrypoint".into(), json!(entrypoint));
        // As `docker build` does: a new ENTRYPOINT drops the base's CMD unless CMD is given.
        if settings.cmd.is_none() {
            cfg.remove("Cmd");
        }
    }
    if let Some(cmd) = &settings.cmd {
        cfg.insert("Cmd".into(), json!(cmd));
    }
    if !settings.env.is_empty() {
        let mut env: Vec<String> = cfg
            .get("Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for (k, v) in &settings.env {
            let entry = format!("{k}={v}");
            match env
                .iter_mut()
                .find(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) == k)
            {
                Some(existing) => *existing = entry,
                None => env.push(entry),
            }
        }
        cfg.insert("Env".into(), json!(env));
    }
    if let Some(w) = &settings.workdir {
        cfg.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &settings.user {
        cfg.insert("User".into(), json!(u));
    }
    if !settings.expose.is_empty() {
        let ports = object_at(cfg, "ExposedPorts");
        for p in &settings.expose {
            ports.insert(p.clone(), json!({}));
        }
    }
    if !settings.labels.is_empty() {
        let labels = object_at(cfg, "Labels");
        for (k, v) in &settings.labels {
            labels.insert(k.clone(), json!(v));
        }
    }

    let rootfs = object_at(&mut root, "rootfs");
    rootfs.insert("type".into(), json!("layers"));
    let ids = array_at(rootfs, "diff_ids");
    ids.extend(diff_ids.iter().map(|d| json!(d)));

    let hist = array_at(&mut root, "history");
    for created_by in history {
        hist.push(json!({
            "created": created,
            "created_by": created_by,
            "comment": "imgpush",
        }));
    }
    Some(Value::Object(root))
}

fn object_at<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key.to_string()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("just made an object")
}

fn array_at<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let slot = map.entry(key.to_string()).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot.as_array_mut().expect("just made an array")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin", "A=1"], "Healthcheck": {"Test": ["NONE"]}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]},
            "history": [{"created_by": "base"}]
        })
    }

    #[test]
    fn entrypoint_alone_clears_cmd_and_unknown_fields_survive() {
        let s = ImageSettings {
            entrypoint: Some(vec!["/app/hello".into()]),
            env: vec![("A".into(), "2".into()), ("B".into(), "3".into())],
            expose: vec!["8080/tcp".into()],
            ..Default::default()
        };
        let out = compose_config(
            &base(),
            &["sha256:bb".into()],
            &["add /app/hello".into()],
            &s,
        )
        .unwrap();
        assert_eq!(out["config"]["Entrypoint"], json!(["/app/hello"]));
        assert!(out["config"].get("Cmd").is_none());
        assert_eq!(out["config"]["Env"], json!(["PATH=/bin", "A=2", "B=3"]));
        assert_eq!(out["config"]["Healthcheck"], json!({"Test": ["NONE"]}));
        assert_eq!(out["config"]["ExposedPorts"], json!({"8080/tcp": {}}));
        assert_eq!(out["rootfs"]["diff_ids"], json!(["sha256:aa", "sha256:bb"]));
        assert_eq!(out["history"].as_array().unwrap().len(), 2);
        assert_eq!(out["created"], json!("1970-01-01T00:00:00Z"));
    }

    #[test]
    fn entrypoint_with_cmd_keeps_cmd() {
        let s = ImageSettings {
            entrypoint: Some(vec!["/app/hello".into()]),
            cmd: Some(vec!["--port".into(), "80".into()]),
            ..Default::default()
        };
        let out = compose_config(&base(), &[], &[], &s).unwrap();
        assert_eq!(out["config"]["Cmd"], json!(["--port", "80"]));
    }
}
