//! `--artifact PLATFORM=FILE` and `--file SRC:DST[:MODE]`.

use super::{ExtraFile, PlanError, PlatformRequest, PrebuiltArtifact};
use crate::oci::Platform;
use std::path::{Path, PathBuf};

/// Checks prebuilt artifacts against each other and the platform request.
pub fn prebuilt(
    raw: Vec<(Platform, PathBuf)>,
    platforms: &PlatformRequest,
    dest: Option<&str>,
) -> Result<Vec<PrebuiltArtifact>, PlanError> {
    let mut artifacts: Vec<PrebuiltArtifact> = Vec::new();
    for (platform, path) in raw {
        let bad = |why: &str| PlanError::Artifact {
            platform: platform.to_string(),
            path: path.clone(),
            why: why.to_string(),
        };
        let meta = std::fs::metadata(&path).map_err(|e| {
            bad(&if e.kind() == std::io::ErrorKind::NotFound {
                "no such file".to_string()
            } else {
                e.to_string()
            })
        })?;
        if meta.is_dir() {
            return Err(bad("is a directory; --artifact takes one file"));
        }
        if let Some(other) = artifacts.iter().find(|a| a.platform == platform) {
            return Err(PlanError::Conflict(format!(
                "two artifacts for {platform}: {} and {}; give one file per platform",
                other.path.display(),
                path.display()
            )));
        }
        if let PlatformRequest::List(list) = platforms
            && !list.contains(&platform)
        {
            return Err(PlanError::Conflict(format!(
                "artifact {} is for {platform}, which is not among the requested platforms ({})",
                path.display(),
                list.iter()
                    .map(Platform::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let dest = match dest {
            Some(d) => absolute_in_image("--dest", d)?,
            None => format!(
                "/app/{}",
                path.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            ),
        };
        artifacts.push(PrebuiltArtifact {
            platform,
            path,
            dest,
        });
    }
    if let PlatformRequest::List(list) = platforms {
        let missing: Vec<String> = list
            .iter()
            .filter(|p| !artifacts.iter().any(|a| &a.platform == *p))
            .map(|p| p.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(PlanError::Conflict(format!(
                "no artifact for {}; add --artifact {}=FILE",
                missing.join(", "),
                missing[0]
            )));
        }
    }
    let dests: Vec<&str> = artifacts.iter().map(|a| a.dest.as_str()).collect();
    if dests.iter().any(|d| *d != dests[0]) {
        return Err(PlanError::Conflict(format!(
            "the artifacts would land at different paths ({}); every platform should run the program from the same path — pass --dest, e.g. --dest /app/hello",
            dests.join(", ")
        )));
    }
    Ok(artifacts)
}

pub fn absolute_in_image(what: &'static str, p: &str) -> Result<String, PlanError> {
    let bad = |why: &str| PlanError::Invalid {
        what,
        given: p.to_string(),
        why: why.to_string(),
    };
    if !p.starts_with('/') {
        return Err(bad("must be an absolute path in the image (start with /)"));
    }
    if p.split('/').any(|c| c == "..") {
        return Err(bad("must not contain `..`"));
    }
    Ok(p.to_string())
}

pub fn parse_mode(what: &'static str, given: &str, mode: &str) -> Result<u32, PlanError> {
    u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| PlanError::Invalid {
            what,
            given: given.to_string(),
            why: format!("`{mode}` is not an octal mode like 0644 or 755"),
        })
}

/// `SRC:DST[:MODE]` with SRC relative to `cwd`.
pub fn parse_file_flag(s: &str, cwd: &Path) -> Result<ExtraFile, PlanError> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dest, mode) = match parts.as_slice() {
        [src, dest] => (*src, *dest, None),
        [src, dest, mode] => (*src, *dest, Some(*mode)),
        _ => {
            return Err(PlanError::Invalid {
                what: "--file",
                given: s.to_string(),
                why: "expected SRC:DST[:MODE], e.g. deploy/app.toml:/etc/app.toml:0644".into(),
            });
        }
    };
    extra_file(s, &cwd.join(src), dest, mode)
}

pub fn extra_file(
    given: &str,
    source: &Path,
    dest: &str,
    mode: Option<&str>,
) -> Result<ExtraFile, PlanError> {
    if !source.exists() {
        return Err(PlanError::Invalid {
            what: "--file",
            given: given.to_string(),
            why: format!("{} does not exist", source.display()),
        });
    }
    Ok(ExtraFile {
        source: source.to_path_buf(),
        dest: absolute_in_image("--file destination", dest)?,
        mode: mode.map(|m| parse_mode("--file", given, m)).transpose()?,
        owner: (0, 0),
    })
}
