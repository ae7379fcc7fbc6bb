//! Tests of the resolver (`resolve.rs`), on small synthetic indexes and excerpts of the
//! real bookworm ones in fixtures/debian/.
use super::*;
use crate::base::debian::packages::parse_packages;

const AMD64: &str = include_str!("../../../fixtures/debian/Packages-amd64");
const AMD64_SEC: &str = include_str!("../../../fixtures/debian/Packages-amd64-security");
const ARM64: &str = include_str!("../../../fixtures/debian/Packages-arm64");
const ARM64_SEC: &str = include_str!("../../../fixtures/debian/Packages-arm64-security");

fn bookworm(arch: &str) -> Universe {
    let (main, sec) = if arch == "amd64" {
        (AMD64, AMD64_SEC)
    } else {
        (ARM64, ARM64_SEC)
    };
    let mut all = parse_packages(sec, 1).unwrap();
    all.extend(parse_packages(main, 0).unwrap());
    Universe::new(all, arch)
}

/// A synthetic index: `name version [Field: value]...` paragraphs, `;`-separated fields.
fn synthetic(specs: &[&str], arch: &str) -> Universe {
    let mut text = String::new();
    for spec in specs {
        let mut parts = spec.split(';');
        let head: Vec<&str> = parts.next().unwrap().split_whitespace().collect();
        let (name, version) = (head[0], head[1]);
        let a = head.get(2).copied().unwrap_or(arch);
        text += &format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {a}\n\
             Filename: pool/{name}_{version}.deb\nSize: 1\nSHA256: {}\n",
            "0".repeat(64)
        );
        for field in parts {
            text += field.trim();
            text.push('\n');
        }
        text.push('\n');
    }
    Universe::new(parse_packages(&text, 0).unwrap(), arch)
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn run(u: &Universe, wanted: &[&str], exclude: &[&str]) -> Result<Resolution, ResolveError> {
    let wanted: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
    resolve(u, u.arch(), &wanted, &set(exclude))
}

fn names(r: &Resolution) -> Vec<String> {
    r.packages
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect()
}

#[test]
fn nginx_closure_amd64() {
    let u = bookworm("amd64");
    let r = run(&u, &["nginx"], &["debconf", "iproute2", "tzdata"]).unwrap();
    assert_eq!(
        names(&r),
        [
            "gcc-12-base 12.2.0-14+deb12u1",
            "libc6 2.36-9+deb12u14",
            "libcrypt1 1:4.4.33-2",
            "libgcc-s1 12.2.0-14+deb12u1",
            "libpcre2-8-0 10.42-1+deb12u2",
            "libssl3 3.0.22-1~deb12u2",
            "nginx 1.22.1-9+deb12u11",
            "nginx-common 1.22.1-9+deb12u11",
            "zlib1g 1:1.2.13.dfsg-1+deb12u1",
        ]
    );
    let repo = |n: &str| r.packages.iter().find(|p| p.name == n).unwrap().repository;
    assert_eq!((repo("nginx"), repo("libc6")), (1, 0));
    assert_eq!(
        r.excluded,
        [
            (
                "debconf".to_string(),
                "nginx-common 1.22.1-9+deb12u11 Depends: debconf (>= 0.5) | debconf-2.0"
                    .to_string()
            ),
            (
                "iproute2".to_string(),
                "nginx 1.22.1-9+deb12u11 Depends: iproute2".to_string()
            ),
        ]
    );
    assert_eq!(r.unused_excludes, ["tzdata"]);
    // The same result whatever the order of the indexes.
    let mut all = parse_packages(AMD64, 0).unwrap();
    all.extend(parse_packages(AMD64_SEC, 1).unwrap());
    all.reverse();
    let again = run(
        &Universe::new(all, "amd64"),
        &["nginx"],
        &["debconf", "iproute2", "tzdata"],
    );
    assert_eq!(again.unwrap(), r);
}

#[test]
fn closure_arm64_with_ca_certificates() {
    let u = bookworm("arm64");
    let r = run(&u, &["ca-certificates", "busybox"], &["debconf"]).unwrap();
    assert!(r.packages.iter().all(|p| p.architecture != "amd64"));
    let n = names(&r);
    assert!(
        n.contains(&"ca-certificates 20250419~deb12u2".to_string()),
        "{n:?}"
    );
    assert!(n.iter().any(|p| p.starts_with("openssl 3.0.22")), "{n:?}");
    assert!(n.iter().any(|p| p.starts_with("busybox 1:1.35")), "{n:?}");
    assert!(r.unused_excludes.is_empty());
}

