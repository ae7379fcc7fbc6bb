//! Progress on stderr: bars on a terminal, plain lines otherwise. stdout is for results only.

use crate::config::Verbosity;
use crate::oci::Digest;
use crate::report::{BlobOutcome, ProgressId, Reporter, human_size};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct StderrReporter {
    verbosity: Verbosity,
    bars: Option<MultiProgress>,
    next: AtomicU64,
    active: Mutex<HashMap<u64, Transfer>>,
}

/// A blob in flight: its description for the final line and its bar on a terminal.
struct Transfer {
    text: String,
    bar: Option<ProgressBar>,
}

impl StderrReporter {
    pub fn new(verbosity: Verbosity) -> Self {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        StderrReporter {
            verbosity,
            bars,
            next: AtomicU64::new(1),
            active: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, text: &str) {
        match &self.bars {
            Some(m) => {
                let _ = m.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    pub fn finish(&self) {
        if let Some(m) = &self.bars {
            let _ = m.clear();
        }
    }
}

fn short(d: &Digest) -> &str {
    &d.hex()[..12]
}

impl Reporter for StderrReporter {
    fn step(&self, message: &str) {
        self.line(&format!("imgpush: {message}"));
    }

    fn detail(&self, message: &str) {
        if self.verbosity >= Verbosity::Verbose {
            self.line(&format!("  {message}"));
        }
    }

    fn trace(&self, message: &str) {
        if self.verbosity >= Verbosity::Trace {
            self.line(&format!("    {message}"));
        }
    }

    fn blob_started(&self, digest: &Digest, size: u64, label: &str) -> ProgressId {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let bar = self.bars.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(size));
            bar.set_style(
                ProgressStyle::with_template("  {prefix} {bar:30} {bytes}/{total_bytes} {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(short(digest).to_string());
            bar.set_message(label.to_string());
            bar
        });
        let text = format!("{} {} ({})", short(digest), human_size(size), label);
        self.active
            .lock()
            .unwrap()
            .insert(id, Transfer { text, bar });
        ProgressId(id)
    }

    fn blob_progress(&self, id: ProgressId, bytes: u64) {
        if let Some(Transfer { bar: Some(bar), .. }) = self.active.lock().unwrap().get(&id.0) {
            bar.inc(bytes);
        }
    }

    fn blob_done(&self, id: ProgressId, outcome: BlobOutcome) {
        let Some(Transfer { text, bar }) = self.active.lock().unwrap().remove(&id.0) else {
            return;
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let how = match outcome {
            BlobOutcome::Uploaded => "uploaded",
            BlobOutcome::Existing => "already present",
            BlobOutcome::Mounted => "mounted",
            BlobOutcome::Copied => "copied from the base registry",
            BlobOutcome::Written => "written",
        };
        if self.verbosity >= Verbosity::Verbose {
            self.line(&format!("  {text}: {how}"));
        }
    }
}

/// `error: …`, each cause on its own line, then the hint.
pub fn print_error(e: &anyhow::Error) {
    let mut out = format!("error: {e}");
    let mut hint = None;
    for cause in e.chain() {
        if let Some(lib) = cause.downcast_ref::<crate::Error>() {
            hint = hint.or_else(|| lib.hint());
        }
    }
    let mut previous = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        // `#[error(transparent)]` layers repeat their inner message; print it once.
        if text != previous {
            out.push_str(&format!("\n  caused by: {text}"));
        }
        previous = text;
    }
    if let Some(h) = hint {
        out.push_str(&format!("\n  hint: {h}"));
    }
    eprintln!("{out}");
}
