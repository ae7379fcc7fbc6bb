//! Documents attached to a platform image as OCI 1.1 referrers (SBOMs, provenance).
//!
//! An [`Attachment`] is the document and how to label it; [`Referrer::compose`] makes it
//! an artifact manifest (image-spec 1.1, "Guidelines for Artifact Usage"): an image
//! manifest with `artifactType`, the empty descriptor as config, the document as its one
//! layer, and `subject` = the platform manifest. Pure and deterministic: the same document,
//! annotations and subject always give the same bytes, so a re-push finds every referrer
//! in place.
//!
//! Attachments are for OCI images only: a Docker schema2 image (`--format docker`) is
//! meant for registries and tools that do not take OCI, which is what an artifact manifest
//! is, so attaching to one is refused ([`ImageError::AttachToDocker`]) rather than pushed
//! to fail there or skipped without a word.

use super::{Document, ImageError, PlatformImage};
use crate::oci::{Digest, EMPTY_JSON, EMPTY_JSON_DIGEST, annotation, canonical_json, media};
use bytes::Bytes;
use oci_spec::image::Descriptor;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A document to attach to a platform image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The artifact manifest's `artifactType`: what the document is
    /// (`application/spdx+json`, `application/vnd.cyclonedx+json`,
    /// `application/vnd.in-toto+json`).
    pub artifact_type: String,
    /// The document's own media type (its layer's); usually the artifact type.
    pub media_type: String,
    /// The document, exactly as it is to be stored and read back.
    pub bytes: Bytes,
    /// Annotations of the artifact manifest (copied into referrers lists by the spec's
    /// rules), e.g. `org.opencontainers.image.created`.
    pub annotations: BTreeMap<String, String>,
}

impl Attachment {
    /// A document whose media type is its artifact type, annotated with no creation time.
    pub fn new(artifact_type: &str, bytes: impl Into<Bytes>) -> Attachment {
        Attachment {
            artifact_type: artifact_type.to_string(),
            media_type: artifact_type.to_string(),
            bytes: bytes.into(),
            annotations: BTreeMap::new(),
        }
    }

    /// `org.opencontainers.image.created` from the build's epoch (`--epoch` /
    /// `SOURCE_DATE_EPOCH`), never the wall clock: the manifest must not change between
    /// two builds of the same inputs.
    pub fn created_at(mut self, epoch_seconds: u64) -> Attachment {
        self.annotations.insert(
            annotation::CREATED.to_string(),
            crate::oci::rfc3339(epoch_seconds),
        );
        self
    }

    pub fn with_annotation(mut self, key: &str, value: &str) -> Attachment {
        self.annotations.insert(key.to_string(), value.to_string());
        self
    }
}

/// An attachment composed for one subject: the document as a blob and the artifact
/// manifest that points at it and at the subject.
#[derive(Clone, Debug)]
pub struct Referrer {
    pub artifact_type: String,
    /// The document blob (its digest is the layer's).
    pub document: Document,
    /// The artifact manifest.
    pub manifest: Document,
    /// The platform manifest it is about.
    pub subject: Digest,
    pub annotations: BTreeMap<String, String>,
}

impl Referrer {
    /// The artifact manifest for `attachment` about the manifest `subject`.
    pub fn compose(subject: &Document, attachment: &Attachment) -> Referrer {
        let document = Document::new(attachment.bytes.to_vec(), &attachment.media_type);
        let layer = Blob {
            media_type: &document.media_type,
            digest: &document.digest,
            size: document.bytes.len() as u64,
        };
        let manifest = artifact_manifest(
            &attachment.artifact_type,
            &layer,
            &attachment.annotations,
            Some(subject),
        );
        Referrer {
            artifact_type: attachment.artifact_type.clone(),
            manifest,
            document,
            subject: subject.digest.clone(),
            annotations: attachment.annotations.clone(),
        }
    }

    /// Its entry in a referrers list: the manifest's descriptor with `artifactType` and
    /// every annotation of the manifest (distribution-spec, "Pushing Manifests with
    /// Subject").
    pub fn list_entry(&self) -> Value {
        let mut entry = json!({
            "mediaType": self.manifest.media_type,
            "digest": self.manifest.digest.to_string(),
            "size": self.manifest.bytes.len(),
            "artifactType": self.artifact_type,
        });
        if !self.annotations.is_empty() {
            entry["annotations"] = json!(self.annotations);
        }
        entry
    }

    /// The same as an oci-spec descriptor.
    pub fn descriptor(&self) -> Descriptor {
        serde_json::from_value(self.list_entry()).expect("a descriptor we made parses")
    }
}

/// A blob an artifact manifest points at.
pub struct Blob<'a> {
    pub media_type: &'a str,
    pub digest: &'a Digest,
    pub size: u64,
}

