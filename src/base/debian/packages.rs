//! The `Packages` index of one repository (suite/component/architecture): one deb822
//! paragraph per binary package, with what the resolver and the downloader need.

use super::control::{self, ControlError};
use super::relation::{self, Provide, Relation, RelationError};
use super::version;

/// A `Packages` index that cannot be used. Package-level errors name the package (and its
/// version and architecture when known) and the field.
#[derive(Debug, thiserror::Error)]
pub enum PackagesError {
    #[error("Packages index is not valid deb822")]
    Control(#[from] ControlError),
    #[error(
        "the paragraph at line {line} of the Packages index has no Package field; \
         the index is damaged: fetch it again"
    )]
    NoName { line: usize },
    #[error(
        "package {package} ({context}) has no {field} field, which every Packages entry needs; \
         the index is damaged or not a Packages file"
    )]
    MissingField {
        package: String,
        context: String,
        field: &'static str,
    },
    #[error("package {package} ({context}): bad {field} {value:?}: {reason}")]
    BadField {
        package: String,
        context: String,
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("package {package} ({context}): bad {field} field")]
    Relation {
        package: String,
        context: String,
        field: &'static str,
        #[source]
        source: RelationError,
    },
}

/// One binary package of a `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// An architecture name or `all`.
    pub architecture: String,
    /// `same`, `foreign`, `allowed` or `no`, as written.
    pub multi_arch: Option<String>,
    pub essential: bool,
    /// The source package name, without the `(version)` part; `None` when the field is absent
    /// (the source package then has the binary package's name).
    pub source: Option<String>,
    /// The version in `Source: name (version)`; `None` when not written (the source version is
    /// then the binary package's version).
    pub source_version: Option<String>,
    pub depends: Vec<Vec<Relation>>,
    pub pre_depends: Vec<Vec<Relation>>,
    pub provides: Vec<Provide>,
    pub conflicts: Vec<Vec<Relation>>,
    pub breaks: Vec<Vec<Relation>>,
    /// The path of the `.deb` below the repository's base URL (`pool/main/…`).
    pub filename: String,
    pub size: u64,
    /// Lowercase hex, 64 characters.
    pub sha256: String,
    /// The index of the repository this entry came from, as given to [`parse_packages`].
    pub repository: usize,
}

/// Parses a whole `Packages` text; every package gets `repository`.
pub fn parse_packages(text: &str, repository: usize) -> Result<Vec<Package>, PackagesError> {
    control::paragraphs(text)?
        .iter()
        .map(|p| parse_one(p, repository))
        .collect()
}

