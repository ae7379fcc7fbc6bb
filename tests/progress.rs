//! What `imgpush` shows on stderr while it works (docs/user-guide.md, "Output: progress, CI
//! logs, summaries"): live bars on a terminal that leave only lines behind, plain lines
//! without a control character in CI, GitHub Actions log groups, and a summary whose
//! numbers match what the registry saw.
//!
//! The terminal is a real pseudo-terminal (`script` from util-linux); what imgpush draws on
//! it is replayed through [`Screen`], a small VT100 subset (the sequences indicatif and
//! console emit), which fails on any sequence it does not know.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output};
use support::*;

/// Wide enough that no line of these runs wraps.
const COLS: usize = 200;

/// A human byte count as imgpush prints it (`report::human_size`).
fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// `arg` quoted for `sh`.
fn sh_quote(arg: &std::ffi::OsStr) -> String {
    let s = String::from_utf8_lossy(arg.as_bytes());
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `command` with stdin, stdout and stderr on a pseudo-terminal of `COLS`×40 and
/// returns everything written to it (stdout and stderr interleaved, as on a screen).
fn on_terminal(command: &Command) -> (std::process::ExitStatus, Vec<u8>) {
    require("script", "util-linux");
    let mut line = format!("stty cols {COLS} rows 40 && exec");
    for part in std::iter::once(command.get_program()).chain(command.get_args()) {
        line.push(' ');
        line.push_str(&sh_quote(part));
    }
    let mut script = Command::new("script");
    script.args(["-qfec", &line, "/dev/null"]);
    for (key, value) in command.get_envs() {
        match value {
            Some(v) => script.env(key, v),
            None => script.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        script.current_dir(dir);
    }
    let out = script
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running script");
    (out.status, out.stdout)
}

/// A terminal screen: enough of VT100 for what indicatif and console write (cursor up and
/// down, carriage return, erase in line and display, autowrap at the last column).
#[derive(Default)]
struct Screen {
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
    /// The cursor is past the last column: the next character wraps.
    wrap: bool,
    /// Text that was on the screen and got erased (bars, mostly).
    erased: Vec<String>,
    /// Sequences this emulator does not know.
    unknown: Vec<String>,
}

impl Screen {
    fn feed(bytes: &[u8]) -> Screen {
        let mut s = Screen::default();
        let text = String::from_utf8_lossy(bytes);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {
                    s.col = 0;
                    s.wrap = false;
                }
                '\n' => {
                    s.row += 1;
                    s.wrap = false;
                }
                '\x1b' => {
                    if chars.peek() != Some(&'[') {
                        s.unknown.push(format!("ESC {:?}", chars.next()));
                        continue;
                    }
                    chars.next();
                    let mut params = String::new();
                    let mut fin = None;
                    for c in chars.by_ref() {
                        if c.is_ascii_digit() || c == ';' || c == '?' {
                            params.push(c);
                        } else {
                            fin = Some(c);
                            break;
                        }
                    }
                    s.csi(&params, fin.unwrap_or(' '));
                }
                c if c.is_control() => s.unknown.push(format!("{c:?}")),
                c => s.put(c),
            }
        }
        s
    }

    fn line(&mut self, row: usize) -> &mut Vec<char> {
        if self.rows.len() <= row {
            self.rows.resize(row + 1, Vec::new());
        }
        &mut self.rows[row]
    }

    fn put(&mut self, c: char) {
        if self.wrap {
            self.row += 1;
            self.col = 0;
            self.wrap = false;
        }
        let col = self.col;
        let line = self.line(self.row);
        if line.len() <= col {
            line.resize(col + 1, ' ');
        }
        line[col] = c;
        if self.col + 1 == COLS {
            self.wrap = true;
        } else {
            self.col += 1;
        }
    }

    /// Blanks `range` of a row, keeping what was there in `erased`.
    fn erase(&mut self, row: usize, from: usize, to: Option<usize>) {
        let line = self.line(row);
        let to = to.unwrap_or(line.len()).min(line.len());
        if from >= to {
            return;
        }
        let gone: String = line[from..to].iter().collect();
        line[from..to].iter_mut().for_each(|c| *c = ' ');
        if !gone.trim().is_empty() {
            self.erased.push(gone.trim().to_string());
        }
    }

    fn csi(&mut self, params: &str, fin: char) {
        let n = params.parse::<usize>().unwrap_or(0);
        self.wrap = false;
        match (params, fin) {
            (_, 'A') => self.row = self.row.saturating_sub(n.max(1)),
            (_, 'B') => self.row += n.max(1),
            (_, 'C') => self.col = (self.col + n.max(1)).min(COLS - 1),
            (_, 'D') => self.col = self.col.saturating_sub(n.max(1)),
            ("" | "0", 'K') => self.erase(self.row, self.col, None),
            ("1", 'K') => self.erase(self.row, 0, Some(self.col + 1)),
            ("2", 'K') => self.erase(self.row, 0, None),
            ("" | "0", 'J') => {
                self.erase(self.row, self.col, None);
                for row in self.row + 1..self.rows.len() {
                    self.erase(row, 0, None);
                }
            }
            ("?25", 'l' | 'h') | (_, 'm') => {}
            _ => self.unknown.push(format!("ESC[{params}{fin}")),
        }
    }

    /// The non-blank lines, trimmed, top to bottom.
    fn lines(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|r| r.iter().collect::<String>().trim_end().to_string())
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// `hello_build` with a private layer cache, plus `extra`.
fn build_command(imgpush: &Imgpush, cache: &Path, repo: &str, extra: &[&str]) -> Command {
    let mut c = imgpush.command();
    c.env("IMGPUSH_CACHE_DIR", cache)
        .args(hello_build(repo, extra));
    c
}

/// `n` bytes that gzip cannot shrink (xorshift), so the layer stays `n` bytes big.
fn incompressible(path: &Path, n: usize) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = Vec::with_capacity(n);
    while bytes.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(n);
    std::fs::write(path, bytes).unwrap();
}

