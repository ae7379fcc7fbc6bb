//! One library function per command: the binaries parse flags, pick a reporter, call these
//! and print what they return.
//!
//! Each command module has `plan(args, env, …)` (flags + environment → the command's plan;
//! `config` did the reading) and `execute(&plan, reporter)` (runs it on its own async
//! runtime and returns the typed result that `--json` prints). The plan comes first because
//! the reporter's verbosity can depend on it (`imgpush build`).
//!
//! [`render`] and [`output`] are the binaries' terminal side (the stderr reporter, the
//! error printer, stdout writes). They live here because both binaries need them and
//! `cargo-imgpush` may reach the other binary's files only through the library; nothing
//! below this module writes to the terminal.

pub mod base;
pub mod build;
pub mod copy;
pub mod doctor;
pub mod index;
pub mod inspect;
mod live;
pub mod login;
pub mod outdated;
pub mod output;
pub mod rebase;
pub mod render;
pub mod resolve;
pub mod sbom;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// `{0}` with a source rather than `transparent`: the crate error stays in the source
    /// chain, where the error printer looks for its hint (a message repeated by the next
    /// cause is printed once).
    #[error("{0}")]
    Run(#[from] crate::Error),
    #[error("reading the working directory")]
    WorkingDir(#[source] std::io::Error),
    #[error("starting the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("no password: pipe it in with --password-stdin (or set IMGPUSH_PASSWORD)")]
    NoPassword,
    /// `imgpush base`: the name or spec cannot be used as asked.
    #[error("{0}")]
    Base(String),
    #[error("the password is empty")]
    EmptyPassword,
    #[error(
        "imgpush login takes no password on the command line (it would show in `ps` and the shell history): pipe it in with --password-stdin, or set IMGPUSH_PASSWORD"
    )]
    PasswordFlag,
}

/// Runs one command's future to completion on a fresh multi-threaded runtime.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, CommandError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Runtime)?;
    Ok(runtime.block_on(future))
}

#[cfg(test)]
mod tests {
    use super::CommandError;
    use std::error::Error as _;

    /// The error printer finds hints by downcasting the chain to `crate::Error`, and prints
    /// a message repeated by the next cause once.
    #[test]
    fn a_run_error_keeps_the_crate_error_in_the_chain() {
        let e = CommandError::from(crate::Error::WorkDir {
            path: "/nowhere".into(),
            source: std::io::Error::other("disk full"),
        });
        let source = e.source().expect("a source");
        assert!(source.downcast_ref::<crate::Error>().is_some());
        assert_eq!(e.to_string(), source.to_string());
    }
}