fn parse_one(p: &control::Paragraph, repository: usize) -> Result<Package, PackagesError> {
    let name = p
        .get("Package")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or(PackagesError::NoName { line: p.line() })?
        .to_string();
    let mut context = format!("line {}", p.line());
    let required = |field: &'static str, context: &str| {
        p.get(field)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| PackagesError::MissingField {
                package: name.clone(),
                context: context.to_string(),
                field,
            })
    };
    let bad =
        |field: &'static str, value: &str, reason: &str, context: &str| PackagesError::BadField {
            package: name.clone(),
            context: context.to_string(),
            field,
            value: value.to_string(),
            reason: reason.to_string(),
        };

    let version = required("Version", &context)?.to_string();
    if !version::is_valid(&version) {
        return Err(bad(
            "Version",
            &version,
            "not a Debian version ([epoch:]upstream[-revision])",
            &context,
        ));
    }
    context = format!("version {version}, line {}", p.line());
    let architecture = required("Architecture", &context)?.to_string();
    context = format!("version {version}, architecture {architecture}");

    let essential = match p.get("Essential").map(str::trim) {
        None | Some("no") => false,
        Some("yes") => true,
        Some(other) => return Err(bad("Essential", other, "must be `yes` or `no`", &context)),
    };
    let (source, source_version) = match p.get("Source").map(str::trim) {
        None => (None, None),
        Some(s) => match s.split_once('(') {
            None => (Some(s.to_string()), None),
            Some((n, v)) => {
                let v = v.trim_end().strip_suffix(')').map(str::trim);
                match v {
                    Some(v) if version::is_valid(v) && !n.trim().is_empty() => {
                        (Some(n.trim().to_string()), Some(v.to_string()))
                    }
                    _ => {
                        return Err(bad(
                            "Source",
                            s,
                            "expected `NAME` or `NAME (VERSION)`",
                            &context,
                        ));
                    }
                }
            }
        },
    };
    let relations = |field: &'static str| -> Result<Vec<Vec<Relation>>, PackagesError> {
        relation::parse_relations(p.get(field).unwrap_or("")).map_err(|source| {
            PackagesError::Relation {
                package: name.clone(),
                context: context.clone(),
                field,
                source,
            }
        })
    };
    let depends = relations("Depends")?;
    let pre_depends = relations("Pre-Depends")?;
    let conflicts = relations("Conflicts")?;
    let breaks = relations("Breaks")?;
    let provides = relation::parse_provides(p.get("Provides").unwrap_or("")).map_err(|source| {
        PackagesError::Relation {
            package: name.clone(),
            context: context.clone(),
            field: "Provides",
            source,
        }
    })?;

    let filename = required("Filename", &context)?.to_string();
    if !super::lock::safe_filename(&filename) {
        return Err(bad(
            "Filename",
            &filename,
            "must be a relative path below the repository, without `..`",
            &context,
        ));
    }
    let size_text = required("Size", &context)?;
    let size = size_text.parse::<u64>().map_err(|_| {
        bad(
            "Size",
            size_text,
            "must be a whole number of bytes",
            &context,
        )
    })?;
    let sha256_text = required("SHA256", &context)?;
    let sha256 = sha256_text.to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad(
            "SHA256",
            sha256_text,
            "must be 64 hexadecimal digits",
            &context,
        ));
    }

    Ok(Package {
        multi_arch: p.get("Multi-Arch").map(|m| m.trim().to_string()),
        name,
        version,
        architecture,
        essential,
        source,
        source_version,
        depends,
        pre_depends,
        provides,
        conflicts,
        breaks,
        filename,
        size,
        sha256,
        repository,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD64: &str = include_str!("../../../fixtures/debian/Packages-amd64");
    const ARM64: &str = include_str!("../../../fixtures/debian/Packages-arm64");
    const AMD64_SECURITY: &str = include_str!("../../../fixtures/debian/Packages-amd64-security");
    const ARM64_SECURITY: &str = include_str!("../../../fixtures/debian/Packages-arm64-security");

    const MINIMAL: &str = "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\
        Filename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 53000\n\
        SHA256: 8a7f9b1c2d3e4f5061728394a5b6c7d8e9f0011223344556677889aabbccddee\n";

    fn find<'a>(ps: &'a [Package], name: &str) -> &'a Package {
        ps.iter().find(|p| p.name == name).unwrap()
    }

    #[test]
    fn fixture_amd64() {
        let ps = parse_packages(AMD64, 0).unwrap();
        assert_eq!(ps.len(), 18);
        let nginx = find(&ps, "nginx");
        assert_eq!(nginx.version, "1.22.1-9+deb12u9");
        assert_eq!(nginx.architecture, "amd64");
        assert_eq!(nginx.depends.len(), 8);
        assert_eq!(nginx.depends[0][0].to_string(), "libc6 (>= 2.34)");
        assert_eq!(nginx.provides.len(), 3);
        assert_eq!(nginx.repository, 0);
        assert!(nginx.filename.starts_with("pool/main/n/nginx/"));
        assert_eq!(nginx.sha256.len(), 64);
        let common = find(&ps, "nginx-common");
        assert_eq!(common.architecture, "all");
        assert_eq!(common.source.as_deref(), Some("nginx"));
        assert_eq!(common.source_version, None);
        assert_eq!(common.multi_arch.as_deref(), Some("foreign"));
        assert_eq!(common.depends[0].len(), 2);
        let busybox = find(&ps, "busybox");
        assert_eq!(busybox.source.as_deref(), Some("busybox"));
        assert_eq!(
            busybox.source_version.as_deref(),
            Some("1:1.35.0-4+deb12u1")
        );
        assert_eq!(busybox.conflicts[0][0].name, "busybox-static");
        assert!(find(&ps, "libc-bin").essential);
        assert!(!find(&ps, "libc6").essential);
        let gcc = find(&ps, "libgcc-s1");
        assert_eq!(gcc.provides[0].name, "libgcc1");
        assert!(gcc.provides[0].version.is_some());
        assert!(!find(&ps, "libc6").breaks.is_empty());
    }

    #[test]
    fn fixture_others() {
        for (text, arch) in [
            (ARM64, "arm64"),
            (AMD64_SECURITY, "amd64"),
            (ARM64_SECURITY, "arm64"),
        ] {
            let ps = parse_packages(text, 3).unwrap();
            assert!(ps.len() >= 10);
            assert!(ps.iter().all(|p| p.repository == 3));
            assert!(
                ps.iter()
                    .all(|p| p.architecture == arch || p.architecture == "all")
            );
        }
    }

    fn err(text: &str) -> String {
        parse_packages(text, 0).unwrap_err().to_string()
    }

    #[test]
    fn minimal_and_uppercase_hash() {
        let ps = parse_packages(&MINIMAL.replace("8a7f", "8A7F"), 1).unwrap();
        assert_eq!(ps[0].sha256, MINIMAL[MINIMAL.len() - 65..MINIMAL.len() - 1]);
        assert_eq!(ps[0].size, 53000);
        assert!(ps[0].depends.is_empty() && ps[0].provides.is_empty());
        assert_eq!(ps[0].multi_arch, None);
        assert_eq!(ps[0].source, None);
    }

    #[test]
    fn errors_name_package_and_field() {
        let no_hash = MINIMAL
            .lines()
            .filter(|l| !l.starts_with("SHA256"))
            .collect::<Vec<_>>();
        let e = err(&no_hash.join("\n"));
        assert!(
            e.contains("hello") && e.contains("SHA256") && e.contains("amd64"),
            "{e}"
        );
        let e = err(&MINIMAL.replace("Size: 53000", "Size: 53k"));
        assert!(
            e.contains("hello") && e.contains("Size") && e.contains("53k"),
            "{e}"
        );
        let e = err(&MINIMAL.replace("SHA256: 8a7f", "SHA256: 8a7"));
        assert!(e.contains("SHA256") && e.contains("64"), "{e}");
        let e = err(&MINIMAL.replace("SHA256: 8a7f", "SHA256: 8a7g"));
        assert!(e.contains("SHA256"), "{e}");
        let e = err(&MINIMAL.replace("Version: 2.10-3", "Version: x"));
        assert!(e.contains("Version") && e.contains("hello"), "{e}");
        let e = err(&MINIMAL.replace("Architecture: amd64\n", ""));
        assert!(e.contains("Architecture") && e.contains("2.10-3"), "{e}");
        let e = err(&MINIMAL.replace("Package: hello\n", ""));
        assert!(e.contains("line 1"), "{e}");
        let e = err(&format!("{MINIMAL}Essential: maybe\n"));
        assert!(e.contains("Essential"), "{e}");
        let e = err(&MINIMAL.replace("Filename: pool", "Filename: ../pool"));
        assert!(e.contains("Filename"), "{e}");
        let e = err(&format!("{MINIMAL}Source: hello (\n"));
        assert!(e.contains("Source"), "{e}");
        let bad = parse_packages(&format!("{MINIMAL}Depends: libc6 (>= \n"), 0).unwrap_err();
        let e = bad.to_string();
        assert!(e.contains("hello") && e.contains("Depends"), "{e}");
        assert!(std::error::Error::source(&bad).is_some());
        let e = err(&format!("{MINIMAL}Provides: foo (>= 1)\n"));
        assert!(e.contains("Provides"), "{e}");
    }
}
