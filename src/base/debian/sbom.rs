//! A package-built base's packages as SBOM components, straight from its lock: exactly the
//! files the build installed, per architecture, with their SHA-256.

use super::lock::Lock;
use crate::image::purl::Purl;
use crate::image::sbom::{Checksum, Component, ComponentKind, HashAlgorithm};

/// Debian's release number for a suite (`bookworm`, `bookworm-updates`,
/// `bookworm-security` → `12`), as `distro=debian-12` in purls; other suites (`sid`,
/// `unstable`, a future codename) keep their name.
fn distro(suite: &str) -> String {
    let codename = suite.split(['-', '/']).next().unwrap_or(suite);
    let number = match codename {
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        "duke" => "15",
        other => other,
    };
    format!("debian-{number}")
}

/// The packages the lock installs for Debian architecture `arch`: `pkg:deb/debian/…` purls
/// with the package's own architecture (`all` for architecture-independent ones, read from
/// the `.deb` file name) and the release, the lock's SHA-256 of the `.deb`, supplier
/// Debian, download URL from the lock's repository. Licenses are not in the lock (Debian's
/// copyright files are mostly not machine-readable), so none is given.
pub fn packages(lock: &Lock, arch: &str) -> Vec<Component> {
    let mut out: Vec<Component> = lock
        .packages_for(arch)
        .map(|p| {
            let repo = &lock.repositories[p.repository];
            let own_arch = p
                .filename
                .strip_suffix(".deb")
                .and_then(|f| f.rsplit_once('_'))
                .map(|(_, a)| a)
                .unwrap_or(arch);
            Component {
                id: format!("deb:{}@{}:{own_arch}", p.name, p.version),
                kind: ComponentKind::DebPackage,
                name: p.name.clone(),
                version: Some(p.version.clone()),
                purl: Some(
                    Purl {
                        ty: "deb",
                        namespace: vec!["debian"],
                        name: &p.name,
                        version: Some(&p.version),
                        qualifiers: vec![
                            ("arch", own_arch.to_string()),
                            ("distro", distro(&repo.suite)),
                        ],
                    }
                    .render(),
                ),
                checksums: vec![Checksum {
                    algorithm: HashAlgorithm::Sha256,
                    hex: p.sha256.clone(),
                }],
                license: None,
                supplier: Some("Organization: Debian".into()),
                download: Some(format!("{}/{}", repo.url.trim_end_matches('/'), p.filename)),
                path: None,
                depends_on: Vec::new(),
            }
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::debian::lock::{LOCK_VERSION, LockedPackage, LockedRepository};

    fn package(arch: &str, name: &str, version: &str, file_arch: &str) -> LockedPackage {
        LockedPackage {
            arch: arch.into(),
            name: name.into(),
            version: version.into(),
            repository: 0,
            filename: format!("pool/main/x/{name}/{name}_{version}_{file_arch}.deb"),
            size: 1,
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn lock_packages_per_architecture() {
        let lock = Lock {
            lock_version: LOCK_VERSION,
            spec: "sha256:00".into(),
            repositories: vec![LockedRepository {
                url: "http://deb.debian.org/debian/".into(),
                suite: "bookworm".into(),
                components: vec!["main".into()],
                date: "Sat, 08 Nov 2025 09:14:25 UTC".into(),
                snapshot: "20251108T151425Z".into(),
            }],
            packages: vec![
                package("amd64", "libc6", "2.36-9+deb12u9", "amd64"),
                package("arm64", "libc6", "2.36-9+deb12u9", "arm64"),
                package("amd64", "tzdata", "2025b-0+deb12u1", "all"),
                package("amd64", "zlib1g", "1:1.2.13.dfsg-1", "amd64"),
            ],
        };
        let c = packages(&lock, "amd64");
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "deb:libc6@2.36-9+deb12u9:amd64",
                "deb:tzdata@2025b-0+deb12u1:all",
                "deb:zlib1g@1:1.2.13.dfsg-1:amd64"
            ]
        );
        assert_eq!(
            c[0].purl.as_deref(),
            Some("pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64&distro=debian-12")
        );
        assert_eq!(
            c[1].purl.as_deref(),
            Some("pkg:deb/debian/tzdata@2025b-0%2Bdeb12u1?arch=all&distro=debian-12")
        );
        assert_eq!(
            c[2].purl.as_deref(),
            Some("pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12")
        );
        assert_eq!(c[0].checksums[0].hex, "ab".repeat(32));
        assert_eq!(c[0].supplier.as_deref(), Some("Organization: Debian"));
        assert_eq!(
            c[0].download.as_deref(),
            Some("http://deb.debian.org/debian/pool/main/x/libc6/libc6_2.36-9+deb12u9_amd64.deb")
        );
        assert_eq!(packages(&lock, "arm64").len(), 1);
        assert!(packages(&lock, "riscv64").is_empty());
        assert_eq!(distro("trixie-security"), "debian-13");
        assert_eq!(distro("sid"), "debian-sid");
    }
}
