//! An imgpush SBOM moved onto a new base (`imgpush rebase`): the image's own components are
//! what they were (nothing was rebuilt), so the document keeps them byte for byte and only
//! what names the image and its base changes — the subject (the rebased platform manifest),
//! the base as the ancestor, the base's packages (dropped: the new base is a registry image
//! whose packages imgpush did not install), the tool line and the identifiers derived from
//! the content. The result is the document a build of the same inputs on the new base
//! would write; the tests below hold it to that.
//!
//! Only documents imgpush wrote are moved, and only from the manifest they describe:
//! anything else is refused with the reason, never guessed at.

use super::graph::{Graph, ImageNode};
use super::{BaseRef, SbomInput, cyclonedx, spdx};
use crate::oci::{Digest, Platform};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Where a document moves.
#[derive(Clone, Debug)]
pub struct Move<'a> {
    pub platform: &'a Platform,
    /// The platform manifest the document describes now; it is refused if it does not.
    pub from: &'a Digest,
    /// The rebased platform manifest.
    pub to: Digest,
    /// The new base (its packages are not recorded: see the module's documentation).
    pub base: BaseRef,
    /// The tool line of the new document, e.g. `imgpush-0.1.0`.
    pub tool: String,
}

/// Why a document cannot be moved: it is not an imgpush SBOM of the old manifest.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotMovable(pub String);

/// The image and base nodes of the moved document, as a render would make them.
fn graph_input(name: &str, m: &Move) -> SbomInput {
    SbomInput {
        name: name.to_string(),
        platform: m.platform.clone(),
        subject: m.to.clone(),
        base: Some(BaseRef {
            packages: Vec::new(),
            ..m.base.clone()
        }),
        components: Vec::new(),
        created: 0,
        tool: m.tool.clone(),
    }
}

fn parse(document: &[u8]) -> Result<Map<String, Value>, NotMovable> {
    match serde_json::from_slice(document) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(NotMovable("it is not a JSON object".into())),
        Err(e) => Err(NotMovable(format!("it is not JSON: {e}"))),
    }
}

fn array<'v>(doc: &'v mut Map<String, Value>, key: &str) -> Result<&'v mut Vec<Value>, NotMovable> {
    doc.get_mut(key)
        .and_then(Value::as_array_mut)
        .ok_or_else(|| NotMovable(format!("it has no `{key}` list")))
}

fn text<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn describes(found: Option<&str>, m: &Move) -> Result<(), NotMovable> {
    match found {
        Some(d) if d == m.from.as_str() || d == m.from.hex() => Ok(()),
        Some(d) => Err(NotMovable(format!(
            "it describes {d}, not the platform manifest {} it is attached to",
            m.from
        ))),
        None => Err(NotMovable("it names no image digest".into())),
    }
}

