//! The image config the user asks for: entrypoint, cmd, env, workdir, user, ports, labels,
//! annotations and the timestamp, from the merged settings and their defaults.

use super::cargo::CargoProject;
use super::low::{Epoch, LowSettings};
use super::origin::{at, value};
use super::source::{KO_DATA_PATH, SourcePlan};
use super::values::invalid;
use super::{PlanError, Source};
use crate::image::ImageSettings;
use std::path::Path;

pub(crate) fn image_settings(
    settings: &LowSettings,
    context: &Path,
    project: Option<&CargoProject>,
    built: &SourcePlan,
) -> Result<ImageSettings, PlanError> {
    let mut env = settings.env.clone();
    if built.kodata {
        env.add_default("KO_DATA_PATH", KO_DATA_PATH);
    }
    // The crate's own labels (title, version, …) sit below every file's.
    let mut labels = settings.labels.clone();
    for (k, v) in project.map(|p| p.labels.clone()).unwrap_or_default() {
        labels.add_default(&k, &v);
    }
    let entrypoint = value(&settings.entrypoint)
        // A bundle keeps the base's entrypoint (nginx stays nginx).
        .or_else(|| match &built.source {
            Source::Bundle => None,
            // Several binaries: the first given runs (`--entrypoint` picks another).
            Source::Cargo(c) => Some(vec![super::binary_dest(&built.dest, &c.bins[0])]),
            _ => Some(vec![built.dest.clone()]),
        });
    let created = match &settings.epoch {
        None => 0,
        Some(e) => match e.value {
            Epoch::Seconds(s) => s,
            Epoch::Git => git_epoch(context).map_err(at(&e.origin, "epoch"))?,
        },
    };
    Ok(ImageSettings {
        entrypoint,
        cmd: value(&settings.cmd),
        env: env.into_vec(),
        workdir: value(&settings.workdir),
        user: value(&settings.user),
        expose: value(&settings.expose).unwrap_or_default(),
        labels: labels.into_vec().into_iter().collect(),
        annotations: settings
            .annotations
            .clone()
            .into_vec()
            .into_iter()
            .collect(),
        created,
    })
}

/// `--epoch git`: the last commit's committer time in `dir`.
fn git_epoch(dir: &Path) -> Result<u64, PlanError> {
    let out = std::process::Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(dir)
        .output()
        .map_err(|e| invalid("--epoch", "git", format!("cannot run git: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    text.parse().map_err(|_| {
        invalid(
            "--epoch",
            "git",
            format!(
                "{} is not in a git repository with commits (git says: {})",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        )
    })
}
