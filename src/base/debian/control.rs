//! The deb822 paragraph format of Debian control files, `Packages` indexes and `Release`
//! files (Debian Policy §5.1): `Name: value` fields, continuation lines starting with a
//! space or tab, paragraphs separated by blank lines.

/// A malformed deb822 text. `line` is 1-based.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error(
        "line {line}: continuation line {text:?} comes before any field; a line starting with \
         a space or tab continues the field above it, so remove the indentation or the line"
    )]
    ContinuationWithoutField { line: usize, text: String },
    #[error(
        "line {line}: {text:?} is not a `Name: value` field; every line of a paragraph is a \
         field, a continuation line (starting with a space) or blank between paragraphs"
    )]
    NotAField { line: usize, text: String },
    #[error(
        "line {line}: bad field name {name:?}: field names are printable ASCII without spaces \
         or colons and do not start with `#` or `-`"
    )]
    BadFieldName { line: usize, name: String },
    #[error(
        "line {line}: field {name:?} appears twice in one paragraph (first at line {first}); \
         a paragraph has each field once"
    )]
    DuplicateField {
        line: usize,
        first: usize,
        name: String,
    },
}

/// One paragraph: its fields in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph {
    /// `(name, value, line)`.
    fields: Vec<(String, String, usize)>,
}

impl Paragraph {
    /// The value of the field `name` (ASCII case-insensitive, as in Debian).
    ///
    /// A multi-line value has its lines joined with `'\n'`, each continuation line without its
    /// first space or tab and with `" ."` turned into an empty line; trailing whitespace is
    /// dropped. A field whose first line is empty (as `SHA256:` in a `Release` file) starts with
    /// `'\n'`, so iterate with `lines()` and skip empty ones.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v, _)| v.as_str())
    }

    /// All `(name, value)` pairs, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v, _)| (n.as_str(), v.as_str()))
    }

    /// The 1-based line of the paragraph's first field, for error messages.
    pub fn line(&self) -> usize {
        self.fields.first().map_or(0, |(_, _, l)| *l)
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['#', '-'])
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// Splits `text` into paragraphs. Blank (or whitespace-only) lines separate paragraphs; any
/// number of them is allowed, also at the start and the end.
pub fn paragraphs(text: &str) -> Result<Vec<Paragraph>, ControlError> {
    let mut out = Vec::new();
    let mut current: Vec<(String, String, usize)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim_end();
        if trimmed.is_empty() {
            if !current.is_empty() {
                out.push(Paragraph {
                    fields: std::mem::take(&mut current),
                });
            }
            continue;
        }
        if trimmed.starts_with([' ', '\t']) {
            let Some((_, value, _)) = current.last_mut() else {
                return Err(ControlError::ContinuationWithoutField {
                    line,
                    text: trimmed.to_string(),
                });
            };
            let rest = &trimmed[1..];
            value.push('\n');
            if rest != "." {
                value.push_str(rest);
            }
            continue;
        }
        let Some((name, value)) = trimmed.split_once(':') else {
            return Err(ControlError::NotAField {
                line,
                text: trimmed.to_string(),
            });
        };
        if !valid_name(name) {
            return Err(ControlError::BadFieldName {
                line,
                name: name.to_string(),
            });
        }
        if let Some((_, _, first)) = current
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        {
            return Err(ControlError::DuplicateField {
                line,
                first: *first,
                name: name.to_string(),
            });
        }
        current.push((name.to_string(), value.trim_start().to_string(), line));
    }
    if !current.is_empty() {
        out.push(Paragraph { fields: current });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_order_case_insensitive() {
        let text = "Package: hello\nVersion: 2.10-3\nDepends: libc6 (>= 2.34)\n";
        let ps = paragraphs(text).unwrap();
        assert_eq!(ps.len(), 1);
        let p = &ps[0];
        assert_eq!(p.get("package"), Some("hello"));
        assert_eq!(p.get("VERSION"), Some("2.10-3"));
        assert_eq!(p.get("Missing"), None);
        let names: Vec<_> = p.fields().map(|(n, _)| n).collect();
        assert_eq!(names, ["Package", "Version", "Depends"]);
        assert_eq!(p.line(), 1);
    }

    #[test]
    fn continuation_lines_and_dot() {
        let text = "Description: short\n long line one\n .\n  indented\nTag: a,\n\tb\n";
        let p = &paragraphs(text).unwrap()[0];
        assert_eq!(
            p.get("Description"),
            Some("short\nlong line one\n\n indented")
        );
        assert_eq!(p.get("Tag"), Some("a,\nb"));
    }

    #[test]
    fn empty_first_line_value() {
        let text = "SHA256:\n abc 12 main/Packages\n def 34 main/Packages.xz\n";
        let p = &paragraphs(text).unwrap()[0];
        let v = p.get("SHA256").unwrap();
        assert_eq!(v, "\nabc 12 main/Packages\ndef 34 main/Packages.xz");
        let lines: Vec<_> = v.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn several_paragraphs_blank_lines_trailing_whitespace() {
        let text = "\n\nPackage: a  \nVersion: 1\n\n \t\n\nPackage: b\r\nVersion: 2\n\n";
        let ps = paragraphs(text).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("Package"), Some("a"));
        assert_eq!(ps[1].get("Package"), Some("b"));
        assert_eq!(ps[1].get("Version"), Some("2"));
        assert_eq!(ps[1].line(), 8);
        assert!(paragraphs("").unwrap().is_empty());
    }

    #[test]
    fn value_may_contain_colons() {
        let p = &paragraphs("Version: 1:2.3-4\nX:no-space\n").unwrap()[0];
        assert_eq!(p.get("Version"), Some("1:2.3-4"));
        assert_eq!(p.get("X"), Some("no-space"));
    }

    #[test]
    fn errors_carry_line_numbers() {
        assert_eq!(
            paragraphs(" leading\n"),
            Err(ControlError::ContinuationWithoutField {
                line: 1,
                text: " leading".into()
            })
        );
        assert_eq!(
            paragraphs("A: 1\n\n continuation after blank\n"),
            Err(ControlError::ContinuationWithoutField {
                line: 3,
                text: " continuation after blank".into()
            })
        );
        let e = paragraphs("A: 1\nno colon here\n").unwrap_err();
        assert_eq!(
            e,
            ControlError::NotAField {
                line: 2,
                text: "no colon here".into()
            }
        );
        assert!(e.to_string().contains("line 2"));
        assert!(matches!(
            paragraphs("A: 1\nBad Name: 2\n"),
            Err(ControlError::BadFieldName { line: 2, .. })
        ));
        assert!(matches!(
            paragraphs("-X: 1\n"),
            Err(ControlError::BadFieldName { line: 1, .. })
        ));
        let e = paragraphs("A: 1\nB: 2\na: 3\n").unwrap_err();
        assert_eq!(
            e,
            ControlError::DuplicateField {
                line: 3,
                first: 1,
                name: "a".into()
            }
        );
        assert!(e.to_string().contains("line 1"));
    }

    #[test]
    fn fixture_parses() {
        let text = include_str!("../../../fixtures/debian/Packages-amd64");
        let ps = paragraphs(text).unwrap();
        assert_eq!(ps.len(), 18);
        assert!(ps.iter().all(|p| p.get("SHA256").is_some()));
    }
}
