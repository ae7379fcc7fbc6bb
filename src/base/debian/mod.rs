//! Base images built from Debian packages, with no emulation and no maintainer script:
//! signed `InRelease` → `Packages` index per architecture → dependency closure → lock file
//! → `.deb` files verified by SHA-256 → deterministic layers plus the declared effects that
//! maintainer scripts would have had.

pub mod control;
pub mod deb;
pub mod packages;
pub mod relation;
pub mod release;
pub mod resolve;
pub mod version;
