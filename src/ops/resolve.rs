//! `imgpush resolve` (ko resolve parity): Kubernetes-style YAML in, every
//! `imgpush://PATH` reference built, pushed and replaced by `REPO@sha256:…`, YAML out.
//!
//! The YAML is parsed (so malformed input fails with its line number, and only real
//! scalar values count as references) but never re-serialized: each reference is
//! replaced in the original text, so comments, document order, quoting and every
//! untouched field stay exactly as written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The scheme that marks a path to build.
pub const SCHEME: &str = "imgpush://";

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not valid YAML: {message}")]
    Yaml {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}:{line}:{column}: `{value}`: {why}")]
    Reference {
        path: PathBuf,
        line: usize,
        column: usize,
        value: String,
        why: String,
    },
    #[error("{0} has no .yaml or .yml files")]
    EmptyDir(PathBuf),
}

impl ResolveError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ResolveError::Reference { .. } => Some(
                "write references as imgpush://PATH, PATH a directory relative to the working directory holding a Cargo package, a Go main package, or an imgpush.toml".into(),
            ),
            _ => None,
        }
    }
}

/// One `imgpush://PATH` scalar: where it is in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    /// Byte range of the reference itself (without quotes).
    pub start: usize,
    pub end: usize,
    /// `PATH` as written after the scheme.
    pub path: String,
    pub line: usize,
    pub column: usize,
}

/// A YAML file and the references in it.
#[derive(Clone, Debug)]
pub struct Document {
    pub path: PathBuf,
    pub text: String,
    pub occurrences: Vec<Occurrence>,
}

/// Reads `-f` arguments: files as given, directories as their `*.yaml`/`*.yml` files in
/// name order.
pub fn load(inputs: &[PathBuf]) -> Result<Vec<Document>, ResolveError> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|source| ResolveError::Read {
                    path: input.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(ResolveError::EmptyDir(input.clone()));
            }
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    files
        .into_iter()
        .map(|path| {
            let text = if path == Path::new("-") {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map(|_| s)
                    .map_err(|source| ResolveError::Read {
                        path: path.clone(),
                        source,
                    })?
            } else {
                std::fs::read_to_string(&path).map_err(|source| ResolveError::Read {
                    path: path.clone(),
                    source,
                })?
            };
            let occurrences = scan(&text, &path)?;
            Ok(Document {
                path,
                text,
                occurrences,
            })
        })
        .collect()
}

struct Collector {
    scalars: Vec<(String, TScalarStyle, Marker)>,
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if let Event::Scalar(value, style, _, _) = ev
            && value.starts_with(SCHEME)
        {
            self.scalars.push((value, style, mark));
        }
    }
}

