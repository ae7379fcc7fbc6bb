//! Progress events from the library to whatever UI the binary chooses. The library never
//! prints: it sends typed [`Event`]s and blob transfers to a [`Reporter`]; the terminal and
//! plain-line renderers (in the binary) turn them into text, a test recorder keeps them.

use crate::oci::{Digest, Platform};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// A stage of a run. Every stage is announced when it starts; stages with a clear end
/// (checking a registry, loading the base, compiling, pushing) also when they finish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// `imgpush resolve`: one `imgpush://` reference.
    Resolve { key: String },
    /// Reaching the target registry before any work.
    CheckRegistry { registry: String },
    /// Opening the base image (`REF`, `oci-layout:DIR`, `NAME (embedded)`).
    LoadBase { base: String },
    /// Running the compiler for `platforms`; `summary` says what, with which tool.
    Compile {
        tool: Tool,
        platforms: Vec<Platform>,
        summary: String,
    },
    /// Building Rust's std from source into the std cache.
    BuildStd {
        targets: Vec<String>,
        cache: PathBuf,
    },
    /// One layer shared by every platform: the bundle or the extra files.
    LayerShared {
        content: SharedContent,
        dests: Vec<String>,
        entries: usize,
    },
    /// The layer of one platform's compiled or given files.
    LayerPlatform {
        platform: Platform,
        dests: Vec<String>,
    },
    /// Reading an image to copy or to put into an index.
    Read { source: String },
    /// `imgpush copy`: the image set about to be published.
    Copy {
        digest: Digest,
        manifests: usize,
        dest: String,
    },
    /// `imgpush index create`: the index about to be published.
    WriteIndex {
        digest: Digest,
        manifests: usize,
        target: String,
    },
    /// Pushing blobs, manifests and tags to a repository.
    Push { repo: String },
    /// Writing an OCI layout directory.
    WriteLayout { dir: PathBuf },
    /// `--dist DIR`: release tarballs of the programs.
    WriteDist { dir: PathBuf },
    /// Writing a tarball (`oci-archive:FILE`, `docker-archive:FILE`).
    WriteArchive { target: String },
}

/// A compiler whose output is passed on as [`Event::ChildOutput`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Cargo,
    Go,
}

/// What a layer shared by every platform holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedContent {
    Bundle,
    Files,
}

/// Which images a layer belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerScope {
    EveryPlatform,
    Platform(Platform),
}

impl std::fmt::Display for LayerScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayerScope::EveryPlatform => f.write_str("every platform"),
            LayerScope::Platform(p) => p.fmt(f),
        }
    }
}

/// Where a finished layer came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerSource {
    /// Taken from the layer cache: nothing was compressed.
    Cache,
    /// Built and stored in the cache.
    Built,
    /// The cache entry was damaged (`why`) and has been rebuilt.
    Rebuilt { why: String },
    /// Built with the cache off.
    Uncached,
}

/// One wait before an operation is tried again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    pub op: String,
    /// 1-based; `of` is the run's budget for this operation.
    pub attempt: u32,
    pub of: u32,
    pub why: String,
    pub wait: Duration,
    /// The wait is the registry's own (`Retry-After`), not our backoff.
    pub registry_asked: bool,
}

/// Which way a piece of the toolchain cache moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolchainCacheAction {
    Pulled,
    Pushed,
}