#[test]
fn unknown_and_wanted_excluded() {
    let u = bookworm("amd64");
    let e = run(&u, &["nosuch"], &[]).unwrap_err();
    assert_eq!(
        e,
        ResolveError::UnknownPackage {
            name: "nosuch".into(),
            arch: "amd64".into()
        }
    );
    assert!(e.to_string().contains("nosuch") && e.to_string().contains("amd64"));
    let e = run(&u, &["nginx"], &["nginx"]).unwrap_err();
    assert!(matches!(e, ResolveError::WantedAndExcluded { .. }), "{e}");
    let e = resolve(&u, "arm64", &[], &BTreeSet::new()).unwrap_err();
    assert!(matches!(e, ResolveError::ArchMismatch { .. }), "{e}");
}

#[test]
fn virtual_wanted() {
    let u = bookworm("amd64");
    let e = run(&u, &["debconf-2.0"], &[]).unwrap_err();
    let ResolveError::Ambiguous { providers, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(providers, &["cdebconf", "debconf"]);
    assert!(e.to_string().contains("`exclude` debconf-2.0"), "{e}");
    // One provider left once the other is excluded; a single provider is taken.
    let r = run(&u, &["debconf-2.0"], &["cdebconf"]).unwrap();
    assert_eq!(names(&r), ["debconf 1.5.82"]);
    let r = run(&u, &["libgcc1"], &[]).unwrap();
    assert!(names(&r).contains(&"libgcc-s1 12.2.0-14+deb12u1".to_string()));
}

#[test]
fn unsatisfiable() {
    let u = bookworm("amd64");
    let e = run(&u, &["cdebconf"], &[]).unwrap_err().to_string();
    assert!(
        e.contains("cdebconf 0.270 (amd64) Depends: libdebian-installer4 (>= 0.124)"),
        "{e}"
    );
    assert!(
        e.contains("no package libdebian-installer4 in the indexes for amd64"),
        "{e}"
    );
    let u = synthetic(
        &["aa 1; Depends: bb (>= 2.0) | cc", "bb 1.0", "bb 0.9"],
        "amd64",
    );
    let e = run(&u, &["aa"], &[]).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("bb has only 1.0, 0.9 (needs >= 2.0)"),
        "{text}"
    );
    assert!(text.contains("no package cc"), "{text}");
    assert!(matches!(
        e,
        ResolveError::Unsatisfiable(u) if u.field == "Depends"
    ));
    // No backtracking: b 2 is taken first, then c rejects it.
    let u = synthetic(
        &[
            "aa 1; Depends: bb, cc",
            "bb 2",
            "bb 1",
            "cc 1; Pre-Depends: bb (<< 2)",
        ],
        "amd64",
    );
    let e = run(&u, &["aa"], &[]).unwrap_err().to_string();
    assert!(e.contains("cc 1 (amd64) Pre-Depends: bb (<< 2)"), "{e}");
    assert!(e.contains("bb is already selected at 2"), "{e}");
    // Naming the version wanted up front is not possible, but wanting c first works since
    // wanted packages are all selected before dependencies: c's b (<< 2) picks b 1.
    let r = run(&u, &["cc"], &[]).unwrap();
    assert_eq!(names(&r), ["bb 1", "cc 1"]);
}

#[test]
fn versioned_provides() {
    let u = bookworm("amd64");
    let mut all: Vec<Package> = u.real.values().flatten().cloned().collect();
    let extra = "Package: xx\nVersion: 1\nArchitecture: amd64\nFilename: x.deb\nSize: 1\n\
                 SHA256: 0000000000000000000000000000000000000000000000000000000000000000\n";
    let with = |dep: &str| {
        let mut v = all.clone();
        v.extend(parse_packages(&format!("{extra}Depends: {dep}\n"), 2).unwrap());
        Universe::new(v, "amd64")
    };
    let r = run(&with("libgcc1 (>= 1:12)"), &["xx"], &[]).unwrap();
    assert!(names(&r).contains(&"libgcc-s1 12.2.0-14+deb12u1".to_string()));
    let e = run(&with("libgcc1 (>= 1:13)"), &["xx"], &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("libgcc-s1 provides libgcc1 = 1:12.2.0-14+deb12u1 (needs >= 1:13)"),
        "{e}"
    );
    // An unversioned provide does not satisfy a versioned relation.
    let e = run(&with("httpd (>= 2)"), &["xx"], &["iproute2", "debconf"]).unwrap_err();
    assert!(
        e.to_string()
            .contains("nginx provides httpd without a version"),
        "{e}"
    );
    let r = run(&with("httpd"), &["xx"], &["iproute2", "debconf"]).unwrap();
    assert!(names(&r).contains(&"nginx 1.22.1-9+deb12u11".to_string()));
    all.clear();
}

