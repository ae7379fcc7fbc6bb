//! OCI 1.1 referrers: what a referrers list is, the referrers tag schema, and how imgpush
//! adds its entries to a list other tools write too.
//!
//! A *referrer* is a manifest whose `subject` names another manifest (an SBOM or a
//! provenance statement about a platform image). Registries with the referrers API
//! (`GET /v2/<name>/referrers/<digest>`) keep the list themselves; for the others the
//! distribution spec's *referrers tag schema* applies: the tag `sha256-<hex of the subject>`
//! holds an OCI image index whose `manifests` are descriptors of the referrers, each with
//! the referrer's `artifactType` and annotations, and every client that pushes a referrer
//! read-modify-writes it (distribution-spec, "Pushing Manifests with Subject" and
//! "Referrers Tag Schema"). imgpush uses the same tag inside OCI layouts (regclient does;
//! the image-layout spec says nothing about referrers).
//!
//! Entries are kept as JSON values, not parsed into descriptors and written back: another
//! tool's entry must survive our update with every field it had, including ones imgpush
//! does not model.

use super::{Digest, canonical_json, media};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The referrers tag of a subject: `sha256-<64 hex>` (the algorithm and encoded parts
/// joined by `-`; a sha256 digest needs none of the spec's truncation or replacement).
pub fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// Is `tag` a referrers tag (`sha256-` and 64 lower-case hex digits)? Such a tag names a
/// list of referrers, never an image, so a layout's "the one image" ignores it.
pub fn is_fallback_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// One entry of a referrers list, as read (for listing; updates keep the raw JSON).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReferrerEntry {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// The referrer's `artifactType` (or its config's media type, as the spec fills it in);
    /// `None` when the entry has none (an index without one).
    #[serde(rename = "artifactType")]
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

impl ReferrerEntry {
    /// Reads one descriptor of a referrers list; `None` for an entry without a valid
    /// digest or size (another tool's mistake is skipped, not fatal).
    pub fn from_json(v: &Value) -> Option<ReferrerEntry> {
        let annotations = v
            .get("annotations")
            .and_then(Value::as_object)
            .map(|a| {
                a.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Some(ReferrerEntry {
            media_type: v.get("mediaType")?.as_str()?.to_string(),
            digest: v.get("digest")?.as_str()?.parse().ok()?,
            size: v.get("size")?.as_u64()?,
            artifact_type: v
                .get("artifactType")
                .and_then(Value::as_str)
                .map(str::to_string),
            annotations,
        })
    }

    /// `org.opencontainers.image.created`, for picking the newest of several referrers.
    pub fn created(&self) -> Option<&str> {
        self.annotations
            .get(super::annotation::CREATED)
            .map(String::as_str)
    }
}

/// The entries of a referrers list (an OCI image index, from the API or the referrers tag).
pub fn entries(index: &[u8]) -> Result<Vec<ReferrerEntry>, String> {
    Ok(raw_entries(&parse_index(index)?)
        .iter()
        .filter_map(ReferrerEntry::from_json)
        .collect())
}

/// An empty referrers list, the start when the referrers tag does not exist yet.
pub fn empty_index() -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [],
    })
}

/// What adding our entries to a referrers list came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    /// The new list's bytes, or `None` when every entry of ours was there already (then
    /// nothing needs writing).
    pub bytes: Option<Vec<u8>>,
    /// Entries that were there and stay (other tools' and ours from earlier runs).
    pub kept: usize,
    /// Entries of ours that were added.
    pub added: usize,
}

/// Adds `ours` (descriptors with `artifactType` and annotations) to the referrers list
/// `existing` (`None`: the tag does not exist yet). Every existing entry is kept as it is,
/// whoever wrote it, in its place; ours are appended unless an entry with the same digest
/// is there already (the spec: no duplicate entries). The list's own fields (annotations,
/// anything else) are kept too. Not an image index → an error (the spec: report a failure
/// and leave the tag alone).
pub fn merge(existing: Option<&[u8]>, ours: &[Value]) -> Result<Merged, String> {
    let mut index = match existing {
        Some(bytes) => parse_index(bytes)?,
        None => empty_index(),
    };
    let list = index
        .as_object_mut()
        .expect("parse_index returns an object")
        .entry("manifests")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(list) = list else {
        return Err("its `manifests` is not a list".into());
    };
    let kept = list.len();
    let mut added = 0;
    for entry in ours {
        let digest = entry.get("digest");
        if digest.is_none() || list.iter().any(|e| e.get("digest") == digest) {
            continue;
        }
        list.push(entry.clone());
        added += 1;
    }
    Ok(Merged {
        bytes: (added > 0).then(|| canonical_json(&index)),
        kept,
        added,
    })
}

