//! Low-level settings: what one place (the flags, the environment, `imgpush.toml`, Cargo
//! metadata) says, already parsed into typed values, each remembering its [`Origin`]. Every
//! place loads into the same [`LowSettings`] ([`super::load`]); [`merge`] layers them with
//! one rule; [`super::resolve`] turns the merged settings into the final [`super::Plan`]
//! (ripgrep's `LowArgs` → `HiArgs`).

use super::origin::{Origin, Setting};
use super::{BaseSpec, BuildStd, Builder, ExtraFile, Libc, PlatformRequest, Secret};
use crate::image::sbom::SbomFormat;
use crate::layer::Compression;
use crate::oci::{Platform, Repository};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// `--epoch` / `epoch =` / `SOURCE_DATE_EPOCH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Epoch {
    Seconds(u64),
    /// The last commit's committer time in the build's directory.
    Git,
}

/// `--format oci|docker|docker-archive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Oci,
    Docker,
    /// OCI media types in registries and layouts; the `--tarball` in `docker save` format.
    DockerArchive,
}

/// `K=V` settings (`env`, `labels`, `annotations`). Their order reaches the image config,
/// so it is kept exactly: keys from files sorted, then keys only flags set, in flag order;
/// a flag for a key already set replaces its value in place.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyValues {
    sorted: BTreeMap<String, String>,
    appended: Vec<(String, String)>,
}

impl KeyValues {
    /// A file's table.
    pub fn from_table(table: BTreeMap<String, String>) -> KeyValues {
        KeyValues {
            sorted: table,
            appended: Vec::new(),
        }
    }

    /// Sets `key` as a flag does: in place if present, else at the end.
    pub fn set_in_order(&mut self, key: String, value: String) {
        if let Some(v) = self.sorted.get_mut(&key) {
            *v = value;
        } else if let Some(e) = self.appended.iter_mut().find(|(k, _)| *k == key) {
            e.1 = value;
        } else {
            self.appended.push((key, value));
        }
    }

    /// A value below every file's: kept only when no file sets `key`; a flag for `key`
    /// still wins, at the key's sorted place.
    pub fn add_default(&mut self, key: &str, value: &str) {
        if self.sorted.contains_key(key) {
            return;
        }
        let value = match self.appended.iter().position(|(k, _)| k == key) {
            Some(i) => self.appended.remove(i).1,
            None => value.to_string(),
        };
        self.sorted.insert(key.to_string(), value);
    }

    /// `self` over `lower`.
    fn over(self, mut lower: KeyValues) -> KeyValues {
        lower.sorted.extend(self.sorted);
        for (k, v) in self.appended {
            lower.set_in_order(k, v);
        }
        lower
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty() && self.appended.is_empty()
    }

    pub fn into_vec(self) -> Vec<(String, String)> {
        self.sorted.into_iter().chain(self.appended).collect()
    }
}

/// cargo's own flags (only the command line sets them).
#[derive(Clone, Debug, Default)]
pub struct CargoSelection {
    pub package: Option<String>,
    /// `--bin`, repeatable: every binary goes into the one image.
    pub bin: Vec<String>,
    pub manifest_path: Option<PathBuf>,
    pub target_dir: Option<PathBuf>,
    pub all_features: bool,
    pub no_default_features: bool,
    pub locked: bool,
    pub offline: bool,
}

