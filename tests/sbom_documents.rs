//! SBOM documents (issue 14) checked by independent validators: for a Rust image (crates,
//! std's crates, compound and non-SPDX licenses), a Go image, a static bundle (npm), a
//! prebuilt-files image, an image on a package-built base (deb packages) and one on an
//! embedded base, both formats are rendered through the library and
//!
//! - SPDX 2.3 passes `pyspdxtools -i` (PyPI spdx-tools) with no validation message and the
//!   NTIA minimum elements check of `ntia-checker` (PyPI ntia-conformance-checker), with
//!   every package reachable (no floating components, no unknown pointers);
//! - CycloneDX 1.5 passes cyclonedx-python-lib's strict JSON schema validation;
//! - both hold every component with its purl, version and checksums, the dependency edges,
//!   the image containing its roots, and the base as ancestor;
//! - the bytes do not depend on the order of the input's components.
//!
//! `SBOM_KEEP=DIR` copies the documents there, to look at them.

mod support;

use imgpush::image::sbom::{
    BaseRef, Checksum, Component, ComponentKind as K, HashAlgorithm, SbomFormat, SbomInput,
};
use imgpush::oci::{Digest, Platform};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use support::*;

fn sha256(seed: &str) -> Checksum {
    Checksum {
        algorithm: HashAlgorithm::Sha256,
        hex: Digest::of(seed.as_bytes()).hex().to_string(),
    }
}

fn sha512(seed: &str) -> Checksum {
    let hex = Digest::of(seed.as_bytes()).hex().to_string();
    Checksum {
        algorithm: HashAlgorithm::Sha512,
        hex: format!("{hex}{hex}"),
    }
}

struct C(Component);

impl C {
    fn new(id: &str, kind: K, name: &str, version: Option<&str>) -> C {
        C(Component {
            id: id.into(),
            kind,
            name: name.into(),
            version: version.map(str::to_string),
            purl: None,
            checksums: vec![],
            license: None,
            supplier: None,
            download: None,
            path: None,
            depends_on: vec![],
        })
    }
    /// `SCHEME:NAME@VERSION`, with the purl `pkg:SCHEME/NAME@VERSION`.
    fn pkg(kind: K, scheme: &str, name: &str, version: &str) -> C {
        let id = format!("{scheme}:{name}@{version}");
        C::new(&id, kind, name, Some(version)).purl(&format!("pkg:{scheme}/{name}@{version}"))
    }
    fn krate(name: &str, version: &str) -> C {
        let download = format!("https://crates.io/api/v1/crates/{name}/{version}/download");
        C::pkg(K::Crate, "cargo", name, version)
            .sum(sha256(&format!("{name}-{version}.crate")))
            .download(&download)
    }
    fn purl(mut self, purl: &str) -> C {
        self.0.purl = Some(purl.into());
        self
    }
    fn sum(mut self, checksum: Checksum) -> C {
        self.0.checksums.push(checksum);
        self
    }
    fn license(mut self, license: &str) -> C {
        self.0.license = Some(license.into());
        self
    }
    fn supplier(mut self, supplier: &str) -> C {
        self.0.supplier = Some(supplier.into());
        self
    }
    fn download(mut self, url: &str) -> C {
        self.0.download = Some(url.into());
        self
    }
    fn path(mut self, path: &str) -> C {
        self.0.path = Some(path.into());
        self
    }
    fn deps(mut self, ids: &[&str]) -> C {
        self.0.depends_on = ids.iter().map(|s| s.to_string()).collect();
        self
    }
}

fn image(name: &str, platform: &str, components: Vec<C>, base: Option<BaseRef>) -> SbomInput {
    SbomInput {
        name: name.into(),
        platform: platform.parse::<Platform>().unwrap(),
        subject: Digest::of(format!("{name} {platform} manifest").as_bytes()),
        base,
        components: components.into_iter().map(|c| c.0).collect(),
        created: 1_700_000_000,
        tool: "imgpush-0.1.0".into(),
    }
}

