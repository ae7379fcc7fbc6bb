//! CycloneDX 1.5 JSON. `metadata.component` is the platform image (type container, its
//! manifest digest as SHA-256 hash and `pkg:oci` purl); every component has `bom-ref` = its
//! id and an entry in `dependencies`, where the image depends on its root components and on
//! its base. The base is recorded twice, as CycloneDX has two places for it: as the image's
//! `pedigree.ancestors` (what it was derived from) and as a component of type container
//! that depends on the base's packages, as Trivy's own CycloneDX reports hang
//! operating-system packages under one component the image depends on.
//!
//! Licenses are always an `expression` when they are SPDX (a `license.id` must be in the
//! schema's copy of the License List, which lags), otherwise a license `name`.

use super::graph::{Graph, ImageNode, Node, is_download_url, supplier_name, valid_checksums};
use super::license::{Declared, classify};
use super::{ComponentKind, HashAlgorithm, SbomInput};
use crate::oci::{Digest, canonical_json, rfc3339};
use serde_json::{Value, json};

pub fn render(input: &SbomInput) -> Vec<u8> {
    let graph = Graph::of(input);

    let image = image_component(&graph);
    let mut image_depends: Vec<&str> = graph
        .nodes
        .iter()
        .filter(|n| n.root)
        .map(|n| n.key.as_str())
        .collect();

    let mut components: Vec<Value> = graph.nodes.iter().map(|n| component(&graph, n)).collect();
    let mut dependencies: Vec<Value> = graph
        .nodes
        .iter()
        .map(|n| {
            dependency(
                &n.key,
                n.depends_on.iter().map(|&t| graph.nodes[t].key.as_str()),
            )
        })
        .collect();
    if let Some(base) = &graph.base {
        components.push(container(base));
        image_depends.push(&base.key);
        dependencies.push(dependency(
            &base.key,
            graph
                .nodes
                .iter()
                .filter(|n| n.in_base)
                .map(|n| n.key.as_str()),
        ));
    }
    dependencies.push(dependency(&graph.image.key, image_depends.into_iter()));
    components.sort_by(|a, b| a["bom-ref"].as_str().cmp(&b["bom-ref"].as_str()));
    dependencies.sort_by(|a, b| a["ref"].as_str().cmp(&b["ref"].as_str()));

    let bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(input.created),
            "tools": tools(&input.tool),
            "component": image,
        },
        "components": components,
        "dependencies": dependencies,
    });
    finish(bom)
}

/// `metadata.tools`: the tool line (`imgpush-0.1.0`) as a component with its version.
pub(super) fn tools(tool: &str) -> Value {
    let (tool_name, tool_version) = match tool.rsplit_once('-') {
        Some((name, version)) if version.starts_with(|c: char| c.is_ascii_digit()) => {
            (name, Some(version))
        }
        _ => (tool, None),
    };
    let mut component = json!({"type": "application", "name": tool_name});
    if let Some(version) = tool_version {
        component["version"] = version.into();
    }
    json!({"components": [component]})
}

/// The BOM's bytes, with the serial number of its content.
pub(super) fn finish(mut bom: Value) -> Vec<u8> {
    if let Some(o) = bom.as_object_mut() {
        o.remove("serialNumber");
    }
    bom["serialNumber"] = serial_number(&canonical_json(&bom)).into();
    canonical_json(&bom)
}

/// The image as `metadata.component`: a container with its platform, derived from its base.
pub(super) fn image_component(graph: &Graph) -> Value {
    let mut image = container(&graph.image);
    image["properties"] =
        json!([{"name": "imgpush:platform", "value": graph.input.platform.to_string()}]);
    if let Some(base) = &graph.base {
        let mut ancestor = container(base);
        ancestor
            .as_object_mut()
            .expect("a component is an object")
            .remove("bom-ref");
        image["pedigree"] = json!({"ancestors": [ancestor]});
    }
    image
}

