//! Dependency closure for one architecture over the packages of several repositories:
//! deterministic, apt-like, without backtracking and without hidden choices.
//!
//! Only `Pre-Depends` and `Depends` are followed (not `Recommends` or `Suggests`), and
//! `Essential: yes` packages are **not** added implicitly: a base image gets exactly the
//! closure of what is asked for. Architecture qualifiers (`:any`, `:native`) are ignored, as
//! there is only one architecture. Excluding a name means "treat it as present": a relation
//! on it, or on a virtual name that an excluded package provides, counts as satisfied.

use super::packages::Package;
use super::relation::{Relation, display_group};
use super::version;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Why a closure cannot be computed. Messages say what to change in `packages`/`exclude`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error(
        "no package or virtual package {name} for {arch} in the indexes: check the spelling, \
         the configured suites and components, and that it is built for {arch}"
    )]
    UnknownPackage { name: String, arch: String },
    #[error(
        "{name} is a virtual package provided by several packages for {arch}: {}; name one of \
         them in `packages`, or `exclude` {name}",
        providers.join(", ")
    )]
    Ambiguous {
        name: String,
        arch: String,
        providers: Vec<String>,
    },
    #[error(transparent)]
    Unsatisfiable(Box<Unsatisfiable>),
    #[error(transparent)]
    Conflict(Box<Conflict>),
    #[error(
        "`{wanted}` is in `packages`, but the indexes have only {} for {arch}",
        available.join(", ")
    )]
    WantedVersion {
        wanted: String,
        arch: String,
        available: Vec<String>,
    },
    #[error("{name} is in `packages` but {excluded} is in `exclude`; remove it from one of them")]
    WantedAndExcluded { name: String, excluded: String },
    #[error(
        "the package universe was built for {universe} but resolving was asked for {arch}; \
         build one Universe per architecture"
    )]
    ArchMismatch { universe: String, arch: String },
}

/// A `Pre-Depends`/`Depends` group that nothing can satisfy.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{package} {version} ({arch}) {field}: {relation} cannot be satisfied: {}; add a \
     repository that has a fitting version, or `exclude` the name if the image does not \
     need it",
    reasons.join("; ")
)]
pub struct Unsatisfiable {
    pub package: String,
    pub version: String,
    pub arch: String,
    pub field: &'static str,
    /// The group as written (all alternatives).
    pub relation: String,
    /// One reason per alternative that applies to `arch`.
    pub reasons: Vec<String>,
}

/// Two selected packages that cannot be unpacked together.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{package} {version} {field}: {relation}, but {other} {other_version}{} is also selected \
     for {arch}; remove one of them from `packages`, or `exclude` the one pulled in as a \
     dependency",
    provided.as_ref().map(|p| format!(" (which provides {p})")).unwrap_or_default()
)]
pub struct Conflict {
    pub package: String,
    pub version: String,
    pub arch: String,
    /// `Conflicts` or `Breaks`.
    pub field: &'static str,
    pub relation: String,
    pub other: String,
    pub other_version: String,
    /// The virtual name through which `other` matches, when it does not by its own name.
    pub provided: Option<String>,
}

/// `(provider name, provider version, provided version)`.
type ProvidedBy = (String, String, Option<String>);

/// The packages usable on one architecture, indexed by real and virtual name.
#[derive(Debug, Clone)]
pub struct Universe {
    arch: String,
    /// Real name → its versions, highest first (ties: lowest repository first).
    real: BTreeMap<String, Vec<Package>>,
    /// Virtual name → who provides it, sorted.
    virtuals: BTreeMap<String, Vec<ProvidedBy>>,
}

impl Universe {
    /// Keeps the packages of `arch` and `all`; of one name and version found in several
    /// repositories, the one from the lowest repository index.
    pub fn new(mut packages: Vec<Package>, arch: &str) -> Universe {
        packages.sort_by_key(|p| p.repository);
        let mut seen = BTreeSet::new();
        let mut real: BTreeMap<String, Vec<Package>> = BTreeMap::new();
        for p in packages {
            if (p.architecture == arch || p.architecture == "all")
                && seen.insert((p.name.clone(), p.version.clone()))
            {
                real.entry(p.name.clone()).or_default().push(p);
            }
        }
        let mut virtuals: BTreeMap<String, Vec<ProvidedBy>> = BTreeMap::new();
        for versions in real.values_mut() {
            versions.sort_by(|a, b| {
                version::compare(&b.version, &a.version)
                    .then(a.repository.cmp(&b.repository))
                    .then_with(|| a.version.cmp(&b.version))
            });
            for p in versions.iter() {
                for pr in &p.provides {
                    virtuals.entry(pr.name.clone()).or_default().push((
                        p.name.clone(),
                        p.version.clone(),
                        pr.version.clone(),
                    ));
                }
            }
        }
        for v in virtuals.values_mut() {
            v.sort();
            v.dedup();
        }
        Universe {
            arch: arch.to_string(),
            real,
            virtuals,
        }
    }

    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The versions of the real package `name`, highest first.
    pub fn versions(&self, name: &str) -> &[Package] {
        self.real.get(name).map_or(&[], Vec::as_slice)
    }

