//! Progress on stderr: live bars on a terminal, plain lines otherwise (GitHub Actions log
//! groups around stages when asked). stdout is for results only.

use super::live::{Live, advance};
use super::output::Console;
use crate::oci::Digest;
use crate::plan::Verbosity;
use crate::report::{
    BlobOutcome, Event, LayerSource, ProgressId, Reporter, Retry, SharedContent, Stage, Summary,
    Tool, ToolchainCacheAction, human_size,
};
use indicatif::ProgressBar;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct StderrReporter {
    verbosity: Verbosity,
    /// The bars, on a terminal outside CI (and not with `--quiet`).
    live: Option<Live>,
    /// `GITHUB_ACTIONS=true`: stages open `::group::`s (never with bars).
    log_groups: bool,
    /// The stage whose log group is open.
    group: Mutex<Option<Stage>>,
    next: AtomicU64,
    active: Mutex<HashMap<u64, Transfer>>,
}

/// A blob in flight: its description for the final line and its bar on a terminal.
struct Transfer {
    text: String,
    bar: Option<ProgressBar>,
}

impl StderrReporter {
    /// `console` says what stderr is (decided once by [`super::output::environment`]).
    pub fn new(verbosity: Verbosity, console: Console) -> Self {
        let shown = verbosity > Verbosity::Quiet;
        StderrReporter {
            verbosity,
            live: (console.live && shown).then(Live::new),
            log_groups: console.log_groups && shown && !console.live,
            group: Mutex::new(None),
            next: AtomicU64::new(1),
            active: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, text: &str) {
        match &self.live {
            Some(live) => live.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Closes the open log group, if any.
    fn end_group(&self) {
        if self.group.lock().unwrap().take().is_some() {
            eprintln!("::endgroup::");
        }
    }

    /// Clears the bars and closes the log group: call it when the command is done, before
    /// the result or the error is printed (dropping the reporter does it too).
    pub fn finish(&self) {
        for (_, t) in self.active.lock().unwrap().drain() {
            if let Some(bar) = t.bar {
                bar.finish_and_clear();
            }
        }
        if let Some(live) = &self.live {
            live.finish();
        }
        self.end_group();
    }

    /// Prints a stage's line, as the title of a new log group when groups are on.
    fn stage_started(&self, stage: &Stage) {
        let text = format!("imgpush: {}", stage_text(stage));
        if !self.log_groups {
            return self.line(&text);
        }
        // Groups cannot nest: a stage that starts while another is open ends it.
        let mut group = self.group.lock().unwrap();
        if group.take().is_some() {
            eprintln!("::endgroup::");
        }
        eprintln!("::group::{text}");
        *group = Some(stage.clone());
    }
}

impl Drop for StderrReporter {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Reporter for StderrReporter {
    fn event(&self, event: Event) {
        match &event {
            Event::StageStarted(stage) if self.verbosity >= Verbosity::Normal => {
                return self.stage_started(stage);
            }
            Event::StageFinished(stage) if self.log_groups => {
                let mut group = self.group.lock().unwrap();
                if group.as_ref() == Some(stage) {
                    *group = None;
                    eprintln!("::endgroup::");
                }
            }
            Event::LayerProgress { scope, done, total } => {
                if let Some(live) = &self.live {
                    live.layer_progress(scope, *done, *total);
                }
            }
            Event::Layer { scope, .. } => {
                if let Some(live) = &self.live {
                    live.layer_done(scope);
                }
            }
            // The summary stands outside any group, where it is seen.
            Event::Summary(_) if self.log_groups => self.end_group(),
            _ => {}
        }
        for (level, text) in lines(&event) {
            if self.verbosity >= level {
                self.line(&text);
            }
        }
    }

    fn blob_started(&self, digest: &Digest, size: u64, label: &str) -> ProgressId {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let bar = self.live.as_ref().map(|l| l.transfer(digest, size, label));
        let text = format!("{} {} ({})", short(digest), human_size(size), label);
        self.active
            .lock()
            .unwrap()
            .insert(id, Transfer { text, bar });
        ProgressId(id)
    }

    fn blob_progress(&self, id: ProgressId, bytes: u64) {
        if let Some(Transfer { bar: Some(bar), .. }) = self.active.lock().unwrap().get(&id.0) {
            advance(bar, bytes);
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

fn short(d: &Digest) -> &str {
    &d.hex()[..12]
}

/// A stage line (`imgpush: …`), shown at every verbosity.
fn step(text: String) -> Vec<(Verbosity, String)> {
    vec![(Verbosity::Normal, format!("imgpush: {text}"))]
}

/// A detail line, shown with `-v`.
fn detail(text: String) -> Vec<(Verbosity, String)> {
    vec![(Verbosity::Verbose, format!("  {text}"))]
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The text lines of an event, each with the verbosity that shows it.
fn lines(event: &Event) -> Vec<(Verbosity, String)> {
    match event {
        Event::StageStarted(stage) => step(stage_text(stage)),
        Event::StageFinished(_) | Event::LayerProgress { .. } => Vec::new(),
        Event::Summary(summary) => summary_lines(summary),
        Event::Layer {
            scope,
            digest,
            size,
            diff_id,
            source,
        } => {
            let mut out = match source {
                LayerSource::Cache => step(format!(
                    "{scope}: layer {digest} from the cache (nothing compressed)"
                )),
                LayerSource::Rebuilt { why } => {
                    step(format!("{scope}: damaged cache entry rebuilt: {why}"))
                }
                LayerSource::Built | LayerSource::Uncached => Vec::new(),
            };
            out.extend(detail(format!(
                "{scope}: layer {digest} ({size} bytes, diff_id {diff_id})"
            )));
            out
        }
        Event::StdFromCache { cache } => {
            detail(format!("std from the std cache {}", cache.display()))
        }
        Event::ToolchainCache {
            action,
            what,
            location,
            bytes,
            elapsed,
        } => {
            let way = match action {
                ToolchainCacheAction::Pulled => "from",
                ToolchainCacheAction::Pushed => "stored in",
            };
            vec![(
                Verbosity::Normal,
                format!(
                    "{what} {way} the toolchain cache {location} ({}, {:.1} s)",
                    human_size(*bytes),
                    elapsed.as_secs_f64()
                ),
            )]
        }
        Event::ChildOutput {
            tool: Tool::Go,
            platform: Some(p),
            line,
        } => vec![(Verbosity::Normal, format!("go build ({p}): {line}"))],
        Event::ChildOutput { line, .. } => vec![(Verbosity::Normal, line.clone())],
        Event::Retry(Retry {
            op,
            attempt,
            of,
            why,
            wait,
            registry_asked,
        }) => {
            let message = format!(
                "{op}: {why}; retry {attempt} of {of} in {:.1}s",
                wait.as_secs_f64()
            );
            // A wait the registry asked for is worth telling without -v: it can be long.
            if *registry_asked && *wait >= std::time::Duration::from_secs(1) {
                step(format!("{message} (the registry's Retry-After)"))
            } else {
                detail(message)
            }
        }
        Event::TokenRenewed {
            registry,
            reason,
            count,
        } => detail(format!(
            "token for {registry} renewed ({reason}); {count} renewal(s) so far"
        )),
        Event::ChunkedUpload { registry, size } => detail(format!(
            "{registry} refused a {size}-byte upload in one request; uploading in chunks"
        )),
        Event::UploadResumed { op, offset } => {
            detail(format!("{op}: resuming at byte {offset} of the upload"))
        }
        Event::UpToDate { repo, tags, digest } => step(format!(
            "{repo} is up to date: {} already at {digest}",
            tags.join(", ")
        )),
        Event::TagsOnly { repo, digest, tags } => step(format!(
            "{repo} already has {digest}; writing only tags {}",
            tags.join(", ")
        )),
        Event::Tagged { repo, tag } => detail(format!("tagged {repo}:{tag}")),
        Event::ManifestPushedConcurrently {
            repo,
            reference,
            digest,
            error,
        } => detail(format!(
            "{repo}:{reference} already holds {digest} (pushed concurrently): {error}"
        )),
        Event::BlobUploadedConcurrently { digest, error } => detail(format!(
            "{digest} is present (uploaded concurrently): {error}"
        )),
        Event::NewIndex { source } => {
            detail(format!("{source} does not exist yet; starting a new index"))
        }
        Event::CacheTrimmed { entries, bytes } => detail(format!(
            "cache: removed {entries} least recently used entries ({})",
            human_size(*bytes)
        )),
        Event::CacheTrimFailed { dir, error } => {
            detail(format!("cache: could not trim {}: {error}", dir.display()))
        }
        Event::PackagesFetched {
            base,
            cached,
            downloaded,
            bytes,
        } => vec![(
            Verbosity::Normal,
            format!(
                "imgpush: base {base}: {} package files ({cached} from the cache, {downloaded} downloaded, {})",
                cached + downloaded,
                human_size(*bytes)
            ),
        )],
        // Shown even with --quiet.
        Event::Warning(text) => vec![(Verbosity::Quiet, format!("imgpush: warning: {text}"))],
        Event::Detail(text) => detail(text.clone()),
        Event::Trace(text) => vec![(Verbosity::Trace, format!("    {text}"))],
    }
}

fn plural_s(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `imgpush: summary: 2 platforms · layers 2 built, 1 from cache · 13.7 MiB uploaded, 3
/// blobs mounted, 2 skipped · 26 registry requests · 0.4 s`; with `-v` also the exact
/// byte counts.
fn summary_lines(s: &Summary) -> Vec<(Verbosity, String)> {
    let t = &s.transfers;
    let mut parts = vec![plural_s(s.platforms as u64, "platform", "platforms")];
    if s.layers_built + s.layers_cached > 0 {
        parts.push(format!(
            "layers {} built, {} from cache",
            s.layers_built, s.layers_cached
        ));
    }
    let mut moved = Vec::new();
    // Nothing to say about uploads when the run wrote only files and asked no registry.
    if s.registry_requests > 0 || t.written == 0 {
        moved.push(format!("{} uploaded", human_size(t.uploaded_bytes)));
        moved.push(format!("{} mounted", plural_s(t.mounted, "blob", "blobs")));
        moved.push(format!("{} skipped", t.existing));
    }
    if t.written > 0 {
        moved.push(format!("{} written", human_size(t.written_bytes)));
    }
    parts.push(moved.join(", "));
    parts.push(plural_s(
        s.registry_requests,
        "registry request",
        "registry requests",
    ));
    parts.push(format!("{:.1} s", s.elapsed.as_secs_f64()));
    let mut out = step(format!("summary: {}", parts.join(" · ")));
    out.extend(detail(format!(
        "summary of {}: {} uploaded ({} bytes), {} mounted, {} already present, {} written ({} bytes)",
        s.target,
        plural_s(t.uploaded, "blob", "blobs"),
        t.uploaded_bytes,
        t.mounted,
        t.existing,
        t.written,
        t.written_bytes
    )));
    out
}

fn stage_text(stage: &Stage) -> String {
    match stage {
        Stage::Resolve { key } => format!("building imgpush://{key}"),
        Stage::CheckRegistry { registry } => format!("checking registry {registry}"),
        Stage::LoadBase { base } => format!("loading base image {base}"),
        Stage::Compile { summary, .. } => summary.clone(),
        Stage::BuildStd { targets, cache } => format!(
            "building std for {} from source into the std cache {} (once per rustc version, flags and target; later builds of any project reuse it)",
            targets.join(", "),
            cache.display()
        ),
        Stage::LayerShared {
            content,
            dests,
            entries,
        } => format!(
            "layering {} for every platform: {} ({entries} entries)",
            match content {
                SharedContent::Bundle => "bundle",
                SharedContent::Files => "files",
            },
            dests.join(" ")
        ),
        Stage::LayerPlatform { platform, dests } => {
            format!("layering {platform}: {}", dests.join(", "))
        }
        Stage::Read { source } => format!("reading {source}"),
        Stage::Copy {
            digest,
            manifests,
            dest,
        } => format!(
            "copying {digest} ({manifests} manifest{}) to {dest}",
            plural(*manifests)
        ),
        Stage::WriteIndex {
            digest,
            manifests,
            target,
        } => format!(
            "writing index {digest} ({manifests} manifest{}) to {target}",
            plural(*manifests)
        ),
        Stage::Push { repo } => format!("pushing to {repo}"),
        Stage::WriteLayout { dir } => format!("writing OCI layout {}", dir.display()),
        Stage::WriteDist { dir } => format!("writing release tarballs to {}", dir.display()),
        Stage::WriteArchive { target } => format!("writing {target}"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{LayerScope, Retry};
    use std::time::Duration;

    fn shown(event: Event, verbosity: Verbosity) -> Vec<String> {
        lines(&event)
            .into_iter()
            .filter(|(level, _)| verbosity >= *level)
            .map(|(_, text)| text)
            .collect()
    }

    #[test]
    fn a_cached_layer_is_a_step_and_its_sizes_a_detail() {
        let d = Digest::of(b"layer");
        let event = || Event::Layer {
            scope: LayerScope::Platform("linux/amd64".parse().unwrap()),
            digest: d.clone(),
            size: 12,
            diff_id: d.clone(),
            source: LayerSource::Cache,
        };
        assert_eq!(
            shown(event(), Verbosity::Normal),
            [format!(
                "imgpush: linux/amd64: layer {d} from the cache (nothing compressed)"
            )]
        );
        assert_eq!(
            shown(event(), Verbosity::Verbose)[1],
            format!("  linux/amd64: layer {d} (12 bytes, diff_id {d})")
        );
    }

    #[test]
    fn only_a_long_wait_the_registry_asked_for_shows_without_v() {
        let retry = |wait, registry_asked| {
            Event::Retry(Retry {
                op: "pushing blob".into(),
                attempt: 1,
                of: 3,
                why: "429".into(),
                wait,
                registry_asked,
            })
        };
        assert_eq!(
            shown(retry(Duration::from_secs(2), true), Verbosity::Normal),
            ["imgpush: pushing blob: 429; retry 1 of 3 in 2.0s (the registry's Retry-After)"]
        );
        assert!(shown(retry(Duration::from_millis(500), true), Verbosity::Normal).is_empty());
        assert_eq!(
            shown(retry(Duration::from_secs(2), false), Verbosity::Verbose),
            ["  pushing blob: 429; retry 1 of 3 in 2.0s"]
        );
    }

    #[test]
    fn the_summary_is_one_line_and_its_exact_bytes_a_detail() {
        let summary = Summary {
            target: "127.0.0.1:5000/app".into(),
            platforms: 2,
            layers_built: 2,
            layers_cached: 1,
            transfers: crate::report::Transfers {
                uploaded: 4,
                uploaded_bytes: 14_365_491,
                mounted: 3,
                existing: 2,
                ..Default::default()
            },
            registry_requests: 26,
            elapsed: Duration::from_millis(420),
        };
        assert_eq!(
            shown(Event::Summary(summary.clone()), Verbosity::Verbose),
            [
                "imgpush: summary: 2 platforms · layers 2 built, 1 from cache · 13.7 MiB uploaded, 3 blobs mounted, 2 skipped · 26 registry requests · 0.4 s",
                "  summary of 127.0.0.1:5000/app: 4 blobs uploaded (14365491 bytes), 3 mounted, 2 already present, 0 written (0 bytes)",
            ]
        );
        // An OCI layout only: what was written, no layer part when nothing was layered.
        let layout = Summary {
            platforms: 1,
            layers_built: 0,
            layers_cached: 0,
            transfers: crate::report::Transfers {
                written: 3,
                written_bytes: 2048,
                ..Default::default()
            },
            registry_requests: 0,
            ..summary
        };
        assert_eq!(
            shown(Event::Summary(layout), Verbosity::Normal),
            ["imgpush: summary: 1 platform · 2.0 KiB written · 0 registry requests · 0.4 s"]
        );
        assert!(shown(Event::Summary(Summary::default()), Verbosity::Quiet).is_empty());
    }

    #[test]
    fn go_output_names_the_platform_and_traces_need_vv() {
        let go = Event::ChildOutput {
            tool: Tool::Go,
            platform: Some("linux/amd64".parse().unwrap()),
            line: "ok".into(),
        };
        assert_eq!(shown(go, Verbosity::Normal), ["go build (linux/amd64): ok"]);
        assert!(shown(Event::Trace("GET /v2/".into()), Verbosity::Verbose).is_empty());
        assert_eq!(
            shown(Event::Trace("GET /v2/".into()), Verbosity::Trace),
            ["    GET /v2/"]
        );
    }
}
