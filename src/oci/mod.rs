//! Content-addressed building blocks shared by every stage: digests, platforms,
//! references, media types and canonical JSON. Depends on nothing else in the crate.

pub mod attestation;
mod digest;
mod platform;
pub mod reference;
pub mod referrers;

pub use digest::{Digest, DigestError, Sha256Writer};
pub use platform::{KNOWN_ARCHITECTURES, Platform, PlatformError};
pub use reference::{Reference, ReferenceError, Repository, Target};

/// Media types imgpush reads and writes.
pub mod media {
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER_FOREIGN_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER_FOREIGN: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    /// The empty descriptor's media type (image-spec 1.1): the config of an artifact
    /// manifest, whose content is [`super::EMPTY_JSON`].
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
    /// Artifact types of the documents imgpush attaches as referrers.
    pub const SPDX_JSON: &str = "application/spdx+json";
    pub const CYCLONEDX_JSON: &str = "application/vnd.cyclonedx+json";
    pub const IN_TOTO_JSON: &str = "application/vnd.in-toto+json";

    /// Every manifest type a registry may answer with, for the `Accept` header.
    pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
        application/vnd.oci.image.manifest.v1+json, \
        application/vnd.docker.distribution.manifest.list.v2+json, \
        application/vnd.docker.distribution.manifest.v2+json";

    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_LIST
    }

    pub fn is_manifest(media_type: &str) -> bool {
        media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
    }

    /// The OCI equivalent of a Docker layer media type, so that a base's layers can be
    /// referenced from an OCI manifest. Same bytes, same digest; only the label changes
    /// (the mapping buildah and go-containerregistry's `mutate` use).
    pub fn oci_layer_type(media_type: &str) -> &str {
        match media_type {
            DOCKER_LAYER_GZIP => OCI_LAYER_GZIP,
            DOCKER_LAYER_FOREIGN => OCI_LAYER_FOREIGN_GZIP,
            other => other,
        }
    }

    /// The Docker schema2 equivalent of a layer media type (the reverse of
    /// [`oci_layer_type`]); types Docker has no name for are kept.
    pub fn docker_layer_type(media_type: &str) -> &str {
        match media_type {
            OCI_LAYER_GZIP => DOCKER_LAYER_GZIP,
            OCI_LAYER_FOREIGN_GZIP => DOCKER_LAYER_FOREIGN,
            other => other,
        }
    }
}

/// Annotation keys from the OCI image spec.
pub mod annotation {
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
    pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
    pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
    pub const CREATED: &str = "org.opencontainers.image.created";
}

/// The content of the empty descriptor (`application/vnd.oci.empty.v1+json`): `{}`.
pub const EMPTY_JSON: &[u8] = b"{}";
/// `sha256` of [`EMPTY_JSON`]; every artifact manifest's config is this blob.
pub const EMPTY_JSON_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// Canonical JSON bytes of a value: compact, object keys sorted (serde_json's `Map` is a
/// `BTreeMap` because the `preserve_order` feature is never enabled; a unit test guards it).
/// Every manifest, config and index imgpush writes goes through here, so a `HashMap`
/// inside a type (oci-spec's annotations) cannot make digests depend on hash seeds.
pub fn canonical_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("OCI types always serialize to JSON");
    serde_json::to_vec(&value).expect("a JSON value always serializes")
}

/// RFC 3339 UTC timestamp for seconds since the epoch (no external time crate needed for
/// the one format OCI uses).
pub fn rfc3339(epoch_seconds: u64) -> String {
    let days = (epoch_seconds / 86_400) as i64;
    let secs = epoch_seconds % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_whatever_the_map() {
        let mut a = std::collections::HashMap::new();
        for k in ["zeta", "alpha", "mid", "beta", "omega"] {
            a.insert(k.to_string(), 1);
        }
        assert_eq!(
            String::from_utf8(canonical_json(&a)).unwrap(),
            r#"{"alpha":1,"beta":1,"mid":1,"omega":1,"zeta":1}"#
        );
    }

    #[test]
    fn the_empty_descriptor_digest_is_that_of_its_content() {
        assert_eq!(Digest::of(EMPTY_JSON).as_str(), EMPTY_JSON_DIGEST);
    }

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
