//! What both renderers read from an [`SbomInput`]: its components in one order (sorted,
//! exact duplicates dropped), each under a key unique in the document, the dependency
//! edges resolved to those keys, the roots the image contains, and the names, suppliers and
//! purls of the image and its base. Deciding these once keeps SPDX and CycloneDX telling the
//! same story.

use super::{BaseRef, Checksum, Component, ComponentKind, HashAlgorithm, SbomInput};
use crate::oci::Digest;
use std::collections::{BTreeMap, BTreeSet};

/// One component as the documents write it.
pub(super) struct Node<'a> {
    pub component: &'a Component,
    /// Unique in the document: the id, or `id#2`, `id#3`… when different components share
    /// one (a collector's mistake that must not merge them).
    pub key: String,
    /// Indices into [`Graph::nodes`] of what this one depends on, sorted.
    pub depends_on: Vec<usize>,
    /// Part of the base (a package-built base's package), not of what imgpush added.
    pub in_base: bool,
    /// The image contains it directly (see [`SbomInput::components`]).
    pub root: bool,
}

/// The image (or its base) as a package of its own.
pub(super) struct ImageNode {
    pub key: String,
    pub name: String,
    pub digest: Digest,
    pub supplier: String,
    /// `pkg:oci/…`; `None` for an embedded base, which has no pullable name.
    pub purl: Option<String>,
}

pub(super) struct Graph<'a> {
    pub input: &'a SbomInput,
    pub image: ImageNode,
    pub base: Option<ImageNode>,
    /// The image's own components, then the base's packages; each part sorted by key.
    pub nodes: Vec<Node<'a>>,
}

impl<'a> Graph<'a> {
    pub fn of(input: &'a SbomInput) -> Graph<'a> {
        let image = image_node(input);
        let base = input.base.as_ref().map(base_node);
        let mut taken: BTreeSet<String> = [Some(&image), base.as_ref()]
            .into_iter()
            .flatten()
            .map(|n| n.key.clone())
            .collect();

        let mut nodes = Vec::new();
        let base_packages = input.base.as_ref().map(|b| &b.packages[..]).unwrap_or(&[]);
        for (in_base, components) in [(false, &input.components[..]), (true, base_packages)] {
            let mut sorted: Vec<&Component> = components.iter().collect();
            sorted.sort();
            sorted.dedup();
            for component in sorted {
                let mut key = component.id.clone();
                let mut n = 1;
                while taken.contains(&key) {
                    n += 1;
                    key = format!("{}#{n}", component.id);
                }
                taken.insert(key.clone());
                nodes.push(Node {
                    component,
                    key,
                    depends_on: Vec::new(),
                    in_base,
                    root: false,
                });
            }
        }

        let mut by_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, node) in nodes.iter().enumerate() {
            by_id.entry(&node.component.id).or_default().push(i);
        }
        // An edge to an id the document does not hold is dropped: both formats reject a
        // relationship to a missing element.
        let edges: Vec<Vec<usize>> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let mut targets: Vec<usize> = node
                    .component
                    .depends_on
                    .iter()
                    .filter_map(|id| by_id.get(id.as_str()))
                    .flatten()
                    .copied()
                    .filter(|&t| t != i)
                    .collect();
                targets.sort_unstable();
                targets.dedup();
                targets
            })
            .collect();
        let mut depended_on = vec![false; nodes.len()];
        for (node, targets) in nodes.iter_mut().zip(edges) {
            if !node.in_base {
                for &t in &targets {
                    depended_on[t] = true;
                }
            }
            node.depends_on = targets;
        }
        for (node, depended_on) in nodes.iter_mut().zip(depended_on) {
            let kind = node.component.kind;
            node.root = !node.in_base
                && (matches!(kind, ComponentKind::Application | ComponentKind::File)
                    || !depended_on);
        }
        Graph {
            input,
            image,
            base,
            nodes,
        }
    }

    /// The supplier of a component, `Person: …` or `Organization: …`: the collector's, or
    /// who distributes that kind of component (the registry, Debian), or for what imgpush
    /// was given to ship (applications, files) whoever publishes the image.
    pub fn supplier(&self, component: &Component) -> String {
        // An empty name or NOASSERTION is no supplier (the NTIA check refuses both).
        if let Some(supplier) = component.supplier.as_deref().map(str::trim)
            && !supplier_name(supplier).is_empty()
            && supplier_name(supplier) != "NOASSERTION"
        {
            return if supplier.starts_with("Person:") || supplier.starts_with("Organization:") {
                supplier.to_string()
            } else {
                format!("Organization: {supplier}")
            };
        }
        match component.kind {
            ComponentKind::Crate => "Organization: crates.io".into(),
            ComponentKind::GoModule => format!("Organization: {}", namespace(&component.name)),
            ComponentKind::NpmPackage => "Organization: npmjs.com".into(),
            ComponentKind::DebPackage => "Organization: Debian".into(),
            ComponentKind::Application | ComponentKind::File => self.image.supplier.clone(),
        }
    }
}

