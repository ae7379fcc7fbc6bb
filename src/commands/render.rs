//! Progress on stderr: bars on a terminal, plain lines otherwise. stdout is for results only.

use crate::oci::Digest;
use crate::plan::Verbosity;
use crate::report::{
    BlobOutcome, Event, LayerSource, ProgressId, Reporter, Retry, SharedContent, Stage, Tool,
    human_size,
};
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
        let bars = (std::io::stderr().is_terminal() && verbosity > Verbosity::Quiet)
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
    fn event(&self, event: Event) {
        for (level, text) in lines(&event) {
            if self.verbosity >= level {
                self.line(&text);
            }
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
        Event::StageFinished(_) => Vec::new(),
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