fn rust_image() -> SbomInput {
    let std = |name: &str| {
        C::pkg(K::Crate, "cargo", name, "0.0.0")
            .supplier("Organization: The Rust Project")
            .license("MIT OR Apache-2.0")
    };
    let components = vec![
        C::pkg(K::Application, "cargo", "server", "0.3.1")
            .license("MIT OR Apache-2.0")
            .path("/usr/local/bin/server")
            .deps(&[
                "cargo:serde@1.0.210",
                "cargo:rustix@0.38.37",
                "cargo:oldcrate@0.1.2",
                "cargo:unicode-ident@1.0.13",
                "cargo:std@0.0.0",
            ]),
        C::krate("serde", "1.0.210")
            .license("MIT OR Apache-2.0")
            .deps(&["cargo:serde_derive@1.0.210"]),
        C::krate("serde_derive", "1.0.210").license("MIT OR Apache-2.0"),
        C::krate("rustix", "0.38.37")
            .license("Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT")
            .deps(&["cargo:bitflags@2.6.0"]),
        C::krate("bitflags", "2.6.0").license("MIT OR Apache-2.0"),
        C::krate("oldcrate", "0.1.2").license("MIT/Apache-2.0"),
        C::krate("unicode-ident", "1.0.13").license("(MIT OR Apache-2.0) AND Unicode-DFS-2016"),
        std("std").deps(&[
            "cargo:core@0.0.0",
            "cargo:alloc@0.0.0",
            "cargo:gimli@0.29.0",
            "cargo:addr2line@0.22.0",
            "cargo:hashbrown@0.14.5",
            "cargo:miniz_oxide@0.7.4",
        ]),
        std("core"),
        std("alloc").deps(&["cargo:core@0.0.0"]),
        C::krate("gimli", "0.29.0").license("MIT OR Apache-2.0"),
        C::krate("addr2line", "0.22.0")
            .license("Apache-2.0 OR MIT")
            .deps(&["cargo:gimli@0.29.0"]),
        C::krate("hashbrown", "0.14.5").license("MIT OR Apache-2.0"),
        C::krate("miniz_oxide", "0.7.4").license("MIT OR Zlib OR Apache-2.0"),
    ];
    image("ghcr.io/acme/server", "linux/arm64", components, None)
}

fn go_image() -> SbomInput {
    let module = |path: &str, version: &str| {
        C::pkg(K::GoModule, "golang", path, version).sum(sha256(&format!("{path}@{version}")))
    };
    let components = vec![
        C::pkg(K::Application, "golang", "example.com/hello", "(devel)")
            .path("/app/hello")
            .deps(&[
                "golang:golang.org/x/net@v0.20.0",
                "golang:github.com/google/uuid@v1.6.0",
                "golang:github.com/acme/go_util@v1.0.0",
                "golang:github.com/acme/go-util@v1.0.0",
            ]),
        module("golang.org/x/net", "v0.20.0").deps(&["golang:golang.org/x/text@v0.14.0"]),
        module("golang.org/x/text", "v0.14.0"),
        module("github.com/google/uuid", "v1.6.0"),
        // Two modules whose SPDXIDs would be the same once sanitised.
        module("github.com/acme/go_util", "v1.0.0"),
        module("github.com/acme/go-util", "v1.0.0"),
    ];
    image("127.0.0.1:5000/go/hello", "linux/amd64", components, None)
}

fn bundle_image() -> SbomInput {
    let npm = |name: &str, version: &str, license: &str| {
        let purl_name = name.replace('@', "%40");
        C::pkg(K::NpmPackage, "npm", name, version)
            .purl(&format!("pkg:npm/{purl_name}@{version}"))
            .sum(sha512(&format!("{name}@{version}")))
            .license(license)
            .download(&format!(
                "https://registry.npmjs.org/{name}/-/{version}.tgz"
            ))
    };
    let components = vec![
        npm("web", "2.1.0", "ISC").deps(&["npm:react@18.3.1", "npm:@babel/runtime@7.24.0"]),
        npm("react", "18.3.1", "MIT").deps(&["npm:loose-envify@1.4.0"]),
        npm("loose-envify", "1.4.0", "MIT"),
        npm("@babel/runtime", "7.24.0", "MIT"),
        npm("tslib", "2.6.2", "0BSD"),
    ];
    image(
        "registry.example.com/web/app",
        "linux/amd64",
        components,
        None,
    )
}

