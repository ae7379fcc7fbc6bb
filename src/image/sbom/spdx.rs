//! SPDX 2.3 JSON. The document DESCRIBES one package, the platform image (purpose
//! CONTAINER, its manifest digest as SHA256 checksum and `pkg:oci` purl); the image CONTAINS
//! the root components, components DEPENDS_ON each other, and the base is a package of its
//! own that the image is a DESCENDANT_OF (ko's relationship) and CONTAINS (its layers are
//! the image's lowest), which CONTAINS the base's packages. Everything is a package with
//! `filesAnalyzed: false`, files too (purpose FILE): an SPDX file needs a SHA1, which imgpush
//! does not compute, and scanners read packages.
//!
//! Meets the NTIA minimum elements as ntia-conformance-checker reads them: every package has
//! a supplier (never NOASSERTION, see [`Graph::supplier`]) and a version (a file's or
//! application's without one is its SHA-256, `sha256:<hex>`); creators and timestamp are
//! set; every package is reachable from the document through DESCRIBES/CONTAINS/DEPENDS_ON.

use super::graph::{Graph, ImageNode, Node, is_download_url, purl_encode, valid_checksums};
use super::license::{Declared, classify};
use super::{ComponentKind, HashAlgorithm, SbomInput};
use crate::oci::{Digest, canonical_json, rfc3339};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const NOASSERTION: &str = "NOASSERTION";
pub(super) const DOCUMENT: &str = "SPDXRef-DOCUMENT";
pub(super) const IMAGE: &str = "SPDXRef-Image";
pub(super) const BASE: &str = "SPDXRef-Base";
/// The creator every imgpush document names first.
pub(super) const CREATOR: &str = "Organization: imgpush";

