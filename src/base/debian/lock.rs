//! `NAME.lock` beside a package base spec: the exact files a build installs, per
//! architecture, with their SHA-256, plus the date of each repository's signed index so the
//! same files can be fetched from a snapshot archive once the live mirror has dropped them.
//! Building reads only the lock (no index, no resolution); `imgpush base lock` rewrites it.

use super::spec::RepositorySpec;
use serde::{Deserialize, Serialize};

pub const LOCK_VERSION: u32 = 1;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Format version of this file.
    #[serde(rename = "lock-version")]
    pub lock_version: u32,
    /// Fingerprint of the spec's repositories, packages, exclusions and platforms.
    pub spec: String,
    #[serde(rename = "repository")]
    pub repositories: Vec<LockedRepository>,
    #[serde(rename = "package")]
    pub packages: Vec<LockedPackage>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LockedRepository {
    pub url: String,
    pub suite: String,
    pub components: Vec<String>,
    /// The `Date:` of the signed `InRelease` the packages were resolved from.
    pub date: String,
    /// The snapshot timestamp (`YYYYMMDDTHHMMSSZ`) these files are fetched at from a
    /// snapshot archive: the index date plus 6 hours, since snapshot.debian.org imports
    /// the archive four times a day. Edit it if a file is missing from the snapshot.
    pub snapshot: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    /// Debian architecture the package was resolved for (`amd64`, `arm64`, …).
    pub arch: String,
    pub name: String,
    pub version: String,
    /// Index into the lock's repositories.
    pub repository: usize,
    /// Path under the repository URL (`pool/main/n/nginx/…deb`).
    pub filename: String,
    pub size: u64,
    pub sha256: String,
}

impl Lock {
    pub fn parse(text: &str) -> Result<Lock, String> {
        let mut lock: Lock = toml::from_str(text).map_err(|e| e.to_string())?;
        for p in &mut lock.packages {
            p.sha256.make_ascii_lowercase();
        }
        if lock.lock_version != LOCK_VERSION {
            return Err(format!(
                "lock-version {} is not supported (this imgpush writes {LOCK_VERSION})",
                lock.lock_version
            ));
        }
        for p in &lock.packages {
            if p.repository >= lock.repositories.len() {
                return Err(format!(
                    "package {} ({}) names repository {} of {}",
                    p.name,
                    p.arch,
                    p.repository,
                    lock.repositories.len()
                ));
            }
            if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("package {} ({}): bad sha256", p.name, p.arch));
            }
            if !safe_filename(&p.filename) {
                return Err(format!(
                    "package {} ({}): bad filename {}",
                    p.name, p.arch, p.filename
                ));
            }
        }
        Ok(lock)
    }

    /// The lock as written to disk: a header comment, then TOML with one table per package.
    pub fn render(&self, name: &str) -> String {
        let body = toml::to_string(self).expect("a lock serializes");
        format!(
            "# Written by `imgpush base lock {name}`; do not edit (except a repository's \
             `snapshot`).\n# Every file a build of this base installs, per architecture, \
             verified by SHA-256.\n\n{body}"
        )
    }

    pub fn packages_for<'a>(&'a self, arch: &'a str) -> impl Iterator<Item = &'a LockedPackage> {
        self.packages.iter().filter(move |p| p.arch == arch)
    }

    /// Whether the lock's repositories are the spec's, in order.
    pub fn same_repositories(&self, spec: &[RepositorySpec]) -> bool {
        self.repositories.len() == spec.len()
            && self
                .repositories
                .iter()
                .zip(spec)
                .all(|(l, s)| l.url == s.url && l.suite == s.suite && l.components == s.components)
    }
}

/// A pool path that stays a path when put into a URL: Debian's file name characters only,
/// no empty, `.` or `..` component.
pub fn safe_filename(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+~/-".contains(&b))
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time.
pub fn snapshot_timestamp(unix: u64) -> String {
    let rfc = crate::oci::rfc3339(unix); // 2025-11-08T09:14:25Z
    rfc.chars().filter(|c| *c != '-' && *c != ':').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        Lock {
            lock_version: LOCK_VERSION,
            spec: "sha256:00".into(),
            repositories: vec![LockedRepository {
                url: "http://deb.debian.org/debian".into(),
                suite: "bookworm".into(),
                components: vec!["main".into()],
                date: "Sat, 08 Nov 2025 09:14:25 UTC".into(),
                snapshot: "20251108T151425Z".into(),
            }],
            packages: vec![LockedPackage {
                arch: "amd64".into(),
                name: "zlib1g".into(),
                version: "1:1.2.13.dfsg-1".into(),
                repository: 0,
                filename: "pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb".into(),
                size: 87000,
                sha256: "a".repeat(64),
            }],
        }
    }

    #[test]
    fn round_trips_and_checks() {
        let lock = sample();
        let text = lock.render("x");
        assert_eq!(Lock::parse(&text).unwrap(), lock);
        let mut bad = sample();
        bad.packages[0].repository = 3;
        assert!(
            Lock::parse(&bad.render("x"))
                .unwrap_err()
                .contains("repository 3")
        );
        let mut bad = sample();
        for name in [
            "pool/../../etc/passwd",
            "pool/%2e%2e/x.deb",
            "pool/x.deb?y",
            "/pool/x",
        ] {
            bad.packages[0].filename = name.into();
            assert!(
                Lock::parse(&bad.render("x"))
                    .unwrap_err()
                    .contains("bad filename"),
                "{name}"
            );
        }
        let mut upper = sample();
        upper.packages[0].sha256 = "A".repeat(64);
        assert_eq!(
            Lock::parse(&upper.render("x")).unwrap().packages[0].sha256,
            "a".repeat(64)
        );
    }

    #[test]
    fn snapshot_timestamps() {
        assert_eq!(snapshot_timestamp(1_700_000_000), "20231114T221320Z");
    }
}