    /// `(provider, provider version, provided version)` for the virtual name `name`.
    pub fn providers(&self, name: &str) -> &[ProvidedBy] {
        self.virtuals.get(name).map_or(&[], Vec::as_slice)
    }

    fn get(&self, name: &str, version: &str) -> Option<&Package> {
        self.versions(name).iter().find(|p| p.version == version)
    }
}

/// The closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Sorted by name; one version per name.
    pub packages: Vec<Package>,
    /// `(excluded name, "PACKAGE VERSION FIELD: RELATION")` for each relation that an
    /// exclusion satisfied; sorted, deduplicated.
    pub excluded: Vec<(String, String)>,
    /// Names in `exclude` that no relation needed, sorted.
    pub unused_excludes: Vec<String>,
}

/// Whether a `Provides` entry satisfies `rel`: an unversioned provide satisfies only an
/// unversioned relation; a versioned one is checked against the constraint.
fn provide_satisfies(rel: &Relation, name: &str, provided: Option<&str>) -> bool {
    name == rel.name
        && match (&rel.constraint, provided) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(v)) => rel.satisfied_by(v),
        }
}

fn need(rel: &Relation) -> String {
    match &rel.constraint {
        Some((op, v)) => format!("needs {op} {v}"),
        None => "needs any version".to_string(),
    }
}

struct State<'u> {
    universe: &'u Universe,
    arch: &'u str,
    exclude: &'u BTreeSet<String>,
    selected: BTreeMap<String, &'u Package>,
    excluded: BTreeSet<(String, String)>,
    queue: VecDeque<&'u Package>,
}

impl<'u> State<'u> {
    fn select(&mut self, p: &'u Package) {
        if !self.selected.contains_key(&p.name) {
            self.selected.insert(p.name.clone(), p);
            self.queue.push_back(p);
        }
    }

    fn satisfied_by_selection(&self, alt: &Relation) -> bool {
        self.selected
            .get(&alt.name)
            .is_some_and(|p| alt.satisfied_by(&p.version))
            || self.selected.values().any(|p| {
                p.provides
                    .iter()
                    .any(|pr| provide_satisfies(alt, &pr.name, pr.version.as_deref()))
            })
    }

    /// Excluded names (direct, or excluded providers) that satisfy `alt`.
    fn excluded_for(&self, alt: &Relation) -> Vec<String> {
        if self.exclude.contains(&alt.name) {
            return vec![alt.name.clone()];
        }
        self.universe
            .providers(&alt.name)
            .iter()
            .filter(|(who, _, v)| {
                self.exclude.contains(who) && provide_satisfies(alt, &alt.name, v.as_deref())
            })
            .map(|(who, _, _)| who.clone())
            .collect()
    }