/// SPDX: the image package and the base package are rewritten, the packages the old base
/// CONTAINS dropped with their relationships and any free-text license only they used.
pub(super) fn spdx(document: &[u8], m: &Move) -> Result<Vec<u8>, NotMovable> {
    let mut doc = parse(document)?;
    let creators = doc
        .get("creationInfo")
        .and_then(|c| c.get("creators"))
        .and_then(Value::as_array);
    if !creators.is_some_and(|c| c.iter().any(|c| c == spdx::CREATOR)) {
        return Err(NotMovable(format!(
            "it was not written by imgpush (its creators do not include `{}`)",
            spdx::CREATOR
        )));
    }
    let id = |p: &Value| text(p, "/SPDXID").unwrap_or_default().to_string();
    let packages = array(&mut doc, "packages")?;
    let image = packages
        .iter()
        .find(|p| id(p) == spdx::IMAGE)
        .ok_or_else(|| NotMovable(format!("it has no {} package", spdx::IMAGE)))?;
    describes(text(image, "/checksums/0/checksumValue"), m)?;
    let name = text(image, "/name").unwrap_or_default().to_string();

    let mut relationships: Vec<(String, String, String)> = array(&mut doc, "relationships")?
        .iter()
        .map(|r| {
            let s = |k: &str| {
                r.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            (
                s("spdxElementId"),
                s("relationshipType"),
                s("relatedSpdxElement"),
            )
        })
        .collect();
    let mut dropped: BTreeSet<String> = relationships
        .iter()
        .filter(|(a, kind, _)| a == spdx::BASE && kind == "CONTAINS")
        .map(|(_, _, b)| b.clone())
        .collect();
    dropped.insert(spdx::BASE.into());
    dropped.insert(spdx::IMAGE.into());
    relationships.retain(|(a, _, b)| {
        (a == spdx::IMAGE || !dropped.contains(a)) && (b == spdx::IMAGE || !dropped.contains(b))
    });

    let input = graph_input(&name, m);
    let graph = Graph::of(&input);
    let base = graph.base.as_ref().expect("the move names a base");
    let packages = array(&mut doc, "packages")?;
    packages.retain(|p| !dropped.contains(&id(p)));
    packages.push(spdx::image_package(&graph));
    packages.push(spdx::base_package(base));
    packages.sort_by_key(id);
    relationships.push((
        spdx::IMAGE.into(),
        "DESCENDANT_OF".into(),
        spdx::BASE.into(),
    ));
    relationships.push((spdx::IMAGE.into(), "CONTAINS".into(), spdx::BASE.into()));
    relationships.sort();
    relationships.dedup();
    doc.insert(
        "relationships".into(),
        relationships
            .iter()
            .map(|(a, kind, b)| {
                serde_json::json!({
                    "spdxElementId": a,
                    "relationshipType": kind,
                    "relatedSpdxElement": b,
                })
            })
            .collect(),
    );
    relicense(&mut doc)?;
    let created = doc
        .get("creationInfo")
        .and_then(|c| c.get("created"))
        .cloned();
    doc.insert(
        "creationInfo".into(),
        serde_json::json!({
            "created": created,
            "creators": [spdx::CREATOR, format!("Tool: {}", m.tool)],
        }),
    );
    Ok(spdx::finish(Value::Object(doc), &name, &m.to))
}

/// The free-text licenses the remaining packages declare, renumbered as a render of them
/// alone would number them.
fn relicense(doc: &mut Map<String, Value>) -> Result<(), NotMovable> {
    let texts: BTreeMap<String, String> = doc
        .get("hasExtractedLicensingInfos")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| {
            Some((
                text(l, "/licenseId")?.into(),
                text(l, "/extractedText")?.into(),
            ))
        })
        .collect();
    let packages = array(doc, "packages")?;
    let used: BTreeSet<&str> = packages
        .iter()
        .filter_map(|p| texts.get(text(p, "/licenseDeclared")?))
        .map(String::as_str)
        .collect();
    let used: Vec<&str> = used.into_iter().collect();
    let refs: BTreeMap<&str, String> = used
        .iter()
        .copied()
        .zip(spdx::unique_ids("LicenseRef-", &used))
        .collect();
    for p in packages.iter_mut() {
        let renamed = text(p, "/licenseDeclared")
            .and_then(|l| texts.get(l))
            .map(|t| refs[t.as_str()].clone());
        if let Some(id) = renamed {
            p["licenseDeclared"] = id.into();
        }
    }
    if refs.is_empty() {
        doc.remove("hasExtractedLicensingInfos");
    } else {
        doc.insert(
            "hasExtractedLicensingInfos".into(),
            spdx::extracted_licenses(&refs),
        );
    }
    Ok(())
}

/// CycloneDX: `metadata.component` is rewritten with its ancestor, the old base's
/// container component and the packages it depended on dropped, the new base's put in.
pub(super) fn cyclonedx(document: &[u8], m: &Move) -> Result<Vec<u8>, NotMovable> {
    let mut bom = parse(document)?;
    let image = bom
        .get("metadata")
        .and_then(|md| md.get("component"))
        .cloned()
        .ok_or_else(|| NotMovable("it has no metadata.component".into()))?;
    if text(
        &bom.get("metadata").cloned().unwrap_or_default(),
        "/tools/components/0/name",
    ) != Some("imgpush")
    {
        return Err(NotMovable(
            "it was not written by imgpush (metadata.tools does not name imgpush)".into(),
        ));
    }
    describes(text(&image, "/hashes/0/content"), m)?;
    let name = text(&image, "/name").unwrap_or_default().to_string();
    let image_key = text(&image, "/bom-ref").unwrap_or_default().to_string();

    let depends_on = |entry: &Value| -> Vec<String> {
        entry
            .get("dependsOn")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect()
    };
    let dependencies = array(&mut bom, "dependencies")?;
    let entry = |key: &str| {
        dependencies
            .iter()
            .find(|d| text(d, "/ref") == Some(key))
            .cloned()
    };
    let image_depends = entry(&image_key)
        .map(|e| depends_on(&e))
        .unwrap_or_default();
    let mut dropped: BTreeSet<String> = BTreeSet::from([image_key.clone()]);
    for base_key in image_depends.iter().filter(|d| d.starts_with("base:")) {
        dropped.insert(base_key.clone());
        dropped.extend(entry(base_key).map(|e| depends_on(&e)).unwrap_or_default());
    }

    let input = graph_input(&name, m);
    let graph = Graph::of(&input);
    let base: &ImageNode = graph.base.as_ref().expect("the move names a base");
    dependencies.retain(|d| !text(d, "/ref").is_some_and(|r| dropped.contains(r)));
    for d in dependencies.iter_mut() {
        let kept: Vec<String> = depends_on(d)
            .into_iter()
            .filter(|t| !dropped.contains(t))
            .collect();
        let key = text(d, "/ref").unwrap_or_default().to_string();
        *d = cyclonedx::dependency(&key, kept.iter().map(String::as_str));
    }
    let mut image_depends: Vec<String> = image_depends
        .into_iter()
        .filter(|t| !dropped.contains(t))
        .collect();
    image_depends.push(base.key.clone());
    dependencies.push(cyclonedx::dependency(&base.key, std::iter::empty()));
    dependencies.push(cyclonedx::dependency(
        &graph.image.key,
        image_depends.iter().map(String::as_str),
    ));
    dependencies.sort_by(|a, b| text(a, "/ref").cmp(&text(b, "/ref")));

    let components = array(&mut bom, "components")?;
    components.retain(|c| !text(c, "/bom-ref").is_some_and(|r| dropped.contains(r)));
    components.push(cyclonedx::container(base));
    components.sort_by(|a, b| text(a, "/bom-ref").cmp(&text(b, "/bom-ref")));

    let metadata = bom
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("checked above");
    metadata.insert("component".into(), cyclonedx::image_component(&graph));
    metadata.insert("tools".into(), cyclonedx::tools(&m.tool));
    Ok(cyclonedx::finish(Value::Object(bom)))
}