/// An OCI 1.1 artifact manifest ("Guidelines for Artifact Usage"): `artifactType`, the
/// empty descriptor as config, `layer` as its one layer, and `subject` when it is about
/// another manifest (a referrer); without one it stands alone under a tag (the toolchain
/// cache's artifacts).
pub fn artifact_manifest(
    artifact_type: &str,
    layer: &Blob<'_>,
    annotations: &BTreeMap<String, String>,
    subject: Option<&Document>,
) -> Document {
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": artifact_type,
        // The empty descriptor, with its content inline as image-spec 1.1's
        // `DescriptorEmptyJSON` has it; the blob is pushed all the same (registries
        // check that a manifest's config exists).
        "config": {
            "mediaType": media::OCI_EMPTY,
            "digest": EMPTY_JSON_DIGEST,
            "size": EMPTY_JSON.len(),
            "data": "e30=",
        },
        "layers": [{
            "mediaType": layer.media_type,
            "digest": layer.digest.to_string(),
            "size": layer.size,
        }],
    });
    if let Some(subject) = subject {
        manifest["subject"] = json!({
            "mediaType": subject.media_type,
            "digest": subject.digest.to_string(),
            "size": subject.bytes.len(),
        });
    }
    if !annotations.is_empty() {
        manifest["annotations"] = json!(annotations);
    }
    Document::new(canonical_json(&manifest), media::OCI_MANIFEST)
}

impl PlatformImage {
    /// Attaches a document to this image (once: the same referrer twice is kept once).
    pub fn attach(&mut self, attachment: &Attachment) -> Result<(), ImageError> {
        if self.manifest.media_type != media::OCI_MANIFEST {
            return Err(ImageError::AttachToDocker {
                platform: self.platform.clone(),
                artifact_type: attachment.artifact_type.clone(),
            });
        }
        let referrer = Referrer::compose(&self.manifest, attachment);
        if !self
            .referrers
            .iter()
            .any(|r| r.manifest.digest == referrer.manifest.digest)
        {
            self.referrers.push(referrer);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Document {
        Document::new(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#
                .to_vec(),
            media::OCI_MANIFEST,
        )
    }

    #[test]
    fn an_artifact_manifest_has_the_empty_config_one_layer_and_the_subject() {
        let sbom = br#"{"spdxVersion":"SPDX-2.3"}"#;
        let a = Attachment::new(media::SPDX_JSON, sbom.to_vec()).created_at(1_700_000_000);
        let s = subject();
        let r = Referrer::compose(&s, &a);
        let m: Value = serde_json::from_slice(&r.manifest.bytes).unwrap();
        assert_eq!(m["mediaType"], media::OCI_MANIFEST);
        assert_eq!(m["artifactType"], media::SPDX_JSON);
        assert_eq!(m["config"]["mediaType"], media::OCI_EMPTY);
        assert_eq!(m["config"]["digest"], EMPTY_JSON_DIGEST);
        assert_eq!(m["config"]["size"], 2);
        assert_eq!(m["layers"].as_array().unwrap().len(), 1);
        assert_eq!(m["layers"][0]["digest"], Digest::of(sbom).as_str());
        assert_eq!(m["layers"][0]["mediaType"], media::SPDX_JSON);
        assert_eq!(m["subject"]["digest"], s.digest.as_str());
        assert_eq!(m["subject"]["size"], s.bytes.len());
        assert_eq!(
            m["annotations"]["org.opencontainers.image.created"],
            "2023-11-14T22:13:20Z"
        );
        // oci-spec reads it as an image manifest with the subject.
        let parsed: oci_spec::image::ImageManifest =
            serde_json::from_slice(&r.manifest.bytes).unwrap();
        assert_eq!(
            parsed.subject().as_ref().unwrap().size(),
            s.bytes.len() as u64
        );
        assert_eq!(r.document.bytes.as_ref(), sbom);

        let entry = r.list_entry();
        assert_eq!(entry["digest"], r.manifest.digest.as_str());
        assert_eq!(entry["artifactType"], media::SPDX_JSON);
        assert_eq!(entry["annotations"], m["annotations"]);
        assert_eq!(r.descriptor().size(), r.manifest.bytes.len() as u64);
    }

    #[test]
    fn the_bytes_are_pinned() {
        // A golden digest: any change to the manifest's shape changes every re-push.
        let a = Attachment::new(media::SPDX_JSON, b"{}".to_vec()).created_at(0);
        let r = Referrer::compose(&subject(), &a);
        assert_eq!(
            String::from_utf8(r.manifest.bytes.to_vec()).unwrap(),
            format!(
                concat!(
                    r#"{{"annotations":{{"org.opencontainers.image.created":"1970-01-01T00:00:00Z"}},"#,
                    r#""artifactType":"application/spdx+json","#,
                    r#""config":{{"data":"e30=","digest":"{empty}","mediaType":"application/vnd.oci.empty.v1+json","size":2}},"#,
                    r#""layers":[{{"digest":"{empty}","mediaType":"application/spdx+json","size":2}}],"#,
                    r#""mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2,"#,
                    r#""subject":{{"digest":"{subject}","mediaType":"application/vnd.oci.image.manifest.v1+json","size":76}}}}"#
                ),
                empty = EMPTY_JSON_DIGEST,
                subject = subject().digest,
            )
        );
        assert_eq!(
            r.manifest.digest.as_str(),
            "sha256:90b7d8fa235c7638d3fd923acba38acfeaceb2a1b3c87a6c1279100184ad6ef0"
        );
        assert_eq!(
            r.manifest.digest,
            Referrer::compose(&subject(), &a).manifest.digest
        );
    }
}
