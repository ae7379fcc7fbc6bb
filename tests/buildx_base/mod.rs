//! A buildx-like base in a test registry: the busybox images plus one attestation manifest
//! per image (an in-toto SBOM statement), listed as buildx lists them or with the image's
//! own platform. skopeo cannot make attestation manifests, so they are uploaded with curl
//! (the Distribution API, by digest).

use crate::support::*;
use serde_json::{Value, json};
use std::process::Command;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

pub fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Runs curl, returning (HTTP status, output with headers when `-i` is given).
fn curl(args: &[&str]) -> (u16, String) {
    require("curl", "curl");
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {args:?} failed");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_string())
}

/// Uploads a blob into `repo` (POST, then a monolithic PUT to the Location); returns its digest.
fn upload_blob(registry: &Registry, repo: &str, bytes: &[u8]) -> String {
    let digest = format!("sha256:{}", sha256_hex(bytes));
    let (code, head) = curl(&[
        "-i",
        "-X",
        "POST",
        &format!("http://{}/v2/{repo}/blobs/uploads/", registry.host),
    ]);
    assert_eq!(code, 202, "starting an upload: {head}");
    let location = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_string())
        })
        .expect("a Location header");
    let location = if location.starts_with('/') {
        format!("http://{}{location}", registry.host)
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let (code, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{}", file.path().display()),
        &format!("{location}{sep}digest={digest}"),
    ]);
    assert_eq!(code, 201, "finishing the upload of {digest}: {body}");
    digest
}

/// PUTs a manifest or index under `reference` (a tag or digest); returns its digest.
fn put_manifest(
    registry: &Registry,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let (code, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {media_type}"),
        "--data-binary",
        &format!("@{}", file.path().display()),
        &format!("http://{}/v2/{repo}/manifests/{reference}", registry.host),
    ]);
    assert_eq!(code, 201, "PUT manifest {repo}:{reference}: {body}");
    format!("sha256:{}", sha256_hex(bytes))
}

/// The platform an attestation entry of the index is listed with.
#[derive(Clone, Copy, Debug)]
pub enum Listed {
    /// buildx: `{architecture: unknown, os: unknown}`, after the images.
    Buildx,
    /// The attested image's own platform, before the images: only the
    /// `vnd.docker.reference.type` annotation says what the entry is (what an index
    /// rewritten by a tool that copies platforms to every entry looks like).
    SubjectPlatformFirst,
}

/// A buildx-like base pushed to `HOST/REPO:latest`.
pub struct Attested {
    /// `HOST/REPO:latest`.
    pub reference: String,
    /// `HOST/REPO`.
    pub repo: String,
    pub index_digest: String,
    /// `(architecture, image manifest digest, first layer digest)`, in index order.
    pub images: Vec<(String, String, String)>,
    /// `(attestation manifest digest, attested image digest, in-toto layer digest)`.
    pub attestations: Vec<(String, String, String)>,
}

impl Attested {
    pub fn image(&self, arch: &str) -> &(String, String, String) {
        self.images.iter().find(|i| i.0 == arch).unwrap()
    }

    pub fn attestation_of(&self, arch: &str) -> &(String, String, String) {
        let image = &self.image(arch).1;
        self.attestations.iter().find(|a| &a.1 == image).unwrap()
    }
}