/// `urn:uuid:` from the document's own hash, laid out as a name-based UUID (RFC 4122
/// §4.3: version 5, variant 10xx) so the same BOM always has the same serial number and a
/// changed one a new one.
fn serial_number(content: &[u8]) -> String {
    let digest = Digest::of(content);
    let mut bytes = hex::decode(&digest.hex()[..32]).expect("a digest is hex");
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

pub(super) fn dependency<'k>(key: &str, depends_on: impl Iterator<Item = &'k str>) -> Value {
    let mut depends_on: Vec<&str> = depends_on.collect();
    depends_on.sort_unstable();
    depends_on.dedup();
    let mut entry = json!({"ref": key});
    // A ref alone says "depends on nothing" (CycloneDX: components without dependencies
    // are declared as empty elements).
    if !depends_on.is_empty() {
        entry["dependsOn"] = depends_on.into();
    }
    entry
}

pub(super) fn container(node: &ImageNode) -> Value {
    let mut c = json!({
        "type": "container",
        "bom-ref": node.key,
        "name": node.name,
        "version": node.digest.as_str(),
        "supplier": {"name": supplier_name(&node.supplier)},
        "hashes": [{"alg": "SHA-256", "content": node.digest.hex()}],
    });
    match &node.purl {
        Some(purl) => c["purl"] = purl.as_str().into(),
        None => {
            c["description"] = "an embedded base: built into imgpush, held by no registry".into()
        }
    }
    c
}

