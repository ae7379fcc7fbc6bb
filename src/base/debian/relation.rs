//! Package relationship fields (Debian Policy §7.1): `Depends`, `Pre-Depends`, `Conflicts`,
//! `Breaks` (an AND of OR-groups of relations) and `Provides` (a list of names with an
//! optional `= version`).

use super::version;
use std::cmp::Ordering;
use std::fmt;

/// A malformed relationship field. `relation` is the comma-separated item it was found in.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RelationError {
    #[error("empty relation in {field:?}: remove the stray `,` or `|`")]
    Empty { field: String },
    #[error(
        "bad package name {name:?} in relation {relation:?}: names are lowercase letters, \
         digits and `+-.`, at least two characters, starting with a letter or digit"
    )]
    BadName { name: String, relation: String },
    #[error(
        "bad version constraint {constraint:?} in relation {relation:?}: write \
         `(OP VERSION)` with OP one of `<<`, `<=`, `=`, `>=`, `>>` and a valid Debian version"
    )]
    BadConstraint {
        constraint: String,
        relation: String,
    },
    #[error("unclosed {open:?} in relation {relation:?}: add the matching `{close}`")]
    Unclosed {
        open: char,
        close: char,
        relation: String,
    },
    #[error("empty architecture list `[]` in relation {relation:?}: list architectures or drop it")]
    EmptyArchList { relation: String },
    #[error(
        "unexpected {rest:?} in relation {relation:?}: expected `NAME[:ARCH] [(OP VERSION)] [[ARCHES]] [<PROFILES>]`"
    )]
    Trailing { rest: String, relation: String },
    #[error(
        "{relation:?} is not allowed in Provides: only `NAME` or `NAME (= VERSION)`, \
         no alternatives, other operators, architecture qualifiers or restrictions"
    )]
    BadProvide { relation: String },
}

/// A version relation operator. The obsolete `<` and `>` parse as [`Op::Le`] and
/// [`Op::Ge`], as Policy §7.1 says they mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    /// Whether `ordering` (that of the candidate version against the constraint's) passes.
    pub fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Op::Lt => ordering == Ordering::Less,
            Op::Le => ordering != Ordering::Greater,
            Op::Eq => ordering == Ordering::Equal,
            Op::Ge => ordering != Ordering::Less,
            Op::Gt => ordering == Ordering::Greater,
        }
    }

    /// The operator as Debian writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One relation: `name[:qualifier] [(op version)] [[arch ...]]`. Build-profile
/// restrictions (`<!nocheck>`) are dropped when parsing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Relation {
    pub name: String,
    /// `any`, `native` or an architecture, from `name:qualifier`.
    pub arch_qualifier: Option<String>,
    pub constraint: Option<(Op, String)>,
    /// The architecture restriction list, items like `amd64`, `!i386`, `linux-any`.
    pub arches: Vec<String>,
}

impl Relation {
    /// Whether a package at `version` satisfies the version constraint (always, without one).
    pub fn satisfied_by(&self, version: &str) -> bool {
        match &self.constraint {
            None => true,
            Some((op, wanted)) => op.accepts(version::compare(version, wanted)),
        }
    }

