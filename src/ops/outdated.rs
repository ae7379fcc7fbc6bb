//! `imgpush outdated IMAGE…`: whether the base each image records
//! (`org.opencontainers.image.base.name` and `.base.digest`, which `imgpush build` writes)
//! has moved: one HEAD of the base reference per distinct base, its `Docker-Content-Digest`
//! compared with the recorded digest (a GET when a registry gives no digest on HEAD). An
//! index records its base's index digest; a single manifest its base's platform manifest,
//! so for one the base's current index is read to find that platform's entry.

use super::{OpsError, clients, open, work_dir};
use crate::base::{BaseError, OpenedBase};
use crate::oci::{Digest, Platform, Reference, Target, annotation, attestation, media};
use crate::registry::Pool;
use crate::report::{Event, Reporter, Stage};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

pub use crate::plan::OutdatedPlan;

/// One image's answer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BaseStatus {
    /// The image as given.
    pub image: String,
    /// The recorded `base.name`.
    pub base: Option<String>,
    /// The recorded `base.digest`.
    pub recorded: Option<Digest>,
    /// What the base reference names now (for a single manifest: the base's manifest for
    /// the image's platform).
    pub current: Option<Digest>,
    pub outdated: bool,
    /// Why nothing can be said (no base recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl BaseStatus {
    /// `IMAGE: up to date (base NAME@sha256:…)`, `IMAGE: base NAME moved sha256:old →
    /// sha256:new`, or `IMAGE: no recorded base (why)`.
    pub fn line(&self) -> String {
        match (&self.base, &self.recorded, &self.current) {
            (Some(base), Some(recorded), Some(current)) if self.outdated => {
                format!("{}: base {base} moved {recorded} → {current}", self.image)
            }
            (Some(base), Some(recorded), _) => {
                format!("{}: up to date (base {base}@{recorded})", self.image)
            }
            _ => format!(
                "{}: no recorded base ({})",
                self.image,
                self.note.as_deref().unwrap_or("no base annotations")
            ),
        }
    }
}

pub async fn outdated(
    plan: &OutdatedPlan,
    reporter: Arc<dyn Reporter>,
) -> Result<Vec<BaseStatus>, OpsError> {
    let specs: Vec<_> = plan.images.iter().map(|(_, s)| s).collect();
    let clients = clients(&plan.registry, &specs, None, reporter.clone())?;
    let work = work_dir()?;
    // One HEAD per distinct base reference.
    let mut heads: HashMap<String, Digest> = HashMap::new();
    let mut out = Vec::new();
    for (name, spec) in &plan.images {
        reporter.event(Event::StageStarted(Stage::Read {
            source: name.clone(),
        }));
        let opened = open(spec, &clients, work.path()).await?;
        out.push(status(name, &opened, &clients, &mut heads).await?);
    }
    Ok(out)
}

async fn status(
    image: &str,
    opened: &OpenedBase,
    clients: &Pool,
    heads: &mut HashMap<String, Digest>,
) -> Result<BaseStatus, OpsError> {
    let malformed = |message: String| BaseError::Malformed {
        base: image.to_string(),
        message,
    };
    let mut result = BaseStatus {
        image: image.to_string(),
        base: None,
        recorded: None,
        current: None,
        outdated: false,
        note: None,
    };
    let doc: Value = serde_json::from_slice(&opened.document.bytes)
        .map_err(|e| malformed(format!("the manifest is not JSON: {e}")))?;
    let text = |key: &str| doc["annotations"][key].as_str().map(str::to_string);
    let docker = matches!(
        opened.document.media_type.as_str(),
        media::DOCKER_LIST | media::DOCKER_MANIFEST
    );
    let (Some(name), Some(recorded)) = (text(annotation::BASE_NAME), text(annotation::BASE_DIGEST))
    else {
        result.note = Some(
            if docker {
                "a Docker-format image has no annotations"
            } else if text(annotation::BASE_DIGEST).is_some() {
                "built on a base with no pullable name, such as an embedded base"
            } else {
                "no org.opencontainers.image.base.name and base.digest annotations"
            }
            .into(),
        );
        return Ok(result);
    };
    let recorded: Digest = recorded.parse().map_err(|e| {
        malformed(format!(
            "its org.opencontainers.image.base.digest `{recorded}` is not a digest: {e}"
        ))
    })?;
    let reference: Reference = name.parse().map_err(|e| {
        malformed(format!(
            "its org.opencontainers.image.base.name `{name}` is not a registry reference: {e}"
        ))
    })?;
    let client = clients.get(&reference.repository.registry)?;
    let current = match heads.get(&name) {
        Some(d) => d.clone(),
        None => {
            let d = head(&client, &reference, image).await?;
            heads.insert(name.clone(), d.clone());
            d
        }
    };
    // A single manifest recorded its base's platform manifest: find that platform in what
    // the base names now.
    let current = if current != recorded && media::is_manifest(&opened.document.media_type) {
        match opened.platforms().first() {
            Some(p) => platform_manifest(&client, &reference, &current, p, &name).await?,
            None => current,
        }
    } else {
        current
    };
    result.outdated = current != recorded;
    result.base = Some(name);
    result.recorded = Some(recorded);
    result.current = Some(current);
    Ok(result)
}