#[test]
fn several_providers_are_no_silent_choice_and_exclusion_by_provider() {
    let u = synthetic(
        &[
            "aa 1; Depends: vv",
            "p2 1; Provides: vv",
            "p1 1; Provides: vv",
        ],
        "amd64",
    );
    let err = run(&u, &["aa"], &[]).unwrap_err().to_string();
    assert!(
        err.contains("vv is provided by several packages (p1, p2)")
            && err.contains("name one of them in `packages`"),
        "{err}"
    );
    // Wanting p2 makes it the provider already selected.
    assert_eq!(
        names(&run(&u, &["aa", "p2"], &[]).unwrap()),
        ["aa 1", "p2 1"]
    );
    let r = run(&u, &["aa"], &["p1", "p2"]).unwrap();
    assert_eq!(names(&r), ["aa 1"]);
    assert_eq!(r.excluded.len(), 2);
    assert_eq!(
        r.excluded[0],
        ("p1".to_string(), "aa 1 Depends: vv".to_string())
    );
}

#[test]
fn arch_restricted_dependency() {
    let specs = [
        "aa 1 all; Depends: bb [amd64], cc [!amd64], dd [arm64] | ee",
        "bb 1",
        "cc 1",
        "dd 1",
        "ee 1",
    ];
    assert_eq!(
        names(&run(&synthetic(&specs, "amd64"), &["aa"], &[]).unwrap()),
        ["aa 1", "bb 1", "ee 1"]
    );
    assert_eq!(
        names(&run(&synthetic(&specs, "arm64"), &["aa"], &[]).unwrap()),
        ["aa 1", "cc 1", "dd 1"]
    );
    // Packages of other architectures are not in the universe.
    let u = synthetic(&["aa 1 arm64", "bb 1 all"], "amd64");
    assert!(u.versions("aa").is_empty() && u.versions("bb").len() == 1);
}

#[test]
fn conflicts_and_breaks() {
    let u = bookworm("amd64");
    let e = run(&u, &["busybox", "busybox-static"], &[]).unwrap_err();
    let ResolveError::Conflict(c) = &e else {
        panic!("{e}")
    };
    assert_eq!(
        (c.package.as_str(), c.other.as_str(), c.field),
        ("busybox", "busybox-static", "Conflicts")
    );
    assert!(!e.to_string().contains("which provides"), "{e}");
    let u = synthetic(
        &["aa 1; Conflicts: vv (>= 2)", "bb 1; Provides: vv (= 3)"],
        "amd64",
    );
    let e = run(&u, &["aa", "bb"], &[]).unwrap_err();
    assert!(e.to_string().contains("bb 1 (which provides vv)"), "{e}");
    let u = synthetic(
        &["aa 1; Conflicts: vv (>= 2)", "bb 1; Provides: vv"],
        "amd64",
    );
    assert!(run(&u, &["aa", "bb"], &[]).is_ok());
    let u = synthetic(
        &[
            "aa 1; Depends: bb; Breaks: bb (<< 2)",
            "bb 1",
            "cc 1; Conflicts: cc, vv; Provides: vv",
        ],
        "amd64",
    );
    let e = run(&u, &["aa"], &[]).unwrap_err().to_string();
    assert!(
        e.contains("aa 1 Breaks: bb (<< 2), but bb 1 is also selected"),
        "{e}"
    );
    // A package never conflicts with itself, nor with what it provides.
    assert_eq!(names(&run(&u, &["cc"], &[]).unwrap()), ["cc 1"]);
    let u = synthetic(&["aa 1; Conflicts: bb [arm64]", "bb 1"], "amd64");
    assert_eq!(
        names(&run(&u, &["aa", "bb"], &[]).unwrap()),
        ["aa 1", "bb 1"]
    );
}

#[test]
fn duplicate_versions_keep_lowest_repository() {
    let mut all = parse_packages(AMD64, 5).unwrap();
    all.extend(parse_packages(AMD64, 2).unwrap());
    let u = Universe::new(all, "amd64");
    assert_eq!(u.versions("libc6").len(), 1);
    assert_eq!(u.versions("libc6")[0].repository, 2);
    assert_eq!(u.providers("debconf-2.0").len(), 2);
}
