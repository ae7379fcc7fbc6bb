//! The documentation's shell examples, run as written.
//!
//! Every fenced block tagged `bash`, `sh`, `shell` or `console` in `README.md` and
//! `docs/*.md` is either **run** or carries a skip marker on the line right above its fence:
//!
//! ```text
//! <!-- docs-test: skip (needs a GHCR account) -->
//! ```
//!
//! An untagged block that starts with a command (`$ `, `imgpush `, `cargo `, …) must be
//! tagged. A marker without a reason, or a runnable block that fails, fails this test — so a new
//! example is tested unless someone says, in the document, why it cannot be.
//!
//! Rules for a runnable block:
//! - Each document's runnable blocks run **in document order, in one fresh temporary
//!   directory**, each as its own `bash -euo pipefail` script: files made by an earlier block
//!   (a quick start's `dist/`) are there for later ones; shell variables are not.
//! - The environment is empty but for a fresh `HOME`, `PATH` = the directory of the built
//!   `imgpush`/`cargo-imgpush` first, then `/usr/local/bin:/usr/bin:/bin` (the documented
//!   prerequisites: gcc and aarch64-linux-gnu-gcc, installed by `scripts/install-deps.sh`),
//!   and `LANG=C.UTF-8`.
//! - The docs' local registry is `127.0.0.1:5000` (what the guide's `docker-registry` setup
//!   serves). The test starts its own registry (`Registry::start()`) and replaces every
//!   `127.0.0.1:5000` and `localhost:5000` in the block text with that registry's address;
//!   the setup steps themselves are marked skip.
//! - In a `console` block only lines starting with `$ ` are commands (a trailing `\`
//!   continues one onto the next line); the rest is sample output and is not compared.
//!
//! The test prints, per document, which blocks ran and which were skipped, with reasons.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use support::*;

const SHELL_TAGS: &[&str] = &["bash", "sh", "shell", "console"];
const MARKER: &str = "<!-- docs-test: skip (";

#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    tag: String,
    text: String,
    skip: Option<String>,
}

/// The shell blocks of one Markdown document, with their skip reasons; `Err` for a
/// malformed marker.
fn shell_blocks(doc: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let indent = lines[i].len() - trimmed.len();
        let tag = info.split_whitespace().next().unwrap_or("").to_string();
        let start = i;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && !lines[i].trim_start().starts_with("```") {
            let l = lines[i];
            body.push(if l.len() >= indent && l[..indent].trim().is_empty() {
                &l[indent..]
            } else {
                l.trim_start()
            });
            i += 1;
        }
        i += 1; // the closing fence
        let first = body.iter().find(|l| !l.trim().is_empty()).map(|l| l.trim());
        if tag.is_empty() && first.is_some_and(looks_like_shell) {
            return Err(format!(
                "line {}: an untagged block of shell commands; tag it ```bash or ```console",
                start + 1
            ));
        }
        if !SHELL_TAGS.contains(&tag.as_str()) {
            continue;
        }
        let above = if start > 0 {
            lines[start - 1].trim()
        } else {
            ""
        };
        let skip = if above.starts_with("<!-- docs-test") {
            let reason = above
                .strip_prefix(MARKER)
                .and_then(|r| r.strip_suffix(") -->"))
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| {
                    format!("line {start}: malformed marker `{above}`; write `{MARKER}REASON) -->`")
                })?;
            Some(reason.to_string())
        } else {
            None
        };
        blocks.push(Block {
            line: start + 1,
            tag,
            text: body.join("\n") + "\n",
            skip,
        });
    }
    Ok(blocks)
}

/// Whether an untagged block's first line is a command, so that shell examples cannot
/// escape the test by leaving out the tag.
fn looks_like_shell(first: &str) -> bool {
    ["$ ", "imgpush ", "cargo ", "podman ", "skopeo ", "docker "]
        .iter()
        .any(|p| first.starts_with(p))
}

/// The script a block runs: a console block's `$ ` lines, any other block as it is.
fn script(block: &Block) -> String {
    if block.tag != "console" {
        return block.text.clone();
    }
    let mut out = String::new();
    let mut continued = false;
    for l in block.text.lines() {
        if let Some(cmd) = l.strip_prefix("$ ") {
            out.push_str(cmd);
        } else if continued {
            out.push_str(l);
        } else {
            continue;
        }
        out.push('\n');
        continued = l.trim_end().ends_with('\\');
    }
    out
}

fn documents() -> Vec<PathBuf> {
    let root = repo_root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    docs
}

fn run_block(script: &str, dir: &Path, home: &Path) -> std::process::Output {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_imgpush")).parent().unwrap();
    Command::new("/bin/bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env_clear()
        .env("HOME", home)
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display()),
        )
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap()
}

#[test]
fn parser_reads_markers_and_console_prompts() {
    let doc = "# t\n\n<!-- docs-test: skip (needs X) -->\n```bash\nfalse\n```\n\n```console\n$ echo a \\\n  b\nsample output\n$ true\n```\n\n<!-- docs-test: skip () -->\n```sh\nx\n```\n";
    assert!(shell_blocks(doc).unwrap_err().contains("malformed marker"));
    assert!(
        shell_blocks("```\nimgpush build\n```\n")
            .unwrap_err()
            .contains("untagged")
    );
    let blocks = shell_blocks(&doc[..doc.find("\n\n<!-- docs-test: skip ()").unwrap()]).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].skip.as_deref(), Some("needs X"));
    assert_eq!(blocks[0].line, 4);
    assert_eq!(blocks[1].skip, None);
    assert_eq!(script(&blocks[1]), "echo a \\\n  b\ntrue\n");
}

#[test]
fn every_shell_example_runs_or_says_why_not() {
    let registry = Registry::start();
    let started = Instant::now();
    let mut report = String::new();
    let mut failures = Vec::new();
    for doc in documents() {
        let name = doc.strip_prefix(repo_root()).unwrap().display().to_string();
        let text = std::fs::read_to_string(&doc).unwrap();
        let blocks = match shell_blocks(&text) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        report.push_str(&format!("{name}: {} shell block(s)\n", blocks.len()));
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        for block in &blocks {
            if let Some(reason) = &block.skip {
                report.push_str(&format!("  line {:>4}: skipped ({reason})\n", block.line));
                continue;
            }
            let script = script(block)
                .replace("127.0.0.1:5000", &registry.host)
                .replace("localhost:5000", &registry.host);
            let t = Instant::now();
            let out = run_block(&script, dir.path(), home.path());
            let ok = out.status.success();
            report.push_str(&format!(
                "  line {:>4}: ran, {} in {:.1} s\n",
                block.line,
                if ok { "ok" } else { "FAILED" },
                t.elapsed().as_secs_f64()
            ));
            if !ok {
                failures.push(format!(
                    "{name} line {} ({}) failed:\n--- script ---\n{script}--- stdout ---\n{}--- stderr ---\n{}",
                    block.line,
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    println!(
        "{report}docs examples took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "doc examples that fail as written (fix the doc, or mark the block with \
         `{MARKER}REASON) -->` on the line above its fence):\n\n{}",
        failures.join("\n\n")
    );
}
