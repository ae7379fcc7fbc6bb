//! The image config the user asks for: entrypoint, cmd, env, workdir, user, ports, labels,
//! annotations and the timestamp, each from flags over settings over defaults.

use super::artifacts::absolute_in_image;
use super::cargo::CargoProject;
use super::source::{KO_DATA_PATH, SourcePlan};
use super::values::{merged, parse_epoch, parse_expose, parse_user};
use super::{BuildArgs, ConfigError, Environment, Source};
use crate::image::ImageSettings;
use std::collections::BTreeMap;
use std::path::Path;

pub(crate) fn image_settings(
    args: &BuildArgs,
    env: &Environment,
    context: &Path,
    built: &SourcePlan,
) -> Result<ImageSettings, ConfigError> {
    let settings = &built.settings;
    let mut settings_env = settings.env.clone().unwrap_or_default();
    if built.kodata {
        settings_env
            .entry("KO_DATA_PATH".into())
            .or_insert_with(|| KO_DATA_PATH.into());
    }
    let env_vars = merged("--env", &Some(settings_env), &args.env)?;
    let labels: BTreeMap<String, String> = merged(
        "--label",
        &Some(label_base(built.project.as_ref(), settings)),
        &args.labels,
    )?
    .into_iter()
    .collect();
    let annotations: BTreeMap<String, String> =
        merged("--annotation", &settings.annotations, &args.annotations)?
            .into_iter()
            .collect();
    let expose_raw = if args.expose.is_empty() {
        settings.expose.clone().unwrap_or_default()
    } else {
        args.expose.clone()
    };
    let expose = expose_raw
        .iter()
        .map(|p| parse_expose(p))
        .collect::<Result<Vec<_>, _>>()?;
    let workdir = args
        .workdir
        .clone()
        .or(settings.workdir.clone())
        .map(|w| absolute_in_image("--workdir", &w))
        .transpose()?;
    let user = args
        .user
        .clone()
        .or(settings.user.clone())
        .map(|u| parse_user(&u))
        .transpose()?;
    let entrypoint = args
        .entrypoint
        .clone()
        .or(settings.entrypoint.clone())
        // A bundle keeps the base's entrypoint (nginx stays nginx).
        .or_else(|| (!matches!(built.source, Source::Static)).then(|| vec![built.dest.clone()]));
    let created = match (&args.epoch, &settings.epoch, &env.source_date_epoch) {
        (Some(e), _, _) | (None, Some(e), _) => parse_epoch("--epoch", e, context)?,
        (None, None, Some(s)) if !s.trim().is_empty() => {
            parse_epoch("SOURCE_DATE_EPOCH", s, context)?
        }
        _ => 0,
    };
    Ok(ImageSettings {
        entrypoint,
        cmd: args.cmd.clone().or(settings.cmd.clone()),
        env: env_vars,
        workdir,
        user,
        expose,
        labels,
        annotations,
        created,
    })
}

/// Labels before flags: the crate's own, then the settings'.
fn label_base(
    project: Option<&CargoProject>,
    settings: &super::FileConfig,
) -> BTreeMap<String, String> {
    let mut labels = project.map(|p| p.labels.clone()).unwrap_or_default();
    labels.extend(settings.labels.clone().unwrap_or_default());
    labels
}
