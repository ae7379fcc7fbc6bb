//! One platform image on its new base, and the index over them: the image's manifest with
//! the old base's layers swapped for the new base's (checked first), its config merged
//! (`config.rs`), the base annotations rewritten. Pure: every input is already loaded.

use super::RebaseError;
use super::config::rebase_config;
use crate::image::{BasePlatform, Document};
use crate::oci::{Digest, annotation, canonical_json, media};
use serde_json::{Value, json};

/// What one platform is rebased from and onto.
pub(super) struct PlatformInput<'a> {
    /// For messages: the image as given.
    pub image_name: &'a str,
    pub image: &'a BasePlatform,
    /// For messages: where the old base was read.
    pub old_name: &'a str,
    pub old: &'a BasePlatform,
    pub new: &'a BasePlatform,
    /// `base.name` to record: the new base as given.
    pub new_name: &'a str,
}

/// The rebased platform image: its manifest and config, and the layers it now has.
pub(super) struct Rebased {
    pub manifest: Document,
    pub config: Document,
    /// The new base's layer descriptors (relabelled to the image's format), then the
    /// image's own, unchanged.
    pub layers: Vec<oci_spec::image::Descriptor>,
    /// How many of `layers` are the new base's.
    pub base_layers: usize,
}

/// Is this a Docker schema2 manifest (no annotations, Docker layer media types)?
pub(super) fn is_docker(p: &BasePlatform) -> bool {
    p.descriptor.media_type().to_string() == media::DOCKER_MANIFEST
        || p.manifest
            .media_type()
            .as_ref()
            .map(|m| m.to_string())
            .as_deref()
            == Some(media::DOCKER_MANIFEST)
}

/// The same layer whatever format's label it carries.
fn same_layer(a: &oci_spec::image::Descriptor, b: &oci_spec::image::Descriptor) -> bool {
    a.digest() == b.digest()
        && media::oci_layer_type(a.media_type().as_ref())
            == media::oci_layer_type(b.media_type().as_ref())
}

/// Errors are boxed: they name the image, platform, base and layers.
pub(super) fn rebase_platform(input: &PlatformInput<'_>) -> Result<Rebased, Box<RebaseError>> {
    let platform = input.image.platform.to_string();
    let image_layers = input.image.manifest.layers();
    let old_layers = input.old.manifest.layers();
    if image_layers.len() < old_layers.len() {
        return Err(Box::new(RebaseError::TooFewLayers {
            image: input.image_name.to_string(),
            platform,
            layers: image_layers.len(),
            base: input.old_name.to_string(),
            base_layers: old_layers.len(),
        }));
    }
    if let Some(index) =
        (0..old_layers.len()).find(|&i| !same_layer(&image_layers[i], &old_layers[i]))
    {
        let show = |d: &oci_spec::image::Descriptor| format!("{} ({})", d.digest(), d.media_type());
        return Err(Box::new(RebaseError::LayersDiffer {
            image: input.image_name.to_string(),
            platform,
            base: input.old_name.to_string(),
            index,
            found: show(&image_layers[index]),
            expected: show(&old_layers[index]),
        }));
    }
    let config =
        rebase_config(&input.image.config, &input.old.config, &input.new.config).map_err(|e| {
            RebaseError::Config {
                image: input.image_name.to_string(),
                platform: platform.clone(),
                base: input.old_name.to_string(),
                message: e.to_string(),
            }
        })?;
    let config_type = input.image.manifest.config().media_type().to_string();
    let config = Document::new(canonical_json(&config), &config_type);

    let docker = is_docker(input.image);
    let relabel = |mt: &str| -> String {
        if docker {
            media::docker_layer_type(mt).to_string()
        } else {
            media::oci_layer_type(mt).to_string()
        }
    };
    let malformed = |what: &str, e: serde_json::Error| {
        Box::new(RebaseError::Config {
            image: input.image_name.to_string(),
            platform: platform.clone(),
            base: input.old_name.to_string(),
            message: format!("{what} is not valid JSON: {e}"),
        })
    };
    // The exact descriptors as stored (annotations, urls, anything oci-spec drops).
    let new_doc: Value = serde_json::from_slice(&input.new.manifest_bytes)
        .map_err(|e| malformed("the new base's manifest", e))?;
    let mut manifest: Value = serde_json::from_slice(&input.image.manifest_bytes)
        .map_err(|e| malformed("the image's manifest", e))?;
    let mut layer_values: Vec<Value> = new_doc["layers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut d| {
            if let Some(mt) = d["mediaType"].as_str().map(relabel) {
                d["mediaType"] = json!(mt);
            }
            d
        })
        .collect();
    let own: Vec<Value> = manifest["layers"]
        .as_array()
        .map(|a| a[old_layers.len()..].to_vec())
        .unwrap_or_default();
    layer_values.extend(own);
    let layers: Vec<oci_spec::image::Descriptor> = layer_values
        .iter()
        .map(|v| serde_json::from_value(v.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| malformed("a layer descriptor", e))?;

    manifest["config"]["digest"] = json!(config.digest.as_str());
    manifest["config"]["size"] = json!(config.bytes.len());
    manifest["layers"] = Value::Array(layer_values);
    if !docker {
        set_base_annotations(&mut manifest, input.new_name, &input.new.manifest_digest);
    }
    let manifest_type = input.image.descriptor.media_type().to_string();
    Ok(Rebased {
        manifest: Document::new(canonical_json(&manifest), &manifest_type),
        config,
        base_layers: input.new.manifest.layers().len(),
        layers,
    })
}

