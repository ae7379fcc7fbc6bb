//! `--artifact PLATFORM=FILE` and `--file SRC:DST[:MODE[:UID:GID]]`.

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

/// `SRC:DST[:MODE[:UID:GID]]` with SRC relative to `cwd`; an empty MODE (`SRC:DST::UID:GID`)
/// keeps the default mode.
pub fn parse_file_flag(s: &str, cwd: &Path) -> Result<ExtraFile, PlanError> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = |why: &str| PlanError::Invalid {
        what: "--file",
        given: s.to_string(),
        why: why.to_string(),
    };
    let (src, dest, mode, owner) = match parts.as_slice() {
        [src, dest] => (*src, *dest, None, None),
        [src, dest, mode] => (*src, *dest, Some(*mode), None),
        [src, dest, mode, uid, gid] => (*src, *dest, Some(*mode), Some((*uid, *gid))),
        [_, _, _, _] => {
            return Err(bad(
                "the owner is UID:GID, both numbers: SRC:DST:MODE:UID:GID, e.g. app.toml:/etc/app.toml:0600:1000:1000",
            ));
        }
        _ => {
            return Err(bad(
                "expected SRC:DST[:MODE[:UID:GID]], e.g. deploy/app.toml:/etc/app.toml:0644 or deploy/app.toml:/etc/app.toml:0600:1000:1000",
            ));
        }
    };
    if src.is_empty() || dest.is_empty() {
        return Err(bad("SRC and DST must not be empty"));
    }
    let owner = owner
        .map(|(uid, gid)| parse_file_owner(s, uid, gid))
        .transpose()?;
    let mode = mode.filter(|m| !m.is_empty());
    extra_file(s, &cwd.join(src), dest, mode, owner)
}

/// The owner of one extra file: numeric UID and GID, each at most 2^32 - 2 (Linux ids;
/// 4294967295 is `(uid_t)-1`, "no id").
pub fn parse_file_owner(given: &str, uid: &str, gid: &str) -> Result<(u64, u64), PlanError> {
    let id = |what: &str, v: &str| {
        v.parse::<u32>()
            .ok()
            .filter(|n| *n != u32::MAX && v.chars().all(|c| c.is_ascii_digit()))
            .map(u64::from)
            .ok_or_else(|| PlanError::Invalid {
                what: "--file",
                given: given.to_string(),
                why: format!(
                    "{what} `{v}` is not a number from 0 to 4294967294 (the owner is numeric UID:GID, e.g. 1000:1000)"
                ),
            })
    };
    Ok((id("the UID", uid)?, id("the GID", gid)?))
}

/// `files = [{ src, dest, mode, owner }]` entries and `--file`s: `owner` is `(UID, GID)`,
/// default 0:0.
pub fn extra_file(
    given: &str,
    source: &Path,
    dest: &str,
    mode: Option<&str>,
    owner: Option<(u64, u64)>,
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
        owner: owner.unwrap_or((0, 0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(r: Result<ExtraFile, PlanError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn file_flag_with_mode_and_owner() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        let cwd = dir.path();
        let f = parse_file_flag("a.txt:/etc/a.txt:0600:1000:1001", cwd).unwrap();
        assert_eq!(
            f,
            ExtraFile {
                source: cwd.join("a.txt"),
                dest: "/etc/a.txt".into(),
                mode: Some(0o600),
                owner: (1000, 1001),
            }
        );
        let f = parse_file_flag("a.txt:/etc/a.txt", cwd).unwrap();
        assert_eq!((f.mode, f.owner), (None, (0, 0)));
        let f = parse_file_flag("a.txt:/etc/a.txt:755", cwd).unwrap();
        assert_eq!((f.mode, f.owner), (Some(0o755), (0, 0)));
        // An empty MODE keeps the default mode.
        let f = parse_file_flag("a.txt:/etc/a.txt::65532:65532", cwd).unwrap();
        assert_eq!((f.mode, f.owner), (None, (65532, 65532)));
        let f = parse_file_flag("a.txt:/etc/a.txt:4755:0:0", cwd).unwrap();
        assert_eq!((f.mode, f.owner), (Some(0o4755), (0, 0)));
        let f = parse_file_flag("a.txt:/a:0644:4294967294:0", cwd).unwrap();
        assert_eq!(f.owner, (4294967294, 0));
    }

    #[test]
    fn file_flag_mistakes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        let cwd = dir.path();
        let cases: &[(&str, &[&str])] = &[
            // MODE is octal: 8 and 9 are not digits, and no 0o prefix or symbolic modes.
            ("a.txt:/etc/a:0698", &["`0698` is not an octal mode"]),
            ("a.txt:/etc/a:0o644:1:1", &["`0o644` is not an octal mode"]),
            ("a.txt:/etc/a:rw-r--r--", &["is not an octal mode"]),
            ("a.txt:/etc/a:17777", &["`17777` is not an octal mode"]),
            // The owner.
            ("a.txt:/etc/a:0600:1000", &["the owner is UID:GID"]),
            (
                "a.txt:/etc/a:0600:root:0",
                &["the UID `root` is not a number"],
            ),
            (
                "a.txt:/etc/a:0600:0:wheel",
                &["the GID `wheel` is not a number"],
            ),
            ("a.txt:/etc/a:0600:-1:0", &["the UID `-1`"]),
            ("a.txt:/etc/a:0600:+1:0", &["the UID `+1`"]),
            ("a.txt:/etc/a:0600:1000:", &["the GID `` is not a number"]),
            ("a.txt:/etc/a:0600:4294967295:0", &["the UID `4294967295`"]),
            (
                "a.txt:/etc/a:0600:99999999999:0",
                &["the UID `99999999999`"],
            ),
            // Too many or too few fields.
            (
                "a.txt:/etc/a:0600:1:1:x",
                &["expected SRC:DST[:MODE[:UID:GID]]"],
            ),
            ("a.txt", &["expected SRC:DST[:MODE[:UID:GID]]"]),
            (":/etc/a", &["must not be empty"]),
            ("a.txt:", &["must not be empty"]),
            // The rest, as before.
            ("a.txt:etc/a:0600:1:1", &["absolute path"]),
            ("nope.txt:/etc/a:0600:1:1", &["does not exist"]),
        ];
        for (given, expect) in cases {
            let err = why(parse_file_flag(given, cwd));
            assert!(err.contains("--file"), "{given}: {err}");
            for e in *expect {
                assert!(err.contains(e), "{given}: `{e}` not in: {err}");
            }
        }
    }
}
