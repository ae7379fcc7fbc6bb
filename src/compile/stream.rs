//! Runs cargo (or cargo-zigbuild) with `--message-format=json-render-diagnostics`: stderr
//! (progress and the diagnostics cargo renders there) reaches the user line by line as
//! before; stdout carries cargo's JSON messages, whose `compiler-artifact`s are collected
//! for the SBOM and the binaries' paths. Anything on stdout that is not a cargo message (a
//! wrapper's own output) is passed on too.

use super::CompileError;
use crate::report::{Event, Reporter, Tool};
use cargo_metadata::{Artifact, Message};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// What one stdout line is.
#[derive(Debug)]
pub(crate) enum StdoutLine {
    Artifact(Box<Artifact>),
    /// For the user (a rendered diagnostic, a line that is not a cargo message).
    Show(String),
    /// Build-script and build-finished messages: nothing to show or keep.
    Quiet,
}

pub(crate) fn classify(line: &str) -> StdoutLine {
    if !line.starts_with('{') {
        return StdoutLine::Show(line.to_string());
    }
    match serde_json::from_str::<Message>(line) {
        Ok(Message::CompilerArtifact(a)) => StdoutLine::Artifact(Box::new(a)),
        // Only without `-render-diagnostics`; shown as the compiler would have.
        Ok(Message::CompilerMessage(m)) => match m.message.rendered {
            Some(r) => StdoutLine::Show(r.trim_end().to_string()),
            None => StdoutLine::Quiet,
        },
        Ok(Message::BuildScriptExecuted(_)) | Ok(Message::BuildFinished(_)) => StdoutLine::Quiet,
        // Messages of a newer cargo this parser does not know, or no cargo message at all.
        Ok(_) | Err(_) => {
            if serde_json::from_str::<serde_json::Value>(line)
                .is_ok_and(|v| v.get("reason").is_some())
            {
                StdoutLine::Quiet
            } else {
                StdoutLine::Show(line.to_string())
            }
        }
    }
}

/// Runs a cargo build: stderr passed to the reporter line by line (its tail kept for the
/// error), stdout parsed; returns the `compiler-artifact` messages in order.
pub(crate) fn run_cargo(
    mut cmd: Command,
    reporter: &dyn Reporter,
) -> Result<Vec<Artifact>, CompileError> {
    let program = cmd.get_program().to_string_lossy().to_string();
    let spawn = |source| CompileError::Spawn {
        program: program.clone(),
        source,
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(spawn)?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let output = |line: &str| {
        reporter.event(Event::ChildOutput {
            tool: Tool::Cargo,
            platform: None,
            line: line.to_string(),
        })
    };
    let mut tail: VecDeque<String> = VecDeque::new();
    let artifacts = std::thread::scope(|s| {
        let reading = s.spawn(|| {
            let mut artifacts = Vec::new();
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                match classify(&String::from_utf8_lossy(&line)) {
                    StdoutLine::Artifact(a) => artifacts.push(*a),
                    StdoutLine::Show(text) => {
                        for l in text.lines() {
                            output(l);
                        }
                    }
                    StdoutLine::Quiet => {}
                }
            }
            artifacts
        });
        for line in BufReader::new(stderr).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).to_string();
            output(&line);
            tail.push_back(line);
            if tail.len() > 30 {
                tail.pop_front();
            }
        }
        reading.join().expect("the stdout reader does not panic")
    });
    let status = child.wait().map_err(spawn)?;
    if status.success() {
        Ok(artifacts)
    } else {
        Err(CompileError::ToolFailed {
            tool: program,
            status: status.code(),
            stderr_tail: strip_ansi(&Vec::from(tail).join("\n")),
        })
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_lines_are_parsed_or_shown() {
        let artifact = r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#fnv@1.0.7","manifest_path":"/r/fnv-1.0.7/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"fnv","src_path":"/r/fnv-1.0.7/lib.rs","edition":"2015","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"3","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false},"features":["default","std"],"filenames":["/t/x86_64-unknown-linux-musl/release/deps/libfnv-0c1b.rlib","/t/x86_64-unknown-linux-musl/release/deps/libfnv-0c1b.rmeta"],"executable":null,"fresh":true}"#;
        match classify(artifact) {
            StdoutLine::Artifact(a) => {
                assert_eq!(a.filenames.len(), 2);
                assert!(a.fresh);
                assert_eq!(a.executable, None);
            }
            other => panic!("{other:?}"),
        }
        let bin = r#"{"reason":"compiler-artifact","package_id":"path+file:///w#app@0.1.0","manifest_path":"/w/Cargo.toml","target":{"kind":["bin"],"crate_types":["bin"],"name":"app","src_path":"/w/src/main.rs","edition":"2021","doc":true,"doctest":false,"test":true},"profile":{"opt_level":"3","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false},"features":[],"filenames":["/t/aarch64-unknown-linux-musl/release/app"],"executable":"/t/aarch64-unknown-linux-musl/release/app","fresh":false}"#;
        match classify(bin) {
            StdoutLine::Artifact(a) => assert_eq!(
                a.executable.as_deref().map(|p| p.as_str()),
                Some("/t/aarch64-unknown-linux-musl/release/app")
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify(r#"{"reason":"build-finished","success":true}"#),
            StdoutLine::Quiet
        ));
        assert!(matches!(
            classify(
                r#"{"reason":"build-script-executed","package_id":"path+file:///w#app@0.1.0","linked_libs":[],"linked_paths":[],"cfgs":[],"env":[],"out_dir":"/t/out"}"#
            ),
            StdoutLine::Quiet
        ));
        assert!(matches!(
            classify(r#"{"reason":"some-future-message","x":1}"#),
            StdoutLine::Quiet
        ));
        match classify("info: zig is at /opt/zig") {
            StdoutLine::Show(s) => assert_eq!(s, "info: zig is at /opt/zig"),
            other => panic!("{other:?}"),
        }
        match classify(r#"{"not":"cargo"}"#) {
            StdoutLine::Show(s) => assert_eq!(s, r#"{"not":"cargo"}"#),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            strip_ansi("\u{1b}[1m\u{1b}[31merror\u{1b}[0m: x"),
            "error: x"
        );
    }
}