    /// Whether the relation applies on `arch`: an empty restriction list means everywhere;
    /// otherwise some positive item must match (if there are any) and no `!` item may.
    /// Items may be wildcards: `any`, `OS-any` (`linux-any`) and `any-CPU` (`any-amd64`).
    pub fn applies_to(&self, arch: &str) -> bool {
        if self.arches.is_empty() {
            return true;
        }
        let mut has_positive = false;
        let mut positive_match = false;
        for item in &self.arches {
            match item.strip_prefix('!') {
                Some(negated) => {
                    if arch_matches(negated, arch) {
                        return false;
                    }
                }
                None => {
                    has_positive = true;
                    positive_match |= arch_matches(item, arch);
                }
            }
        }
        !has_positive || positive_match
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(q) = &self.arch_qualifier {
            write!(f, ":{q}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, " ({op} {v})")?;
        }
        if !self.arches.is_empty() {
            write!(f, " [{}]", self.arches.join(" "))?;
        }
        Ok(())
    }
}

/// Writes an OR-group the way Debian does: `a (>= 1) | b`.
pub fn display_group(group: &[Relation]) -> String {
    let items: Vec<String> = group.iter().map(Relation::to_string).collect();
    items.join(" | ")
}

/// `(os, cpu)` of a Debian architecture name, enough for wildcard matching.
fn os_cpu(arch: &str) -> (&str, &str) {
    const OSES: &[&str] = &[
        "kfreebsd",
        "knetbsd",
        "kopensolaris",
        "hurd",
        "darwin",
        "freebsd",
        "netbsd",
        "openbsd",
        "solaris",
        "uclinux",
        "musl-linux",
        "uclibc-linux",
    ];
    for os in OSES {
        if let Some(cpu) = arch.strip_prefix(os).and_then(|r| r.strip_prefix('-')) {
            return (os, cpu_of(cpu));
        }
    }
    ("linux", cpu_of(arch))
}

fn cpu_of(arch: &str) -> &str {
    match arch {
        "armhf" | "armel" => "arm",
        "x32" => "amd64",
        "powerpcspe" => "powerpc",
        other => other,
    }
}

fn arch_matches(pattern: &str, arch: &str) -> bool {
    if pattern == arch || pattern == "any" {
        return true;
    }
    let (os, cpu) = os_cpu(arch);
    if let Some(p_os) = pattern.strip_suffix("-any") {
        return p_os == os;
    }
    if let Some(p_cpu) = pattern.strip_prefix("any-") {
        return p_cpu == cpu;
    }
    false
}

fn valid_name(name: &str) -> bool {
    name.len() >= 2
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(&c))
}

/// Takes `open … close` from the front of `s` (after leading whitespace), returning the
/// inside and the rest.
fn bracketed<'a>(
    s: &'a str,
    open: char,
    close: char,
    relation: &str,
) -> Result<Option<(&'a str, &'a str)>, RelationError> {
    let Some(rest) = s.trim_start().strip_prefix(open) else {
        return Ok(None);
    };
    let Some((inside, after)) = rest.split_once(close) else {
        return Err(RelationError::Unclosed {
            open,
            close,
            relation: relation.to_string(),
        });
    };
    Ok(Some((inside, after)))
}

fn parse_one(text: &str, field: &str) -> Result<Relation, RelationError> {
    let relation = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if relation.is_empty() {
        return Err(RelationError::Empty {
            field: field.split_whitespace().collect::<Vec<_>>().join(" "),
        });
    }
    let s = relation.as_str();
    let end = s.find([' ', ':', '(', '[', '<']).unwrap_or(s.len());
    let (mut name, mut rest) = (s[..end].to_string(), &s[end..]);
    let mut arch_qualifier = None;
    if let Some(r) = rest.strip_prefix(':') {
        let end = r.find([' ', '(', '[', '<']).unwrap_or(r.len());
        let q = &r[..end];
        if q.is_empty() || !q.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
            name = format!("{name}:{q}");
        }
        arch_qualifier = Some(q.to_string());
        rest = &r[end..];
    }
    if !valid_name(&name) {
        return Err(RelationError::BadName {
            name,
            relation: relation.clone(),
        });
    }
    let mut constraint = None;
    if let Some((inside, after)) = bracketed(rest, '(', ')', &relation)? {
        let inside = inside.trim();
        let bad = || RelationError::BadConstraint {
            constraint: inside.to_string(),
            relation: relation.clone(),
        };
        let ops = [
            ("<<", Op::Lt),
            ("<=", Op::Le),
            (">=", Op::Ge),
            (">>", Op::Gt),
            ("=", Op::Eq),
            ("<", Op::Le),
            (">", Op::Ge),
        ];
        let (op, v) = ops
            .iter()
            .find_map(|(text, op)| inside.strip_prefix(text).map(|v| (*op, v.trim())))
            .ok_or_else(bad)?;
        if !version::is_valid(v) {
            return Err(bad());
        }
        constraint = Some((op, v.to_string()));
        rest = after;
    }
    let mut arches = Vec::new();
    if let Some((inside, after)) = bracketed(rest, '[', ']', &relation)? {
        arches = inside.split_whitespace().map(str::to_string).collect();
        if arches.is_empty() {
            return Err(RelationError::EmptyArchList { relation });
        }
        rest = after;
    }
    while let Some((_, after)) = bracketed(rest, '<', '>', &relation)? {
        rest = after;
    }
    if !rest.trim().is_empty() {
        return Err(RelationError::Trailing {
            rest: rest.trim().to_string(),
            relation,
        });
    }
    Ok(Relation {
        name,
        arch_qualifier,
        constraint,
        arches,
    })
}