pub fn render(input: &SbomInput) -> Vec<u8> {
    let graph = Graph::of(input);
    let ids = unique_ids(
        "SPDXRef-Package-",
        &graph
            .nodes
            .iter()
            .map(|n| n.key.as_str())
            .collect::<Vec<_>>(),
    );

    // Free-text licenses, each under one LicenseRef in hasExtractedLicensingInfos.
    let texts: BTreeSet<String> = graph
        .nodes
        .iter()
        .filter_map(|n| declared(n))
        .filter_map(|d| match d {
            Declared::Text(text) => Some(text),
            Declared::Expression(_) => None,
        })
        .collect();
    let texts: Vec<String> = texts.into_iter().collect();
    let refs: BTreeMap<&str, String> = texts
        .iter()
        .map(String::as_str)
        .zip(unique_ids(
            "LicenseRef-",
            &texts.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
        .collect();

    let mut packages = vec![image_package(&graph)];
    let mut relationships = vec![(DOCUMENT.to_string(), "DESCRIBES", IMAGE.to_string())];
    if let Some(base) = &graph.base {
        packages.push(base_package(base));
        relationships.push((IMAGE.into(), "DESCENDANT_OF", BASE.into()));
        relationships.push((IMAGE.into(), "CONTAINS", BASE.into()));
    }
    for (node, id) in graph.nodes.iter().zip(&ids) {
        packages.push(component_package(&graph, node, id, &refs));
        if node.root {
            relationships.push((IMAGE.into(), "CONTAINS", id.clone()));
        }
        if node.in_base {
            relationships.push((BASE.into(), "CONTAINS", id.clone()));
        }
        for &target in &node.depends_on {
            relationships.push((id.clone(), "DEPENDS_ON", ids[target].clone()));
        }
    }
    relationships.sort();
    relationships.dedup();
    packages.sort_by(|a, b| a["SPDXID"].as_str().cmp(&b["SPDXID"].as_str()));

    let mut doc = json!({
        "SPDXID": DOCUMENT,
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "name": format!("{} {}", input.name, input.platform),
        "creationInfo": {
            "created": rfc3339(input.created),
            "creators": [CREATOR, format!("Tool: {}", input.tool)],
        },
        "packages": packages,
        "relationships": relationships.iter().map(|(a, kind, b)| json!({
            "spdxElementId": a,
            "relationshipType": kind,
            "relatedSpdxElement": b,
        })).collect::<Vec<_>>(),
    });
    if !refs.is_empty() {
        doc["hasExtractedLicensingInfos"] = extracted_licenses(&refs);
    }
    finish(doc, &input.name, &input.subject)
}

/// The document's bytes, with its `documentNamespace`: unique per document version (SPDX
/// 2.3 §6.5): the subject, and a hash of everything else, so a changed SBOM of the same
/// image gets a namespace of its own.
pub(super) fn finish(mut doc: Value, name: &str, subject: &Digest) -> Vec<u8> {
    if let Some(o) = doc.as_object_mut() {
        o.remove("documentNamespace");
    }
    let content = Digest::of(&canonical_json(&doc));
    doc["documentNamespace"] = format!(
        "https://spdx.org/spdxdocs/imgpush/{}/{}-{}",
        purl_encode(name, true),
        subject.hex(),
        &content.hex()[..16]
    )
    .into();
    canonical_json(&doc)
}

/// The base as a package of its own.
pub(super) fn base_package(base: &ImageNode) -> Value {
    let mut package = container_package(BASE, base);
    if base.purl.is_none() {
        package["comment"] = "an embedded base: built into imgpush, held by no registry".into();
    }
    package
}

/// The free-text licenses as SPDX wants them: one `LicenseRef-` each, with the text.
pub(super) fn extracted_licenses(refs: &BTreeMap<&str, String>) -> Value {
    refs.iter()
        .map(|(text, id)| {
            json!({
                "licenseId": id,
                "name": text,
                "extractedText": text,
                "comment": "a declared license that is not an SPDX license expression, as written",
            })
        })
        .collect()
}

fn declared(node: &Node) -> Option<Declared> {
    let license = node.component.license.as_deref()?.trim();
    (!license.is_empty()).then(|| classify(license))
}

pub(super) fn image_package(graph: &Graph) -> Value {
    let mut package = container_package(IMAGE, &graph.image);
    package["description"] = format!("{} image", graph.input.platform).into();
    package
}

fn container_package(id: &str, node: &ImageNode) -> Value {
    let mut package = json!({
        "SPDXID": id,
        "name": node.name,
        "versionInfo": node.digest.as_str(),
        "supplier": node.supplier,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": node.digest.hex()}],
    });
    if let Some(purl) = &node.purl {
        package["externalRefs"] = json!([purl_ref(purl)]);
    }
    package
}

fn purl_ref(purl: &str) -> Value {
    json!({
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    })
}

fn component_package(graph: &Graph, node: &Node, id: &str, refs: &BTreeMap<&str, String>) -> Value {
    let c = node.component;
    let checksums = valid_checksums(c);
    let license = match declared(node) {
        Some(Declared::Expression(expression)) => expression,
        Some(Declared::Text(text)) => refs[text.as_str()].clone(),
        None => NOASSERTION.into(),
    };
    let mut package = json!({
        "SPDXID": id,
        "name": c.name,
        "supplier": graph.supplier(c),
        "downloadLocation": c.download.as_deref().filter(|d| is_download_url(d)).unwrap_or(NOASSERTION),
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": license,
        "copyrightText": NOASSERTION,
    });
    // NTIA wants a version for every component; a file has none but its content.
    let version = c.version.clone().or_else(|| {
        checksums
            .iter()
            .find(|s| s.algorithm == HashAlgorithm::Sha256)
            .map(|s| format!("sha256:{}", s.hex))
    });
    if let Some(version) = version {
        package["versionInfo"] = version.into();
    }
    let purpose = match c.kind {
        ComponentKind::Application => Some("APPLICATION"),
        ComponentKind::Crate | ComponentKind::GoModule | ComponentKind::NpmPackage => {
            Some("LIBRARY")
        }
        ComponentKind::File => Some("FILE"),
        // A Debian package may be a library, a program or data: not said.
        ComponentKind::DebPackage => None,
    };
    if let Some(purpose) = purpose {
        package["primaryPackagePurpose"] = purpose.into();
    }
    if !checksums.is_empty() {
        package["checksums"] = checksums
            .iter()
            .map(|s| {
                let algorithm = match s.algorithm {
                    HashAlgorithm::Sha1 => "SHA1",
                    HashAlgorithm::Sha256 => "SHA256",
                    HashAlgorithm::Sha512 => "SHA512",
                };
                json!({"algorithm": algorithm, "checksumValue": s.hex})
            })
            .collect();
    }
    if let Some(purl) = &c.purl {
        package["externalRefs"] = json!([purl_ref(purl)]);
    }
    if let Some(path) = &c.path {
        package["packageFileName"] = path.as_str().into();
    }
    package
}

/// `prefix` + `key` cut to SPDX's idstring (`[A-Za-z0-9.-]`, everything else `-`, at most
/// 64 characters). Keys that come out the same (`a_b` and `a-b`) each get 12 hex digits of
/// their own SHA-256 appended, so the ids are unique whatever the order of the keys.
pub(super) fn unique_ids(prefix: &str, keys: &[&str]) -> Vec<String> {
    const MAX: usize = 64;
    let hash = |key: &str| Digest::of(key.as_bytes()).hex()[..12].to_string();
    let plain: Vec<String> = keys
        .iter()
        .map(|key| {
            let mut id: String = key
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            if id.len() > MAX {
                id.truncate(MAX - 13);
                id = format!("{id}-{}", hash(key));
            } else if id.is_empty() {
                id = hash(key);
            }
            id
        })
        .collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &plain {
        *count.entry(id).or_default() += 1;
    }
    plain
        .iter()
        .zip(keys)
        .map(|(id, key)| {
            if count[id.as_str()] > 1 {
                format!("{prefix}{id}-{}", hash(key))
            } else {
                format!("{prefix}{id}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Checksum;
    use super::super::graph::fixture::{component, input, sample, sha256};
    use super::*;

    fn doc(input: &SbomInput) -> Value {
        serde_json::from_slice(&render(input)).unwrap()
    }

    fn package<'d>(doc: &'d Value, name: &str) -> &'d Value {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no package {name}"))
    }

    fn relationships(doc: &Value) -> Vec<(String, String, String)> {
        doc["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap().to_string();
                (
                    s("spdxElementId"),
                    s("relationshipType"),
                    s("relatedSpdxElement"),
                )
            })
            .collect()
    }

    #[test]
    fn the_bytes_depend_on_the_input_not_its_order() {
        let a = sample();
        let mut b = sample();
        b.components.reverse();
        b.base.as_mut().unwrap().packages.reverse();
        assert_eq!(render(&a), render(&a));
        assert_eq!(render(&a), render(&b));
        // Golden: a change of these bytes changes every published SBOM's digest.
        assert_eq!(
            Digest::of(&render(&a)).as_str(),
            "sha256:510505e67758f563b4204c0d7e9c5b5736dd5d290c0478f66d2877f18ce8899e"
        );
    }

    #[test]
    fn relationships_tell_the_graph() {
        let d = doc(&sample());
        let r = |a: &str, kind: &str, b: &str| (a.to_string(), kind.to_string(), b.to_string());
        let serde = "SPDXRef-Package-cargo-serde-1.0.0";
        let app = "SPDXRef-Package-cargo-app-0.1.0";
        let file = "SPDXRef-Package-file--etc-app.toml";
        let old = "SPDXRef-Package-cargo-old-crate-1.0.0";
        let libc = "SPDXRef-Package-deb-libc6-2.36-arm64";
        let tzdata = "SPDXRef-Package-deb-tzdata-2024a-all";
        assert_eq!(
            relationships(&d),
            [
                r(BASE, "CONTAINS", libc),
                r(BASE, "CONTAINS", tzdata),
                r(DOCUMENT, "DESCRIBES", IMAGE),
                r(IMAGE, "CONTAINS", BASE),
                r(IMAGE, "CONTAINS", app),
                r(IMAGE, "CONTAINS", file),
                r(IMAGE, "DESCENDANT_OF", BASE),
                r(app, "DEPENDS_ON", serde),
                r(serde, "DEPENDS_ON", old),
                r(tzdata, "DEPENDS_ON", libc),
            ]
        );
    }

    #[test]
    fn packages_carry_what_ntia_and_scanners_read() {
        let input = sample();
        let d = doc(&input);
        assert_eq!(d["creationInfo"]["created"], "1970-01-01T00:00:00Z");
        assert_eq!(
            d["creationInfo"]["creators"],
            json!(["Organization: imgpush", "Tool: imgpush-0.1.0"])
        );
        let image = package(&d, "127.0.0.1:5000/team/app");
        assert_eq!(image["SPDXID"], IMAGE);
        assert_eq!(image["primaryPackagePurpose"], "CONTAINER");
        assert_eq!(image["checksums"][0]["checksumValue"], input.subject.hex());
        let serde = package(&d, "serde");
        assert_eq!(
            serde["externalRefs"][0]["referenceLocator"],
            "pkg:cargo/serde@1.0.0"
        );
        assert_eq!(serde["supplier"], "Organization: crates.io");
        assert_eq!(serde["licenseDeclared"], "MIT OR Apache-2.0");
        assert_eq!(serde["licenseConcluded"], NOASSERTION);
        assert_eq!(serde["filesAnalyzed"], false);
        assert_eq!(
            serde["downloadLocation"],
            "https://crates.io/api/v1/crates/serde/1.0.0/download"
        );
        let file = package(&d, "app.toml");
        assert_eq!(file["primaryPackagePurpose"], "FILE");
        assert_eq!(
            file["versionInfo"],
            format!("sha256:{}", sha256("app.toml").hex)
        );
        assert_eq!(file["packageFileName"], "/etc/app.toml");
        assert_eq!(file["supplier"], "Organization: 127.0.0.1:5000/team");
        let old = package(&d, "old_crate");
        assert_eq!(old["licenseDeclared"], "LicenseRef-MIT-Apache-2.0");
        assert_eq!(
            d["hasExtractedLicensingInfos"][0]["extractedText"],
            "MIT/Apache-2.0"
        );
        let base = package(&d, "docker.io/library/debian");
        assert_eq!(base["versionInfo"], Digest::of(b"base").as_str());
        assert!(package(&d, "libc6").get("primaryPackagePurpose").is_none());
    }

    #[test]
    fn the_namespace_is_unique_per_subject_and_content() {
        let a = sample();
        let mut b = sample();
        b.subject = Digest::of(b"another manifest");
        let mut c = sample();
        c.created = 1;
        let ns = |i: &SbomInput| doc(i)["documentNamespace"].as_str().unwrap().to_string();
        assert!(ns(&a).starts_with(&format!(
            "https://spdx.org/spdxdocs/imgpush/127.0.0.1:5000/team/app/{}-",
            a.subject.hex()
        )));
        assert_ne!(ns(&a), ns(&b));
        assert_ne!(ns(&a), ns(&c));
    }

    #[test]
    fn ids_that_sanitise_alike_stay_apart_whatever_the_order() {
        let ids = unique_ids(
            "SPDXRef-Package-",
            &["cargo:a_b@1", "cargo:a-b@1", "cargo:c@1"],
        );
        assert_eq!(ids[2], "SPDXRef-Package-cargo-c-1");
        assert_ne!(ids[0], ids[1]);
        for id in &ids[..2] {
            assert!(id.starts_with("SPDXRef-Package-cargo-a-b-1-"), "{id}");
            assert_eq!(id.len(), "SPDXRef-Package-cargo-a-b-1-".len() + 12);
        }
        let swapped = unique_ids("SPDXRef-Package-", &["cargo:a-b@1", "cargo:a_b@1"]);
        assert_eq!((&swapped[0], &swapped[1]), (&ids[1], &ids[0]));

        let long = "x".repeat(200);
        let ids = unique_ids("LicenseRef-", &[&long, ""]);
        assert!(ids[0].len() <= "LicenseRef-".len() + 64, "{}", ids[0]);
        assert!(ids.iter().all(|id| id.len() > "LicenseRef-".len()));

        // Through a whole document: two packages, two ids, each edge to its own.
        let a = component("cargo:a_b@1", ComponentKind::Crate, &[]);
        let b = component("cargo:a-b@1", ComponentKind::Crate, &[]);
        let app = component(
            "app",
            ComponentKind::Application,
            &["cargo:a_b@1", "cargo:a-b@1"],
        );
        let d = doc(&input(vec![a, b, app], None));
        let depends: Vec<String> = relationships(&d)
            .into_iter()
            .filter(|r| r.1 == "DEPENDS_ON")
            .map(|r| r.2)
            .collect();
        assert_eq!(depends.len(), 2);
        assert_ne!(depends[0], depends[1]);
    }

    #[test]
    fn what_validators_reject_is_left_out() {
        let mut c = component("cargo:x@1", ComponentKind::Crate, &[]);
        c.checksums = vec![
            Checksum {
                algorithm: HashAlgorithm::Sha256,
                hex: "ABC".into(),
            },
            sha256("x"),
        ];
        c.download = Some("registry+https://github.com/rust-lang/crates.io-index".into());
        c.license = Some("  ".into());
        let d = doc(&input(vec![c], None));
        let p = package(&d, "x");
        assert_eq!(p["checksums"].as_array().unwrap().len(), 1);
        assert_eq!(p["downloadLocation"], NOASSERTION);
        assert_eq!(p["licenseDeclared"], NOASSERTION);
        assert!(d.get("hasExtractedLicensingInfos").is_none());
        for url in [
            "https://crates.io/x",
            "git+https://github.com/a/b",
            "http://a.example.org:8080/x",
        ] {
            assert!(is_download_url(url), "{url}");
        }
        for bad in [
            "http://127.0.0.1:5000/x",
            "crates.io",
            "https://a b.org/",
            "file:///x",
        ] {
            assert!(!is_download_url(bad), "{bad}");
        }
    }
}