fn prebuilt_image() -> SbomInput {
    let file = |path: &str| {
        let name = path.rsplit('/').next().unwrap();
        C::new(&format!("file:{path}"), K::File, name, None)
            .path(path)
            .sum(sha256(path))
    };
    let components = vec![
        file("/app/bin/tool"),
        file("/app/etc/config.yaml"),
        file("/app/share/data set.bin"),
    ];
    image("prebuilt", "linux/arm/v7", components, None)
}

fn debian_base() -> BaseRef {
    let deb = |name: &str, version: &str| {
        let v = version.replace('+', "%2B");
        C::pkg(K::DebPackage, "deb", name, version)
            .purl(&format!(
                "pkg:deb/debian/{name}@{v}?arch=arm64&distro=debian-12"
            ))
            .sum(sha256(&format!("{name}_{version}_arm64.deb")))
    };
    BaseRef {
        name: Some("127.0.0.1:5000/bases/debian:bookworm".into()),
        digest: Digest::of(b"debian base manifest"),
        packages: [
            deb("libc6", "2.36-9+deb12u9")
                .supplier("Person: GNU Libc Maintainers (debian-glibc@lists.debian.org)")
                .license("LGPL-2.1-or-later")
                .deps(&["deb:libgcc-s1@12.2.0-14"]),
            deb("libgcc-s1", "12.2.0-14").deps(&["deb:libc6@2.36-9+deb12u9"]),
            deb("ca-certificates", "20230311"),
            deb("tzdata", "2024a-0+deb12u1"),
        ]
        .into_iter()
        .map(|c| c.0)
        .collect(),
    }
}

fn debian_based_image() -> SbomInput {
    let mut input = rust_image();
    input.name = "127.0.0.1:5000/apps/server-deb".into();
    input.base = Some(debian_base());
    input
}

fn embedded_base_image() -> SbomInput {
    let mut input = go_image();
    input.name = "127.0.0.1:5000/go/hello-static".into();
    input.base = Some(BaseRef {
        name: None,
        digest: Digest::of(b"embedded static base"),
        packages: vec![],
    });
    input
}

/// Every component of the input, the base's packages included.
fn all_components(input: &SbomInput) -> Vec<&Component> {
    let base = input.base.iter().flat_map(|b| &b.packages);
    input.components.iter().chain(base).collect()
}