/// Something that happened during a run, for the UI. Blob transfers have their own
/// methods on [`Reporter`], for progress bars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    StageStarted(Stage),
    StageFinished(Stage),
    /// A layer is ready, built or from the cache.
    Layer {
        scope: LayerScope,
        digest: Digest,
        size: u64,
        diff_id: Digest,
        source: LayerSource,
    },
    /// Rust's std for every target was already in the std cache.
    StdFromCache {
        cache: PathBuf,
    },
    /// A piece of the toolchain cache (`--toolchain-cache`) came from, or went to, its
    /// registry: `what` is `std for <triple>` or `zig's cache`, `location` `REG/REPO:TAG`,
    /// `bytes` the archive's size.
    ToolchainCache {
        action: ToolchainCacheAction,
        what: String,
        location: String,
        bytes: u64,
        elapsed: std::time::Duration,
    },
    /// One line a compiler wrote (stdout or stderr); `platform` when the tool runs once per
    /// platform.
    ChildOutput {
        tool: Tool,
        platform: Option<Platform>,
        line: String,
    },
    Retry(Retry),
    /// A registry token was fetched again (expired, or refused with a new challenge).
    TokenRenewed {
        registry: String,
        reason: String,
        count: u64,
    },
    /// The registry refused a monolithic upload of `size` bytes: chunks from now on.
    ChunkedUpload {
        registry: String,
        size: u64,
    },
    /// An interrupted chunked upload goes on at `offset`.
    UploadResumed {
        op: String,
        offset: u64,
    },
    /// Every tag already points at the index: nothing was pushed.
    UpToDate {
        repo: String,
        tags: Vec<String>,
        digest: Digest,
    },
    /// The repository has the index: only the missing tags are written.
    TagsOnly {
        repo: String,
        digest: Digest,
        tags: Vec<String>,
    },
    Tagged {
        repo: String,
        tag: String,
    },
    /// A manifest PUT failed, but another writer had put the same digest there.
    ManifestPushedConcurrently {
        repo: String,
        reference: String,
        digest: Digest,
        error: String,
    },
    /// A blob upload failed, but another writer had uploaded it.
    BlobUploadedConcurrently {
        digest: Digest,
        error: String,
    },
    /// `index create --append` to a tag that does not exist yet.
    NewIndex {
        source: String,
    },
    /// The layer cache was trimmed to its size limit.
    CacheTrimmed {
        entries: usize,
        bytes: u64,
    },
    CacheTrimFailed {
        dir: PathBuf,
        error: String,
    },
    Warning(String),
    /// A package base's `.deb` files are ready: `cached` from imgpush's cache,
    /// `downloaded` (`bytes` in all) from the archive.
    PackagesFetched {
        base: String,
        cached: usize,
        downloaded: usize,
        bytes: u64,
    },
    /// Bytes of file content a layer being built has tarred so far (`done` of `total`),
    /// sent every few hundred KiB; the [`Event::Layer`] of the same scope ends it.
    LayerProgress {
        scope: LayerScope,
        done: u64,
        total: u64,
    },
    /// What a finished build, copy or index creation did, sent once at its end.
    Summary(Summary),
    /// Extra detail (shown with `-v`) where no event above fits.
    Detail(String),
    /// Requests and cache reads (shown with `-vv`). Never contains credentials.
    Trace(String),
}

/// The numbers of one finished run, for the summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Where it went first (`REGISTRY/REPO`, `oci-layout:DIR`).
    pub target: String,
    /// Platform images (attestation manifests not counted).
    pub platforms: usize,
    /// Layers tarred and compressed by this run (rebuilt and uncached included).
    pub layers_built: usize,
    pub layers_cached: usize,
    pub transfers: Transfers,
    /// HTTP requests registries (and their token servers) answered, pings included.
    pub registry_requests: u64,
    pub elapsed: Duration,
}

/// Blobs by how they reached their destinations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfers {
    /// Uploaded, or streamed from another registry.
    pub uploaded: u64,
    pub uploaded_bytes: u64,
    pub mounted: u64,
    /// Already at the destination.
    pub existing: u64,
    /// Into an OCI layout.
    pub written: u64,
    pub written_bytes: u64,
}

pub trait Reporter: Send + Sync {
    fn event(&self, _event: Event) {}
    fn blob_started(&self, _digest: &Digest, _size: u64, _label: &str) -> ProgressId {
        ProgressId(0)
    }
    fn blob_progress(&self, _id: ProgressId, _bytes: u64) {}
    fn blob_done(&self, _id: ProgressId, _outcome: BlobOutcome) {}
}

/// Reports nothing.
pub struct NoopReporter;
impl Reporter for NoopReporter {}

/// Records every event and blob outcome, for tests.
#[derive(Default)]
pub struct RecordingReporter {
    next: AtomicU64,
    started: Mutex<Vec<(ProgressId, Digest)>>,
    outcomes: Mutex<Vec<(Digest, BlobOutcome)>>,
    events: Mutex<Vec<Event>>,
}

