//! Debian version numbers, `[epoch:]upstream_version[-debian_revision]`, and their ordering
//! exactly as in Debian Policy §5.6.12 and dpkg's `verrevcmp`.

use std::cmp::Ordering;

/// Splits a version into `(epoch, upstream, revision)`; the epoch is `""` when absent (it
/// compares as 0), the revision `""` when absent (it compares equal to `"0"`).
fn split(v: &str) -> (&str, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (e, r),
        None => ("", v),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, r),
        None => (rest, ""),
    };
    (epoch, upstream, revision)
}

/// Compares two digit strings numerically, at any length.
fn cmp_numeric(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The weight of a byte in a non-digit part: `~` before the end, the end (and digits) next,
/// then letters, then everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit parts (compared by [`order`]) and digit parts
/// (compared numerically).
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let is_digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !is_digit(a, i)) || (j < b.len() && !is_digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        let start_a = i;
        while is_digit(a, i) {
            i += 1;
        }
        let start_b = j;
        while is_digit(b, j) {
            j += 1;
        }
        let ord = cmp_numeric(&a[start_a..i], &b[start_b..j]);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Orders two Debian versions: epoch (numeric), then upstream version, then revision.
/// Versions that are not [`is_valid`] are still ordered, the same way dpkg would.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a.trim());
    let (eb, ub, rb) = split(b.trim());
    cmp_numeric(ea.as_bytes(), eb.as_bytes())
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

/// Whether `v` is a well-formed version per Policy §5.6.12: an optional all-digit epoch, an
/// upstream version starting with a digit made of alphanumerics and `.+~-` (a `-` only when
/// there is a revision), and an optional non-empty revision made of alphanumerics and `.+~`.
pub fn is_valid(v: &str) -> bool {
    let rest = match v.split_once(':') {
        Some((e, r)) => {
            if e.is_empty() || !e.bytes().all(|c| c.is_ascii_digit()) {
                return false;
            }
            r
        }
        None => v,
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    let upstream_ok = upstream.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && upstream
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".+~-".contains(&c));
    let revision_ok = revision.is_none_or(|r| {
        !r.is_empty()
            && r.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".+~".contains(&c))
    });
    upstream_ok && revision_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    /// `(a, b, compare(a, b))`, from dpkg's t/version.t, apt's tests and Debian archives.
    const PAIRS: &[(&str, &str, Ordering)] = &[
        ("1.0", "1.0", Equal),
        ("1.0~rc1", "1.0", Less),
        ("1.0~rc1", "1.0~rc2", Less),
        ("1.0~~", "1.0~", Less),
        ("1.0~", "1.0", Less),
        ("1.0~~a", "1.0~~", Greater),
        ("1.0", "1.0a", Less),
        ("1.0a", "1.0+", Less),
        ("1.0+", "1.0.", Less),
        ("1.0-1", "1.0-1~", Greater),
        ("1:0.1", "2.0", Greater),
        ("0:1.0", "1.0", Equal),
        ("00:1.0", "1.0", Equal),
        ("1:1.0", "1.0", Greater),
        ("1.22.1-9+deb12u11", "1.22.1-9+deb12u9", Greater),
        ("1.22.1-9+deb12u11.1~", "1.22.1-9+deb12u11", Greater),
        ("1.22.1-9+deb12u11.1~", "1.22.1-9+deb12u11.1", Less),
        ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
        ("2.36-9+deb12u14", "2.36", Greater),
        ("2.36-9+deb12u14", "2.37", Less),
        ("3.0.22-1~deb12u2", "3.0.22-1", Less),
        ("3.0.22-1~deb12u2", "3.0.9", Greater),
        ("1:1.2.13.dfsg-1", "1:1.1.4", Greater),
        ("1.0", "1.0-0", Equal),
        ("1.0-0", "1.0-", Equal),
        ("1.0", "1.00", Equal),
        ("1.001", "1.1", Equal),
        ("1.2", "1.10", Less),
        ("1.0.1", "1.0", Greater),
        ("1.0-1", "1.0-2", Less),
        ("1.0-1.1", "1.0-1", Greater),
        ("2:1.0", "1:9.9", Greater),
        ("10:1", "9:1", Greater),
        ("a", "b", Less),
        ("a", "A", Greater),
        ("1a", "1B", Greater),
        ("1-1", "1-a", Less),
        ("1.0+dfsg", "1.0", Greater),
        ("1.0~dfsg", "1.0", Less),
        ("1.0-1+b1", "1.0-1", Greater),
        ("20230311+deb12u1", "20250419~deb12u2", Less),
        ("2025b-0+deb12u1", "2026b-0+deb12u1", Less),
        ("1.2-3-4", "1.2-3", Greater),
        ("1.2-3-4", "1.2-4", Greater),
        (
            "99999999999999999999999999999999",
            "99999999999999999999999999999998",
            Greater,
        ),
        ("1.000000000000000000000000000001", "1.1", Equal),
        ("999999999999999999999:1", "1000000000000000000000:0", Less),
        ("", "0", Equal),
        ("", "", Equal),
    ];

    #[test]
    fn known_pairs() {
        for &(a, b, want) in PAIRS {
            assert_eq!(compare(a, b), want, "compare({a:?}, {b:?})");
            assert_eq!(compare(b, a), want.reverse(), "compare({b:?}, {a:?})");
        }
    }

    #[test]
    fn validity() {
        for v in [
            "1.0",
            "1:1.0-1",
            "1.22.1-9+deb12u11.1~",
            "1.2-3-4",
            "0.5",
            "10.42-1+deb12u2",
            "1:1.35.0-4+deb12u1+b1",
            "2026b-0+deb12u1",
            "1.0~rc1",
        ] {
            assert!(is_valid(v), "{v:?} should be valid");
        }
        for v in [
            "", "a1.0", ":1.0", "a:1.0", "1:", "1.0-", "1.0 2", "1.0_1", "1.0-1:2", "-1", "1.0-a_b",
        ] {
            assert!(!is_valid(v), "{v:?} should be invalid");
        }
    }

    #[test]
    fn sorting_is_total_and_consistent() {
        let mut vs = vec!["1.0", "1.0~rc1", "1:0.1", "1.0-1", "1.0+b1", "0.9", "1.0~"];
        vs.sort_by(|a, b| compare(a, b));
        assert_eq!(
            vs,
            ["0.9", "1.0~", "1.0~rc1", "1.0", "1.0-1", "1.0+b1", "1:0.1"]
        );
    }

    fn dpkg(a: &str, op: &str, b: &str) -> bool {
        let status = std::process::Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .status()
            .unwrap_or_else(|e| {
                panic!("running `dpkg --compare-versions` failed ({e}); install package `dpkg`")
            });
        match status.code() {
            Some(0) => true,
            Some(1) => false,
            other => panic!("dpkg --compare-versions {a} {op} {b}: exit {other:?}"),
        }
    }

    /// Cross-checks every pair of a generated set of versions against dpkg itself.
    #[test]
    fn agrees_with_dpkg() {
        let parts = [
            "1", "1.0", "1.0~rc1", "1.0a", "1.0+b1", "1.00", "1.10", "1.9~",
        ];
        let revisions = ["", "-1", "-1~deb12u1", "-1+deb12u10", "-1+deb12u9", "-0"];
        let epochs = ["", "1:"];
        let mut versions = Vec::new();
        for e in epochs {
            for u in parts {
                for r in revisions {
                    // Skip a third of the combinations to keep the run short.
                    if (versions.len() + e.len() + u.len() + r.len()) % 3 != 0 {
                        versions.push(format!("{e}{u}{r}"));
                    }
                }
            }
        }
        versions.truncate(40);
        for (i, a) in versions.iter().enumerate() {
            for b in &versions[i + 1..] {
                let want = if dpkg(a, "lt", b) {
                    Less
                } else if dpkg(a, "eq", b) {
                    Equal
                } else {
                    Greater
                };
                assert_eq!(
                    compare(a, b),
                    want,
                    "compare({a:?}, {b:?}) disagrees with dpkg"
                );
            }
        }
    }
}
