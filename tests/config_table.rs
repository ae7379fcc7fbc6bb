//! docs/configuration.md's "Flags and keys" tables against the truth, both ways, so they
//! cannot drift: every flag they list is in `imgpush build --help` (and `cargo imgpush
//! --help`) and every flag there is listed; every `imgpush.toml` example they give is
//! accepted by the file loader (key and value type), every key the loader knows is listed,
//! and no flag marked "flag only" has a key of its name.

use imgpush::plan::FileSettings;
use std::collections::BTreeSet;
use std::process::Command;

/// One row: the flags of its first column, the key examples of its second (each a TOML
/// document), and whether it says the flag has no key.
#[derive(Debug)]
struct Row {
    line: usize,
    flags: Vec<String>,
    keys: Vec<(String, String)>,
    flag_only: bool,
}

/// The text between backticks in `cell`, in order.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(|s| s.replace("\\|", "|"))
        .collect()
}

/// Splits a table row on the `|` that separate cells (not the escaped `\|` inside them).
fn cells(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.trim().trim_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                out.last_mut().unwrap().push_str("\\|");
                chars.next();
            }
            '|' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out.iter().map(|c| c.trim().to_string()).collect()
}

/// The rows of every `| flag | … key | …` table in the "Flags and keys" section.
fn rows(doc: &str) -> Vec<Row> {
    let start = doc
        .find("\n## Flags and keys")
        .expect("docs/configuration.md has a `## Flags and keys` section");
    let section_end = doc[start + 1..]
        .find("\n## ")
        .map_or(doc.len(), |e| start + 1 + e);
    // 1-based line of the `## Flags and keys` heading.
    let first_line = doc[..start + 1].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut in_table = false;
    for (i, line) in doc[start + 1..section_end].lines().enumerate() {
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let c = cells(line);
        if c[0] == "flag" {
            assert!(
                c[1].contains("key"),
                "a flag table's second column is the key"
            );
            in_table = true;
            continue;
        }
        if !in_table || c[0].starts_with("---") {
            continue;
        }
        let flags = code_spans(&c[0])
            .into_iter()
            .filter(|s| s.starts_with('-'))
            .map(|s| s.split_whitespace().next().unwrap().to_string())
            .collect();
        let flag_only = c[1] == "flag only" || c[1].starts_with("argument only");
        let mut keys = Vec::new();
        let mut table: Option<String> = None;
        for span in code_spans(&c[1]) {
            if span.starts_with('[') && span.ends_with(']') {
                let name = span.trim_matches(['[', ']']).to_string();
                keys.push((name.clone(), format!("{span}\n")));
                table = Some(name);
            } else if let Some((key, _)) = span.split_once(" = ") {
                match &table {
                    // A line of the table just named: `"linux/amd64" = "dist/hello-amd64"`.
                    Some(t) => {
                        let doc = format!("[{t}]\n{span}\n");
                        keys.push((t.clone(), doc));
                    }
                    None => keys.push((key.trim().to_string(), format!("{span}\n"))),
                }
            }
        }
        out.push(Row {
            line: first_line + i,
            flags,
            keys,
            flag_only,
        });
    }
    out
}

/// The flags `--help` lists (`-t`, `--tag`, …), without `-h`/`--help`/`-V`/`--version`.
fn help_flags(program: &str, args: &[&str]) -> BTreeSet<String> {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let options = text.split("\nExamples:").next().unwrap();
    options
        .lines()
        .filter(|l| l.starts_with("  ") && l.trim_start().starts_with('-'))
        .flat_map(|l| {
            l.split_whitespace()
                .take_while(|w| w.starts_with('-'))
                .map(|w| w.trim_end_matches(',').trim_end_matches("...").to_string())
                .collect::<Vec<_>>()
        })
        .filter(|f| !["-h", "--help", "-V", "--version"].contains(&f.as_str()))
        .collect()
}

/// Loads `text` as `imgpush.toml` with the real loader.
fn load(text: &str) -> Result<FileSettings, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("imgpush.toml"), text).unwrap();
    FileSettings::load(dir.path())
        .map(|f| f.expect("the file exists").0)
        .map_err(|e| e.to_string())
}

