use std::fmt;
use std::str::FromStr;

/// GOARCH values imgpush knows how to name, check (ELF) and build for.
pub const KNOWN_ARCHITECTURES: &[&str] = &[
    "amd64", "arm64", "arm", "386", "riscv64", "ppc64le", "s390x",
];

/// An OCI platform (`os/architecture[/variant]`) in normalized form: `arm64` always carries
/// variant `v8` and `arm` defaults to `v7`, as containerd's `platforms.Normalize` does, so
/// `linux/arm64` and `linux/arm64/v8` compare equal.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("`{0}` is not a platform: write OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm/v7")]
    Shape(String),
    #[error("platform `{given}`: unknown architecture `{arch}` (known: {known})")]
    Architecture {
        given: String,
        arch: String,
        known: String,
    },
    #[error("platform `{given}`: platforms are lower case; did you mean `{lower}`?")]
    Case { given: String, lower: String },
    #[error("platform `{given}`: imgpush builds Linux images; `{os}` is not supported")]
    Os { given: String, os: String },
    #[error(
        "platform `{given}`: `{variant}` is not a variant of {arch} (expected one of {allowed})"
    )]
    Variant {
        given: String,
        arch: String,
        variant: String,
        allowed: String,
    },
}

impl Platform {
    /// Builds a normalized platform from the fields found in an image index or config,
    /// which are trusted as they are (any architecture a registry lists is kept).
    pub fn from_parts(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let variant = variant.filter(|v| !v.is_empty()).map(str::to_string);
        let variant = match (architecture, variant) {
            ("arm64", None) => Some("v8".to_string()),
            ("arm", None) => Some("v7".to_string()),
            ("amd64", Some(v)) if v == "v1" => None,
            (_, v) => v,
        };
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant,
        }
    }

    /// The placeholder for index entries that are not platform images (attestations,
    /// entries without a platform; see [`super::attestation::entry_platform`]).
    pub fn unknown() -> Platform {
        Platform::from_parts("unknown", "unknown", None)
    }

    /// Nothing to run: buildkit lists attestations as `unknown/unknown`, and every entry
    /// that [`super::attestation::entry_platform`] rejects is given [`Platform::unknown`].
    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" || self.architecture == "unknown"
    }

    pub fn from_oci(p: &oci_spec::image::Platform) -> Platform {
        Platform::from_parts(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        )
    }

    /// The platform as written into an index entry: `arm64` carries `v8` unless `base`
    /// (the base image's own entry) says otherwise; other fields of the base entry
    /// (`os.version`, `os.features`) are kept.
    pub fn to_oci(&self, base: Option<&oci_spec::image::Platform>) -> oci_spec::image::Platform {
        let mut p = base.cloned().unwrap_or_default();
        p.set_os(self.os.as_str().into());
        p.set_architecture(self.architecture.as_str().into());
        let variant = match base.and_then(|b| b.variant().clone()) {
            Some(v) if !v.is_empty() => Some(v),
            _ => self.variant.clone(),
        };
        p.set_variant(variant);
        p
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let lower = given.trim().to_ascii_lowercase();
        if lower != given.trim() && lower.parse::<Platform>().is_ok() {
            return Err(PlatformError::Case {
                given: given.to_string(),
                lower,
            });
        }
        let parts: Vec<&str> = given.trim().split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(PlatformError::Shape(given.to_string())),
        };
        if os.is_empty() || arch.is_empty() || variant == Some("") {
            return Err(PlatformError::Shape(given.to_string()));
        }
        if os != "linux" {
            return Err(PlatformError::Os {
                given: given.to_string(),
                os: os.to_string(),
            });
        }
        let arch = match arch {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        if !KNOWN_ARCHITECTURES.contains(&arch) {
            return Err(PlatformError::Architecture {
                given: given.to_string(),
                arch: arch.to_string(),
                known: KNOWN_ARCHITECTURES.join(", "),
            });
        }
        let allowed: &[&str] = match arch {
            "arm64" => &["v8"],
            "arm" => &["v6", "v7"],
            "amd64" => &["v1", "v2", "v3", "v4"],
            _ => &[],
        };
        if let Some(v) = variant
            && !allowed.contains(&v)
        {
            return Err(PlatformError::Variant {
                given: given.to_string(),
                arch: arch.to_string(),
                variant: v.to_string(),
                allowed: if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                },
            });
        }
        Ok(Platform::from_parts(os, arch, variant))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn arm64_and_arm64_v8_are_the_same() {
        assert_eq!(p("linux/arm64"), p("linux/arm64/v8"));
        assert_eq!(p("linux/arm64").to_string(), "linux/arm64/v8");
        assert_eq!(p("linux/aarch64"), p("linux/arm64"));
    }

    #[test]
    fn arm_variants_are_distinct() {
        assert_ne!(p("linux/arm/v6"), p("linux/arm/v7"));
        assert_eq!(p("linux/arm"), p("linux/arm/v7"));
    }

    #[test]
    fn malformed_platforms_are_rejected() {
        for bad in [
            "linux/amd65",
            "arm64",
            "linux",
            "linux/",
            "/amd64",
            "windows/amd64",
            "linux/arm64/v7",
            "linux/amd64/v8/x",
        ] {
            assert!(bad.parse::<Platform>().is_err(), "{bad} should be rejected");
        }
        let msg = "linux/amd65".parse::<Platform>().unwrap_err().to_string();
        assert!(msg.contains("amd65") && msg.contains("amd64"), "{msg}");
    }

    #[test]
    fn index_entry_keeps_base_variant() {
        let base: oci_spec::image::Platform =
            serde_json::from_str(r#"{"architecture":"arm64","os":"linux"}"#).unwrap();
        let out = p("linux/arm64").to_oci(Some(&base));
        assert_eq!(out.variant().as_deref(), Some("v8"));
        let amd: oci_spec::image::Platform =
            serde_json::from_str(r#"{"architecture":"amd64","os":"linux"}"#).unwrap();
        assert_eq!(p("linux/amd64").to_oci(Some(&amd)).variant(), &None);
    }
}