/// Finds every scalar that is an `imgpush://` reference.
pub fn scan(text: &str, path: &Path) -> Result<Vec<Occurrence>, ResolveError> {
    let mut collector = Collector {
        scalars: Vec::new(),
    };
    Parser::new_from_str(text)
        .load(&mut collector, true)
        .map_err(|e| ResolveError::Yaml {
            path: path.to_path_buf(),
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
    // Markers count characters; the text is replaced by bytes.
    let byte_at = |chars: usize| {
        text.char_indices()
            .nth(chars)
            .map(|(b, _)| b)
            .unwrap_or(text.len())
    };
    let mut out = Vec::new();
    for (value, style, mark) in collector.scalars {
        let (line, column) = (mark.line(), mark.col() + 1);
        let bad = |why: &str| ResolveError::Reference {
            path: path.to_path_buf(),
            line,
            column,
            value: value.clone(),
            why: why.to_string(),
        };
        let mut start = byte_at(mark.index());
        match style {
            TScalarStyle::Plain => {}
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => start += 1,
            TScalarStyle::Literal | TScalarStyle::Folded => {
                return Err(bad("a reference must be a one-line scalar, not a block"));
            }
        }
        let end = start + value.len();
        if text.get(start..end) != Some(value.as_str()) {
            return Err(bad(
                "a reference must be written as is (no escapes or line breaks inside it)",
            ));
        }
        let rest = &value[SCHEME.len()..];
        if rest.is_empty() {
            return Err(bad("the path after imgpush:// is empty"));
        }
        out.push(Occurrence {
            start,
            end,
            path: rest.to_string(),
            line,
            column,
        });
    }
    Ok(out)
}

/// Every distinct reference path across the documents, in first-seen order.
pub fn references(documents: &[Document]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in documents {
        for o in &d.occurrences {
            if !out.contains(&o.path) {
                out.push(o.path.clone());
            }
        }
    }
    out
}

/// A reference whose path is not a buildable directory: the error for it.
pub fn missing_path(documents: &[Document], path: &str, why: &str) -> ResolveError {
    let (doc, o) = documents
        .iter()
        .flat_map(|d| d.occurrences.iter().map(move |o| (d, o)))
        .find(|(_, o)| o.path == path)
        .expect("the path came from these documents");
    ResolveError::Reference {
        path: doc.path.clone(),
        line: o.line,
        column: o.column,
        value: format!("{SCHEME}{path}"),
        why: why.to_string(),
    }
}

/// The documents with each occurrence replaced; files are joined with a `---` line.
pub fn substitute(documents: &[Document], resolved: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (i, d) in documents.iter().enumerate() {
        if i > 0 {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("---\n");
        }
        let mut at = 0;
        for o in &d.occurrences {
            out.push_str(&d.text[at..o.start]);
            out.push_str(&resolved[&o.path]);
            at = o.end;
        }
        out.push_str(&d.text[at..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "\
# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # keep me
spec:
  template:
    spec:
      containers:
      - name: api
        image: imgpush://./services/api
      - name: front
        image: \"imgpush://./frontend\"
---
apiVersion: batch/v1
kind: Job
spec:
  template:
    spec:
      containers:
      - image: 'imgpush://./services/api'
        args: [\"--note\", \"only whole values count: imgpush://y\"]
";

    #[test]
    fn finds_references_in_every_style_and_document() {
        let occ = scan(YAML, Path::new("k.yaml")).unwrap();
        let paths: Vec<&str> = occ.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(paths, ["./services/api", "./frontend", "./services/api"]);
        assert_eq!(occ[0].line, 11);
        for o in &occ {
            assert_eq!(&YAML[o.start..o.end], format!("{SCHEME}{}", o.path));
        }
    }

    #[test]
    fn substitution_changes_only_the_references() {
        let docs = vec![Document {
            path: "k.yaml".into(),
            text: YAML.into(),
            occurrences: scan(YAML, Path::new("k.yaml")).unwrap(),
        }];
        let resolved = BTreeMap::from([
            ("./services/api".to_string(), "r/api@sha256:aa".to_string()),
            ("./frontend".to_string(), "r/front@sha256:bb".to_string()),
        ]);
        let out = substitute(&docs, &resolved);
        let expected = YAML
            .replace("imgpush://./services/api", "r/api@sha256:aa")
            .replace("imgpush://./frontend", "r/front@sha256:bb");
        assert_eq!(out, expected);
    }

    #[test]
    fn malformed_yaml_names_the_line() {
        let text = "a: 1\nb: [unclosed\nc: 3\n";
        let e = scan(text, Path::new("bad.yaml")).unwrap_err();
        let ResolveError::Yaml { line, .. } = &e else {
            panic!("{e}")
        };
        assert!(*line >= 2, "{e}");
        assert!(e.to_string().starts_with("bad.yaml:"), "{e}");
    }

    #[test]
    fn block_scalars_and_empty_paths_are_refused() {
        let e = scan("image: |\n  imgpush://x\n", Path::new("a.yaml")).unwrap_err();
        assert!(e.to_string().contains("one-line"), "{e}");
        let e = scan("image: imgpush://\n", Path::new("a.yaml")).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }

    #[test]
    fn non_ascii_text_before_a_reference_keeps_offsets_right() {
        let text = "note: \"größe → 10\"\nimage: imgpush://./a\n";
        let occ = scan(text, Path::new("u.yaml")).unwrap();
        assert_eq!(&text[occ[0].start..occ[0].end], "imgpush://./a");
    }
}