/// Every key the loader knows, from its own "unknown field …, expected one of …" error.
fn loader_keys() -> BTreeSet<String> {
    let err = load("no-such-key-at-all = 1\n").unwrap_err();
    let expected = err
        .split_once("expected one of")
        .unwrap_or_else(|| panic!("the loader's error lists the keys: {err}"))
        .1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn doc_rows() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let rows = rows(&std::fs::read_to_string(path).unwrap());
    assert!(rows.len() > 40, "found only {} rows", rows.len());
    rows
}

#[test]
fn every_build_flag_is_in_the_table_and_every_table_flag_exists() {
    let rows = doc_rows();
    let documented: BTreeSet<String> = rows.iter().flat_map(|r| r.flags.clone()).collect();
    let build = help_flags(env!("CARGO_BIN_EXE_imgpush"), &["build", "--help"]);
    let cargo = help_flags(env!("CARGO_BIN_EXE_cargo-imgpush"), &["imgpush", "--help"]);
    assert_eq!(
        build, cargo,
        "`cargo imgpush` takes the flags of `imgpush build`"
    );
    assert!(build.len() > 40 && build.contains("--file"), "{build:?}");
    let missing: Vec<_> = build.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "flags of `imgpush build --help` missing from docs/configuration.md's tables: {missing:?}"
    );
    let unknown: Vec<_> = documented.difference(&build).collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md lists flags `imgpush build` does not have: {unknown:?}"
    );
    for r in &rows {
        assert!(
            r.flag_only == r.keys.is_empty(),
            "docs/configuration.md:{}: a row gives an imgpush.toml key or says `flag only`, exactly one: {r:?}",
            r.line
        );
    }
}

#[test]
fn every_key_in_the_table_loads_and_every_loader_key_is_in_the_table() {
    let rows = doc_rows();
    let known = loader_keys();
    assert!(
        known.contains("files") && known.contains("build-std"),
        "{known:?}"
    );
    let mut documented = BTreeSet::new();
    for r in &rows {
        for (key, text) in &r.keys {
            assert!(
                known.contains(key),
                "docs/configuration.md:{}: `{key}` is not an imgpush.toml key (known: {known:?})",
                r.line
            );
            if let Err(e) = load(text) {
                panic!(
                    "docs/configuration.md:{}: the example `{}` does not load: {e}",
                    r.line,
                    text.trim()
                );
            }
            documented.insert(key.clone());
        }
        if r.flag_only {
            for flag in r.flags.iter().filter(|f| f.starts_with("--")) {
                let name = flag.trim_start_matches("--");
                assert!(
                    !known.contains(name),
                    "docs/configuration.md:{}: {flag} is marked flag only, but `{name}` is a key",
                    r.line
                );
                let err = load(&format!("{name} = 1\n")).unwrap_err();
                assert!(err.contains("unknown field"), "{flag}: {err}");
            }
        }
    }
    let missing: Vec<_> = known.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "imgpush.toml keys missing from docs/configuration.md's tables: {missing:?}"
    );
}

#[test]
fn the_table_parser_reads_escaped_bars_tables_and_flag_only_rows() {
    let doc = "x\n## Flags and keys\n\n| flag | `imgpush.toml` key | value |\n|---|---|---|\n\
        | `--format oci\\|docker` | `format = \"docker\"` | a \\| b |\n\
        | `--artifact P=F` | `[artifacts]` table: `\"linux/amd64\" = \"a\"` | x |\n\
        | `-v`, `--verbose` (twice for more) | flag only | x |\n\n## Next\n| flag | key |\n";
    let r = rows(doc);
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r[0].flags, ["--format"]);
    assert_eq!(
        r[0].keys,
        [("format".to_string(), "format = \"docker\"\n".to_string())]
    );
    assert_eq!(r[1].keys[1].1, "[artifacts]\n\"linux/amd64\" = \"a\"\n");
    assert_eq!(r[2].flags, ["-v", "--verbose"]);
    assert!(r[2].flag_only && r[2].keys.is_empty());
    assert_eq!(r[0].line, 6);
}
