//! A Cargo build's side of the toolchain cache (`--toolchain-cache`): which entries its
//! std and zig's cache are, and the std step that fetches before it builds and offers
//! what this machine has afterwards. The rules are in [`crate::compile::shared_cache`].

use super::super::shared_cache::{
    Entry, EntryKind, Fetched, SharedCache, ZigCache, fetch_entry, offer_entry,
};
use super::super::sysroot::StdCache;
use super::super::versions::probe;
use super::{Builder, CargoBuild, CompileError, Event, Reporter, Stage, run_cargo};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What a build needs of a configured toolchain cache, worked out once.
pub(super) struct Shared {
    pub cache: Arc<dyn SharedCache>,
    /// zig's cache for this build's targets (zigbuild only).
    pub zig: Option<ZigCache>,
    /// The part of every std entry's identity the targets share.
    std_identity: String,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("location", &self.cache.location())
            .field("zig", &self.zig.as_ref().map(|z| &z.root))
            .finish()
    }
}

/// Changes whenever the way imgpush builds std (its flags beyond the user's, the files
/// it keeps) changes, so older artifacts are never taken for this one's.
const STD_RECIPE: &str = "imgpush std recipe 2: -Zbuild-std=std,panic_abort, --release, -Cembed-bitcode=yes, paths remapped";

