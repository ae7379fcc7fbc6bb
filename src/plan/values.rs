//! Parsing single values as users write them: `K=V`, ports, users, platforms, base and
//! repository references, tag templates, build settings, epochs, compression, formats.

use super::file::Platforms;
use super::{BaseSpec, BuildStd, Builder, Libc, PlanError, PlatformRequest};
use crate::oci::{Digest, Platform, Reference, Repository, reference::valid_tag};
use std::collections::BTreeMap;
use std::path::Path;

pub(crate) fn invalid(what: &'static str, given: &str, why: impl Into<String>) -> PlanError {
    PlanError::Invalid {
        what,
        given: given.to_string(),
        why: why.into(),
    }
}

pub(crate) fn key_value(what: &'static str, s: &str) -> Result<(String, String), PlanError> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        Some(_) => Err(invalid(what, s, "the name before `=` is empty")),
        None => Err(invalid(
            what,
            s,
            "expected K=V (for an empty value write K=)",
        )),
    }
}

/// Merges the settings' map with K=V flags; a flag replaces the value for its key.
pub(crate) fn merged(
    what: &'static str,
    file: &Option<BTreeMap<String, String>>,
    flags: &[String],
) -> Result<Vec<(String, String)>, PlanError> {
    let mut out: Vec<(String, String)> = file.clone().unwrap_or_default().into_iter().collect();
    for f in flags {
        let (k, v) = key_value(what, f)?;
        match out.iter_mut().find(|(ek, _)| *ek == k) {
            Some(e) => e.1 = v,
            None => out.push((k, v)),
        }
    }
    Ok(out)
}

pub(crate) fn parse_expose(p: &str) -> Result<String, PlanError> {
    let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let port: u16 = port
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid("--expose", p, "the port must be a number from 1 to 65535"))?;
    let proto = proto.to_ascii_lowercase();
    if proto != "tcp" && proto != "udp" {
        return Err(invalid("--expose", p, "the protocol must be tcp or udp"));
    }
    Ok(format!("{port}/{proto}"))
}

pub(crate) fn parse_user(u: &str) -> Result<String, PlanError> {
    let ok = !u.is_empty()
        && u.split(':').count() <= 2
        && u.split(':').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        });
    if ok {
        Ok(u.to_string())
    } else {
        Err(invalid(
            "--user",
            u,
            "expected UID[:GID] or a user name (e.g. 65532, 65532:65532, nonroot)",
        ))
    }
}

/// `--base` / `base =`: `oci-layout:DIR[:TAG|@DIGEST]`, a name from base-images/, or a
/// registry reference.
pub fn parse_base(s: &str, relative_to: &Path) -> Result<BaseSpec, PlanError> {
    if let Some(rest) = s.strip_prefix("oci-archive:") {
        let (file, tag, digest) = file_tag_digest(s, rest, "oci-archive:FILE[:TAG|@DIGEST]")?;
        return Ok(BaseSpec::Archive {
            file: relative_to.join(file),
            tag,
            digest,
        });
    }
    if let Some(rest) = s.strip_prefix("oci-layout:") {
        let (dir, tag, digest) = file_tag_digest(s, rest, "oci-layout:DIR[:TAG|@DIGEST]")?;
        return Ok(BaseSpec::Layout {
            dir: relative_to.join(dir),
            tag,
            digest,
        });
    }
    if let Some(rest) = s.strip_prefix("docker-archive:") {
        let (file, tag, digest) = file_tag_digest(s, rest, "docker-archive:FILE[@IMAGE-ID]")?;
        if tag.is_some() {
            return Err(invalid(
                "--base",
                s,
                "name the image in a docker archive by its ID: docker-archive:FILE[@sha256:…]",
            ));
        }
        return Ok(BaseSpec::DockerArchive {
            file: relative_to.join(file),
            id: digest,
        });
    }
    if s.ends_with(".toml") {
        return Ok(BaseSpec::SpecFile(relative_to.join(s)));
    }
    if let Some(scheme) = unknown_scheme(s) {
        return Err(invalid(
            "--base",
            s,
            format!(
                "unknown scheme `{scheme}:`; write a registry reference REGISTRY/REPO[:TAG|@DIGEST], \
                 oci-layout:DIR[:TAG|@DIGEST], oci-archive:FILE[:TAG|@DIGEST] or \
                 docker-archive:FILE[@IMAGE-ID]"
            ),
        ));
    }
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Ok(BaseSpec::Named(s.to_string()));
    }
    Ok(BaseSpec::Registry(s.parse::<Reference>()?))
}