/// The `imgpush: summary: …` line of some output.
fn summary_line(text: &str) -> String {
    let found: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("imgpush: summary: "))
        .collect();
    assert_eq!(found.len(), 1, "one summary line in:\n{text}");
    found[0].to_string()
}

#[test]
fn a_terminal_gets_live_bars_that_leave_only_lines_behind() {
    let registry = Registry::start();
    // Every blob upload's answer is held for a moment (after its body was sent), so that
    // each bar is on screen, full, for several redraws whatever the machine's speed.
    let proxy = FaultProxy::start(
        &registry.host,
        vec![Rule {
            method: "PUT",
            path: "/blobs/uploads/".into(),
            after: 0,
            times: 100,
            fault: Fault::Delay(400),
        }],
    );
    let imgpush = Imgpush::new();
    let cache = tempfile::tempdir().unwrap();
    let big = imgpush.cwd.path().join("big.bin");
    incompressible(&big, 6 << 20);
    let repo = format!("{}/app/live", proxy.host);
    let file = format!("{}:/data/big.bin", big.display());
    let base = format!("oci-layout:{}:latest", busybox_layout().display());
    let mut command = build_command(
        &imgpush,
        cache.path(),
        &repo,
        &["--base", &base, "--file", &file],
    );
    command.env("TERM", "xterm-256color");
    let (status, raw) = on_terminal(&command);
    let text = String::from_utf8_lossy(&raw).to_string();
    assert!(status.success(), "{text}");

    // Drawn: lines erased and redrawn, a layering bar and a transfer bar among them.
    assert!(text.contains("\r\x1b[2K"), "{text:?}");
    let screen = Screen::feed(&raw);
    assert!(screen.unknown.is_empty(), "{:?}", screen.unknown);
    assert!(
        screen.erased.iter().any(|l| l.starts_with("every platform")
            && l.contains("/6.00 MiB")
            && l.ends_with("layering")),
        "no layering bar for the shared layer among {:#?}",
        screen.erased
    );
    assert!(
        screen.erased.iter().any(|l| l.contains("6.00 MiB/6.00 MiB")
            && l.ends_with("layer of linux/amd64, linux/arm64/v8")),
        "no transfer bar for the shared layer among {:#?}",
        screen.erased
    );

    // Left on the screen: the stage lines, the summary, the result; no bar.
    let lines = screen.lines();
    let n = lines.len();
    assert!(n >= 3, "{lines:#?}");
    assert!(
        lines[n - 1].starts_with(&format!("{repo}@sha256:")),
        "{lines:#?}"
    );
    assert!(
        lines[n - 2].starts_with("imgpush: summary: 2 platforms · layers 3 built, 0 from cache · "),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&format!("imgpush: pushing to {repo}")),
        "{lines:#?}"
    );
    for l in &lines {
        assert!(
            l.starts_with("imgpush: ") || l.starts_with(&repo),
            "a stray line is left on the screen: {l:?}\n{lines:#?}"
        );
    }
}

