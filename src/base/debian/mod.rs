//! Base images built from Debian packages, with no emulation and no maintainer script:
//! signed `InRelease` → `Packages` index per architecture → dependency closure → lock file
//! → `.deb` files verified by SHA-256 → deterministic layers plus the declared effects that
//! maintainer scripts would have had.
//!
//! [`lock`] resolves a spec against the live archive and returns the [`Lock`];
//! [`generate`] builds the OCI layout from a spec and its lock alone.

pub mod control;
pub mod deb;
mod effects;
pub mod fetch;
pub mod lock;
pub mod packages;
pub mod relation;
pub mod release;
pub mod resolve;
pub mod sbom;
pub mod spec;
pub mod version;

pub use fetch::{FetchError, Fetcher, Got};
pub use lock::Lock;
pub use spec::DebianSpec;

use crate::layer::{LayerError, LayerOptions};
use crate::report::{Event, Reporter};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where package files come from when not from the spec's repository URLs.
#[derive(Clone, Debug, Default)]
pub struct ArchiveOverrides {
    /// `IMGPUSH_DEBIAN_MIRROR`: replaces scheme and host of every repository URL.
    pub mirror: Option<String>,
    /// `IMGPUSH_DEBIAN_SNAPSHOT`: a snapshot archive such as
    /// `https://snapshot.debian.org/archive`.
    pub snapshot: Option<String>,
}

impl ArchiveOverrides {
    pub fn from_env() -> ArchiveOverrides {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        ArchiveOverrides {
            mirror: var("IMGPUSH_DEBIAN_MIRROR"),
            snapshot: var("IMGPUSH_DEBIAN_SNAPSHOT"),
        }
    }