impl RecordingReporter {
    pub fn outcomes(&self) -> Vec<(Digest, BlobOutcome)> {
        self.outcomes.lock().unwrap().clone()
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The [`Event::Trace`] lines, in order.
    pub fn traces(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::Trace(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }
}

impl Reporter for RecordingReporter {
    fn event(&self, event: Event) {
        self.events.lock().unwrap().push(event);
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

/// Passes everything on to `inner` and counts what a [`Summary`] needs: layers by source
/// and blobs by outcome. It hands out its own transfer ids, since `inner`'s need not be
/// distinct ([`NoopReporter`] answers 0 for every blob).
pub struct Tally {
    inner: Arc<dyn Reporter>,
    next: AtomicU64,
    state: Mutex<TallyState>,
}

#[derive(Default)]
struct TallyState {
    /// Our id → (`inner`'s id, size).
    active: HashMap<u64, (ProgressId, u64)>,
    transfers: Transfers,
    layers_built: usize,
    layers_cached: usize,
}

impl Tally {
    pub fn new(inner: Arc<dyn Reporter>) -> Tally {
        Tally {
            inner,
            next: AtomicU64::new(1),
            state: Mutex::default(),
        }
    }

    /// `(built, from the cache)` layers so far.
    pub fn layers(&self) -> (usize, usize) {
        let s = self.state.lock().unwrap();
        (s.layers_built, s.layers_cached)
    }

    pub fn transfers(&self) -> Transfers {
        self.state.lock().unwrap().transfers
    }
}

impl Reporter for Tally {
    fn event(&self, event: Event) {
        if let Event::Layer { source, .. } = &event {
            let mut s = self.state.lock().unwrap();
            match source {
                LayerSource::Cache => s.layers_cached += 1,
                _ => s.layers_built += 1,
            }
        }
        self.inner.event(event);
    }

    fn blob_started(&self, digest: &Digest, size: u64, label: &str) -> ProgressId {
        let inner = self.inner.blob_started(digest, size, label);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.state.lock().unwrap().active.insert(id, (inner, size));
        ProgressId(id)
    }

    fn blob_progress(&self, id: ProgressId, bytes: u64) {
        let inner = self.state.lock().unwrap().active.get(&id.0).map(|a| a.0);
        if let Some(inner) = inner {
            self.inner.blob_progress(inner, bytes);
        }
    }

    fn blob_done(&self, id: ProgressId, outcome: BlobOutcome) {
        let found = {
            let mut s = self.state.lock().unwrap();
            let found = s.active.remove(&id.0);
            if let Some((_, size)) = found {
                let t = &mut s.transfers;
                match outcome {
                    BlobOutcome::Uploaded | BlobOutcome::Copied => {
                        t.uploaded += 1;
                        t.uploaded_bytes += size;
                    }
                    BlobOutcome::Mounted => t.mounted += 1,
                    BlobOutcome::Existing => t.existing += 1,
                    BlobOutcome::Written => {
                        t.written += 1;
                        t.written_bytes += size;
                    }
                }
            }
            found
        };
        if let Some((inner, _)) = found {
            self.inner.blob_done(inner, outcome);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_layers_and_blobs_and_passes_everything_on() {
        let inner = Arc::new(RecordingReporter::default());
        let tally = Tally::new(inner.clone());
        let (a, b, c) = (Digest::of(b"a"), Digest::of(b"b"), Digest::of(b"c"));
        let layer = |source| Event::Layer {
            scope: LayerScope::EveryPlatform,
            digest: a.clone(),
            size: 1,
            diff_id: a.clone(),
            source,
        };
        tally.event(layer(LayerSource::Built));
        tally.event(layer(LayerSource::Cache));
        tally.event(layer(LayerSource::Uncached));
        let ia = tally.blob_started(&a, 100, "layer");
        let ib = tally.blob_started(&b, 20, "config");
        let ic = tally.blob_started(&c, 7, "base layer");
        assert_ne!(ia, ib);
        tally.blob_progress(ia, 100);
        tally.blob_done(ia, BlobOutcome::Uploaded);
        tally.blob_done(ib, BlobOutcome::Copied);
        tally.blob_done(ic, BlobOutcome::Mounted);
        assert_eq!(tally.layers(), (2, 1));
        assert_eq!(
            tally.transfers(),
            Transfers {
                uploaded: 2,
                uploaded_bytes: 120,
                mounted: 1,
                ..Default::default()
            }
        );
        assert_eq!(inner.events().len(), 3);
        assert_eq!(
            inner.outcomes(),
            [
                (a, BlobOutcome::Uploaded),
                (b, BlobOutcome::Copied),
                (c, BlobOutcome::Mounted)
            ]
        );
    }
}