#[test]
fn ci_gets_plain_lines_without_any_control_character() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let cache = tempfile::tempdir().unwrap();
    let base = format!("oci-layout:{}:latest", busybox_layout().display());
    let repo = format!("{}/app/ci", registry.host);

    // No terminal: plain lines.
    let out = build_command(&imgpush, cache.path(), &repo, &["--base", &base])
        .env("CI", "true")
        .output()
        .unwrap();
    success_line(&out);
    let err = stderr(&out);
    assert!(!err.contains(['\x1b', '\r']), "{err:?}");
    assert!(
        err.contains(&format!("imgpush: pushing to {repo}\n")),
        "{err}"
    );
    summary_line(&err);

    // A terminal, but CI says so: no escape sequence either (the terminal's own line
    // discipline turns "\n" into "\r\n", so carriage returns are expected here).
    let mut command = build_command(
        &imgpush,
        cache.path(),
        &repo,
        &["--base", &base, "-t", "v2"],
    );
    command.env("CI", "true").env("TERM", "xterm-256color");
    let (status, raw) = on_terminal(&command);
    let text = String::from_utf8_lossy(&raw).to_string();
    assert!(status.success(), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(!text.replace("\r\n", "\n").contains('\r'), "{text:?}");
    summary_line(&text.replace("\r\n", "\n"));

    // --quiet: the result alone.
    let out = build_command(&imgpush, cache.path(), &repo, &["--base", &base, "--quiet"])
        .env("CI", "true")
        .output()
        .unwrap();
    success_line(&out);
    assert_eq!(stderr(&out), "");
}

#[test]
fn github_actions_gets_each_stage_in_a_balanced_log_group() {
    let registry = Registry::start();
    let imgpush = Imgpush::new();
    let cache = tempfile::tempdir().unwrap();
    let base = format!("oci-layout:{}:latest", busybox_layout().display());
    let repo = format!("{}/app/gha", registry.host);
    let out = build_command(&imgpush, cache.path(), &repo, &["--base", &base])
        .env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    success_line(&out);
    let err = stderr(&out);
    assert!(!err.contains(['\x1b', '\r']), "{err:?}");
    let mut open: Option<&str> = None;
    let mut titles = Vec::new();
    let mut after_last_group = Vec::new();
    for line in err.lines() {
        if let Some(title) = line.strip_prefix("::group::") {
            assert!(
                open.is_none(),
                "group {title:?} opened inside {open:?}:\n{err}"
            );
            open = Some(title);
            titles.push(title);
            after_last_group.clear();
        } else if line == "::endgroup::" {
            assert!(
                open.take().is_some(),
                "::endgroup:: without a group:\n{err}"
            );
        } else {
            assert!(!line.starts_with("::"), "{line}");
            if open.is_none() {
                after_last_group.push(line);
            }
        }
    }
    assert!(open.is_none(), "a group is left open:\n{err}");
    for stage in [
        "imgpush: checking registry ",
        "imgpush: loading base image ",
        "imgpush: layering linux/amd64: /app/hello",
        "imgpush: pushing to ",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(stage)),
            "no group for {stage:?}:\n{err}"
        );
    }
    // The summary is outside any group, where it is seen without unfolding one.
    assert_eq!(after_last_group.len(), 1, "{err}");
    assert!(
        after_last_group[0].starts_with("imgpush: summary: "),
        "{err}"
    );
}

