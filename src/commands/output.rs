//! What the binaries write besides progress: the result on stdout, the cache warning; and
//! what stderr is ([`Console`]), which picks how progress is shown.

use super::CommandError;
use crate::plan::Environment;
use std::io::Write;

/// What stderr is and how progress is shown on it, decided once, with the environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Console {
    /// Live bars: stderr is a terminal and no CI is declared (`CI`, `GITHUB_ACTIONS`).
    /// Otherwise plain lines only, without a control character.
    pub live: bool,
    /// `GITHUB_ACTIONS=true`: each stage is a `::group::` … `::endgroup::` of the log.
    pub log_groups: bool,
}

impl Console {
    /// From the values of `CI`, `GITHUB_ACTIONS` and `TERM`. Any `CI` but empty, `false`
    /// or `0` means CI (GitLab, Buildkite, Jenkins setups and GitHub all set `CI=true`;
    /// some runners give jobs a terminal). A `dumb` or unset `TERM` gets no bars either
    /// (indicatif would hide them, and the lines printed above them with them).
    pub fn decide(stderr_is_terminal: bool, vars: ConsoleVars<'_>) -> Console {
        let ci = vars.ci.is_some_and(|v| !matches!(v, "" | "false" | "0"));
        let github = vars.github_actions == Some("true");
        let dumb = vars.term.is_none_or(|t| t.is_empty() || t == "dumb");
        Console {
            live: stderr_is_terminal && !ci && !github && !dumb,
            log_groups: github,
        }
    }
}

/// The variables [`Console::decide`] reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConsoleVars<'a> {
    pub ci: Option<&'a str>,
    pub github_actions: Option<&'a str>,
    pub term: Option<&'a str>,
}

/// The process environment (read by `config`) and what stderr is (read here, once); says
/// once if a command that uses the cache has none.
pub fn environment(use_cache: bool) -> Result<(Environment, Console), CommandError> {
    let mut env = Environment::from_process().map_err(CommandError::WorkingDir)?;
    let var = |k| std::env::var(k).ok();
    let (ci, github_actions, term) = (var("CI"), var("GITHUB_ACTIONS"), var("TERM"));
    let console = Console::decide(
        env.stderr_is_terminal,
        ConsoleVars {
            ci: ci.as_deref(),
            github_actions: github_actions.as_deref(),
            term: term.as_deref(),
        },
    );
    // No colours from cargo either where no bars are drawn: a CI log gets plain text.
    env.stderr_is_terminal = console.live;
    if use_cache && let Some(warning) = &env.cache_warning {
        eprintln!("imgpush: warning: {warning}");
    }
    Ok((env, console))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(tty: bool, ci: Option<&str>, gha: Option<&str>, term: Option<&str>) -> Console {
        Console::decide(
            tty,
            ConsoleVars {
                ci,
                github_actions: gha,
                term,
            },
        )
    }

    #[test]
    fn bars_only_on_a_real_terminal_outside_ci() {
        let xterm = Some("xterm-256color");
        assert!(decide(true, None, None, xterm).live);
        assert!(decide(true, Some("false"), None, xterm).live);
        assert!(decide(true, Some(""), None, xterm).live);
        assert!(!decide(false, None, None, xterm).live);
        assert!(!decide(true, Some("true"), None, xterm).live);
        assert!(!decide(true, Some("1"), None, xterm).live);
        assert!(!decide(true, None, Some("true"), xterm).live);
        assert!(!decide(true, None, None, Some("dumb")).live);
        assert!(!decide(true, None, None, None).live);
    }

    #[test]
    fn log_groups_only_on_github_actions() {
        assert!(decide(false, Some("true"), Some("true"), None).log_groups);
        assert!(!decide(false, Some("true"), None, None).log_groups);
        assert!(!decide(false, None, Some("false"), None).log_groups);
    }
}
