//! OCI platform → Rust target triple (the table in docs/configuration.md).

use crate::oci::Platform;
use crate::plan::Libc;

/// The Rust target for a platform, or `None` if imgpush has no mapping for it.
pub fn rust_target(platform: &Platform, libc: Libc) -> Option<&'static str> {
    let variant = platform.variant.as_deref();
    Some(match (platform.architecture.as_str(), variant, libc) {
        ("amd64", _, Libc::Musl) => "x86_64-unknown-linux-musl",
        ("amd64", _, Libc::Gnu) => "x86_64-unknown-linux-gnu",
        ("arm64", _, Libc::Musl) => "aarch64-unknown-linux-musl",
        ("arm64", _, Libc::Gnu) => "aarch64-unknown-linux-gnu",
        ("arm", Some("v7"), Libc::Musl) => "armv7-unknown-linux-musleabihf",
        ("arm", Some("v7"), Libc::Gnu) => "armv7-unknown-linux-gnueabihf",
        ("arm", Some("v6"), Libc::Musl) => "arm-unknown-linux-musleabihf",
        ("386", _, Libc::Musl) => "i686-unknown-linux-musl",
        ("386", _, Libc::Gnu) => "i686-unknown-linux-gnu",
        ("riscv64", _, Libc::Musl) => "riscv64gc-unknown-linux-musl",
        ("riscv64", _, Libc::Gnu) => "riscv64gc-unknown-linux-gnu",
        ("ppc64le", _, Libc::Musl) => "powerpc64le-unknown-linux-musl",
        ("ppc64le", _, Libc::Gnu) => "powerpc64le-unknown-linux-gnu",
        ("s390x", _, Libc::Musl) => "s390x-unknown-linux-musl",
        ("s390x", _, Libc::Gnu) => "s390x-unknown-linux-gnu",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let p = |s: &str| s.parse::<Platform>().unwrap();
        assert_eq!(
            rust_target(&p("linux/arm64"), Libc::Musl),
            Some("aarch64-unknown-linux-musl")
        );
        assert_eq!(
            rust_target(&p("linux/arm/v6"), Libc::Musl),
            Some("arm-unknown-linux-musleabihf")
        );
        assert_eq!(rust_target(&p("linux/arm/v6"), Libc::Gnu), None);
        assert_eq!(
            rust_target(&p("linux/amd64"), Libc::Gnu),
            Some("x86_64-unknown-linux-gnu")
        );
    }
}