/// `base.name` and `base.digest` on a manifest or index; its other annotations stay.
fn set_base_annotations(doc: &mut Value, name: &str, digest: &Digest) {
    if !doc["annotations"].is_object() {
        doc["annotations"] = json!({});
    }
    doc["annotations"][annotation::BASE_NAME] = json!(name);
    doc["annotations"][annotation::BASE_DIGEST] = json!(digest.as_str());
}

/// The image's index with each rebased entry pointing at its new manifest (platform and
/// annotations of the entry kept), in the index's order. Entries not rebased go: the
/// platforms left out by `--platform`, and attestations, which describe the old manifests.
pub(super) fn rebase_index(
    index: &Document,
    rebased: &[(Digest, Document)],
    new_name: &str,
    new_digest: &Digest,
) -> Result<Document, serde_json::Error> {
    let mut doc: Value = serde_json::from_slice(&index.bytes)?;
    let entries: Vec<Value> = doc["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|mut e| {
            let old = e["digest"].as_str()?.parse::<Digest>().ok()?;
            let (_, new) = rebased.iter().find(|(d, _)| *d == old)?;
            e["digest"] = json!(new.digest.as_str());
            e["size"] = json!(new.bytes.len());
            e["mediaType"] = json!(new.media_type);
            Some(e)
        })
        .collect();
    doc["manifests"] = Value::Array(entries);
    if index.media_type != media::DOCKER_LIST {
        set_base_annotations(&mut doc, new_name, new_digest);
    }
    Ok(Document::new(canonical_json(&doc), &index.media_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::InMemory;
    use bytes::Bytes;
    use std::sync::Arc;

    fn layer(hex: char, mt: &str) -> Value {
        json!({"mediaType": mt, "digest": format!("sha256:{}", hex.to_string().repeat(64)), "size": 10})
    }

    fn platform(
        layers: Vec<Value>,
        config: Value,
        annotations: Option<Value>,
        docker: bool,
    ) -> BasePlatform {
        let config_bytes = canonical_json(&config);
        let manifest_type = if docker {
            media::DOCKER_MANIFEST
        } else {
            media::OCI_MANIFEST
        };
        let config_type = if docker {
            media::DOCKER_CONFIG
        } else {
            media::OCI_CONFIG
        };
        let mut m = json!({
            "schemaVersion": 2, "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": Digest::of(&config_bytes).as_str(), "size": config_bytes.len()},
            "layers": layers,
        });
        if let Some(a) = annotations {
            m["annotations"] = a;
        }
        let bytes = canonical_json(&m);
        let digest = Digest::of(&bytes);
        BasePlatform {
            platform: "linux/amd64".parse().unwrap(),
            descriptor: crate::image::descriptor(manifest_type, &digest, bytes.len() as u64),
            manifest_digest: digest,
            manifest: serde_json::from_slice(&bytes).unwrap(),
            manifest_bytes: Bytes::from(bytes),
            config_bytes: Bytes::from(config_bytes),
            source: Arc::new(InMemory(Bytes::new())),
            config,
        }
    }

    fn config(ids: &[char]) -> Value {
        json!({"architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": ids.iter().map(|c| format!("sha256:d{c}")).collect::<Vec<_>>()}})
    }

    fn input<'a>(
        image: &'a BasePlatform,
        old: &'a BasePlatform,
        new: &'a BasePlatform,
    ) -> PlatformInput<'a> {
        PlatformInput {
            image_name: "reg/app:v1",
            image,
            old_name: "reg/base@sha256:old",
            old,
            new,
            new_name: "reg/base:latest",
        }
    }

    #[test]
    fn the_new_base_layers_go_under_the_images_own() {
        let oci = media::OCI_LAYER_GZIP;
        let old = platform(vec![layer('a', oci)], config(&['a']), None, false);
        let new = platform(
            vec![layer('b', media::DOCKER_LAYER_GZIP), layer('c', oci)],
            config(&['b', 'c']),
            None,
            false,
        );
        let image = platform(
            vec![layer('a', oci), layer('f', media::OCI_LAYER_ZSTD)],
            config(&['a', 'f']),
            Some(json!({"org.example": "kept", annotation::BASE_NAME: "reg/base:v1"})),
            false,
        );
        let out = rebase_platform(&input(&image, &old, &new)).unwrap();
        let m: Value = serde_json::from_slice(&out.manifest.bytes).unwrap();
        assert_eq!(
            m["layers"],
            json!([
                layer('b', oci),
                layer('c', oci),
                layer('f', media::OCI_LAYER_ZSTD)
            ]),
            "the new base's layers in OCI labels, then the image's own unchanged"
        );
        assert_eq!(out.base_layers, 2);
        assert_eq!(m["config"]["digest"], json!(out.config.digest.as_str()));
        assert_eq!(m["annotations"]["org.example"], json!("kept"));
        assert_eq!(
            m["annotations"][annotation::BASE_NAME],
            json!("reg/base:latest")
        );
        assert_eq!(
            m["annotations"][annotation::BASE_DIGEST],
            json!(new.manifest_digest.as_str())
        );
        let c: Value = serde_json::from_slice(&out.config.bytes).unwrap();
        assert_eq!(
            c["rootfs"]["diff_ids"],
            json!(["sha256:db", "sha256:dc", "sha256:df"])
        );
        assert_eq!(out.manifest.media_type, media::OCI_MANIFEST);
    }

    #[test]
    fn docker_images_stay_docker_and_get_no_annotations() {
        let old = platform(
            vec![layer('a', media::OCI_LAYER_GZIP)],
            config(&['a']),
            None,
            false,
        );
        let new = platform(
            vec![layer('b', media::OCI_LAYER_GZIP)],
            config(&['b']),
            None,
            false,
        );
        let image = platform(
            vec![
                layer('a', media::DOCKER_LAYER_GZIP),
                layer('f', media::DOCKER_LAYER_GZIP),
            ],
            config(&['a', 'f']),
            None,
            true,
        );
        let out = rebase_platform(&input(&image, &old, &new)).unwrap();
        let m: Value = serde_json::from_slice(&out.manifest.bytes).unwrap();
        assert_eq!(m["layers"][0]["mediaType"], json!(media::DOCKER_LAYER_GZIP));
        assert!(m.get("annotations").is_none());
        assert_eq!(out.manifest.media_type, media::DOCKER_MANIFEST);
        assert_eq!(out.config.media_type, media::DOCKER_CONFIG);
    }

    #[test]
    fn an_image_not_on_the_old_base_is_refused_naming_the_layer() {
        let oci = media::OCI_LAYER_GZIP;
        let old = platform(
            vec![layer('a', oci), layer('b', oci)],
            config(&['a', 'b']),
            None,
            false,
        );
        let new = platform(vec![layer('c', oci)], config(&['c']), None, false);
        let image = platform(
            vec![layer('a', oci), layer('e', oci), layer('f', oci)],
            config(&['a', 'e', 'f']),
            None,
            false,
        );
        match rebase_platform(&input(&image, &old, &new)).map_err(|b| *b) {
            Err(RebaseError::LayersDiffer {
                index,
                found,
                expected,
                platform,
                ..
            }) => {
                assert_eq!((index, platform.as_str()), (1, "linux/amd64"));
                assert!(
                    found.starts_with("sha256:eee") && expected.starts_with("sha256:bbb"),
                    "{found} {expected}"
                );
            }
            other => panic!("{:?}", other.err()),
        }
        let short = platform(vec![layer('a', oci)], config(&['a']), None, false);
        assert!(matches!(
            rebase_platform(&input(&short, &old, &new)).map_err(|b| *b),
            Err(RebaseError::TooFewLayers {
                layers: 1,
                base_layers: 2,
                ..
            })
        ));
    }

    #[test]
    fn the_index_points_at_the_new_manifests_and_drops_the_rest() {
        let a = Digest::of(b"a");
        let att = Digest::of(b"attestation");
        let index = Document::new(
            canonical_json(&json!({
                "schemaVersion": 2, "mediaType": media::OCI_INDEX,
                "manifests": [
                    {"mediaType": media::OCI_MANIFEST, "digest": a.as_str(), "size": 1, "platform": {"architecture": "amd64", "os": "linux"}},
                    {"mediaType": media::OCI_MANIFEST, "digest": att.as_str(), "size": 1, "platform": {"architecture": "unknown", "os": "unknown"}}
                ],
                "annotations": {"keep": "me", annotation::BASE_DIGEST: "sha256:old"}
            })),
            media::OCI_INDEX,
        );
        let new_manifest = Document::new(b"{\"new\":1}".to_vec(), media::OCI_MANIFEST);
        let base_digest = Digest::of(b"base");
        let out = rebase_index(
            &index,
            &[(a, new_manifest.clone())],
            "reg/base:v2",
            &base_digest,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out.bytes).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(
            v["manifests"][0]["digest"],
            json!(new_manifest.digest.as_str())
        );
        assert_eq!(
            v["manifests"][0]["platform"]["architecture"],
            json!("amd64")
        );
        assert_eq!(v["annotations"]["keep"], json!("me"));
        assert_eq!(
            v["annotations"][annotation::BASE_DIGEST],
            json!(base_digest.as_str())
        );
        assert_eq!(
            v["annotations"][annotation::BASE_NAME],
            json!("reg/base:v2")
        );
    }
}
