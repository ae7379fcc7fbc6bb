//! Same bytes on the wire: the registry's own access log of a cold push (with
//! cross-repository mounts of the base), a no-op push, `copy` and `index create`, compared
//! with the logs recorded in `tests/golden/wire/`. A refactoring of the client, the sinks or
//! the pipeline must not change which requests are made, or the order of the writes.
//!
//! Runs with `--jobs 1` so the order of blob transfers is deterministic. Digests become
//! `D1`, `D2`, … in order of first appearance (the busybox fixture comes from Debian's
//! current package), upload session ids become `UUID`, and `_state` values are dropped.
//! Consecutive requests that differ only in a digest (child manifests fetched or pushed
//! together) are compared as a set: their order among themselves is not fixed. After a deliberate
//! change, `IMGPUSH_BLESS=1 cargo test --test wire` rewrites the goldens; review the diff.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use support::*;

fn golden_dir() -> PathBuf {
    repo_root().join("tests/golden/wire")
}

/// The writes in order, then the reads as a sorted list, normalized as the module doc
/// says.
fn normalize(requests: &[(String, String)]) -> String {
    let lines: Vec<(bool, String)> = requests
        .iter()
        .map(|(method, target)| {
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let mut segments: Vec<String> = path.split('/').map(str::to_string).collect();
            for i in 1..segments.len() {
                if segments[i - 1] == "uploads" && !segments[i].is_empty() {
                    segments[i] = "UUID".into();
                }
            }
            let mut line = format!("{method} {}", segments.join("/"));
            let params: Vec<&str> = query
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with("_state="))
                .collect();
            if !params.is_empty() {
                line.push('?');
                line.push_str(&params.join("&"));
            }
            let read = method == "GET" || method == "HEAD";
            (
                read,
                // A referrers tag `sha256-<hex>` names the manifest it is about: shown
                // as `sha256-D<n>` with that manifest's name.
                line.replace("sha256%3A", "sha256:")
                    .replace("sha256%3a", "sha256:")
                    .replace("/manifests/sha256-", "/manifests/sha256-sha256:"),
            )
        })
        .collect();
    // Digest names come from the writes' order only (reads of several platforms run
    // concurrently); a digest only ever read is `R`.
    let mut names: HashMap<String, String> = HashMap::new();
    let mut rename = |line: &str, assign: bool| {
        let mut text = line.to_string();
        let mut from = 0;
        while let Some(at) = text[from..].find("sha256:").map(|i| i + from) {
            let start = at + "sha256:".len();
            let hex: String = text[start..].chars().take(64).collect();
            if hex.len() < 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                from = start;
                continue;
            }
            let n = names.len() + 1;
            let name = match names.get(&hex) {
                Some(name) => name.clone(),
                None if assign => names.entry(hex).or_insert(format!("D{n}")).clone(),
                None => "R".to_string(),
            };
            text.replace_range(at..start + 64, &name);
            from = at + name.len();
        }
        text
    };
    let mut out = String::from("# writes, in order\n");
    for (_, line) in lines.iter().filter(|(read, _)| !read) {
        out.push_str(&rename(line, true));
        out.push('\n');
    }
    let mut reads: Vec<String> = lines
        .iter()
        .filter(|(read, _)| *read)
        .map(|(_, line)| rename(line, false))
        .collect();
    reads.sort();
    out.push_str("# reads, sorted\n");
    for line in reads {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn check(name: &str, actual: &str) {
    let path = golden_dir().join(format!("{name}.txt"));
    if std::env::var_os("IMGPUSH_BLESS").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; record it with IMGPUSH_BLESS=1 cargo test --test wire",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "the requests of `{name}` changed (tests/golden/wire/{name}.txt)"
    );
}

fn run(imgpush: &Imgpush, cache: &Path, args: &[String]) -> String {
    let out = imgpush
        .command()
        .env("IMGPUSH_CACHE_DIR", cache)
        .args(args)
        .output()
        .unwrap();
    success_line(&out)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn requests_of_push_noop_copy_and_index_create_are_unchanged() {
    let registry = Registry::start();
    let base = registry.seed_busybox("base/busybox", &[]);
    let cache = tempfile::tempdir().unwrap();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/wire", registry.host);
    let build = hello_build(&repo, &["--base", &base, "--jobs", "1"]);

    let mut mark = registry.raw_requests().len();
    let mut since = |registry: &Registry| {
        let all = registry.raw_requests();
        let new = all[mark..].to_vec();
        mark = all.len();
        normalize(&new)
    };

    run(&imgpush, cache.path(), &build);
    let cold = since(&registry);
    assert!(cold.contains("?mount="), "the base is mounted:\n{cold}");
    check("cold-push", &cold);

    run(&imgpush, cache.path(), &build);
    check("no-op-push", &since(&registry));

    let copied = format!("{}/copied/wire:latest", registry.host);
    run(
        &imgpush,
        cache.path(),
        &args(&["copy", &format!("{repo}:latest"), &copied, "--jobs", "1"]),
    );
    check("copy", &since(&registry));

    // Two single-platform images in two repositories, merged into a third.
    let one = |arch: &str, file: &Path| {
        let r = format!("{}/ci/{arch}", registry.host);
        args(&[
            "build",
            "--repo",
            &r,
            "--base",
            &base,
            "--dest",
            "/app/hello",
            "--jobs",
            "1",
            "--artifact",
            &format!("linux/{arch}={}", file.display()),
        ])
    };
    run(&imgpush, cache.path(), &one("amd64", &hello().amd64));
    run(&imgpush, cache.path(), &one("arm64", &hello().arm64));
    since(&registry);
    run(
        &imgpush,
        cache.path(),
        &args(&[
            "index",
            "create",
            "--jobs",
            "1",
            "--tag",
            &format!("{}/merged/wire:latest", registry.host),
            &format!("{}/ci/amd64:latest", registry.host),
            &format!("{}/ci/arm64:latest", registry.host),
        ]),
    );
    check("index-create", &since(&registry));
}

#[test]
fn normalizing_names_digests_sessions_and_state() {
    let d = "a".repeat(64);
    let e = "b".repeat(64);
    let f = "c".repeat(64);
    let text = normalize(&[
        ("HEAD".into(), format!("/v2/app/blobs/sha256:{f}")),
        (
            "POST".into(),
            format!("/v2/app/blobs/uploads/?mount=sha256%3A{d}&from=base"),
        ),
        (
            "PUT".into(),
            format!("/v2/app/blobs/uploads/0f1e-22?_state=xyz&digest=sha256%3A{e}"),
        ),
        ("HEAD".into(), format!("/v2/app/blobs/sha256:{d}")),
    ]);
    assert_eq!(
        text,
        "# writes, in order\n\
         POST /v2/app/blobs/uploads/?mount=D1&from=base\n\
         PUT /v2/app/blobs/uploads/UUID?digest=D2\n\
         # reads, sorted\n\
         HEAD /v2/app/blobs/D1\n\
         HEAD /v2/app/blobs/R\n"
    );
}