    fn fetcher(
        &self,
        spec: &DebianSpec,
        cache: Option<crate::cache::Cache>,
    ) -> Result<Fetcher, DebianError> {
        Fetcher::new(
            cache,
            self.mirror.clone().or_else(|| spec.mirror.clone()),
            self.snapshot.clone().or_else(|| spec.snapshot.clone()),
        )
        .map_err(DebianError::Fetch)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    #[error("{0}")]
    Spec(String),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{suite} ({url})")]
    Release {
        url: String,
        suite: String,
        #[source]
        source: Box<release::ReleaseError>,
    },
    #[error("{url}: this signed index is for suite {found}, not `{suite}`")]
    WrongSuite {
        url: String,
        suite: String,
        found: String,
    },
    #[error("{suite} ({url}): the signed index lists no {path}")]
    NoIndex {
        url: String,
        suite: String,
        path: String,
    },
    #[error("{url}: {message}")]
    Index { url: String, message: String },
    #[error("resolving for {arch}")]
    Resolve {
        arch: String,
        #[source]
        source: Box<resolve::ResolveError>,
    },
    #[error("{package} {version} ({arch})")]
    Deb {
        package: String,
        version: String,
        arch: String,
        #[source]
        source: Box<deb::DebError>,
    },
    #[error(
        "{file}: the lock does not match the spec (its packages, exclusions, repositories or platforms changed)"
    )]
    StaleLock { file: String },
    #[error("{file}: {message}")]
    BadLock { file: String, message: String },
    #[error("{package} ({arch}): the locked file is gone from the archive ({url})")]
    Gone {
        package: String,
        arch: String,
        file: String,
        url: String,
        snapshot: String,
    },
    #[error("{package} {version} ({arch})")]
    Download {
        package: String,
        version: String,
        arch: String,
        #[source]
        source: Box<FetchError>,
    },
    #[error("{package} ({arch}): the lock says {locked}, the package file says {actual}")]
    LockMismatch {
        package: String,
        arch: String,
        locked: String,
        actual: String,
    },
    #[error("`{path}` is in both {first} and {second} ({arch})")]
    FileConflict {
        path: String,
        first: String,
        second: String,
        arch: String,
    },
    #[error("building a layer")]
    Layer(#[source] LayerError),
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl DebianError {
    pub fn hint(&self, name: &str) -> Option<String> {
        match self {
            DebianError::StaleLock { .. } | DebianError::BadLock { .. } => Some(format!(
                "re-resolve and rewrite the lock: imgpush base lock {name}"
            )),
            DebianError::Gone { snapshot, url, .. } if url.contains(snapshot.as_str()) => {
                Some(format!(
                    "the snapshot archive has no file at this timestamp: edit the repository's \
                     `snapshot` in the lock to a later one, or re-lock (imgpush base lock {name})"
                ))
            }
            DebianError::Gone { snapshot, .. } => Some(format!(
                "the live mirror drops superseded versions; either re-lock against today's archive \
                 (imgpush base lock {name}) or fetch the locked files from a snapshot archive: \
                 IMGPUSH_DEBIAN_SNAPSHOT=https://snapshot.debian.org/archive (this lock's timestamp: {snapshot})"
            )),
            DebianError::Download { source, .. }
                if matches!(source.as_ref(), FetchError::Mismatch { .. }) =>
            {
                Some(
                    "the mirror served other bytes than the lock names; nothing was used. Try \
                     another mirror (IMGPUSH_DEBIAN_MIRROR), or re-lock if the archive changed"
                        .into(),
                )
            }
            DebianError::Fetch(FetchError::Mismatch { .. }) => Some(
                "the mirror served other bytes than the signed index names; nothing was used. Try \
                 another mirror (IMGPUSH_DEBIAN_MIRROR)"
                    .into(),
            ),
            DebianError::Download { .. } | DebianError::Fetch(_) => Some(
                "is the archive reachable? Set IMGPUSH_DEBIAN_MIRROR to a mirror's scheme and host \
                 (e.g. http://ftp.de.debian.org; the repository paths are kept)"
                    .into(),
            ),
            DebianError::Resolve { source, .. } => match **source {
                resolve::ResolveError::Unsatisfiable(_) => Some(
                    "name the package that should satisfy it in `packages`, or leave it out with a \
                     reason under `[debian.exclude]`"
                        .into(),
                ),
                _ => None,
            },
            DebianError::WrongSuite { .. } => Some(
                "the mirror serves another suite's index at this path (misconfigured or tampered \
                 with); nothing was used"
                    .into(),
            ),
            DebianError::Release { source, .. } => match **source {
                release::ReleaseError::BadSignature(..)
                | release::ReleaseError::NoKnownSignature { .. }
                | release::ReleaseError::UntrustedKey(..) => Some(
                    "the index is not validly signed by a key in the spec's keyring: the mirror is \
                     broken or tampered with; nothing was used"
                        .into(),
                ),
                release::ReleaseError::Stale { .. } => Some(
                    "the mirror serves an outdated index (or an old one is being replayed); use an \
                     up-to-date mirror"
                        .into(),
                ),
                _ => None,
            },
            DebianError::LockMismatch { .. } => Some(format!(
                "the lock was edited or merged badly; rewrite it: imgpush base lock {name}"
            )),
            _ => None,
        }
    }
}

/// The keyring a spec names.
fn keyring(spec: &DebianSpec, spec_dir: Option<&Path>) -> Result<Vec<u8>, DebianError> {
    if spec.keyring == "debian-archive" {
        return Ok(release::DEBIAN_ARCHIVE_KEYRING.to_vec());
    }
    let path = match spec_dir {
        Some(dir) => dir.join(&spec.keyring),
        None => PathBuf::from(&spec.keyring),
    };
    std::fs::read(&path).map_err(|source| DebianError::Io { path, source })
}

/// Resolves `spec` against its repositories' signed indexes: one closure per architecture.
pub async fn lock(
    name: &str,
    spec: &DebianSpec,
    spec_dir: Option<&Path>,
    overrides: &ArchiveOverrides,
    cache: Option<&crate::cache::Cache>,
    reporter: &dyn Reporter,
) -> Result<Lock, DebianError> {
    let arches = spec.arches().map_err(DebianError::Spec)?;
    if spec.repositories.is_empty() {
        return Err(DebianError::Spec("`repositories` is empty".into()));
    }
    let keyring = keyring(spec, spec_dir)?;
    // Indexes are read from the live archive (or a mirror), never from a snapshot; a
    // `Packages.xz` already in the cache under its signed SHA-256 is not downloaded again.
    let fetcher = Fetcher::new(
        cache.cloned(),
        overrides.mirror.clone().or_else(|| spec.mirror.clone()),
        None,
    )?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);

    let mut repositories = Vec::new();
    let mut releases = Vec::new();
    for repo in &spec.repositories {
        let url = fetcher.url(&repo.url, &format!("dists/{}/InRelease", repo.suite), None);
        let bytes = fetcher.get(&url).await?;
        let fail = |source| DebianError::Release {
            url: url.clone(),
            suite: repo.suite.clone(),
            source: Box::new(source),
        };
        let text = release::verify_inrelease(&bytes, &keyring).map_err(fail)?;
        let parsed = release::parse_release(&text).map_err(fail)?;
        // A validly signed index of another suite (bookworm's, served as bookworm-security)
        // would silently drop every update: apt's "conflicting distribution".
        if parsed.suite.as_deref() != Some(&repo.suite)
            && parsed.codename.as_deref() != Some(&repo.suite)
        {
            return Err(DebianError::WrongSuite {
                url: url.clone(),
                suite: repo.suite.clone(),
                found: format!(
                    "{} (codename {})",
                    parsed.suite.as_deref().unwrap_or("none"),
                    parsed.codename.as_deref().unwrap_or("none")
                ),
            });
        }
        parsed.check_fresh(now).map_err(fail)?;
        let date = release::parse_date(&parsed.date).map_err(fail)?;
        repositories.push(lock::LockedRepository {
            url: repo.url.clone(),
            suite: repo.suite.clone(),
            components: repo.components.clone(),
            date: parsed.date.clone(),
            snapshot: lock::snapshot_timestamp(date + 6 * 3600),
        });
        releases.push(parsed);
    }

    let mut wanted = Vec::new();
    for p in &spec.packages {
        let groups = relation::parse_relations(p)
            .map_err(|e| DebianError::Spec(format!("packages: `{p}`: {e}")))?;
        match groups.as_slice() {
            [group] if group.len() == 1 => wanted.push(group[0].clone()),
            _ => {
                return Err(DebianError::Spec(format!(
                    "packages: `{p}` must be one package, optionally with a version: `name (>= 1.2)`"
                )));
            }
        }
    }
    let exclude: BTreeSet<String> = spec.exclude.keys().cloned().collect();

    let mut packages = Vec::new();
    for arch in &arches {
        let mut all = Vec::new();
        for (i, (repo, release)) in spec.repositories.iter().zip(&releases).enumerate() {
            for component in &repo.components {
                all.extend(
                    read_packages(&fetcher, repo, release, component, &arch.debian, i).await?,
                );
            }
        }
        let universe = resolve::Universe::new(all, &arch.debian);
        let resolved = resolve::resolve_relations(&universe, &arch.debian, &wanted, &exclude)
            .map_err(|source| DebianError::Resolve {
                arch: arch.debian.clone(),
                source: Box::new(source),
            })?;
        for u in &resolved.unused_excludes {
            reporter.event(Event::Warning(format!(
                "base `{name}` ({}): `{u}` is excluded but nothing depends on it",
                arch.debian
            )));
        }
        for p in resolved.packages {
            packages.push(lock::LockedPackage {
                arch: arch.debian.clone(),
                name: p.name,
                version: p.version,
                repository: p.repository,
                filename: p.filename,
                size: p.size,
                sha256: p.sha256,
            });
        }
    }
    Ok(Lock {
        lock_version: lock::LOCK_VERSION,
        spec: spec.fingerprint().to_string(),
        repositories,
        packages,
    })
}