/// The supplier's name without its `Person: ` / `Organization: ` label (CycloneDX).
pub(super) fn supplier_name(supplier: &str) -> &str {
    supplier
        .strip_prefix("Organization:")
        .or_else(|| supplier.strip_prefix("Person:"))
        .unwrap_or(supplier)
        .trim()
}

/// The checksums a document can carry: lowercase hex of the algorithm's length, sorted.
/// Anything else would make the whole document fail validation.
pub(super) fn valid_checksums(component: &Component) -> Vec<&Checksum> {
    let mut valid: Vec<&Checksum> = component
        .checksums
        .iter()
        .filter(|c| {
            let len = match c.algorithm {
                HashAlgorithm::Sha1 => 40,
                HashAlgorithm::Sha256 => 64,
                HashAlgorithm::Sha512 => 128,
            };
            c.hex.len() == len
                && c.hex
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
        .collect();
    valid.sort();
    valid.dedup();
    valid
}

/// A download location validators accept: a URL with a scheme and a host name (spdx-tools
/// wants a dotted name ending in letters), no spaces. Anything else is NOASSERTION.
pub(super) fn is_download_url(location: &str) -> bool {
    let Some((scheme, rest)) = location.split_once("://") else {
        return false;
    };
    let scheme = scheme.strip_prefix("git+").unwrap_or(scheme);
    let host = rest.split(['/', ':', '?', '#']).next().unwrap_or("");
    let tld = host.rsplit('.').next().unwrap_or("");
    matches!(scheme, "http" | "https" | "ssh" | "git" | "sftp" | "ftp")
        && host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && (2..=5).contains(&tld.len())
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && !location.chars().any(char::is_whitespace)
}

/// A pullable reference split into repository and tag (a digest in it is dropped: the
/// digest recorded is [`BaseRef::digest`]).
struct Named<'n> {
    repository: &'n str,
    tag: Option<&'n str>,
}

fn split_reference(name: &str) -> Named<'_> {
    let name = name.split_once('@').map_or(name, |(n, _)| n);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(colon) => Named {
            repository: &name[..slash + colon],
            tag: Some(&name[slash + colon + 1..]),
        },
        None => Named {
            repository: name,
            tag: None,
        },
    }
}

/// Who publishes what is at `path` (`ghcr.io/acme/server` → `ghcr.io/acme`,
/// `golang.org/x/net` → `golang.org/x`): the path without its last segment, or the path
/// when it has one segment.
fn namespace(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(ns, _)| ns)
}