    /// The package to select for `alt`, or why there is none.
    fn candidate(&self, alt: &Relation) -> Result<&'u Package, String> {
        let u = self.universe;
        let versions = u.versions(&alt.name);
        let mut reasons = Vec::new();
        if let Some(p) = self.selected.get(&alt.name) {
            reasons.push(format!(
                "{} is already selected at {} ({}) and the resolver does not backtrack",
                alt.name,
                p.version,
                need(alt)
            ));
        } else if let Some(p) = versions.iter().find(|p| alt.satisfied_by(&p.version)) {
            return Ok(p);
        } else if !versions.is_empty() {
            let have: Vec<&str> = versions.iter().map(|p| p.version.as_str()).collect();
            reasons.push(format!(
                "{} has only {} ({})",
                alt.name,
                have.join(", "),
                need(alt)
            ));
        }
        let providers = u.providers(&alt.name);
        // Highest provider version per provider name, in name order.
        let mut by_name: BTreeMap<&str, &'u Package> = BTreeMap::new();
        for (who, their_version, provided) in providers {
            if !provide_satisfies(alt, &alt.name, provided.as_deref()) {
                continue;
            }
            if let Some(p) = self.selected.get(who) {
                reasons.push(format!(
                    "{who} provides {} at version {their_version}, but {who} is already \
                     selected at {}",
                    alt.name, p.version
                ));
                continue;
            }
            let Some(p) = u.get(who, their_version) else {
                continue;
            };
            let best = by_name.entry(who).or_insert(p);
            if version::compare(&p.version, &best.version).is_gt() {
                *best = p;
            }
        }
        // A provider already chosen would have satisfied the group; several others are a
        // choice imgpush does not make for the user.
        if by_name.len() > 1 {
            let names: Vec<&str> = by_name.keys().copied().collect();
            reasons.push(format!(
                "{} is provided by several packages ({}): name one of them in `packages`, or \
                 `exclude` {}",
                alt.name,
                names.join(", "),
                alt.name
            ));
            return Err(reasons.join(", "));
        }
        if let Some((_, p)) = by_name.into_iter().next() {
            return Ok(p);
        }
        if !providers.is_empty() && alt.constraint.is_some() {
            let list: Vec<String> = providers
                .iter()
                .map(|(who, _, v)| match v {
                    Some(v) => format!("{who} provides {} = {v}", alt.name),
                    None => format!("{who} provides {} without a version", alt.name),
                })
                .collect();
            reasons.push(format!("{} ({})", list.join(", "), need(alt)));
        }
        if versions.is_empty() && providers.is_empty() {
            reasons.push(format!(
                "no package {} in the indexes for {}",
                alt.name, self.arch
            ));
        }
        Err(reasons.join(", "))
    }

    fn process(
        &mut self,
        p: &'u Package,
        field: &'static str,
        group: &[Relation],
    ) -> Result<(), ResolveError> {
        let alts: Vec<&Relation> = group.iter().filter(|r| r.applies_to(self.arch)).collect();
        if alts.is_empty() || alts.iter().any(|a| self.satisfied_by_selection(a)) {
            return Ok(());
        }
        let text = display_group(group);
        let excluded: Vec<String> = alts.iter().flat_map(|a| self.excluded_for(a)).collect();
        if !excluded.is_empty() {
            let why = format!("{} {} {field}: {text}", p.name, p.version);
            for name in excluded {
                self.excluded.insert((name, why.clone()));
            }
            return Ok(());
        }
        let mut reasons = Vec::new();
        for alt in alts {
            match self.candidate(alt) {
                Ok(c) => {
                    self.select(c);
                    return Ok(());
                }
                Err(why) => reasons.push(why),
            }
        }
        Err(ResolveError::Unsatisfiable(Box::new(Unsatisfiable {
            package: p.name.clone(),
            version: p.version.clone(),
            arch: self.arch.to_string(),
            field,
            relation: text,
            reasons,
        })))
    }

    fn wanted(&mut self, rel: &Relation) -> Result<(), ResolveError> {
        let u = self.universe;
        let name = rel.name.as_str();
        let versions = u.versions(name);
        if let Some(p) = versions.iter().find(|p| rel.satisfied_by(&p.version)) {
            self.select(p);
            return Ok(());
        }
        if !versions.is_empty() {
            return Err(ResolveError::WantedVersion {
                wanted: rel.to_string(),
                arch: self.arch.to_string(),
                available: versions.iter().map(|p| p.version.clone()).collect(),
            });
        }
        let providers = u.providers(name);
        let names: BTreeSet<&str> = providers
            .iter()
            .filter(|(_, _, provided)| provide_satisfies(rel, name, provided.as_deref()))
            .map(|(who, _, _)| who.as_str())
            .filter(|who| !self.exclude.contains(*who))
            .collect();
        let mut names = names.into_iter();
        match (names.next(), names.next()) {
            (None, _) => match providers.first() {
                Some((who, _, _)) => Err(ResolveError::WantedAndExcluded {
                    name: name.to_string(),
                    excluded: who.clone(),
                }),
                None => Err(ResolveError::UnknownPackage {
                    name: name.to_string(),
                    arch: self.arch.to_string(),
                }),
            },
            (Some(who), None) => {
                let p = u
                    .versions(who)
                    .iter()
                    .find(|p| p.provides.iter().any(|pr| pr.name == name))
                    .expect("a provider is indexed by its real name too");
                self.select(p);
                Ok(())
            }
            (Some(a), Some(b)) => {
                let mut list = vec![a.to_string(), b.to_string()];
                list.extend(names.map(str::to_string));
                Err(ResolveError::Ambiguous {
                    name: name.to_string(),
                    arch: self.arch.to_string(),
                    providers: list,
                })
            }
        }
    }

    fn check_conflicts(&self) -> Result<(), ResolveError> {
        for p in self.selected.values() {
            for (field, groups) in [("Conflicts", &p.conflicts), ("Breaks", &p.breaks)] {
                for rel in groups.iter().flatten() {
                    if !rel.applies_to(self.arch) {
                        continue;
                    }
                    let conflict = |other: &Package, provided: Option<String>| {
                        ResolveError::Conflict(Box::new(Conflict {
                            package: p.name.clone(),
                            version: p.version.clone(),
                            arch: self.arch.to_string(),
                            field,
                            relation: rel.to_string(),
                            other: other.name.clone(),
                            other_version: other.version.clone(),
                            provided,
                        }))
                    };
                    if let Some(q) = self.selected.get(&rel.name)
                        && q.name != p.name
                        && rel.satisfied_by(&q.version)
                    {
                        return Err(conflict(q, None));
                    }
                    for q in self.selected.values().filter(|q| q.name != p.name) {
                        if q.provides
                            .iter()
                            .any(|pr| provide_satisfies(rel, &pr.name, pr.version.as_deref()))
                        {
                            return Err(conflict(q, Some(rel.name.clone())));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Computes the closure of `wanted` on `arch`.
///
/// * A wanted name is the highest version of that real package; a virtual name with one
///   provider is that provider; several providers are an error.
/// * Each `Pre-Depends`/`Depends` group (alternatives applying to `arch`) is satisfied, in
///   this order: by an already selected package (or one that provides the name; a relation
///   with a version needs a versioned provide that fits); by exclusion, when an alternative
///   or a package providing it is in `exclude`; by selecting, for the first alternative that
///   has one, the highest version of the real package that fits, else its only provider;
///   several providers (none selected) make that alternative fail with a reason asking the
///   user to name one, so no choice is made silently.
/// * There is no backtracking: a package selected at a version that a later relation
///   rejects makes that relation unsatisfiable. `Conflicts`/`Breaks` are checked at the end.
/// * Packages are taken in a fixed order (wanted names sorted, then breadth-first), so the
///   result depends only on the inputs, not on the order of `wanted` or of the indexes.
pub fn resolve(
    universe: &Universe,
    arch: &str,
    wanted: &[String],
    exclude: &BTreeSet<String>,
) -> Result<Resolution, ResolveError> {
    let wanted: Vec<Relation> = wanted
        .iter()
        .map(|name| Relation {
            name: name.clone(),
            arch_qualifier: None,
            constraint: None,
            arches: Vec::new(),
        })
        .collect();
    resolve_relations(universe, arch, &wanted, exclude)
}

/// [`resolve`] with a version constraint per wanted package (`nginx (>= 1.22)`): the
/// highest version that meets it is chosen.
pub fn resolve_relations(
    universe: &Universe,
    arch: &str,
    wanted: &[Relation],
    exclude: &BTreeSet<String>,
) -> Result<Resolution, ResolveError> {
    if universe.arch != arch {
        return Err(ResolveError::ArchMismatch {
            universe: universe.arch.clone(),
            arch: arch.to_string(),
        });
    }
    let mut wanted: Vec<&Relation> = wanted.iter().collect();
    wanted.sort_by_key(|r| r.to_string());
    wanted.dedup_by(|a, b| a.to_string() == b.to_string());
    if let Some(w) = wanted.iter().find(|w| exclude.contains(&w.name)) {
        return Err(ResolveError::WantedAndExcluded {
            name: w.name.clone(),
            excluded: w.name.clone(),
        });
    }
    let mut state = State {
        universe,
        arch,
        exclude,
        selected: BTreeMap::new(),
        excluded: BTreeSet::new(),
        queue: VecDeque::new(),
    };
    for rel in wanted {
        state.wanted(rel)?;
    }
    while let Some(p) = state.queue.pop_front() {
        for (field, groups) in [("Pre-Depends", &p.pre_depends), ("Depends", &p.depends)] {
            for group in groups {
                state.process(p, field, group)?;
            }
        }
    }
    state.check_conflicts()?;
    let used: BTreeSet<&String> = state.excluded.iter().map(|(n, _)| n).collect();
    let unused_excludes = exclude
        .iter()
        .filter(|e| !used.contains(e))
        .cloned()
        .collect();
    Ok(Resolution {
        packages: state.selected.values().map(|p| (*p).clone()).collect(),
        excluded: state.excluded.into_iter().collect(),
        unused_excludes,
    })
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
