//! Progress events from the library to whatever UI the binary chooses. The library never
//! prints; a terminal UI, plain stderr lines or a test recorder implement [`Reporter`].

use crate::oci::Digest;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies one blob transfer between `blob_started` and `blob_done`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProgressId(pub u64);

/// How a blob reached its destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Uploaded from a local file or from memory.
    Uploaded,
    /// The destination already had it.
    Existing,
    /// Cross-repository mount inside the same registry: no bytes moved.
    Mounted,
    /// Streamed from another registry.
    Copied,
    /// Written into a local OCI layout.
    Written,
}

pub trait Reporter: Send + Sync {
    /// A stage of the run began (`layering linux/amd64`, `pushing index`).
    fn step(&self, _message: &str) {}
    /// Extra detail, shown with `-v`.
    fn detail(&self, _message: &str) {}
    /// Every HTTP request, shown with `-vv`. Never contains credentials.
    fn trace(&self, _message: &str) {}
    fn blob_started(&self, _digest: &Digest, _size: u64, _label: &str) -> ProgressId {
        ProgressId(0)
    }
    fn blob_progress(&self, _id: ProgressId, _bytes: u64) {}
    fn blob_done(&self, _id: ProgressId, _outcome: BlobOutcome) {}
}

/// Reports nothing.
pub struct NoopReporter;
impl Reporter for NoopReporter {}

/// Records blob outcomes and HTTP traces, for tests.
#[derive(Default)]
pub struct RecordingReporter {
    next: AtomicU64,
    started: Mutex<Vec<(ProgressId, Digest)>>,
    pub outcomes: Mutex<Vec<(Digest, BlobOutcome)>>,
    pub traces: Mutex<Vec<String>>,
}

impl RecordingReporter {
    pub fn outcomes(&self) -> Vec<(Digest, BlobOutcome)> {
        self.outcomes.lock().unwrap().clone()
    }
}

impl Reporter for RecordingReporter {
    fn trace(&self, message: &str) {
        self.traces.lock().unwrap().push(message.to_string());
    }
    fn blob_started(&self, digest: &Digest, _size: u64, _label: &str) -> ProgressId {
        let id = ProgressId(self.next.fetch_add(1, Ordering::Relaxed));
        self.started.lock().unwrap().push((id, digest.clone()));
        id
    }
    fn blob_done(&self, id: ProgressId, outcome: BlobOutcome) {
        let started = self.started.lock().unwrap();
        if let Some((_, d)) = started.iter().find(|(i, _)| *i == id) {
            self.outcomes.lock().unwrap().push((d.clone(), outcome));
        }
    }
}

/// A byte count for people: `437.6 KiB`, `12.0 MiB`, `512 B`.
pub fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}