/// The digest the base reference names now: HEAD, else GET.
async fn head(
    client: &crate::registry::Client,
    reference: &Reference,
    image: &str,
) -> Result<Digest, OpsError> {
    let not_found = |source| OpsError::NotFound {
        reference: format!("{reference} (the recorded base of {image})"),
        source: Box::new(source),
    };
    let registry = |source| {
        OpsError::Base(BaseError::Registry {
            base: reference.to_string(),
            source: Box::new(source),
        })
    };
    let path = &reference.repository.path;
    let target = reference.target();
    if let Some(d) = client
        .manifest_digest(path, &target)
        .await
        .map_err(registry)?
    {
        return Ok(d);
    }
    // No digest on HEAD (or no such tag, which the GET then says).
    match client.get_manifest(path, &target).await {
        Ok(fetched) => Ok(fetched.digest),
        Err(e) if e.is_not_found() => Err(not_found(e)),
        Err(e) => Err(registry(e)),
    }
}

/// The entry for `platform` in the base document `digest` (an index), else `digest`.
async fn platform_manifest(
    client: &crate::registry::Client,
    reference: &Reference,
    digest: &Digest,
    platform: &Platform,
    name: &str,
) -> Result<Digest, OpsError> {
    let fetched = client
        .get_manifest(&reference.repository.path, &Target::Digest(digest.clone()))
        .await
        .map_err(|source| {
            OpsError::Base(BaseError::Registry {
                base: name.to_string(),
                source: Box::new(source),
            })
        })?;
    if !media::is_index(&fetched.media_type) {
        return Ok(digest.clone());
    }
    let index: oci_spec::image::ImageIndex =
        serde_json::from_slice(&fetched.bytes).map_err(|e| BaseError::Malformed {
            base: name.to_string(),
            message: format!("the index is not valid: {e}"),
        })?;
    Ok(index
        .manifests()
        .iter()
        .find(|d| attestation::entry_platform(d).as_ref() == Some(platform))
        .and_then(|d| Digest::try_from(d.digest()).ok())
        // The base dropped the platform: it moved, to nothing of this platform.
        .unwrap_or_else(|| digest.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_what_happened() {
        let d = |s: &[u8]| Digest::of(s);
        let mut s = BaseStatus {
            image: "reg/app:v1".into(),
            base: Some("reg/base:latest".into()),
            recorded: Some(d(b"1")),
            current: Some(d(b"1")),
            outdated: false,
            note: None,
        };
        assert_eq!(
            s.line(),
            format!("reg/app:v1: up to date (base reg/base:latest@{})", d(b"1"))
        );
        s.current = Some(d(b"2"));
        s.outdated = true;
        assert_eq!(
            s.line(),
            format!(
                "reg/app:v1: base reg/base:latest moved {} → {}",
                d(b"1"),
                d(b"2")
            )
        );
        let none = BaseStatus {
            base: None,
            recorded: None,
            current: None,
            outdated: false,
            note: Some("a Docker-format image has no annotations".into()),
            ..s
        };
        assert_eq!(
            none.line(),
            "reg/app:v1: no recorded base (a Docker-format image has no annotations)"
        );
        let json = serde_json::to_value(&none).unwrap();
        assert_eq!(json["outdated"], false);
        assert!(json["base"].is_null() && json["current"].is_null());
    }
}
