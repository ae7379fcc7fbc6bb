//! The versions of the tools a build ran, for its provenance: each tool's own answer to
//! its version flag, first line, as it printed it.

use std::path::Path;
use std::process::{Command, Stdio};

/// A tool that took part in a build and the version it reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolVersion {
    /// `rustc`, `cargo`, `cargo-zigbuild`, `zig`, `go`.
    pub name: String,
    /// As printed: `rustc 1.96.0 (ac68faa20 2026-05-25)`, `0.17.1`, `go version go1.19.8 linux/amd64`.
    pub version: String,
}

/// Runs `program args…` and keeps the first line of its stdout; `None` when it cannot run
/// or says nothing (the provenance then lacks that line rather than the build failing).
pub fn probe(name: &str, program: &Path, args: &[&str]) -> Option<ToolVersion> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| ToolVersion {
        name: name.to_string(),
        version: line.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_of_a_version_answer() {
        let v = probe("sh", Path::new("/bin/sh"), &["-c", "echo 'tool 1.2\nmore'"]).unwrap();
        assert_eq!(v.version, "tool 1.2");
        assert_eq!(probe("sh", Path::new("/bin/sh"), &["-c", "exit 3"]), None);
        assert_eq!(probe("x", Path::new("/nonexistent/tool"), &[]), None);
    }
}