fn component(graph: &Graph, node: &Node) -> Value {
    let comp = node.component;
    let kind = match comp.kind {
        ComponentKind::Application => "application",
        ComponentKind::File => "file",
        ComponentKind::Crate
        | ComponentKind::GoModule
        | ComponentKind::NpmPackage
        | ComponentKind::DebPackage => "library",
    };
    let mut c = json!({
        "type": kind,
        "bom-ref": node.key,
        "name": comp.name,
        "supplier": {"name": supplier_name(&graph.supplier(comp))},
    });
    if let Some(version) = &comp.version {
        c["version"] = version.as_str().into();
    }
    if let Some(purl) = &comp.purl {
        c["purl"] = purl.as_str().into();
    }
    let hashes: Vec<Value> = valid_checksums(comp)
        .iter()
        .map(|s| {
            let alg = match s.algorithm {
                HashAlgorithm::Sha1 => "SHA-1",
                HashAlgorithm::Sha256 => "SHA-256",
                HashAlgorithm::Sha512 => "SHA-512",
            };
            json!({"alg": alg, "content": s.hex})
        })
        .collect();
    if !hashes.is_empty() {
        c["hashes"] = hashes.into();
    }
    if let Some(license) = comp.license.as_deref().map(str::trim)
        && !license.is_empty()
    {
        c["licenses"] = match classify(license) {
            Declared::Expression(expression) => json!([{"expression": expression}]),
            Declared::Text(text) => json!([{"license": {"name": text}}]),
        };
    }
    if let Some(download) = comp.download.as_deref().filter(|d| is_download_url(d)) {
        c["externalReferences"] = json!([{"type": "distribution", "url": download}]);
    }
    if let Some(path) = &comp.path {
        c["properties"] = json!([{"name": "imgpush:path", "value": path}]);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::super::graph::fixture::{component, input, sample};
    use super::*;

    fn bom(input: &SbomInput) -> Value {
        serde_json::from_slice(&render(input)).unwrap()
    }

    fn find<'b>(bom: &'b Value, list: &str, key: &str, value: &str) -> &'b Value {
        bom[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c[key] == value)
            .unwrap_or_else(|| panic!("no {list} entry with {key} {value}"))
    }

    #[test]
    fn the_bytes_depend_on_the_input_not_its_order() {
        let a = sample();
        let mut b = sample();
        b.components.reverse();
        b.base.as_mut().unwrap().packages.reverse();
        assert_eq!(render(&a), render(&b));
        assert_eq!(
            Digest::of(&render(&a)).as_str(),
            "sha256:d3a247d7519a529e75f9d44fb568e9cd26a4edb215e76601c805ebd0772f9a92"
        );
    }

    #[test]
    fn the_serial_number_is_a_name_based_uuid_of_the_content() {
        let a = bom(&sample());
        let serial = a["serialNumber"].as_str().unwrap();
        let uuid = serial.strip_prefix("urn:uuid:").unwrap();
        let groups: Vec<&str> = uuid.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('5'), "version 5: {uuid}");
        assert!(
            groups[3].starts_with(['8', '9', 'a', 'b']),
            "RFC 4122 variant: {uuid}"
        );
        let mut changed = sample();
        changed.created = 1;
        assert_ne!(bom(&changed)["serialNumber"], a["serialNumber"]);
        assert_eq!(bom(&sample())["serialNumber"], a["serialNumber"]);
    }

    #[test]
    fn metadata_names_the_tool_the_image_and_its_ancestor() {
        let input = sample();
        let b = bom(&input);
        assert_eq!(b["metadata"]["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(
            b["metadata"]["tools"],
            json!({"components": [{"type": "application", "name": "imgpush", "version": "0.1.0"}]})
        );
        let image = &b["metadata"]["component"];
        assert_eq!(image["type"], "container");
        assert_eq!(image["bom-ref"], format!("image:{}", input.subject));
        assert_eq!(image["properties"][0]["value"], "linux/arm64/v8");
        let ancestor = &image["pedigree"]["ancestors"][0];
        assert_eq!(ancestor["name"], "docker.io/library/debian");
        assert!(
            ancestor.get("bom-ref").is_none(),
            "the bom-ref is the listed base's"
        );
        let base = find(&b, "components", "type", "container");
        assert_eq!(base["purl"], ancestor["purl"]);
        assert_eq!(base["bom-ref"], format!("base:{}", Digest::of(b"base")));

        let mut bare = sample();
        bare.tool = "imgpush".into();
        let tool = &bom(&bare)["metadata"]["tools"]["components"][0];
        assert_eq!(tool["name"], "imgpush");
        assert!(tool.get("version").is_none());
    }

    #[test]
    fn every_component_has_its_dependencies() {
        let input = sample();
        let b = bom(&input);
        let depends = |r: &str| find(&b, "dependencies", "ref", r)["dependsOn"].clone();
        assert_eq!(
            depends(&format!("image:{}", input.subject)),
            json!([
                format!("base:{}", Digest::of(b"base")),
                "cargo:app@0.1.0",
                "file:/etc/app.toml"
            ])
        );
        assert_eq!(
            depends(&format!("base:{}", Digest::of(b"base"))),
            json!(["deb:libc6@2.36:arm64", "deb:tzdata@2024a:all"])
        );
        assert_eq!(
            depends("cargo:serde@1.0.0"),
            json!(["cargo:old_crate@1.0.0"])
        );
        assert_eq!(
            depends("deb:tzdata@2024a:all"),
            json!(["deb:libc6@2.36:arm64"])
        );
        assert!(depends("cargo:old_crate@1.0.0").is_null());
        // Six components and the image.
        assert_eq!(b["components"].as_array().unwrap().len(), 7);
        assert_eq!(b["dependencies"].as_array().unwrap().len(), 8);
    }

    #[test]
    fn components_carry_type_hashes_licenses_and_paths() {
        let b = bom(&sample());
        let c = |r: &str| find(&b, "components", "bom-ref", r).clone();
        let serde = c("cargo:serde@1.0.0");
        assert_eq!(serde["type"], "library");
        assert_eq!(serde["purl"], "pkg:cargo/serde@1.0.0");
        assert_eq!(serde["hashes"][0]["alg"], "SHA-256");
        assert_eq!(
            serde["licenses"],
            json!([{"expression": "MIT OR Apache-2.0"}])
        );
        assert_eq!(serde["supplier"]["name"], "crates.io");
        assert_eq!(serde["externalReferences"][0]["type"], "distribution");
        assert_eq!(
            c("cargo:old_crate@1.0.0")["licenses"],
            json!([{"license": {"name": "MIT/Apache-2.0"}}])
        );
        let file = c("file:/etc/app.toml");
        assert_eq!(file["type"], "file");
        assert!(file.get("version").is_none());
        assert_eq!(file["properties"][0]["value"], "/etc/app.toml");
        assert_eq!(c("cargo:app@0.1.0")["type"], "application");

        let mut shared = component("a", ComponentKind::Crate, &[]);
        let mut other = shared.clone();
        other.version = Some("2".into());
        shared.depends_on = vec!["a".into()];
        let b = bom(&input(vec![shared, other], None));
        let refs: Vec<&str> = b["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["bom-ref"].as_str().unwrap())
            .collect();
        assert_eq!(refs, ["a", "a#2"], "a shared id gets a ref of its own");
    }
}