impl CargoBuild {
    /// Shares this build's std (and, with cargo-zigbuild, zig's cache) through `cache`.
    /// The identities hold `rustc -vV`, `cargo -V`, the flags std is built with, cargo's
    /// configured release profile and unstable table, the builder and zig's and
    /// cargo-zigbuild's versions: what changes the bytes, no machine path.
    pub fn with_shared_cache(mut self, cache: Arc<dyn SharedCache>) -> CargoBuild {
        let rustc = super::rustflags::rustc_verbose_version(&self.toolchain.rustc)
            .unwrap_or_else(|| self.toolchain.version.clone());
        let mut flags = self.env_flags();
        flags.extend(self.source_std_flags());
        // std's build reads cargo's config too (from here and CARGO_HOME): its release
        // profile and unstable table change std's bytes.
        let cargo = &self.toolchain.cargo;
        let config = |key: &str| {
            super::rustflags::config_value(cargo, key)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "unset".into())
        };
        let cargo_facts = format!(
            "{}\ncargo config profile.release: {}\ncargo config unstable: {}\n",
            probe("cargo", cargo, &["-V"]).map_or_else(|| "cargo unknown".into(), |v| v.version),
            config("profile.release"),
            config("unstable"),
        );
        let mut zig_tools = String::new();
        let mut zig_known = true;
        if self.plan.builder == Builder::Zigbuild {
            for (name, path, arg) in [
                ("zig", &self.zig, "version"),
                ("cargo-zigbuild", &self.zigbuild, "--version"),
            ] {
                let version = path
                    .as_ref()
                    .and_then(|p| probe(name, p, &[arg]))
                    .map(|v| v.version);
                zig_known &= version.is_some();
                let version = version.unwrap_or_else(|| "unknown".into());
                zig_tools.push_str(&format!("{name}: {version}\n"));
            }
        }
        let std_identity = format!(
            "{STD_RECIPE}\n{}\nflags: {}\nbuilder: {:?}\n{cargo_facts}{zig_tools}",
            rustc.trim(),
            flags.join(" "),
            self.plan.builder
        );
        // A zig whose version cannot be read shares no cache: two such zigs would look alike.
        let zig = (self.plan.builder == Builder::Zigbuild && zig_known).then(|| {
            let mut targets: Vec<String> = self
                .targets
                .iter()
                .map(|(_, t)| self.target_arg(t))
                .collect();
            targets.sort();
            ZigCache::new(
                &self.cache_dir(),
                // zig's objects are for the targets, but made by a zig for this host.
                format!(
                    "imgpush zig cache 1\n{zig_tools}host: {}-{}\ntargets: {}\n",
                    std::env::consts::ARCH,
                    std::env::consts::OS,
                    targets.join(" ")
                ),
            )
        });
        self.shared = Some(Shared {
            cache,
            zig,
            std_identity,
        });
        self
    }

    /// `ZIG_GLOBAL_CACHE_DIR` for the build's commands, when zig's cache is shared.
    pub(super) fn zig_global_cache(&self) -> Option<PathBuf> {
        self.shared.as_ref()?.zig.as_ref().map(ZigCache::global)
    }

    /// Where the std cache and zig's shared cache live.
    pub(super) fn cache_dir(&self) -> PathBuf {
        // Without a cache (no private place for one) they go in the project's own target
        // directory: slower for the next project, never in a directory others can write.
        match &self.tools.cache_dir {
            Some(dir) => dir.clone(),
            None => self.plan.target_dir.join("imgpush-cache"),
        }
    }

    /// The toolchain cache entry of std for `triple`.
    pub fn std_entry(&self, triple: &str) -> Option<Entry> {
        let shared = self.shared.as_ref()?;
        Some(Entry::new(
            EntryKind::Std {
                triple: triple.to_string(),
            },
            format!(
                "{}target: {}\n",
                shared.std_identity,
                self.target_arg(triple)
            ),
        ))
    }

    /// Before anything is compiled: zig's cache fetched when it is cold (what came of
    /// that, for [`Self::finish_zig`]).
    pub(super) fn prepare_zig(
        &self,
        reporter: &dyn Reporter,
    ) -> Result<Option<Fetched>, CompileError> {
        match &self.shared {
            Some(Shared {
                cache,
                zig: Some(zig),
                ..
            }) => zig.prepare(cache.as_ref(), reporter),
            _ => Ok(None),
        }
    }

    /// After the build succeeded: zig's cache offered to the toolchain cache.
    pub(super) fn finish_zig(&self, fetched: Option<Fetched>, reporter: &dyn Reporter) {
        if let Some(Shared {
            cache,
            zig: Some(zig),
            ..
        }) = &self.shared
        {
            zig.finish(cache.as_ref(), fetched, reporter);
        }
    }

    /// Makes sure `cache` has std for every target: fetched from the toolchain cache when
    /// one is configured, else built from source. Then, in a thread beside `during` (the
    /// program's build), offers each target's std to the toolchain cache.
    pub(super) fn with_std<T>(
        &self,
        cache: &StdCache,
        triples: &[&str],
        reporter: &dyn Reporter,
        during: impl FnOnce() -> Result<T, CompileError>,
    ) -> Result<T, CompileError> {
        let shared = self.shared.as_ref();
        let mut outcomes: BTreeMap<String, Fetched> = BTreeMap::new();
        let mut fetch = |triple: &str| {
            let (Some(s), Some(entry)) = (shared, self.std_entry(triple)) else {
                return false;
            };
            let got = fetch_entry(s.cache.as_ref(), &entry, &cache.root, reporter, |tree| {
                cache.install(triple, tree)
            });
            outcomes.insert(triple.to_string(), got);
            got == Fetched::InPlace
        };
        let built = cache.fill(
            triples,
            &self.std_lock(),
            &mut fetch,
            |m, t, x| {
                reporter.event(Event::StageStarted(Stage::BuildStd {
                    targets: x.iter().map(|t| t.to_string()).collect(),
                    cache: cache.root.clone(),
                }));
                self.std_command(m, t, x)
            },
            |cmd| run_cargo(cmd, reporter),
        )?;
        if built.is_empty() && !outcomes.values().any(|f| *f == Fetched::InPlace) {
            reporter.event(Event::StdFromCache {
                cache: cache.root.clone(),
            });
        }
        let Some(s) = shared else {
            return during();
        };
        std::thread::scope(|scope| {
            let offers = scope.spawn(|| {
                for triple in triples {
                    if let Some(entry) = self.std_entry(triple) {
                        offer_entry(
                            s.cache.as_ref(),
                            &entry,
                            outcomes.get(*triple) == Some(&Fetched::Rejected),
                            &cache.root,
                            reporter,
                            || cache.entries(triple),
                        );
                    }
                }
            });
            let result = during();
            // An offer that panicked is lost, nothing more: the build's result stands.
            let _ = offers.join();
            result
        })
    }
}
