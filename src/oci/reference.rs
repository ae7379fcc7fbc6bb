use super::{Digest, DigestError};
use std::fmt;
use std::str::FromStr;

/// A repository in a registry: `registry/path`, e.g. `127.0.0.1:5000/app/hello`.
/// Docker Hub names are normalized as docker does: `alpine` → `docker.io/library/alpine`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Repository {
    pub registry: String,
    pub path: String,
}

/// What a reference points at inside a repository.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Target {
    Tag(String),
    Digest(Digest),
}

/// A full image reference: `registry/path[:tag][@digest]`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reference {
    pub repository: Repository,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("`{given}` is not a valid repository: {why}")]
    Repository { given: String, why: String },
    #[error(
        "`{given}`: invalid tag `{tag}` (up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)"
    )]
    Tag { given: String, tag: String },
    #[error("`{given}`: {source}")]
    Digest {
        given: String,
        #[source]
        source: DigestError,
    },
}

const DOCKER_HUB: &str = "docker.io";

impl Repository {
    /// Host (and port) to send HTTP requests to.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            repository: self.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }

    pub fn with_digest(&self, digest: &Digest) -> Reference {
        Reference {
            repository: self.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }
}

impl FromStr for Repository {
    type Err = ReferenceError;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ReferenceError::Repository {
            given: given.to_string(),
            why: why.to_string(),
        };
        if given.is_empty() {
            return Err(bad("it is empty"));
        }
        if given.contains("://") {
            return Err(bad("leave out the scheme (write host[:port]/path)"));
        }
        let (registry, path) = match given.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (normalize_registry(first), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), given.to_string()),
        };
        let path = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if registry.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(bad("the registry host is malformed"));
        }
        for component in path.split('/') {
            if component.is_empty() {
                return Err(bad("it has an empty path component"));
            }
            if component.chars().any(|c| c.is_ascii_uppercase()) {
                return Err(bad("repository names must be lower-case"));
            }
            if !valid_path_component(component) {
                return Err(bad(
                    "path components may use a-z 0-9 and single separators . _ __ - between them",
                ));
            }
        }
        if path.len() > 255 {
            return Err(bad("it is longer than 255 characters"));
        }
        Ok(Repository { registry, path })
    }
}

fn normalize_registry(host: &str) -> String {
    match host {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

/// distribution's path-component grammar: `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`.
fn valid_path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// A valid tag close to an invalid one (`feature/x` → `feature-x`): other characters become
/// `-`, a leading `.`/`-` is dropped, and it is cut at 128 characters. `None` when nothing
/// usable is left.
pub fn suggest_tag(tag: &str) -> Option<String> {
    let replaced: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut out: String = replaced
        .trim_start_matches(['.', '-'])
        .chars()
        .take(128)
        .collect();
    while out.contains("--") && !tag.contains("--") {
        out = out.replace("--", "-");
    }
    (valid_tag(&out) && out != tag).then_some(out)
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let (rest, digest) = match given.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(
                    d.parse::<Digest>()
                        .map_err(|source| ReferenceError::Digest {
                            given: given.to_string(),
                            source,
                        })?,
                ),
            ),
            None => (given, None),
        };
        // A tag follows the last ':' that comes after the last '/', so `host:5000/app` has none.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(ReferenceError::Tag {
                given: given.to_string(),
                tag: tag.to_string(),
            });
        }
        let repository = name.parse()?;
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t.map(str::to_string),
        };
        Ok(Reference {
            repository,
            tag,
            digest,
        })
    }
}

impl Reference {
    /// What to ask the registry for: the digest when there is one (it pins the content),
    /// else the tag.
    pub fn target(&self) -> Target {
        match (&self.digest, &self.tag) {
            (Some(d), _) => Target::Digest(d.clone()),
            (None, Some(t)) => Target::Tag(t.clone()),
            (None, None) => Target::Tag("latest".to_string()),
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tag(t) => f.write_str(t),
            Target::Digest(d) => write!(f, "{d}"),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_normalization() {
        let r: Reference = "alpine".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
        let r: Reference = "index.docker.io/foo/bar:1".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/foo/bar:1");
        assert_eq!(r.repository.api_host(), "registry-1.docker.io");
    }

    #[test]
    fn registry_with_port_and_tag() {
        let r: Reference = "127.0.0.1:5000/app/hello:v1".parse().unwrap();
        assert_eq!(r.repository.registry, "127.0.0.1:5000");
        assert_eq!(r.repository.path, "app/hello");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        let r: Reference = "127.0.0.1:5000/app".parse().unwrap();
        assert_eq!(r.tag.as_deref(), Some("latest"));
        let d = format!("sha256:{}", "a".repeat(64));
        let r: Reference = format!("localhost/x@{d}").parse().unwrap();
        assert_eq!(r.target(), Target::Digest(d.parse().unwrap()));
    }

    #[test]
    fn bad_repositories() {
        for bad in [
            "127.0.0.1:5000/App",
            "host.io/a//b",
            "host.io/-a",
            "http://x.io/a",
            "a b",
            "",
        ] {
            assert!(bad.parse::<Repository>().is_err(), "{bad}");
        }
        let e = "127.0.0.1:5000/App"
            .parse::<Repository>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("lower-case"), "{e}");
        assert!("x.io/a:bad tag".parse::<Reference>().is_err());
        assert!("x.io/a@sha256:123".parse::<Reference>().is_err());
    }

    #[test]
    fn separators() {
        assert!(valid_path_component("a.b_c__d-e---f"));
        assert!(!valid_path_component("a..b"));
        assert!(!valid_path_component("a___b"));
    }
}