/// `PATH[:TAG|@DIGEST]` after a `oci-layout:`-like prefix.
fn file_tag_digest<'a>(
    s: &str,
    rest: &'a str,
    form: &str,
) -> Result<(&'a str, Option<String>, Option<Digest>), PlanError> {
    let (path, tag, digest) = if let Some((path, d)) = rest.rsplit_once('@') {
        let digest: Digest = d
            .parse()
            .map_err(|e| invalid("--base", s, format!("{e}")))?;
        (path, None, Some(digest))
    } else {
        match rest.rsplit_once(':') {
            Some((path, tag)) if !tag.contains('/') && !path.is_empty() => {
                if !valid_tag(tag) {
                    return Err(invalid("--base", s, format!("`{tag}` is not a valid tag")));
                }
                (path, Some(tag.to_string()), None)
            }
            _ => (rest, None, None),
        }
    };
    if path.is_empty() {
        return Err(invalid("--base", s, format!("write {form}")));
    }
    Ok((path, tag, digest))
}

/// The `scheme` of `scheme:REST` when it is not a registry reference: a transport name
/// other tools use (`docker:`, `docker-daemon:`, `dir:`, …), or a word followed by a
/// path (`foo:./x`, `foo:/x`, `foo:a/b`). `HOST:PORT/REPO` and `NAME:TAG` are references.
pub(crate) fn unknown_scheme(s: &str) -> Option<&str> {
    const TRANSPORTS: &[&str] = &[
        "docker",
        "docker-daemon",
        "containers-storage",
        "dir",
        "oci",
        "oci-dir",
        "ostree",
        "sif",
        "tarball",
        "file",
        "http",
        "https",
    ];
    let (word, rest) = s.split_once(':')?;
    let is_word = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !is_word || word.contains('.') {
        return None;
    }
    if TRANSPORTS.contains(&word) {
        return Some(word);
    }
    let port = rest.split('/').next().unwrap_or("");
    let is_port =
        !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) && rest.contains('/');
    let pathlike = rest.starts_with('.')
        || rest.starts_with('/')
        || rest.starts_with('~')
        || rest.contains('/');
    (pathlike && !is_port).then_some(word)
}

pub(crate) fn parse_repo(s: &str) -> Result<Repository, PlanError> {
    let last = s.rsplit('/').next().unwrap_or(s);
    if s.contains('@') || (s.contains('/') && last.contains(':')) {
        return Err(invalid(
            "--repo",
            s,
            "give the repository without tag or digest; tags go in --tag",
        ));
    }
    Ok(s.parse::<Repository>()?)
}

/// `linux/amd64,linux/arm64` or `all`, as `--platform` takes it.
pub fn parse_platform_list(s: &str) -> Result<PlatformRequest, PlanError> {
    parse_platforms(&Platforms::One(s.to_string()))
}

pub(crate) fn parse_platforms(spec: &Platforms) -> Result<PlatformRequest, PlanError> {
    let items: Vec<String> = match spec {
        Platforms::One(s) => s.split(',').map(|p| p.trim().to_string()).collect(),
        Platforms::List(l) => l.clone(),
    };
    if items.len() == 1 && items[0] == "all" {
        return Ok(PlatformRequest::All);
    }
    let mut out: Vec<Platform> = Vec::new();
    for i in items.iter().filter(|i| !i.is_empty()) {
        let p: Platform = i.parse()?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(invalid("--platform", &items.join(","), "no platform given"));
    }
    Ok(PlatformRequest::List(out))
}

/// Expands `{version}`, `{git_sha}` and `{git_short_sha}` in a tag.
pub(crate) fn expand_tag(
    tag: &str,
    version: Option<&str>,
    git_sha: Option<&str>,
) -> Result<String, PlanError> {
    let mut out = tag.to_string();
    let needs = |k: &str| tag.contains(k);
    if needs("{version}") {
        let v = version.ok_or_else(|| {
            invalid(
                "--tag",
                tag,
                "{version} needs a Cargo package to take the version from",
            )
        })?;
        // semver build metadata (`+…`) is not allowed in tags.
        out = out.replace("{version}", &v.replace('+', "-"));
    }
    if needs("{git_sha}") || needs("{git_short_sha}") {
        let sha = git_sha.ok_or_else(|| {
            invalid(
                "--tag",
                tag,
                "{git_sha} needs the project to be in a git checkout with a commit",
            )
        })?;
        out = out
            .replace("{git_sha}", sha)
            .replace("{git_short_sha}", &sha[..12]);
    }
    if !valid_tag(&out) {
        let why = "tags are up to 128 of A-Z a-z 0-9 _ . - and do not start with . or -";
        return Err(invalid(
            "--tag",
            &out,
            match crate::oci::reference::suggest_tag(&out) {
                Some(t) => format!("{why}; did you mean `{t}`?"),
                None => why.to_string(),
            },
        ));
    }
    Ok(out)
}