#[cfg(test)]
mod tests {
    use super::super::SbomFormat;
    use super::super::graph::fixture::sample;
    use super::*;

    fn moved(format: SbomFormat, base_name: Option<&str>) -> (Vec<u8>, Vec<u8>) {
        let old = sample();
        let base = BaseRef {
            name: base_name.map(str::to_string),
            digest: Digest::of(b"new base"),
            packages: Vec::new(),
        };
        let m = Move {
            platform: &old.platform,
            from: &old.subject,
            to: Digest::of(b"rebased manifest"),
            base: base.clone(),
            tool: "imgpush-9.9.9".into(),
        };
        let got = format.rebase(&format.render(&old), &m).unwrap();
        let mut fresh = sample();
        fresh.subject = m.to.clone();
        fresh.base = Some(base);
        fresh.tool = m.tool.clone();
        (got, format.render(&fresh))
    }

    #[test]
    fn a_moved_document_is_what_a_build_on_the_new_base_writes() {
        for format in [SbomFormat::Spdx, SbomFormat::CycloneDx] {
            for base in [Some("registry.example/base/debian:13"), None] {
                let (got, want) = moved(format, base);
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(want).unwrap(),
                    "{format:?}, base {base:?}"
                );
            }
        }
    }

    #[test]
    fn a_license_only_the_old_base_used_goes_with_it() {
        let mut old = sample();
        let base = old.base.as_mut().unwrap();
        base.packages[0].license = Some("Some license of its own".into());
        let m = Move {
            platform: &old.platform,
            from: &old.subject,
            to: Digest::of(b"x"),
            base: BaseRef {
                name: Some("r.example/b:1".into()),
                digest: Digest::of(b"b"),
                packages: Vec::new(),
            },
            tool: "imgpush-0.1.0".into(),
        };
        let doc: Value = serde_json::from_slice(&SbomFormat::Spdx.render(&old)).unwrap();
        assert_eq!(
            doc["hasExtractedLicensingInfos"].as_array().unwrap().len(),
            2
        );
        let moved = SbomFormat::Spdx
            .rebase(&SbomFormat::Spdx.render(&old), &m)
            .unwrap();
        let moved: Value = serde_json::from_slice(&moved).unwrap();
        let licenses: Vec<&str> = moved["hasExtractedLicensingInfos"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["extractedText"].as_str())
            .collect();
        assert_eq!(licenses, ["MIT/Apache-2.0"], "the image's own stays");
        assert!(
            !moved.to_string().contains("deb:") && !moved.to_string().contains("pkg:deb"),
            "the old base's packages are gone"
        );
    }

    #[test]
    fn documents_of_another_manifest_or_tool_are_refused() {
        let old = sample();
        let other = Digest::of(b"another manifest");
        let m = Move {
            platform: &old.platform,
            from: &other,
            to: Digest::of(b"x"),
            base: old.base.clone().unwrap(),
            tool: "imgpush-0.1.0".into(),
        };
        for format in [SbomFormat::Spdx, SbomFormat::CycloneDx] {
            let e = format.rebase(&format.render(&old), &m).unwrap_err();
            assert!(e.0.contains("not the platform manifest"), "{e}");
        }
        let m = Move {
            from: &old.subject,
            ..m
        };
        let syft = br#"{"spdxVersion":"SPDX-2.3","creationInfo":{"creators":["Tool: syft-1.0"]},"packages":[]}"#;
        let e = SbomFormat::Spdx.rebase(syft, &m).unwrap_err();
        assert!(e.0.contains("not written by imgpush"), "{e}");
        let trivy = br#"{"bomFormat":"CycloneDX","metadata":{"component":{"name":"x"},"tools":{"components":[{"name":"trivy"}]}}}"#;
        let e = SbomFormat::CycloneDx.rebase(trivy, &m).unwrap_err();
        assert!(e.0.contains("not written by imgpush"), "{e}");
        assert!(SbomFormat::Spdx.rebase(b"[1]", &m).is_err());
    }
}