/// Every blob the pushed index reaches, `digest → (size, in the base)`.
fn blobs_of(repo: &str, base: &str) -> BTreeMap<String, (u64, bool)> {
    let base_layers: Vec<String> = {
        let index: Value =
            serde_json::from_slice(&skopeo_raw(&format!("docker://{base}"), None)).unwrap();
        let base_repo = base.rsplit_once(':').unwrap().0;
        platform_manifests(base_repo, &index)
            .iter()
            .flat_map(|(_, _, m)| m["layers"].as_array().unwrap().clone())
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let index: Value =
        serde_json::from_slice(&skopeo_raw(&format!("docker://{repo}:latest"), None)).unwrap();
    let mut blobs = BTreeMap::new();
    for (_, manifest, m) in platform_manifests(repo, &index) {
        let descriptors = std::iter::once(m["config"].clone())
            .chain(m["layers"].as_array().unwrap().iter().cloned());
        for d in descriptors {
            let digest = d["digest"].as_str().unwrap().to_string();
            let in_base = base_layers.contains(&digest);
            blobs.insert(digest, (d["size"].as_u64().unwrap(), in_base));
        }
        // The attached documents (SBOM, provenance) and their empty config.
        for (digest, size) in referrer_blobs(repo, &manifest) {
            blobs.insert(digest, (size, false));
        }
    }
    blobs
}

#[test]
fn the_summary_counts_what_a_push_a_no_op_push_and_a_copy_did() {
    let registry = Registry::start();
    let base = registry.seed_busybox("base/busybox", &[]);
    let imgpush = Imgpush::new();
    let cache = tempfile::tempdir().unwrap();
    let repo = format!("{}/app/summary", registry.host);
    let run = |command: &mut Command| -> (Output, usize) {
        let before = registry.requests().len();
        let out = command.output().unwrap();
        success_line(&out);
        (out, registry.requests().len() - before)
    };

    // First push: our layers and configs are uploaded, the base's layers mounted.
    let (out, requests) = run(&mut build_command(
        &imgpush,
        cache.path(),
        &repo,
        &["--base", &base, "-v"],
    ));
    let err = stderr(&out);
    let blobs = blobs_of(&repo, &base);
    let ours: Vec<u64> = blobs.values().filter(|b| !b.1).map(|b| b.0).collect();
    let mounted = blobs.values().filter(|b| b.1).count();
    let uploaded: u64 = ours.iter().sum();
    let documents = ours.len() - 4;
    assert!(
        documents >= 3,
        "2 layers, 2 configs, the empty config and at least one document per platform: {blobs:?}"
    );
    let line = summary_line(&err);
    let (numbers, time) = line.rsplit_once(" · ").unwrap();
    assert_eq!(
        numbers,
        format!(
            "imgpush: summary: 2 platforms · layers 2 built, 0 from cache · {} uploaded, {mounted} blobs mounted, 0 skipped · {requests} registry requests",
            human(uploaded),
        )
    );
    assert!(time.ends_with(" s") && requests > 10, "{err}");
    assert!(
        err.contains(&format!(
            "  summary of {repo}: {} blobs uploaded ({uploaded} bytes), {mounted} mounted, 0 already present, 0 written (0 bytes)\n",
            ours.len()
        )),
        "{err}"
    );

    // The same push again: nothing built, nothing moved, 3 requests (tests/repeat.rs).
    let (out, requests) = run(&mut build_command(
        &imgpush,
        cache.path(),
        &repo,
        &["--base", &base],
    ));
    assert_eq!(requests, 3);
    let line = summary_line(&stderr(&out));
    assert!(
        line.starts_with(
            "imgpush: summary: 2 platforms · layers 0 built, 2 from cache · 0 B uploaded, 0 blobs mounted, 0 skipped · 3 registry requests · "
        ),
        "{line}"
    );

    // A copy within the registry mounts every blob of the image (it leaves the referrers).
    let copy = format!("{}/mirror/summary", registry.host);
    let (out, requests) = run(imgpush
        .command()
        .args(["copy", &format!("{repo}:latest"), &copy]));
    let line = summary_line(&stderr(&out));
    assert!(
        line.starts_with(&format!(
            "imgpush: summary: 2 platforms · 0 B uploaded, {} blobs mounted, 0 skipped · {requests} registry requests · ",
            blobs.len() - documents
        )),
        "{line}"
    );
}