/// The SPDX document says what the input says.
fn check_spdx_structure(input: &SbomInput, doc: &Value) {
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    let packages = doc["packages"].as_array().unwrap();
    let relationships: BTreeSet<(String, String, String)> = doc["relationships"]
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
        .collect();
    let has =
        |a: &str, kind: &str, b: &str| relationships.contains(&(a.into(), kind.into(), b.into()));
    let image = packages
        .iter()
        .find(|p| p["primaryPackagePurpose"] == "CONTAINER" && p["name"] == input.name.as_str())
        .expect("a package for the image");
    let image_id = image["SPDXID"].as_str().unwrap();
    assert!(has("SPDXRef-DOCUMENT", "DESCRIBES", image_id));
    assert_eq!(image["versionInfo"], input.subject.as_str());
    assert!(
        image["externalRefs"][0]["referenceLocator"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "@sha256%3A{}?arch={}",
                input.subject.hex(),
                input.platform.architecture
            ))
    );

    let ids: BTreeSet<&str> = packages
        .iter()
        .map(|p| p["SPDXID"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), packages.len(), "SPDXIDs are unique");
    let component_id = |c: &Component| -> String {
        // A file's version is its SHA-256.
        let version =
            (c.version.clone()).unwrap_or_else(|| format!("sha256:{}", c.checksums[0].hex));
        let found: Vec<&Value> = (packages.iter())
            .filter(|p| p["name"] == c.name.as_str() && p["versionInfo"] == version.as_str())
            .collect();
        assert_eq!(found.len(), 1, "one package for {}", c.id);
        let p = found[0];
        if let Some(purl) = &c.purl {
            assert_eq!(p["externalRefs"][0]["referenceLocator"], purl.as_str());
            assert_eq!(p["externalRefs"][0]["referenceType"], "purl");
        }
        let sums: BTreeSet<&str> = (p["checksums"].as_array().iter().copied().flatten())
            .map(|s| s["checksumValue"].as_str().unwrap())
            .collect();
        let wanted: BTreeSet<&str> = c.checksums.iter().map(|s| s.hex.as_str()).collect();
        assert_eq!(sums, wanted, "{} keeps its checksums", c.id);
        let supplier = p["supplier"].as_str().unwrap();
        assert!(supplier.starts_with("Organization: ") || supplier.starts_with("Person: "));
        p["SPDXID"].as_str().unwrap().to_string()
    };
    for c in all_components(input) {
        let id = component_id(c);
        for dep in &c.depends_on {
            let target = *all_components(input).iter().find(|d| &d.id == dep).unwrap();
            assert!(
                has(&id, "DEPENDS_ON", &component_id(target)),
                "{} DEPENDS_ON {dep}",
                c.id
            );
        }
        if matches!(c.kind, K::Application | K::File) {
            assert!(
                has(image_id, "CONTAINS", &id),
                "the image CONTAINS {}",
                c.id
            );
        }
    }
    if let Some(base) = &input.base {
        let base_package = packages
            .iter()
            .find(|p| p["versionInfo"] == base.digest.as_str())
            .expect("a package for the base");
        let base_id = base_package["SPDXID"].as_str().unwrap();
        assert!(has(image_id, "DESCENDANT_OF", base_id));
        assert_eq!(
            base_package["checksums"][0]["checksumValue"],
            base.digest.hex()
        );
        for p in &base.packages {
            assert!(
                has(base_id, "CONTAINS", &component_id(p)),
                "base CONTAINS {}",
                p.id
            );
        }
    }
    assert_eq!(
        packages.len(),
        all_components(input).len() + 1 + input.base.iter().count()
    );
}

