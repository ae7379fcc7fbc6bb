//! Shared by the integration tests: a real distribution registry on 127.0.0.1, fixture
//! builders (static hello binaries, the busybox base layout) and independent checkers.
//! A missing tool fails the test naming the Debian package to install; nothing is skipped.
//!
//! Every test binary compiles this module on its own (`mod support;`) and uses only part of
//! it, so in any one binary most helpers are unused: `dead_code` is allowed on the module
//! declarations below and `unused_imports` on the re-exports, nowhere else. Every public
//! helper is used by at least one test.

#[allow(dead_code)]
mod checks;
#[allow(dead_code)]
mod cli;
#[allow(dead_code)]
pub mod field;
#[allow(dead_code)]
mod fixtures;
#[allow(dead_code)]
mod pki;
#[allow(dead_code)]
mod proxy;
#[allow(dead_code)]
mod rebase_scene;
#[allow(dead_code)]
mod referrers_front;
#[allow(dead_code)]
mod registry;
#[allow(dead_code)]
mod sbom;
#[allow(dead_code)]
mod token_server;
#[allow(dead_code)]
mod tools;

// Likewise a binary may use nothing from one of these modules.
#[allow(unused_imports)]
pub use {
    checks::*, cli::*, fixtures::*, pki::*, proxy::*, rebase_scene::*, referrers_front::*,
    registry::*, sbom::*, token_server::*, tools::*,
};
