//! Builds a generated base (the embedded `static`) as an OCI layout in a work directory,
//! with no network. The result is loaded like any other layout base.

use super::BaseError;
use super::spec::{DirSpec, FileSpec, GeneratedSpec, parse_mode};
use crate::image::{Document, descriptor};
use crate::layer::{EntrySource, LayerEntry, LayerOptions, write_layer};
use crate::oci::{Platform, annotation, canonical_json, media, rfc3339};
use base64::Engine as _;
use oci_spec::image::{ImageIndexBuilder, ImageManifestBuilder};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The Mozilla root store from the pinned webpki-root-certs crate, as a PEM bundle.
pub fn ca_bundle_pem() -> Vec<u8> {
    let mut out = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out.into_bytes()
}

/// Writes the generated base `name` as an OCI layout under `work` (tag `latest`) and
/// returns the layout directory.
pub fn generate(name: &str, spec: &GeneratedSpec, work: &Path) -> Result<PathBuf, BaseError> {
    let bad = |message: String| BaseError::Spec {
        name: name.to_string(),
        message,
    };
    let dir = work.join(format!("base-{name}"));
    let blobs = dir.join("blobs").join("sha256");
    let io = |source| BaseError::Io {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&blobs).map_err(io)?;

    let entries = declared_entries(&spec.files, &spec.dirs).map_err(bad)?;
    // Fixed mtime 0: the embedded base must not change with SOURCE_DATE_EPOCH.
    let layer = write_layer(
        entries,
        format!("imgpush embedded base `{name}`"),
        LayerOptions::default(),
        &blobs,
    )
    .map_err(|source| BaseError::Generate {
        name: name.to_string(),
        source,
    })?;
    let config = base_config(&spec.env, spec.user.as_deref(), spec.workdir.as_deref());
    let mut images = Vec::new();
    for p in &spec.platforms {
        let platform: Platform = p.parse().map_err(|e| bad(format!("{e}")))?;
        images.push(GeneratedImage {
            platform,
            layers: vec![layer.clone()],
            config: config.clone(),
        });
    }
    write_layout(&dir, &images).map_err(io)?;
    Ok(dir)
}

/// The layer entries of declared files (given content, or `source = "webpki-root-certs"`)
/// and directories, for the generated and the package bases.
pub(super) fn declared_entries(
    files: &[FileSpec],
    dirs: &[DirSpec],
) -> Result<Vec<LayerEntry>, String> {
    let mut entries = Vec::new();
    for f in files {
        let mode =
            parse_mode(&f.mode).ok_or_else(|| format!("bad mode `{}` for {}", f.mode, f.path))?;
        let bytes = match (&f.content, f.source.as_deref()) {
            (Some(c), None) => c.clone().into_bytes(),
            (None, Some("webpki-root-certs")) => ca_bundle_pem(),
            _ => {
                return Err(format!(
                    "{}: give either content or source = \"webpki-root-certs\"",
                    f.path
                ));
            }
        };
        entries.push(LayerEntry::file(&f.path, EntrySource::Bytes(bytes), mode));
    }
    for d in dirs {
        let mode =
            parse_mode(&d.mode).ok_or_else(|| format!("bad mode `{}` for {}", d.mode, d.path))?;
        entries.push(LayerEntry::dir(&d.path, mode, d.uid, d.gid));
    }
    Ok(entries)
}

/// An image config's `config` object with `Env`, and `User`/`WorkingDir` when set.
pub(super) fn base_config(
    env: &[String],
    user: Option<&str>,
    workdir: Option<&str>,
) -> serde_json::Value {
    let mut config = serde_json::Map::new();
    config.insert("Env".into(), json!(env));
    if let Some(u) = user {
        config.insert("User".into(), json!(u));
    }
    if let Some(w) = workdir {
        config.insert("WorkingDir".into(), json!(w));
    }
    serde_json::Value::Object(config)
}

/// One platform of a base built in-process.
pub(super) struct GeneratedImage {
    pub platform: Platform,
    /// Bottom first; the files may be shared between platforms.
    pub layers: Vec<crate::layer::Layer>,
    /// The image config's `config` object (Env, User, Entrypoint, …).
    pub config: serde_json::Value,
}

/// Writes `images` as one index into the OCI layout `dir` (tag `latest`), moving each layer
/// file into its blobs. Every `created` is the epoch: a generated base's digests depend on
/// its inputs only.
pub(super) fn write_layout(dir: &Path, images: &[GeneratedImage]) -> std::io::Result<()> {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs)?;
    let created = rfc3339(0);
    let mut manifests = Vec::new();
    for image in images {
        for layer in &image.layers {
            let target = blobs.join(layer.digest.hex());
            if !target.exists() {
                std::fs::rename(&layer.path, &target)?;
            }
        }
        let platform = &image.platform;
        let mut config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "created": created,
            "config": image.config,
            "rootfs": {
                "type": "layers",
                "diff_ids": image.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
            },
            "history": image.layers.iter().map(|l| json!({"created": created, "created_by": l.created_by})).collect::<Vec<_>>(),
        });
        if let Some(v) = &platform.variant {
            config["variant"] = json!(v);
        }
        let config = Document::new(canonical_json(&config), media::OCI_CONFIG);
        write_blob(&blobs, &config)?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(media::OCI_MANIFEST)
            .config(config.descriptor())
            .layers(
                image
                    .layers
                    .iter()
                    .map(|l| descriptor(l.media_type, &l.digest, l.size))
                    .collect::<Vec<_>>(),
            )
            .build()
            .expect("all required manifest fields are set");
        let manifest = Document::new(canonical_json(&manifest), media::OCI_MANIFEST);
        write_blob(&blobs, &manifest)?;
        let mut entry = manifest.descriptor();
        entry.set_platform(Some(platform.to_oci(None)));
        manifests.push(entry);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(media::OCI_INDEX)
        .manifests(manifests)
        .build()
        .expect("all required index fields are set");
    let index = Document::new(canonical_json(&index), media::OCI_INDEX);
    write_blob(&blobs, &index)?;

    let mut top = index.descriptor();
    top.set_annotations(Some(HashMap::from([(
        annotation::REF_NAME.to_string(),
        "latest".to_string(),
    )])));
    let layout_index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .manifests(vec![top])
        .build()
        .expect("all required index fields are set");
    std::fs::write(dir.join("index.json"), canonical_json(&layout_index))?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(())
}

fn write_blob(blobs: &Path, doc: &Document) -> std::io::Result<()> {
    std::fs::write(blobs.join(doc.digest.hex()), &doc.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_base_digest_is_stable() {
        let spec = crate::base::spec::find("static")
            .unwrap()
            .generated
            .unwrap();
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let read = |dir: &Path| {
            std::fs::read(generate("static", &spec, dir).unwrap().join("index.json")).unwrap()
        };
        let (ia, ib) = (read(a.path()), read(b.path()));
        assert_eq!(ia, ib);
        let index: serde_json::Value = serde_json::from_slice(&ia).unwrap();
        // Changes only when base-images/static.toml, the pinned webpki-root-certs or the
        // layer format changes — each of which changes every image built on `static`.
        assert_eq!(
            index["manifests"][0]["digest"],
            "sha256:b8130f1d37b098d92495bd3626112787abec1f8e16e5de8a62713a9b461fcb4e"
        );
    }
}