/// The CycloneDX document says what the input says.
fn check_cyclonedx_structure(input: &SbomInput, bom: &Value) {
    assert_eq!(bom["specVersion"], "1.5");
    let image = &bom["metadata"]["component"];
    assert_eq!(image["type"], "container");
    assert_eq!(image["name"], input.name.as_str());
    assert_eq!(image["hashes"][0]["content"], input.subject.hex());
    let components = bom["components"].as_array().unwrap();
    let dependencies = bom["dependencies"].as_array().unwrap();
    let depends = |r: &str| -> BTreeSet<String> {
        let entry = dependencies
            .iter()
            .find(|d| d["ref"] == r)
            .unwrap_or_else(|| panic!("no dependency entry for {r}"));
        entry["dependsOn"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let image_deps = depends(image["bom-ref"].as_str().unwrap());
    for c in all_components(input) {
        let found = components
            .iter()
            .find(|x| x["bom-ref"] == c.id.as_str())
            .unwrap_or_else(|| panic!("no component {}", c.id));
        assert_eq!(found["name"], c.name.as_str());
        if let Some(purl) = &c.purl {
            assert_eq!(found["purl"], purl.as_str());
        }
        assert_eq!(
            found["hashes"].as_array().map_or(0, Vec::len),
            c.checksums.len()
        );
        let deps = depends(&c.id);
        assert_eq!(deps, c.depends_on.iter().cloned().collect(), "{}", c.id);
        if matches!(c.kind, K::Application | K::File) {
            assert!(image_deps.contains(&c.id), "the image depends on {}", c.id);
        }
    }
    if let Some(base) = &input.base {
        let ancestor = &image["pedigree"]["ancestors"][0];
        assert_eq!(ancestor["hashes"][0]["content"], base.digest.hex());
        let listed = components
            .iter()
            .find(|x| x["type"] == "container")
            .expect("the base as a component");
        let base_ref = listed["bom-ref"].as_str().unwrap();
        assert!(image_deps.contains(base_ref));
        let packages: BTreeSet<String> = base.packages.iter().map(|p| p.id.clone()).collect();
        assert_eq!(depends(base_ref), packages);
    }
    assert_eq!(dependencies.len(), components.len() + 1);
}

fn check(name: &str, input: SbomInput) {
    let dir = tempfile::tempdir().unwrap();
    let mut shuffled = input.clone();
    shuffled.components.reverse();
    if let Some(base) = &mut shuffled.base {
        base.packages.reverse();
    }
    for format in [SbomFormat::Spdx, SbomFormat::CycloneDx] {
        let bytes = format.render(&input);
        assert_eq!(
            bytes,
            format.render(&shuffled),
            "{name}: order changed the bytes"
        );
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        let path = dir.path().join(match format {
            SbomFormat::Spdx => format!("{name}.spdx.json"),
            SbomFormat::CycloneDx => format!("{name}.cdx.json"),
        });
        std::fs::write(&path, &bytes).unwrap();
        if let Some(keep) = std::env::var_os("SBOM_KEEP") {
            std::fs::copy(&path, Path::new(&keep).join(path.file_name().unwrap())).unwrap();
        }
        match format {
            SbomFormat::Spdx => {
                check_spdx_structure(&input, &doc);
                validate_spdx(&path);
            }
            SbomFormat::CycloneDx => {
                check_cyclonedx_structure(&input, &doc);
                validate_cyclonedx(&path);
            }
        }
    }
}

#[test]
fn rust_image_documents_validate() {
    check("rust", rust_image());
}

#[test]
fn go_image_documents_validate() {
    check("go", go_image());
}

#[test]
fn bundle_documents_validate() {
    check("bundle", bundle_image());
}

#[test]
fn prebuilt_files_documents_validate() {
    check("prebuilt", prebuilt_image());
}

#[test]
fn package_built_base_documents_validate() {
    check("debian", debian_based_image());
}

#[test]
fn embedded_base_documents_validate() {
    check("embedded", embedded_base_image());
}

#[test]
fn licenses_are_expressions_or_extracted_text() {
    let input = rust_image();
    let spdx: Value = serde_json::from_slice(&SbomFormat::Spdx.render(&input)).unwrap();
    let declared = |name: &str| -> String {
        let p = spdx["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap();
        p["licenseDeclared"].as_str().unwrap().to_string()
    };
    assert_eq!(declared("serde"), "MIT OR Apache-2.0");
    assert_eq!(
        declared("rustix"),
        "Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT"
    );
    let old = declared("oldcrate");
    assert!(old.starts_with("LicenseRef-"), "{old}");
    let extracted = spdx["hasExtractedLicensingInfos"].as_array().unwrap();
    assert_eq!(extracted.len(), 1);
    assert_eq!(extracted[0]["licenseId"], old.as_str());
    assert_eq!(extracted[0]["extractedText"], "MIT/Apache-2.0");

    let cdx: Value = serde_json::from_slice(&SbomFormat::CycloneDx.render(&input)).unwrap();
    let licenses = |id: &str| -> Value {
        cdx["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["bom-ref"] == id)
            .unwrap()["licenses"]
            .clone()
    };
    assert_eq!(
        licenses("cargo:unicode-ident@1.0.13")[0]["expression"],
        "(MIT OR Apache-2.0) AND Unicode-DFS-2016"
    );
    assert_eq!(
        licenses("cargo:oldcrate@0.1.2")[0]["license"]["name"],
        "MIT/Apache-2.0"
    );
}
