//! SLSA v1 build provenance as an in-toto v1 statement, one per platform image: who built
//! it (imgpush and its version), with what parameters (the settings that change the
//! image), from what (source revision, lockfile digests, the base's digest, toolchain
//! versions). Pure and deterministic: no clock, no host names, no machine paths, every map
//! sorted — two builds of the same inputs give the same bytes, so a re-push finds the
//! statement in place. Unsigned: it is the payload a signer (cosign, a DSSE envelope)
//! would wrap, and is stored as a plain referrer until then.

use crate::oci::{Digest, Platform, canonical_json};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// in-toto's statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// SLSA provenance v1's predicate type.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What an imgpush build is: the shape of `externalParameters`, documented in
/// docs/supply-chain.md ("Provenance").
pub const BUILD_TYPE: &str = "https://imgpush.dev/buildtypes/build/v1";
/// What an `imgpush rebase` is: the image's own layers put on a new base, nothing built;
/// its `externalParameters` are documented in docs/supply-chain.md ("Rebasing").
pub const REBASE_BUILD_TYPE: &str = "https://imgpush.dev/buildtypes/rebase/v1";
/// The builder: imgpush run by whoever runs it (no hosted, trusted build platform vouches
/// for it, which is what SLSA build level 1 describes).
pub const BUILDER_ID: &str = "https://imgpush.dev/builder/local/v1";
/// The annotation tools (cosign, oras, regctl) use to tell attestations apart.
pub const PREDICATE_ANNOTATION: &str = "in-toto.io/predicate-type";

/// One input of the build (SLSA's `ResourceDescriptor`): at least a URI or a digest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    pub name: String,
    pub uri: Option<String>,
    /// Algorithm → lowercase hex (`sha256`, `gitCommit`).
    pub digest: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, Value>,
}

impl Resource {
    pub fn named(name: &str) -> Resource {
        Resource {
            name: name.to_string(),
            ..Resource::default()
        }
    }

    pub fn uri(mut self, uri: impl Into<String>) -> Resource {
        self.uri = Some(uri.into());
        self
    }

    pub fn digest(mut self, algorithm: &str, hex: impl Into<String>) -> Resource {
        self.digest.insert(algorithm.to_string(), hex.into());
        self
    }

    pub fn annotate(mut self, key: &str, value: impl Into<Value>) -> Resource {
        self.annotations.insert(key.to_string(), value.into());
        self
    }

    fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("name".into(), json!(self.name));
        if let Some(uri) = &self.uri {
            o.insert("uri".into(), json!(uri));
        }
        if !self.digest.is_empty() {
            o.insert("digest".into(), json!(self.digest));
        }
        if !self.annotations.is_empty() {
            o.insert("annotations".into(), json!(self.annotations));
        }
        Value::Object(o)
    }
}

/// Everything one platform image's provenance says.
#[derive(Clone, Debug)]
pub struct ProvenanceInput {
    /// The image's name (`REGISTRY/REPO`, or the program's name when there is none).
    pub name: String,
    pub platform: Platform,
    /// The platform manifest the statement is about.
    pub subject: Digest,
    /// What was done: [`BUILD_TYPE`] or [`REBASE_BUILD_TYPE`].
    pub build_type: &'static str,
    /// imgpush's version.
    pub builder_version: String,
    /// The settings that change the image, by name (`platforms`, `base`, `features`…).
    pub parameters: BTreeMap<String, Value>,
    /// Source, lockfiles, base, toolchains.
    pub dependencies: Vec<Resource>,
}

/// The statement's bytes (canonical JSON).
pub fn render(input: &ProvenanceInput) -> Vec<u8> {
    let mut deps = input.dependencies.clone();
    // By name, then by the whole descriptor: the order never depends on the caller's.
    deps.sort_by_cached_key(|d| (d.name.clone(), canonical_json(&d.to_json())));
    deps.dedup();
    let mut parameters = input.parameters.clone();
    parameters.insert("platform".into(), json!(input.platform.to_string()));
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": input.name,
            "digest": { "sha256": input.subject.hex() },
        }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": input.build_type,
                "externalParameters": parameters,
                "resolvedDependencies": deps.iter().map(Resource::to_json).collect::<Vec<_>>(),
            },
            "runDetails": {
                "builder": {
                    "id": BUILDER_ID,
                    "version": { "imgpush": input.builder_version },
                },
                // No invocation id or start/finish times: they would make every build's
                // statement differ. The image's own `created` (the epoch) is in its config.
                "metadata": {},
            },
        },
    });
    canonical_json(&statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ProvenanceInput {
        ProvenanceInput {
            name: "127.0.0.1:5000/app".into(),
            platform: "linux/arm64".parse().unwrap(),
            subject: Digest::of(b"manifest"),
            build_type: BUILD_TYPE,
            builder_version: "0.1.0".into(),
            parameters: BTreeMap::from([
                ("features".into(), json!(["tls"])),
                ("base".into(), json!("static")),
            ]),
            dependencies: vec![
                Resource::named("rustc").annotate("version", "rustc 1.96.0"),
                Resource::named("source")
                    .uri("git+https://example.com/app.git")
                    .digest("gitCommit", "ab".repeat(20))
                    .annotate("dirty", false),
                Resource::named("Cargo.lock").digest("sha256", "cd".repeat(32)),
            ],
        }
    }

    #[test]
    fn a_statement_about_the_platform_manifest() {
        let v: Value = serde_json::from_slice(&render(&input())).unwrap();
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["predicateType"], PREDICATE_TYPE);
        assert_eq!(v["subject"][0]["name"], "127.0.0.1:5000/app");
        assert_eq!(
            v["subject"][0]["digest"]["sha256"],
            Digest::of(b"manifest").hex()
        );
        let def = &v["predicate"]["buildDefinition"];
        assert_eq!(def["buildType"], BUILD_TYPE);
        assert_eq!(def["externalParameters"]["platform"], "linux/arm64/v8");
        assert_eq!(def["externalParameters"]["features"], json!(["tls"]));
        let names: Vec<&str> = def["resolvedDependencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Cargo.lock", "rustc", "source"], "sorted");
        assert_eq!(
            def["resolvedDependencies"][2]["digest"]["gitCommit"],
            "ab".repeat(20)
        );
        assert_eq!(
            def["resolvedDependencies"][2]["annotations"]["dirty"],
            false
        );
        assert_eq!(
            v["predicate"]["runDetails"]["builder"]["version"]["imgpush"],
            "0.1.0"
        );
    }

    #[test]
    fn the_same_inputs_in_any_order_give_the_same_bytes() {
        let a = render(&input());
        let mut i = input();
        i.dependencies.reverse();
        assert_eq!(a, render(&i));
        i.parameters.insert("profile".into(), json!("release"));
        assert_ne!(a, render(&i), "a changed parameter changes the statement");
    }
}