/// What one place says (or, after [`merge`], what they all say together). `None`: this
/// place does not set it. Paths are absolute: relative ones were resolved against the
/// working directory (flags) or the file's directory (files) when loaded.
#[derive(Clone, Debug, Default)]
pub struct LowSettings {
    pub repo: Option<Setting<Repository>>,
    /// Tag templates (`{version}`, `{git_sha}` are expanded by the plan).
    pub tags: Option<Setting<Vec<String>>>,
    pub platforms: Option<Setting<PlatformRequest>>,
    pub base: Option<Setting<BaseSpec>>,
    pub artifacts: Option<Setting<Vec<(Platform, PathBuf)>>>,
    pub dest: Option<Setting<String>>,
    pub entrypoint: Option<Setting<Vec<String>>>,
    pub cmd: Option<Setting<Vec<String>>>,
    pub env: KeyValues,
    pub workdir: Option<Setting<String>>,
    pub user: Option<Setting<String>>,
    /// Normalized `PORT/PROTO`.
    pub expose: Option<Setting<Vec<String>>>,
    pub labels: KeyValues,
    pub annotations: KeyValues,
    pub files: Option<Setting<Vec<ExtraFile>>>,
    pub bundle_dir: Option<Setting<PathBuf>>,
    pub owner: Option<Setting<(u64, u64)>>,
    /// `--go IMPORTPATH`.
    pub go: Option<Setting<String>>,
    pub ldflags: Option<Setting<String>>,
    pub go_tags: Option<Setting<String>>,
    pub oci_layout: Option<Setting<PathBuf>>,
    pub tarball: Option<Setting<PathBuf>>,
    pub dist: Option<Setting<PathBuf>>,
    pub format: Option<Setting<OutputFormat>>,
    /// `--sbom`: `None` inside is `none`.
    pub sbom: Option<Setting<Option<SbomFormat>>>,
    /// `--provenance slsa|none`.
    pub provenance: Option<Setting<bool>>,
    pub compression: Option<Setting<Compression>>,
    pub epoch: Option<Setting<Epoch>>,
    pub insecure_registries: Option<Setting<Vec<String>>>,
    pub ca_certs: Vec<PathBuf>,
    pub creds: Option<Secret>,
    pub jobs: Option<Setting<usize>>,
    pub retries: Option<Setting<u32>>,
    pub timeout: Option<Setting<Duration>>,
    pub json: Option<Setting<bool>>,
    pub no_cache: bool,
    pub verbose: u8,
    pub quiet: bool,
    pub features: Option<Setting<Vec<String>>>,
    pub profile: Option<Setting<String>>,
    pub libc: Option<Setting<Libc>>,
    pub glibc_version: Option<Setting<String>>,
    pub builder: Option<Setting<Builder>>,
    pub build_std: Option<Setting<BuildStd>>,
    /// `--toolchain-cache`: `None` inside is `none`.
    pub toolchain_cache: Option<Setting<Option<Repository>>>,
    pub cargo: CargoSelection,
    /// `IMGPUSH_CACHE_MAX_MB`, in bytes.
    pub cache_max: Option<Setting<u64>>,
}

/// Layers settings, highest first: a value set in a higher place wins; `K=V` maps are
/// merged key by key. The order is the documented precedence: flags, environment,
/// `imgpush.toml`, `[package.metadata.imgpush]`, `[workspace.metadata.imgpush]`.
pub fn merge(layers: impl IntoIterator<Item = LowSettings>) -> LowSettings {
    let mut layers: Vec<LowSettings> = layers.into_iter().collect();
    let mut merged = layers.pop().unwrap_or_default();
    while let Some(higher) = layers.pop() {
        merged = higher.over(merged);
    }
    merged
}

