//! The live display on a terminal: one bar per layer being built (content bytes tarred) and
//! one per blob in flight (bytes sent), under the stage lines, which print above them. At
//! the end every bar is cleared, so the screen keeps only the lines.

use crate::oci::Digest;
use crate::report::LayerScope;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How often a bar redraws on its own, so that a stalled transfer still shows its
/// elapsed time and nothing looks frozen.
const TICK: Duration = Duration::from_millis(100);

pub(super) struct Live {
    bars: MultiProgress,
    /// Layers being built, by scope (`linux/amd64`, `every platform`).
    layers: Mutex<HashMap<String, ProgressBar>>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("static template")
        .progress_chars("=> ")
}

impl Live {
    pub(super) fn new() -> Live {
        Live {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            layers: Mutex::new(HashMap::new()),
        }
    }

    /// A line above the bars.
    pub(super) fn println(&self, text: &str) {
        // A hidden display prints nothing, lines included.
        if self.bars.is_hidden() || self.bars.println(text).is_err() {
            eprintln!("{text}");
        }
    }

    /// A layer's content is read to the end (`done == total`): it is as good as ready,
    /// so its bar goes now rather than when the pipeline collects the layer, in order.
    pub(super) fn layer_progress(&self, scope: &LayerScope, done: u64, total: u64) {
        let mut layers = self.layers.lock().unwrap();
        if done >= total {
            if let Some(bar) = layers.remove(&scope.to_string()) {
                bar.finish_and_clear();
            }
            return;
        }
        let bar = layers.entry(scope.to_string()).or_insert_with(|| {
            let bar = ProgressBar::new(total)
                .with_style(style(
                    "  {prefix:<16} {bar:30} {bytes:>10}/{total_bytes:<10} layering",
                ))
                .with_prefix(scope.to_string());
            let bar = self.bars.add(bar);
            bar.enable_steady_tick(TICK);
            bar
        });
        bar.set_position(done.min(total));
    }

    /// The layer of `scope` is ready (built or from the cache): its bar goes.
    pub(super) fn layer_done(&self, scope: &LayerScope) {
        if let Some(bar) = self.layers.lock().unwrap().remove(&scope.to_string()) {
            bar.finish_and_clear();
        }
    }

    /// A bar for one blob transfer of `size` bytes.
    pub(super) fn transfer(&self, digest: &Digest, size: u64, label: &str) -> ProgressBar {
        let bar = ProgressBar::new(size)
            .with_style(style(
                "  {prefix:<16} {bar:30} {bytes:>10}/{total_bytes:<10} {msg}",
            ))
            .with_prefix(digest.hex()[..12].to_string())
            .with_message(label.to_string());
        let bar = self.bars.add(bar);
        bar.enable_steady_tick(TICK);
        bar
    }

    /// Clears every bar left (a failed run may leave some) and the display with them.
    pub(super) fn finish(&self) {
        for (_, bar) in self.layers.lock().unwrap().drain() {
            bar.finish_and_clear();
        }
        let _ = self.bars.clear();
    }
}

/// Adds `bytes` to a transfer's bar, never past its length (a retried upload sends its
/// bytes again).
pub(super) fn advance(bar: &ProgressBar, bytes: u64) {
    let length = bar.length().unwrap_or(u64::MAX);
    bar.set_position((bar.position() + bytes).min(length));
}