/// Parses a `Depends`-style field into AND-groups of OR-alternatives. Whitespace (newlines
/// included) may appear anywhere between tokens; an empty field gives no groups.
pub fn parse_relations(field: &str) -> Result<Vec<Vec<Relation>>, RelationError> {
    if field.trim().is_empty() {
        return Ok(Vec::new());
    }
    field
        .split(',')
        .map(|group| group.split('|').map(|alt| parse_one(alt, field)).collect())
        .collect()
}

/// One `Provides` item: a virtual package name and, for a versioned provide, its version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Provide {
    pub name: String,
    pub version: Option<String>,
}

impl fmt::Display for Provide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{} (= {v})", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Parses a `Provides` field: comma-separated names, each with an optional `(= version)`.
pub fn parse_provides(field: &str) -> Result<Vec<Provide>, RelationError> {
    if field.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for item in field.split(',') {
        let bad = || RelationError::BadProvide {
            relation: item.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        if item.contains('|') {
            return Err(bad());
        }
        let r = parse_one(item, field)?;
        if r.arch_qualifier.is_some() || !r.arches.is_empty() {
            return Err(bad());
        }
        let version = match r.constraint {
            None => None,
            Some((Op::Eq, v)) => Some(v),
            Some(_) => return Err(bad()),
        };
        out.push(Provide {
            name: r.name,
            version,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> Relation {
        let mut g = parse_relations(s).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].len(), 1);
        g.remove(0).remove(0)
    }

    #[test]
    fn parses_groups_and_alternatives() {
        let field = "libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0,\n iproute2";
        let g = parse_relations(field).unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g[0][0].name, "libc6");
        assert_eq!(g[0][0].constraint, Some((Op::Ge, "2.34".to_string())));
        assert_eq!(g[1].len(), 2);
        assert_eq!(g[1][1].name, "debconf-2.0");
        assert_eq!(g[1][1].constraint, None);
        assert_eq!(display_group(&g[1]), "debconf (>= 0.5) | debconf-2.0");
        assert!(parse_relations("").unwrap().is_empty());
        assert!(parse_relations(" \n ").unwrap().is_empty());
    }

    #[test]
    fn operators_and_whitespace() {
        for (text, op) in [
            ("a0 (<< 1)", Op::Lt),
            ("a0 (<= 1)", Op::Le),
            ("a0 (= 1)", Op::Eq),
            ("a0 (>= 1)", Op::Ge),
            ("a0 (>> 1)", Op::Gt),
            ("a0 (< 1)", Op::Le),
            ("a0 (> 1)", Op::Ge),
            ("a0(>=1)", Op::Ge),
            ("a0\n  ( >=\n 1 )", Op::Ge),
        ] {
            assert_eq!(rel(text).constraint, Some((op, "1".to_string())), "{text}");
        }
        assert_eq!(rel("a0 (< 1)").to_string(), "a0 (<= 1)");
    }

    #[test]
    fn qualifiers_arches_profiles() {
        let r = rel("python3:any (>= 3.11~) [amd64 !i386] <!nocheck> <stage1 cross>");
        assert_eq!(r.name, "python3");
        assert_eq!(r.arch_qualifier.as_deref(), Some("any"));
        assert_eq!(r.arches, ["amd64", "!i386"]);
        assert_eq!(r.to_string(), "python3:any (>= 3.11~) [amd64 !i386]");
        let r = rel("libfoo-dev:native");
        assert_eq!(r.arch_qualifier.as_deref(), Some("native"));
        assert_eq!(rel("libc6 (>= 2.34)").to_string(), "libc6 (>= 2.34)");
        assert_eq!(rel("foo <!nocheck>").to_string(), "foo");
    }

    #[test]
    fn satisfied_by_versions() {
        let r = rel("nginx-common (<< 1.22.1-9+deb12u11.1~)");
        assert!(r.satisfied_by("1.22.1-9+deb12u11"));
        assert!(!r.satisfied_by("1.22.1-9+deb12u11.1"));
        let r = rel("libcrypt1 (>= 1:4.1.0)");
        assert!(r.satisfied_by("1:4.4.33-2"));
        assert!(!r.satisfied_by("4.4.33-2"));
        assert!(rel("x1").satisfied_by("0"));
        let r = rel("gcc-12-base (= 12.2.0-14+deb12u1)");
        assert!(r.satisfied_by("12.2.0-14+deb12u1"));
        assert!(!r.satisfied_by("12.2.0-14"));
        assert!(rel("zz (>> 2.36)").satisfied_by("2.36-9"));
        assert!(!rel("zz (>> 2.36)").satisfied_by("2.36"));
    }

    #[test]
    fn arch_restrictions() {
        let r = rel("libseccomp2 [amd64 arm64]");
        assert!(r.applies_to("amd64") && r.applies_to("arm64") && !r.applies_to("i386"));
        let r = rel("libfoo [!i386 !armel]");
        assert!(r.applies_to("amd64") && !r.applies_to("i386") && !r.applies_to("armel"));
        assert!(rel("libfoo").applies_to("riscv64"));
        assert!(rel("a0 [any]").applies_to("s390x"));
        let r = rel("libselinux1-dev [linux-any]");
        assert!(r.applies_to("amd64") && !r.applies_to("hurd-i386"));
        assert!(!r.applies_to("kfreebsd-amd64"));
        let r = rel("libfoo [any-amd64]");
        assert!(r.applies_to("amd64") && r.applies_to("kfreebsd-amd64") && !r.applies_to("arm64"));
        let r = rel("libfoo [any-arm]");
        assert!(r.applies_to("armhf") && r.applies_to("armel") && !r.applies_to("arm64"));
        let r = rel("libfoo [!linux-any]");
        assert!(!r.applies_to("arm64") && r.applies_to("hurd-i386"));
    }

    #[test]
    fn errors() {
        let e = parse_relations("libc6, , zlib1g").unwrap_err();
        assert!(matches!(e, RelationError::Empty { .. }), "{e}");
        assert!(matches!(
            parse_relations("a0 | | b0"),
            Err(RelationError::Empty { .. })
        ));
        let e = parse_relations("LibC6").unwrap_err();
        assert!(e.to_string().contains("\"LibC6\""), "{e}");
        assert!(matches!(
            parse_relations("x"),
            Err(RelationError::BadName { .. })
        ));
        assert!(matches!(
            parse_relations("libc6 (~= 2)"),
            Err(RelationError::BadConstraint { .. })
        ));
        assert!(matches!(
            parse_relations("libc6 (>= )"),
            Err(RelationError::BadConstraint { .. })
        ));
        assert!(matches!(
            parse_relations("libc6 (>= 2.34"),
            Err(RelationError::Unclosed { open: '(', .. })
        ));
        assert!(matches!(
            parse_relations("libc6 [amd64"),
            Err(RelationError::Unclosed { open: '[', .. })
        ));
        assert!(matches!(
            parse_relations("libc6 []"),
            Err(RelationError::EmptyArchList { .. })
        ));
        let e = parse_relations("libc6 (>= 2) extra").unwrap_err();
        assert!(matches!(e, RelationError::Trailing { .. }), "{e}");
        assert!(matches!(
            parse_relations("libc6:"),
            Err(RelationError::BadName { .. })
        ));
    }

    #[test]
    fn provides() {
        let p = parse_provides("libgcc1 (= 1:12.2.0-14+deb12u1), httpd,\n httpd-cgi").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].name, "libgcc1");
        assert_eq!(p[0].version.as_deref(), Some("1:12.2.0-14+deb12u1"));
        assert_eq!(p[0].to_string(), "libgcc1 (= 1:12.2.0-14+deb12u1)");
        assert_eq!(p[2].version, None);
        assert!(parse_provides("").unwrap().is_empty());
        for bad in ["foo (>= 1)", "foo | bar", "foo:any", "foo [amd64]"] {
            assert!(
                matches!(parse_provides(bad), Err(RelationError::BadProvide { .. })),
                "{bad}"
            );
        }
    }
}