/// A referrers list must be an OCI image index (a `mediaType` of anything else, or a body
/// that is not a JSON object with `manifests`, is refused).
fn parse_index(bytes: &[u8]) -> Result<Value, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("it is not JSON ({e})"))?;
    if !value.is_object() {
        return Err("it is not a JSON object".into());
    }
    match value.get("mediaType").and_then(Value::as_str) {
        Some(m) if m == media::OCI_INDEX => {}
        None if value.get("manifests").is_some_and(Value::is_array) => {}
        Some(other) => return Err(format!("it is a `{other}`, not an OCI image index")),
        None => return Err("it is not an image index (no `manifests`)".into()),
    }
    Ok(value)
}

fn raw_entries(index: &Value) -> Vec<Value> {
    index
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(content: &[u8], artifact_type: &str) -> Value {
        json!({
            "mediaType": media::OCI_MANIFEST,
            "digest": Digest::of(content).to_string(),
            "size": content.len(),
            "artifactType": artifact_type,
            "annotations": {"org.opencontainers.image.created": "1970-01-01T00:00:00Z"},
        })
    }

    #[test]
    fn the_referrers_tag_is_the_digest_with_a_dash() {
        let d = Digest::of(b"subject");
        let tag = fallback_tag(&d);
        assert_eq!(tag, format!("sha256-{}", d.hex()));
        assert!(is_fallback_tag(&tag));
        assert!(!is_fallback_tag("latest"));
        assert!(!is_fallback_tag("sha256-abc"));
        assert!(!is_fallback_tag(&tag.to_uppercase()));
    }

    #[test]
    fn a_new_list_holds_ours_once() {
        let ours = [
            entry(b"sbom", media::SPDX_JSON),
            entry(b"sbom", media::SPDX_JSON),
        ];
        let m = merge(None, &ours).unwrap();
        assert_eq!((m.kept, m.added), (0, 1));
        let v: Value = serde_json::from_slice(&m.bytes.unwrap()).unwrap();
        assert_eq!(v["mediaType"], media::OCI_INDEX);
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(v["manifests"][0], ours[0]);
    }

    #[test]
    fn other_tools_entries_survive_whole_and_in_place() {
        // A cosign-style signature entry with a field imgpush does not model.
        let theirs = json!({
            "mediaType": media::OCI_MANIFEST,
            "digest": Digest::of(b"signature").to_string(),
            "size": 9,
            "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
            "annotations": {"dev.sigstore.cosign/signature": "MEUC"},
            "data": "e30=",
            "x-unknown": {"kept": true},
        });
        let existing = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": [theirs],
            "annotations": {"com.example.list": "theirs"},
        }))
        .unwrap();
        let ours = entry(b"sbom", media::SPDX_JSON);
        let m = merge(Some(&existing), std::slice::from_ref(&ours)).unwrap();
        assert_eq!((m.kept, m.added), (1, 1));
        let v: Value = serde_json::from_slice(&m.bytes.unwrap()).unwrap();
        assert_eq!(v["manifests"][0], theirs);
        assert_eq!(v["manifests"][1], ours);
        assert_eq!(v["annotations"]["com.example.list"], "theirs");

        // Again with ours there: nothing to write.
        let again = merge(Some(&canonical_json(&v)), &[ours]).unwrap();
        assert_eq!((again.bytes, again.kept, again.added), (None, 2, 0));
    }

    #[test]
    fn a_tag_holding_something_else_is_refused() {
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {},
            "layers": [],
        }))
        .unwrap();
        let e = merge(Some(&manifest), &[entry(b"x", media::SPDX_JSON)]).unwrap_err();
        assert!(e.contains("not an OCI image index"), "{e}");
        assert!(merge(Some(b"not json"), &[]).is_err());
        assert!(merge(Some(b"[]"), &[]).is_err());
        // An index without `mediaType` is still an index (OCI allows leaving it out).
        let bare = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(merge(Some(bare), &[entry(b"x", "a/b")]).unwrap().added, 1);
    }

    #[test]
    fn entries_are_read_leniently() {
        let list = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": [
                entry(b"sbom", media::SPDX_JSON),
                {"mediaType": media::OCI_MANIFEST, "digest": "sha256:bad", "size": 1},
                {"mediaType": media::OCI_INDEX, "digest": Digest::of(b"i").to_string(), "size": 1},
            ],
        }))
        .unwrap();
        let found = entries(&list).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].artifact_type.as_deref(), Some(media::SPDX_JSON));
        assert_eq!(found[0].created(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(found[1].artifact_type, None);
    }
}