/// The busybox base (amd64, arm64) and, for `386`, a stand-in image (the amd64 manifest with
/// an annotation, so another digest over the same blobs), each with an SBOM attestation.
pub fn seed_attested(registry: &Registry, repo: &str, archs: &[&str], listed: Listed) -> Attested {
    registry.seed_busybox(repo, &[]);
    let host_repo = format!("{}/{repo}", registry.host);
    let busybox = json_of(&skopeo_raw(&format!("docker://{host_repo}:latest"), None));
    let entry_of = |arch: &str| -> Value {
        busybox["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap()
            .clone()
    };

    let mut image_entries = Vec::new();
    let mut attestation_entries = Vec::new();
    let mut images = Vec::new();
    let mut attestations = Vec::new();
    for &arch in archs {
        let (entry, manifest) = if arch == "386" {
            let mut manifest = json_of(&skopeo_raw(
                &format!(
                    "docker://{host_repo}@{}",
                    entry_of("amd64")["digest"].as_str().unwrap()
                ),
                None,
            ));
            manifest["annotations"] = json!({"org.example.stand-in": "linux/386"});
            let bytes = serde_json::to_vec(&manifest).unwrap();
            let digest = put_manifest(
                registry,
                repo,
                &format!("sha256:{}", sha256_hex(&bytes)),
                OCI_MANIFEST,
                &bytes,
            );
            let entry = json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": bytes.len(),
                "platform": {"architecture": "386", "os": "linux"},
            });
            (entry, manifest)
        } else {
            let entry = entry_of(arch);
            let raw = skopeo_raw(
                &format!("docker://{host_repo}@{}", entry["digest"].as_str().unwrap()),
                None,
            );
            (entry, json_of(&raw))
        };
        let image_digest = entry["digest"].as_str().unwrap().to_string();
        let first_layer = manifest["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();

        // What buildx writes for `--sbom=true`: an in-toto statement about the image.
        let statement = serde_json::to_vec(&json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://spdx.dev/Document",
            "subject": [{
                "name": format!("pkg:docker/{repo}@latest?platform=linux%2F{arch}"),
                "digest": {"sha256": image_digest.trim_start_matches("sha256:")},
            }],
            "predicate": {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": format!("sbom-{arch}")},
        }))
        .unwrap();
        let config = serde_json::to_vec(&json!({
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&statement))]},
        }))
        .unwrap();
        let statement_digest = upload_blob(registry, repo, &statement);
        let config_digest = upload_blob(registry, repo, &config);
        let attestation = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": [{
                "mediaType": IN_TOTO,
                "digest": statement_digest,
                "size": statement.len(),
                "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"},
            }],
        }))
        .unwrap();
        let attestation_digest = put_manifest(
            registry,
            repo,
            &format!("sha256:{}", sha256_hex(&attestation)),
            OCI_MANIFEST,
            &attestation,
        );
        let platform = match listed {
            Listed::Buildx => json!({"architecture": "unknown", "os": "unknown"}),
            Listed::SubjectPlatformFirst => entry["platform"].clone(),
        };
        attestation_entries.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": attestation_digest,
            "size": attestation.len(),
            "annotations": {
                REFERENCE_DIGEST: image_digest,
                REFERENCE_TYPE: "attestation-manifest",
            },
            "platform": platform,
        }));
        image_entries.push(entry);
        images.push((arch.to_string(), image_digest.clone(), first_layer));
        attestations.push((attestation_digest, image_digest, statement_digest));
    }
    let manifests: Vec<Value> = match listed {
        Listed::Buildx => image_entries
            .into_iter()
            .chain(attestation_entries)
            .collect(),
        Listed::SubjectPlatformFirst => attestation_entries
            .into_iter()
            .chain(image_entries)
            .collect(),
    };
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }))
    .unwrap();
    let index_digest = put_manifest(registry, repo, "latest", OCI_INDEX, &index);
    Attested {
        reference: format!("{host_repo}:latest"),
        repo: host_repo,
        index_digest,
        images,
        attestations,
    }
}

/// The entries of the index at `reference`, as `(platform os/arch, digest, annotations)`.
pub fn entries(reference: &str) -> Vec<(String, String, Value)> {
    let index = json_of(&skopeo_raw(&format!("docker://{reference}"), None));
    index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| {
            (
                format!(
                    "{}/{}",
                    m["platform"]["os"].as_str().unwrap_or("-"),
                    m["platform"]["architecture"].as_str().unwrap_or("-")
                ),
                m["digest"].as_str().unwrap().to_string(),
                m["annotations"].clone(),
            )
        })
        .collect()
}

pub fn is_attestation_entry(annotations: &Value) -> bool {
    annotations[REFERENCE_TYPE] == "attestation-manifest"
}
