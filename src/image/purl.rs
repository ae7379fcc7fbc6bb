//! Package URLs (<https://github.com/package-url/purl-spec>), built from their parts so that
//! every collector encodes them alike: each namespace segment, the name, the version and the
//! qualifier values percent-encoded (everything but `A-Z a-z 0-9 . - _ ~`, and `:` in
//! versions, as Debian epochs are written), qualifiers sorted by key, empty ones left out.

use std::fmt::Write as _;

/// One package URL's parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purl<'a> {
    /// `cargo`, `golang`, `npm`, `deb`, `generic`… (lowercase).
    pub ty: &'a str,
    /// Namespace segments (`["github.com", "foo"]` for `github.com/foo/bar`), unencoded.
    pub namespace: Vec<&'a str>,
    pub name: &'a str,
    pub version: Option<&'a str>,
    /// `(key, value)`, unencoded, in any order.
    pub qualifiers: Vec<(&'a str, String)>,
}

impl Purl<'_> {
    pub fn render(&self) -> String {
        let mut out = format!("pkg:{}/", self.ty);
        for segment in self.namespace.iter().filter(|s| !s.is_empty()) {
            out.push_str(&encode(segment, false));
            out.push('/');
        }
        out.push_str(&encode(self.name, false));
        if let Some(v) = self.version {
            out.push('@');
            out.push_str(&encode(v, true));
        }
        let mut qualifiers: Vec<&(&str, String)> = self
            .qualifiers
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        qualifiers.sort();
        for (i, (k, v)) in qualifiers.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(k);
            out.push('=');
            out.push_str(&encode(v, false));
        }
        out
    }
}

/// Percent-encodes `s` (UTF-8 bytes, uppercase hex).
pub fn encode(s: &str, keep_colon: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_colon && b == b':') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_encoded_and_qualifiers_sorted() {
        let deb = Purl {
            ty: "deb",
            namespace: vec!["debian"],
            name: "libc6",
            version: Some("1:2.36-9+deb12u9"),
            qualifiers: vec![("distro", "debian-12".into()), ("arch", "arm64".into())],
        };
        assert_eq!(
            deb.render(),
            "pkg:deb/debian/libc6@1:2.36-9%2Bdeb12u9?arch=arm64&distro=debian-12"
        );
        let npm = Purl {
            ty: "npm",
            namespace: vec!["@babel"],
            name: "core",
            version: Some("7.24.0"),
            ..Purl::default()
        };
        assert_eq!(npm.render(), "pkg:npm/%40babel/core@7.24.0");
        let git = Purl {
            ty: "cargo",
            name: "tool",
            version: Some("0.1.0"),
            qualifiers: vec![
                ("vcs_url", "git+https://example.com/a/b@abc".into()),
                ("empty", String::new()),
            ],
            ..Purl::default()
        };
        assert_eq!(
            git.render(),
            "pkg:cargo/tool@0.1.0?vcs_url=git%2Bhttps%3A%2F%2Fexample.com%2Fa%2Fb%40abc"
        );
        assert_eq!(encode("a b/ü", false), "a%20b%2F%C3%BC");
    }
}