/// One component's `Packages` index for `arch`, verified against the signed Release.
async fn read_packages(
    fetcher: &Fetcher,
    repo: &spec::RepositorySpec,
    release: &release::Release,
    component: &str,
    arch: &str,
    index: usize,
) -> Result<Vec<packages::Package>, DebianError> {
    let path = format!("{component}/binary-{arch}/Packages.xz");
    let (size, sha256) = release.entry(&path).ok_or_else(|| DebianError::NoIndex {
        url: repo.url.clone(),
        suite: repo.suite.clone(),
        path: path.clone(),
    })?;
    let url = fetcher.url(&repo.url, &format!("dists/{}/{path}", repo.suite), None);
    let (xz, _) = fetcher.get_verified(&url, size, sha256).await?;
    let index_err = |message: String| DebianError::Index {
        url: url.clone(),
        message,
    };
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut lzma_rust2::XzReader::new(std::io::Cursor::new(&xz[..]), false),
        &mut text,
    )
    .map_err(|e| index_err(format!("decompressing: {e}")))?;
    packages::parse_packages(&text, index).map_err(|e| index_err(error_chain(&e)))
}

/// Builds the base `name` from `spec` and its lock as an OCI layout under `work` (tag
/// `latest`); downloads go through the cache.
#[allow(clippy::too_many_arguments)]
pub async fn generate(
    name: &str,
    spec: &DebianSpec,
    lock_text: Option<&str>,
    lock_file: &str,
    overrides: &ArchiveOverrides,
    cache: Option<&crate::cache::Cache>,
    work: &Path,
    reporter: &dyn Reporter,
) -> Result<PathBuf, DebianError> {
    let lock_text = lock_text.ok_or_else(|| DebianError::BadLock {
        file: lock_file.to_string(),
        message: "there is no lock file".into(),
    })?;
    let lock = Lock::parse(lock_text).map_err(|message| DebianError::BadLock {
        file: lock_file.to_string(),
        message,
    })?;
    if lock.spec != spec.fingerprint().to_string() || !lock.same_repositories(&spec.repositories) {
        return Err(DebianError::StaleLock {
            file: lock_file.to_string(),
        });
    }
    let arches = spec.arches().map_err(DebianError::Spec)?;
    let fetcher = overrides.fetcher(spec, cache.cloned())?;

    let mut platforms = Vec::new();
    let (mut downloaded, mut bytes_downloaded, mut cached) = (0usize, 0u64, 0usize);
    for arch in &arches {
        let locked: Vec<&lock::LockedPackage> = lock.packages_for(&arch.debian).collect();
        if locked.is_empty() {
            return Err(DebianError::StaleLock {
                file: lock_file.to_string(),
            });
        }
        let fetches = locked.iter().map(|p| {
            let repo = &lock.repositories[p.repository];
            let url = fetcher.url(&repo.url, &p.filename, Some(&repo.snapshot));
            let fetcher = &fetcher;
            async move {
                let got = fetcher.get_verified(&url, p.size, &p.sha256).await;
                (p, url, repo, got)
            }
        });
        let results: Vec<_> = futures_util::stream::iter(fetches)
            .buffered(6)
            .collect()
            .await;
        let mut debs = Vec::new();
        for (p, url, repo, got) in results {
            let (bytes, how) = got.map_err(|e| match e {
                FetchError::NotFound { .. } => DebianError::Gone {
                    package: p.name.clone(),
                    arch: p.arch.clone(),
                    file: p.filename.clone(),
                    url: url.clone(),
                    snapshot: repo.snapshot.clone(),
                },
                other => DebianError::Download {
                    package: p.name.clone(),
                    version: p.version.clone(),
                    arch: p.arch.clone(),
                    source: Box::new(other),
                },
            })?;
            match how {
                Got::Cached => cached += 1,
                Got::Downloaded | Got::Repaired => {
                    downloaded += 1;
                    bytes_downloaded += p.size;
                    if how == Got::Repaired {
                        reporter.event(Event::Warning(format!(
                            "damaged cache entry for {} {} ({}) downloaded again",
                            p.name, p.version, p.arch
                        )));
                    }
                }
            }
            let deb = deb::read_deb(&bytes).map_err(|source| DebianError::Deb {
                package: p.name.clone(),
                version: p.version.clone(),
                arch: p.arch.clone(),
                source: Box::new(source),
            })?;
            let field = |f: &str| {
                deb::control_field(&deb.control, f)
                    .unwrap_or("")
                    .to_string()
            };
            let actual = format!(
                "{} {} {}",
                field("Package"),
                field("Version"),
                field("Architecture")
            );
            let all = format!("{} {} all", p.name, p.version);
            let native = format!("{} {} {}", p.name, p.version, p.arch);
            if actual != native && actual != all {
                return Err(DebianError::LockMismatch {
                    package: p.name.clone(),
                    arch: p.arch.clone(),
                    locked: format!("{} {}", p.name, p.version),
                    actual,
                });
            }
            debs.push((p.name.clone(), deb));
        }
        platforms.push((arch.clone(), debs));
    }
    reporter.event(Event::PackagesFetched {
        base: name.to_string(),
        cached,
        downloaded,
        bytes: bytes_downloaded,
    });
    let options = LayerOptions::default();
    effects::write_layout(name, spec, platforms, options, work)
}

use futures_util::StreamExt as _;

/// An error and its causes on one line (the `Index` error keeps only text).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
