//! The `[debian]` section of a base spec: where the packages come from, which ones, what
//! is left out (with the reason), and the declarative effects that maintainer scripts would
//! have had. Only the part that decides *which files* (repositories, packages, exclusions,
//! platforms) is fingerprinted into the lock; the effects change the image, not the lock.

use crate::base::spec::{DirSpec, FileSpec};
use crate::oci::{Digest, Platform, canonical_json};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianSpec {
    /// Image platforms; each maps to one Debian architecture.
    pub platforms: Vec<String>,
    /// Signed suites to take packages from; a package in several takes the highest version.
    pub repositories: Vec<RepositorySpec>,
    /// What to install: `name` or `name (>= version)`; their `Depends` and `Pre-Depends`
    /// closure comes with them.
    pub packages: Vec<String>,
    /// Packages (real or virtual) never installed, each with the reason. A dependency on
    /// one of them counts as satisfied; nothing else is ever left out.
    #[serde(default)]
    pub exclude: BTreeMap<String, String>,
    /// The keyring `InRelease` must be signed by: `debian-archive` (embedded) or a path
    /// relative to the spec file.
    #[serde(default = "default_keyring")]
    pub keyring: String,
    /// Replaces the scheme and host of every repository URL (`IMGPUSH_DEBIAN_MIRROR` wins).
    #[serde(default)]
    pub mirror: Option<String>,
    /// A snapshot archive such as `https://snapshot.debian.org/archive`: files are then
    /// fetched from `SNAPSHOT/<archive>/<timestamp from the lock>/` (`IMGPUSH_DEBIAN_SNAPSHOT`
    /// wins).
    #[serde(default)]
    pub snapshot: Option<String>,

    // What maintainer scripts would have done, declared.
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    #[serde(default)]
    pub dirs: Vec<DirSpec>,
    #[serde(default)]
    pub symlinks: Vec<SymlinkSpec>,
    /// Writes `/etc/ssl/certs/ca-certificates.crt` from every certificate under
    /// `/usr/share/ca-certificates`, as `update-ca-certificates` does with the default
    /// answers (every certificate enabled), and `/etc/ca-certificates.conf` listing them.
    #[serde(default, rename = "ca-certificates")]
    pub ca_certificates: bool,

    // The image config.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub expose: Vec<u16>,
    #[serde(default, rename = "stop-signal")]
    pub stop_signal: Option<String>,
}

fn default_keyring() -> String {
    "debian-archive".to_string()
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RepositorySpec {
    /// e.g. `http://deb.debian.org/debian`.
    pub url: String,
    /// e.g. `bookworm`, `bookworm-updates`, `bookworm-security`.
    pub suite: String,
    #[serde(default = "default_components")]
    pub components: Vec<String>,
}

fn default_components() -> Vec<String> {
    vec!["main".to_string()]
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    #[serde(default = "default_home")]
    pub home: String,
    #[serde(default = "default_shell")]
    pub shell: String,
}

fn default_home() -> String {
    "/nonexistent".to_string()
}

fn default_shell() -> String {
    "/usr/sbin/nologin".to_string()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    pub gid: u32,
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymlinkSpec {
    pub path: String,
    pub target: String,
}

/// A platform of the spec with its Debian architecture.
#[derive(Clone, Debug)]
pub struct Arch {
    pub platform: Platform,
    pub debian: String,
}

/// The Debian architecture of an image platform.
pub fn debian_arch(p: &Platform) -> Option<&'static str> {
    Some(
        match (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()) {
            ("linux", "amd64", _) => "amd64",
            ("linux", "arm64", None | Some("v8")) => "arm64",
            ("linux", "arm", Some("v7")) => "armhf",
            ("linux", "arm", Some("v5") | Some("v6")) => "armel",
            ("linux", "386", _) => "i386",
            ("linux", "ppc64le", _) => "ppc64el",
            ("linux", "s390x", _) => "s390x",
            ("linux", "riscv64", _) => "riscv64",
            ("linux", "mips64le", _) => "mips64el",
            _ => return None,
        },
    )
}

impl DebianSpec {
    pub fn arches(&self) -> Result<Vec<Arch>, String> {
        let mut out: Vec<Arch> = Vec::new();
        for p in &self.platforms {
            let platform: Platform = p.parse().map_err(|e| format!("platform `{p}`: {e}"))?;
            let debian = debian_arch(&platform).ok_or_else(|| {
                format!(
                    "platform `{p}` has no Debian architecture (known: linux/amd64, linux/arm64/v8, \
                     linux/arm/v7 = armhf, linux/arm/v6 = armel, linux/386, linux/ppc64le, linux/s390x, \
                     linux/riscv64)"
                )
            })?;
            if out.iter().any(|a| a.debian == debian) {
                return Err(format!("two platforms map to Debian architecture {debian}"));
            }
            out.push(Arch {
                platform,
                debian: debian.to_string(),
            });
        }
        if out.is_empty() {
            return Err("`platforms` is empty".into());
        }
        Ok(out)
    }

    /// Digest of what decides the resolution; the lock records it, and a build refuses a
    /// lock whose fingerprint differs from its spec's.
    pub fn fingerprint(&self) -> Digest {
        let value = serde_json::json!({
            "platforms": self.platforms,
            "repositories": self.repositories,
            "packages": self.packages,
            "exclude": self.exclude.keys().collect::<Vec<_>>(),
        });
        Digest::of(&canonical_json(&value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> DebianSpec {
        toml::from_str(text).unwrap()
    }

    const MINIMAL: &str = r#"
platforms = ["linux/amd64", "linux/arm64"]
packages = ["busybox-static"]
[[repositories]]
url = "http://deb.debian.org/debian"
suite = "bookworm"
"#;

    #[test]
    fn fingerprint_covers_resolution_inputs_only() {
        let a = spec(MINIMAL);
        let b = spec(&format!("user = \"65532\"\n{MINIMAL}"));
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = spec(&MINIMAL.replace("busybox-static", "busybox"));
        assert_ne!(a.fingerprint(), c.fingerprint());
        let d = spec(&format!("{MINIMAL}\n[exclude]\ndebconf = \"why\"\n"));
        let e = spec(&format!(
            "{MINIMAL}\n[exclude]\ndebconf = \"another reason\"\n"
        ));
        assert_ne!(a.fingerprint(), d.fingerprint());
        assert_eq!(d.fingerprint(), e.fingerprint());
    }

    #[test]
    fn platforms_map_to_debian_architectures() {
        let a = spec(MINIMAL).arches().unwrap();
        assert_eq!(a[0].debian, "amd64");
        assert_eq!(a[1].debian, "arm64");
        assert_eq!(
            debian_arch(&Platform::from_parts("windows", "amd64", None)),
            None
        );
        assert_eq!(
            debian_arch(&Platform::from_parts("linux", "arm", Some("v7"))),
            Some("armhf")
        );
        let twice = spec(&MINIMAL.replace("linux/arm64", "linux/arm64/v8\", \"linux/arm64"));
        assert!(twice.arches().unwrap_err().contains("two platforms"));
    }
}