impl LowSettings {
    fn over(self, lower: LowSettings) -> LowSettings {
        LowSettings {
            repo: self.repo.or(lower.repo),
            tags: self.tags.or(lower.tags),
            platforms: self.platforms.or(lower.platforms),
            base: self.base.or(lower.base),
            artifacts: self.artifacts.or(lower.artifacts),
            dest: self.dest.or(lower.dest),
            entrypoint: self.entrypoint.or(lower.entrypoint),
            cmd: self.cmd.or(lower.cmd),
            env: self.env.over(lower.env),
            workdir: self.workdir.or(lower.workdir),
            user: self.user.or(lower.user),
            expose: self.expose.or(lower.expose),
            labels: self.labels.over(lower.labels),
            annotations: self.annotations.over(lower.annotations),
            files: self.files.or(lower.files),
            bundle_dir: self.bundle_dir.or(lower.bundle_dir),
            owner: self.owner.or(lower.owner),
            go: self.go.or(lower.go),
            ldflags: self.ldflags.or(lower.ldflags),
            go_tags: self.go_tags.or(lower.go_tags),
            oci_layout: self.oci_layout.or(lower.oci_layout),
            tarball: self.tarball.or(lower.tarball),
            dist: self.dist.or(lower.dist),
            format: self.format.or(lower.format),
            sbom: self.sbom.or(lower.sbom),
            provenance: self.provenance.or(lower.provenance),
            compression: self.compression.or(lower.compression),
            epoch: self.epoch.or(lower.epoch),
            // Insecure hosts add up: a flag allows one more host, it does not take the
            // file's away.
            insecure_registries: match (self.insecure_registries, lower.insecure_registries) {
                (Some(higher), Some(lower)) => Some(Setting::new(
                    lower.value.into_iter().chain(higher.value).collect(),
                    higher.origin,
                )),
                (higher, lower) => higher.or(lower),
            },
            ca_certs: [lower.ca_certs, self.ca_certs].concat(),
            creds: self.creds.or(lower.creds),
            jobs: self.jobs.or(lower.jobs),
            retries: self.retries.or(lower.retries),
            timeout: self.timeout.or(lower.timeout),
            json: self.json.or(lower.json),
            no_cache: self.no_cache || lower.no_cache,
            verbose: self.verbose.max(lower.verbose),
            quiet: self.quiet || lower.quiet,
            features: self.features.or(lower.features),
            profile: self.profile.or(lower.profile),
            libc: self.libc.or(lower.libc),
            glibc_version: self.glibc_version.or(lower.glibc_version),
            builder: self.builder.or(lower.builder),
            build_std: self.build_std.or(lower.build_std),
            toolchain_cache: self.toolchain_cache.or(lower.toolchain_cache),
            cargo: CargoSelection {
                package: self.cargo.package.or(lower.cargo.package),
                bin: if self.cargo.bin.is_empty() {
                    lower.cargo.bin
                } else {
                    self.cargo.bin
                },
                manifest_path: self.cargo.manifest_path.or(lower.cargo.manifest_path),
                target_dir: self.cargo.target_dir.or(lower.cargo.target_dir),
                all_features: self.cargo.all_features || lower.cargo.all_features,
                no_default_features: self.cargo.no_default_features
                    || lower.cargo.no_default_features,
                locked: self.cargo.locked || lower.cargo.locked,
                offline: self.cargo.offline || lower.cargo.offline,
            },
            cache_max: self.cache_max.or(lower.cache_max),
        }
    }

    /// A value's origin, for messages about rules between settings.
    pub fn origin_of<T>(s: &Option<Setting<T>>) -> Origin {
        s.as_ref()
            .map(|s| s.origin.clone())
            .unwrap_or(Origin::Default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn maps_keep_file_keys_sorted_then_flag_order() {
        let ws = KeyValues::from_table(kv(&[("X", "0"), ("Y", "2")]));
        let file = KeyValues::from_table(kv(&[("B", "1"), ("X", "1")]));
        let mut flags = KeyValues::default();
        flags.set_in_order("Z".into(), "9".into());
        flags.set_in_order("B".into(), "3".into());
        flags.set_in_order("A".into(), "4".into());
        let mut merged = flags.over(file.over(ws));
        merged.add_default("KO", "/var/run/ko");
        merged.add_default("A", "default");
        let got: Vec<String> = merged
            .into_vec()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(got, ["A=4", "B=3", "KO=/var/run/ko", "X=1", "Y=2", "Z=9"]);
    }

    #[test]
    fn higher_layers_win_and_keep_their_origin() {
        let at = |o: Origin, v: &str| LowSettings {
            user: Some(Setting::new(v.to_string(), o)),
            ..Default::default()
        };
        let file = Origin::File("/a/imgpush.toml".into());
        let cargo = Origin::Cargo {
            manifest: "/a/Cargo.toml".into(),
            workspace: false,
        };
        let merged = merge([
            LowSettings::default(),
            at(file.clone(), "1"),
            at(cargo.clone(), "2"),
        ]);
        assert_eq!(merged.user, Some(Setting::new("1".to_string(), file)));
        let merged = merge([LowSettings::default(), at(cargo.clone(), "2")]);
        assert_eq!(merged.user, Some(Setting::new("2".to_string(), cargo)));
    }
}