pub(crate) fn parse_libc(s: Option<&str>) -> Result<Libc, PlanError> {
    match s {
        None | Some("musl") => Ok(Libc::Musl),
        Some("gnu") | Some("glibc") => Ok(Libc::Gnu),
        Some(other) => Err(invalid("--libc", other, "use musl or gnu")),
    }
}

pub(crate) fn parse_builder(s: Option<&str>) -> Result<Builder, PlanError> {
    match s {
        None | Some("zigbuild") | Some("cargo-zigbuild") => Ok(Builder::Zigbuild),
        Some("cargo") => Ok(Builder::Cargo),
        Some(other) => Err(invalid("--builder", other, "use zigbuild or cargo")),
    }
}

pub(crate) fn parse_build_std(s: Option<&str>) -> Result<BuildStd, PlanError> {
    match s {
        None | Some("auto") => Ok(BuildStd::Auto),
        Some("always") | Some("true") => Ok(BuildStd::Always),
        Some("never") | Some("false") => Ok(BuildStd::Never),
        Some(other) => Err(invalid("--build-std", other, "use auto, always or never")),
    }
}

/// `UID:GID` (numbers) for `--owner`.
pub(crate) fn parse_owner(s: &str) -> Result<(u64, u64), PlanError> {
    let parse = |v: &str| v.parse::<u64>().ok();
    match s.split_once(':') {
        Some((u, g)) if parse(u).is_some() && parse(g).is_some() => {
            Ok((parse(u).unwrap_or(0), parse(g).unwrap_or(0)))
        }
        None if parse(s).is_some() => Ok((parse(s).unwrap_or(0), parse(s).unwrap_or(0))),
        _ => Err(invalid(
            "--owner",
            s,
            "expected numeric UID:GID, e.g. 101:101",
        )),
    }
}

/// `--compression gzip[:LEVEL]|zstd[:LEVEL]`.
pub(crate) fn parse_compression(s: &str) -> Result<crate::layer::Compression, PlanError> {
    use crate::layer::Compression;
    let (name, level) = match s.split_once(':') {
        Some((n, l)) => (n, Some(l)),
        None => (s, None),
    };
    let level = |range: std::ops::RangeInclusive<i64>, default: i64| -> Result<i64, PlanError> {
        match level {
            None => Ok(default),
            Some(l) => l
                .parse::<i64>()
                .ok()
                .filter(|l| range.contains(l))
                .ok_or_else(|| {
                    invalid(
                        "--compression",
                        s,
                        format!("the level must be {}-{}", range.start(), range.end()),
                    )
                }),
        }
    };
    match name {
        "gzip" => Ok(Compression::Gzip {
            level: level(1..=9, 3)? as u32,
        }),
        "zstd" => Ok(Compression::Zstd {
            level: level(1..=19, 3)? as i32,
        }),
        _ => Err(invalid(
            "--compression",
            s,
            "expected gzip[:LEVEL] or zstd[:LEVEL]",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_templates() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            expand_tag("v{version}-{git_short_sha}", Some("1.2.3+meta"), Some(sha)).unwrap(),
            "v1.2.3-meta-0123456789ab"
        );
        assert_eq!(expand_tag("{git_sha}", None, Some(sha)).unwrap(), sha);
        assert!(
            expand_tag("{version}", None, None)
                .unwrap_err()
                .to_string()
                .contains("Cargo package")
        );
        assert!(
            expand_tag("{git_sha}", Some("1"), None)
                .unwrap_err()
                .to_string()
                .contains("git checkout")
        );
    }

    #[test]
    fn compression_levels_and_names() {
        use crate::layer::Compression;
        assert_eq!(
            parse_compression("gzip:9").unwrap(),
            Compression::Gzip { level: 9 }
        );
        assert_eq!(
            parse_compression("zstd").unwrap(),
            Compression::Zstd { level: 3 }
        );
        assert_eq!(
            parse_compression("zstd:19").unwrap(),
            Compression::Zstd { level: 19 }
        );
        for bad in ["gzip:0", "gzip:10", "zstd:20", "zstd:x", "brotli", "gzip:"] {
            assert!(parse_compression(bad).is_err(), "{bad}");
        }
    }
}