/// Percent-encodes a purl component: unreserved characters stay, and `/` `:` where
/// `keep_separators` (qualifier values such as `repository_url`, as the purl spec's
/// examples write them).
pub(super) fn purl_encode(text: &str, keep_separators: bool) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                out.push(b as char)
            }
            b'/' | b':' if keep_separators => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `pkg:oci/<name>@sha256%3A<hex>?<qualifiers>` (purl-spec's oci type): the name is the
/// repository's last segment in lower case, qualifiers sorted by key.
fn oci_purl(repository: &str, digest: &Digest, qualifiers: &[(&str, Option<&str>)]) -> String {
    let last = repository.rsplit('/').next().unwrap_or(repository);
    let mut purl = format!(
        "pkg:oci/{}@{}",
        purl_encode(&last.to_ascii_lowercase(), false),
        purl_encode(digest.as_str(), false)
    );
    let mut qualifiers: Vec<(&str, &str)> = qualifiers
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect();
    qualifiers.sort();
    for (i, (key, value)) in qualifiers.iter().enumerate() {
        purl.push(if i == 0 { '?' } else { '&' });
        purl.push_str(&format!("{key}={}", purl_encode(value, true)));
    }
    purl
}

fn image_node(input: &SbomInput) -> ImageNode {
    // A name without a registry or namespace (the package name, for layouts and archives)
    // locates nothing, so it is not given as repository_url.
    let repository_url = input.name.contains('/').then_some(input.name.as_str());
    ImageNode {
        key: format!("image:{}", input.subject),
        name: input.name.clone(),
        digest: input.subject.clone(),
        supplier: format!("Organization: {}", namespace(&input.name)),
        purl: Some(oci_purl(
            &input.name,
            &input.subject,
            &[
                ("arch", Some(input.platform.architecture.as_str())),
                ("repository_url", repository_url),
            ],
        )),
    }
}

fn base_node(base: &BaseRef) -> ImageNode {
    let key = format!("base:{}", base.digest);
    match base.name.as_deref() {
        Some(name) => {
            let named = split_reference(name);
            ImageNode {
                key,
                name: named.repository.to_string(),
                digest: base.digest.clone(),
                supplier: format!("Organization: {}", namespace(named.repository)),
                purl: Some(oci_purl(
                    named.repository,
                    &base.digest,
                    &[
                        ("repository_url", Some(named.repository)),
                        ("tag", named.tag),
                    ],
                )),
            }
        }
        // The embedded bases are made by imgpush and exist only inside it.
        None => ImageNode {
            key,
            name: "imgpush embedded base".into(),
            digest: base.digest.clone(),
            supplier: "Organization: imgpush".into(),
            purl: None,
        },
    }
}

/// Inputs for the renderers' unit tests.
#[cfg(test)]
pub(super) mod fixture {
    use super::super::{BaseRef, Checksum, Component, ComponentKind, HashAlgorithm, SbomInput};
    use crate::oci::{Digest, Platform};

    pub fn component(id: &str, kind: ComponentKind, deps: &[&str]) -> Component {
        Component {
            id: id.into(),
            kind,
            // `cargo:serde@1.0.0` → `serde`
            name: id
                .split_once(':')
                .map_or(id, |(_, n)| n)
                .split('@')
                .next()
                .unwrap()
                .into(),
            version: Some("1.0.0".into()),
            purl: None,
            checksums: vec![],
            license: None,
            supplier: None,
            download: None,
            path: None,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    pub fn input(components: Vec<Component>, base: Option<BaseRef>) -> SbomInput {
        SbomInput {
            name: "127.0.0.1:5000/team/app".into(),
            platform: "linux/arm64".parse::<Platform>().unwrap(),
            subject: Digest::of(b"manifest"),
            base,
            components,
            created: 0,
            tool: "imgpush-0.1.0".into(),
        }
    }

    pub fn sha256(seed: &str) -> Checksum {
        Checksum {
            algorithm: HashAlgorithm::Sha256,
            hex: Digest::of(seed.as_bytes()).hex().to_string(),
        }
    }

    /// An application with two crates (one with a non-SPDX license), a file, and a base
    /// with two Debian packages.
    pub fn sample() -> SbomInput {
        let mut app = component(
            "cargo:app@0.1.0",
            ComponentKind::Application,
            &["cargo:serde@1.0.0"],
        );
        app.path = Some("/app".into());
        app.license = Some("MIT OR Apache-2.0".into());
        let mut serde = component(
            "cargo:serde@1.0.0",
            ComponentKind::Crate,
            &["cargo:old_crate@1.0.0"],
        );
        serde.purl = Some("pkg:cargo/serde@1.0.0".into());
        serde.checksums = vec![sha256("serde")];
        serde.license = Some("MIT OR Apache-2.0".into());
        serde.download = Some("https://crates.io/api/v1/crates/serde/1.0.0/download".into());
        let mut old = component("cargo:old_crate@1.0.0", ComponentKind::Crate, &[]);
        old.license = Some("MIT/Apache-2.0".into());
        let mut file = component("file:/etc/app.toml", ComponentKind::File, &[]);
        file.version = None;
        file.name = "app.toml".into();
        file.path = Some("/etc/app.toml".into());
        file.checksums = vec![sha256("app.toml")];
        let mut libc = component("deb:libc6@2.36:arm64", ComponentKind::DebPackage, &[]);
        libc.purl = Some("pkg:deb/debian/libc6@2.36?arch=arm64".into());
        let tzdata = component(
            "deb:tzdata@2024a:all",
            ComponentKind::DebPackage,
            &["deb:libc6@2.36:arm64"],
        );
        let base = BaseRef {
            name: Some("docker.io/library/debian:12".into()),
            digest: Digest::of(b"base"),
            packages: vec![tzdata, libc],
        };
        input(vec![file, old, serde, app], Some(base))
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{component, input};
    use super::*;

    #[test]
    fn roots_are_applications_files_and_what_nothing_depends_on() {
        let i = input(
            vec![
                component("cargo:b@1", ComponentKind::Crate, &["cargo:c@1"]),
                component("app:x", ComponentKind::Application, &["cargo:b@1"]),
                component("cargo:c@1", ComponentKind::Crate, &[]),
                component("cargo:lonely@1", ComponentKind::Crate, &["missing:id"]),
                component("file:/etc/x", ComponentKind::File, &[]),
            ],
            None,
        );
        let g = Graph::of(&i);
        let keys: Vec<(&str, bool)> = g.nodes.iter().map(|n| (n.key.as_str(), n.root)).collect();
        assert_eq!(
            keys,
            [
                ("app:x", true),
                ("cargo:b@1", false),
                ("cargo:c@1", false),
                ("cargo:lonely@1", true),
                ("file:/etc/x", true)
            ]
        );
        assert_eq!(g.nodes[0].depends_on, [1]);
        assert_eq!(g.nodes[1].depends_on, [2]);
        assert!(
            g.nodes[3].depends_on.is_empty(),
            "the dangling edge is dropped"
        );
    }

    #[test]
    fn shared_ids_get_distinct_keys_and_exact_duplicates_collapse() {
        let a = component("cargo:a@1", ComponentKind::Crate, &[]);
        let mut a2 = a.clone();
        a2.license = Some("MIT".into());
        let i = input(vec![a.clone(), a2, a], None);
        let keys: Vec<String> = Graph::of(&i).nodes.iter().map(|n| n.key.clone()).collect();
        assert_eq!(keys, ["cargo:a@1", "cargo:a@1#2"]);
    }

    #[test]
    fn image_and_base_purls_follow_the_oci_type() {
        let base = BaseRef {
            name: Some("docker.io/library/debian:12-slim".into()),
            digest: Digest::of(b"base"),
            packages: vec![],
        };
        let i = input(vec![], Some(base));
        let g = Graph::of(&i);
        assert_eq!(
            g.image.purl.as_deref().unwrap(),
            format!(
                "pkg:oci/app@sha256%3A{}?arch=arm64&repository_url=127.0.0.1:5000/team/app",
                i.subject.hex()
            )
        );
        assert_eq!(g.image.supplier, "Organization: 127.0.0.1:5000/team");
        let b = g.base.unwrap();
        assert_eq!(b.name, "docker.io/library/debian");
        assert_eq!(
            b.purl.unwrap(),
            format!(
                "pkg:oci/debian@sha256%3A{}?repository_url=docker.io/library/debian&tag=12-slim",
                Digest::of(b"base").hex()
            )
        );
        let named = split_reference("localhost:5000/base@sha256:00");
        assert_eq!((named.repository, named.tag), ("localhost:5000/base", None));
    }

    #[test]
    fn suppliers_fall_back_to_who_distributes_the_kind() {
        let i = input(vec![], None);
        let g = Graph::of(&i);
        let mut go = component(
            "golang:golang.org/x/net@v0.1.0",
            ComponentKind::GoModule,
            &[],
        );
        go.name = "golang.org/x/net".into();
        assert_eq!(g.supplier(&go), "Organization: golang.org/x");
        let mut deb = component("deb:libc6@2.36", ComponentKind::DebPackage, &[]);
        assert_eq!(g.supplier(&deb), "Organization: Debian");
        deb.supplier = Some("Person: Jane Doe (jane@example.org)".into());
        assert_eq!(g.supplier(&deb), "Person: Jane Doe (jane@example.org)");
        deb.supplier = Some("Debian LTS".into());
        assert_eq!(g.supplier(&deb), "Organization: Debian LTS");
        for none in ["Organization: ", "NOASSERTION", " "] {
            deb.supplier = Some(none.into());
            assert_eq!(g.supplier(&deb), "Organization: Debian", "{none:?}");
        }
        assert_eq!(supplier_name("Organization: Debian LTS"), "Debian LTS");
        let app = component("app:x", ComponentKind::Application, &[]);
        assert_eq!(g.supplier(&app), "Organization: 127.0.0.1:5000/team");
    }
}
