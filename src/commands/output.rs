//! What the binaries write besides progress: the result on stdout, the cache warning.

use super::CommandError;
use crate::plan::Environment;
use std::io::Write;

/// The process environment (read by `config`); says once if a command that uses the cache
/// has none.
pub fn environment(use_cache: bool) -> Result<Environment, CommandError> {
    let env = Environment::from_process().map_err(CommandError::WorkingDir)?;
    if use_cache && let Some(warning) = &env.cache_warning {
        eprintln!("imgpush: warning: {warning}");
    }
    Ok(env)
}

/// Writes `bytes` to stdout; a closed pipe is not an error worth a message (as ripgrep).
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// One line (or a JSON document) on stdout.
pub fn print_line(text: &str) -> std::io::Result<()> {
    write_stdout(format!("{text}\n").as_bytes())
}

/// A result as pretty JSON (`--json`).
pub fn print_json<T: serde::Serialize>(result: &T) -> std::io::Result<()> {
    print_line(&serde_json::to_string_pretty(result).expect("the output serializes"))
}

/// `--json`: the whole result, pretty; otherwise its `reference` line.
pub fn print_result<T: serde::Serialize>(
    json: bool,
    result: &T,
    reference: impl Fn(&T) -> &str,
) -> std::io::Result<()> {
    if json {
        print_json(result)
    } else {
        print_line(reference(result))
    }
}
