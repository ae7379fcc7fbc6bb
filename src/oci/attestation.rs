//! Attestation manifests in an index, and the one rule for what counts as a platform.
//!
//! buildx (`--sbom`, `--provenance`, on by default since buildx 0.10) lists beside each
//! image an attestation manifest: an OCI image manifest whose layers are in-toto
//! statements, with platform `unknown/unknown` so that runtimes never pick it, and the
//! annotations `vnd.docker.reference.type: attestation-manifest` and
//! `vnd.docker.reference.digest: <the image manifest it attests>`
//! (docs.docker.com/build/metadata/attestations/attestation-storage/). Most official
//! Docker Hub images carry them. Every place that walks the entries of a base or source
//! index decides "platform or not" through [`entry_platform`].

use super::{Digest, Platform};
use oci_spec::image::Descriptor;

/// `vnd.docker.reference.type`: what an entry is, when it is not an image.
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// `vnd.docker.reference.digest`: the manifest an attestation entry is about.
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
/// The [`REFERENCE_TYPE`] of an attestation manifest.
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// An attestation manifest, not an image: listed as `unknown/unknown`, or annotated as one.
/// Either mark is enough — an attestation entry that carries its image's platform (an
/// index rewritten by a tool that fills in every platform) must still never be run, built
/// on or counted as that platform.
pub fn is_attestation(entry: &Descriptor) -> bool {
    let annotated = entry
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REFERENCE_TYPE))
        .is_some_and(|t| t == ATTESTATION_MANIFEST);
    annotated
        || entry
            .platform()
            .as_ref()
            .is_some_and(|p| Platform::from_oci(p).is_unknown())
}

/// The platform an index entry runs on; `None` for attestations and for entries without a
/// platform, which are carried along (copied, merged) but never selected.
pub fn entry_platform(entry: &Descriptor) -> Option<Platform> {
    if is_attestation(entry) {
        return None;
    }
    entry.platform().as_ref().map(Platform::from_oci)
}

/// The image manifest an attestation entry attests (`vnd.docker.reference.digest`).
pub fn attested_digest(entry: &Descriptor) -> Option<Digest> {
    if !is_attestation(entry) {
        return None;
    }
    entry
        .annotations()
        .as_ref()?
        .get(REFERENCE_DIGEST)
        .and_then(|d| d.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "sha256:8c1cd565037c7730e7edfe9fbb7f562282c43a89f5182dc78eace301e174b401";

    fn entry(platform: Option<&str>, annotated: bool) -> Descriptor {
        let mut v = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:3a66345dfe1bfde55d965d1f21ed1ac5013a0cc0e134f7becd4a9b675e4f3326",
            "size": 339,
        });
        if let Some(p) = platform {
            let (os, arch) = p.split_once('/').unwrap();
            v["platform"] = serde_json::json!({"os": os, "architecture": arch});
        }
        if annotated {
            v["annotations"] = serde_json::json!({
                REFERENCE_TYPE: ATTESTATION_MANIFEST,
                REFERENCE_DIGEST: IMAGE,
            });
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn buildx_attestations_are_not_platforms() {
        let buildx = entry(Some("unknown/unknown"), true);
        assert!(is_attestation(&buildx));
        assert_eq!(entry_platform(&buildx), None);
        assert_eq!(attested_digest(&buildx).unwrap().to_string(), IMAGE);
    }

    #[test]
    fn either_mark_makes_an_attestation() {
        let annotated_only = entry(Some("linux/amd64"), true);
        assert!(is_attestation(&annotated_only));
        assert_eq!(entry_platform(&annotated_only), None);
        assert_eq!(attested_digest(&annotated_only).unwrap().to_string(), IMAGE);

        let unknown_only = entry(Some("unknown/unknown"), false);
        assert!(is_attestation(&unknown_only));
        assert_eq!(entry_platform(&unknown_only), None);
        assert_eq!(attested_digest(&unknown_only), None);
    }

    #[test]
    fn images_are_platforms() {
        let image = entry(Some("linux/arm64"), false);
        assert!(!is_attestation(&image));
        assert_eq!(
            entry_platform(&image).unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(attested_digest(&image), None);
        // No platform: not an attestation, not a platform either.
        let bare = entry(None, false);
        assert!(!is_attestation(&bare));
        assert_eq!(entry_platform(&bare), None);
    }
}
