//! The CI templates of `docs/ci.md` (`fixtures/ci/*.yml`), checked four ways:
//!
//! - the page shows each file byte for byte, so the docs and the files cannot drift;
//! - each passes its CI system's published schema (`check-jsonschema`, whose schemas are
//!   vendored, so it runs offline), and a copy with a broken key does not;
//! - every GitHub job that pushes to ghcr.io is granted `packages: write` and
//!   `contents: read`;
//! - every `run:` step and `script:` line runs as written against a local registry, with
//!   the CI's variables and `${{ … }}` expressions given test values, and skopeo reads
//!   what they pushed.
//!
//! What does not run, by rule (the report printed by each test lists it step by step):
//! - `uses:` steps. `actions/checkout`: the job starts in a fresh copy of the project
//!   (`fixtures/cargo/one-bin`), with a fresh HOME. `actions/cache`: the caches it would
//!   restore are the ones the rest of the suite warms (imgpush's, with the std built from
//!   source, through `IMGPUSH_CACHE_DIR`; zig's through `ZIG_GLOBAL_CACHE_DIR`), and cargo
//!   shares the suite's cross-build target dir; its `with:` expressions are still resolved.
//! - `run:` steps that install tools (`cargo install --locked imgpush`, rustup, zig from
//!   PyPI): they need the network and minutes, and the binaries under test are on PATH
//!   instead. Each line of such a step must be an install command, so no build or push
//!   hides in a skipped step.
//! - GitHub's `ghcr.io/${{ github.repository }}` becomes the test registry's repository
//!   through the workflows' own `IMAGE` variable; `GITHUB_TOKEN` is set but unused, since
//!   imgpush sends it to ghcr.io only. GitLab's jobs run one after another in one project
//!   directory (standing in for artifacts and the cache), the imgpush image's jobs with only
//!   the built imgpush on PATH, the golang image's job with the host's `go` (and the
//!   suite's `GOCACHE`).
//!
//! The stand-ins for the two CI systems are in `ci_runner/`.

mod ci_runner;
mod support;

use ci_runner::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;
use support::*;
use yaml_rust2::{Yaml, YamlLoader};

const MATRIX: &str = "fixtures/ci/github-matrix.yml";
const CROSS: &str = "fixtures/ci/github-cross.yml";
const GITLAB: &str = "fixtures/ci/gitlab-ci.yml";
/// Each template and the `check-jsonschema --builtin-schema` it must pass.
const TEMPLATES: &[(&str, &str)] = &[
    (MATRIX, "vendor.github-workflows"),
    (CROSS, "vendor.github-workflows"),
    (GITLAB, "vendor.gitlab-ci"),
];
const TEMPLATE_MARKER: &str = "<!-- ci-template: ";

// ---------------------------------------------------------------------------------------
// The page and the files

/// `(file named by the marker, block text)` for each ```yaml block of `docs/ci.md`; a
/// yaml block without the marker right above its fence is an error.
fn template_blocks(doc: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != "```yaml" {
            i += 1;
            continue;
        }
        let file = i
            .checked_sub(1)
            .and_then(|above| lines[above].strip_prefix(TEMPLATE_MARKER))
            .and_then(|r| r.strip_suffix(" -->"))
            .unwrap_or_else(|| {
                panic!(
                    "docs/ci.md line {}: a yaml block without `{TEMPLATE_MARKER}FILE -->` above it",
                    i + 1
                )
            });
        let end = (i + 1..lines.len())
            .find(|&j| lines[j] == "```")
            .expect("an unclosed yaml block");
        let body: String = lines[i + 1..end].iter().map(|l| format!("{l}\n")).collect();
        blocks.push((file.to_string(), body));
        i = end + 1;
    }
    blocks
}

#[test]
fn docs_show_each_template_byte_for_byte() {
    let blocks = template_blocks(&read("docs/ci.md"));
    let shown: Vec<&str> = blocks.iter().map(|(f, _)| f.as_str()).collect();
    let expected: Vec<&str> = TEMPLATES.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        shown, expected,
        "docs/ci.md shows each template once, in this order"
    );
    for (file, body) in &blocks {
        assert!(
            *body == read(file),
            "the block of docs/ci.md marked {file} differs from the file; copy the file into the page"
        );
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(repo_root().join("fixtures/ci"))
        .unwrap()
        .map(|e| format!("fixtures/ci/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|p| p.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every fixtures/ci template is tested");
}

// ---------------------------------------------------------------------------------------
// Schemas

fn check_jsonschema(schema: &str, file: &Path) -> Output {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("check-jsonschema").is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`check-jsonschema` is not installed; install it with `pip install check-jsonschema` \
         (`bash scripts/install-deps.sh` installs the tested version)"
    );
    Command::new("check-jsonschema")
        .args(["--builtin-schema", schema])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn templates_pass_their_schemas_and_broken_copies_fail() {
    for (file, schema) in TEMPLATES {
        let out = check_jsonschema(schema, &repo_root().join(file));
        check(&out, &format!("check-jsonschema {schema} {file}"), "");
    }
    // The validator really runs: a job without `runs-on`, a misspelt `script`.
    let dir = tempfile::tempdir().unwrap();
    let broken = [
        (
            CROSS,
            "vendor.github-workflows",
            "runs-on:",
            "runs_on:",
            "'runs-on' is a required property",
        ),
        (
            GITLAB,
            "vendor.gitlab-ci",
            "  script:",
            "  scirpt:",
            "'scirpt' was unexpected",
        ),
    ];
    for (file, schema, key, typo, expect) in broken {
        let copy = dir.path().join(Path::new(file).file_name().unwrap());
        let original = read(file);
        assert!(original.contains(key), "{file} has `{key}`");
        std::fs::write(&copy, original.replacen(key, typo, 1)).unwrap();
        let out = check_jsonschema(schema, &copy);
        assert!(
            !out.status.success(),
            "{file} with `{typo}` passed {schema}"
        );
        assert!(stdout(&out).contains(expect), "{}", stdout(&out));
    }
}

// ---------------------------------------------------------------------------------------
// Permissions

/// Jobs that talk to ghcr.io (the workflow's, the job's or a step's text names it, and a
/// step runs imgpush) without `packages: write` and `contents: read` in the permissions
/// that apply to them (the job's own replace the workflow's).
fn ghcr_jobs_lacking_permissions(workflow: &Yaml) -> Vec<String> {
    let mentions = |y: &Yaml| format!("{y:?}").contains("ghcr.io");
    let mut lacking = Vec::new();
    for (name, job) in entries(&workflow["jobs"]) {
        let steps = job["steps"].as_vec().cloned().unwrap_or_default();
        let runs_imgpush = steps
            .iter()
            .any(|s| s["run"].as_str().is_some_and(|r| r.contains("imgpush")));
        let pushes = runs_imgpush && (mentions(&workflow["env"]) || mentions(job));
        let permissions = if job["permissions"].is_badvalue() {
            &workflow["permissions"]
        } else {
            &job["permissions"]
        };
        let granted = |scope: &str, level: &str| permissions[scope].as_str() == Some(level);
        if pushes && !(granted("packages", "write") && granted("contents", "read")) {
            lacking.push(name);
        }
    }
    lacking
}

#[test]
fn workflows_pushing_to_ghcr_may_write_packages() {
    for file in [MATRIX, CROSS] {
        let workflow = load(file);
        assert_eq!(
            ghcr_jobs_lacking_permissions(&workflow),
            Vec::<String>::new(),
            "{file}"
        );
    }
    // The check itself: without the workflow's grant, or with a job's own narrower one.
    let stripped = read(MATRIX).replace("  packages: write", "  issues: write");
    let workflow = YamlLoader::load_from_str(&stripped).unwrap().remove(0);
    assert_eq!(ghcr_jobs_lacking_permissions(&workflow), ["build", "index"]);
    let narrowed = read(MATRIX).replace(
        "    needs: build\n",
        "    needs: build\n    permissions:\n      contents: read\n",
    );
    let workflow = YamlLoader::load_from_str(&narrowed).unwrap().remove(0);
    assert_eq!(ghcr_jobs_lacking_permissions(&workflow), ["index"]);
}

// ---------------------------------------------------------------------------------------
// Running the templates

/// The index a tag holds, with its platforms' architectures.
fn index_of(reference: &str, creds: Option<&(String, String)>) -> (serde_json::Value, Vec<String>) {
    let raw = skopeo_raw(&format!("docker://{reference}"), creds);
    let index: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let archs = index["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("{reference} is not an index: {index}"))
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_string())
        .collect();
    (index, archs)
}

fn digest_of(reference: &str, creds: Option<&(String, String)>) -> String {
    format!(
        "sha256:{}",
        sha256_hex(&skopeo_raw(&format!("docker://{reference}"), creds))
    )
}

#[test]
fn github_matrix_builds_each_platform_natively_then_joins_them() {
    require_rust_cross();
    let registry = Registry::start();
    let mut run = GithubRun::new(MATRIX, &registry);
    let legs = run.matrix("build");
    let plan: Vec<(&str, &str)> = legs
        .iter()
        .map(|m| (m["arch"].as_str(), m["runner"].as_str()))
        .collect();
    assert_eq!(
        plan,
        [("amd64", "ubuntu-24.04"), ("arm64", "ubuntu-24.04-arm")]
    );
    assert_eq!(
        run.workflow["jobs"]["build"]["runs-on"].as_str(),
        Some("${{ matrix.runner }}")
    );
    assert_eq!(
        run.workflow["jobs"]["index"]["needs"].as_str(),
        Some("build")
    );

    let started = Instant::now();
    let mut per_platform = Vec::new();
    for leg in &legs {
        let outputs = run.run_job("build", leg);
        let arch = &leg["arch"];
        let line = outputs[&format!("Build and push linux/{arch}")]
            .trim()
            .to_string();
        let tag = format!("{}:{SHA}-{arch}", run.image);
        assert_eq!(line, format!("{}@{}", run.image, digest_of(&tag, None)));
        per_platform.push((arch.clone(), tag));
    }
    let writes_before = registry.writes().len();
    let outputs = run.run_job("index", &BTreeMap::new());
    let index_writes = registry.writes()[writes_before..].to_vec();
    println!(
        "{}the workflow took {:.1} s",
        run.report,
        started.elapsed().as_secs_f64()
    );

    let (index, archs) = index_of(&format!("{}:{SHA}", run.image), None);
    assert_eq!(archs, ["amd64", "arm64"]);
    // Each entry is the very image its leg pushed (a single-platform push is one
    // manifest, or an index of one).
    for (arch, tag) in &per_platform {
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == arch.as_str())
            .unwrap();
        let pushed: serde_json::Value =
            serde_json::from_slice(&skopeo_raw(&format!("docker://{tag}"), None)).unwrap();
        let expected = match pushed["manifests"].as_array() {
            Some(one) => one[0]["digest"].as_str().unwrap().to_string(),
            None => digest_of(tag, None),
        };
        assert_eq!(entry["digest"].as_str().unwrap(), expected, "{arch}");
    }
    assert!(
        !index_writes.iter().any(|w| w.contains("/blobs/uploads/")),
        "joining the platforms uploads no blob: {index_writes:?}"
    );
    let inspect = &outputs["Join both platforms under one tag"];
    assert!(
        inspect.contains("linux/amd64") && inspect.contains("linux/arm64"),
        "{inspect}"
    );
    let mut tags = registry.tags("acme/app");
    tags.sort();
    assert_eq!(
        tags,
        [
            SHA.to_string(),
            format!("{SHA}-amd64"),
            format!("{SHA}-arm64")
        ]
    );
}

#[test]
fn github_cross_builds_both_platforms_on_one_runner() {
    require_rust_cross();
    let registry = Registry::start();
    let mut run = GithubRun::new(CROSS, &registry);
    let started = Instant::now();
    let outputs = run.run_job("image", &BTreeMap::new());
    println!(
        "{}the workflow took {:.1} s",
        run.report,
        started.elapsed().as_secs_f64()
    );
    assert!(
        run.report.contains("imgpush-Linux-1.") && run.report.contains(&format!("-{SHA}")),
        "the cache key carries the compiler version and the commit:\n{}",
        run.report
    );
    let doctor = &outputs["Check the toolchain"];
    assert!(!doctor.contains("MISSING"), "{doctor}");
    let line = outputs["Build and push linux/amd64 + linux/arm64"]
        .trim()
        .to_string();
    let reference = format!("{}:{SHA}", run.image);
    assert_eq!(
        line,
        format!("{}@{}", run.image, digest_of(&reference, None))
    );
    let (_, archs) = index_of(&reference, None);
    assert_eq!(archs, ["amd64", "arm64"]);
    assert_eq!(
        digest_of(&format!("{}:latest", run.image), None),
        digest_of(&reference, None)
    );
}

#[test]
fn gitlab_pipeline_pushes_binaries_and_a_static_bundle() {
    let registry = Registry::start_with_htpasswd("gitlab-ci-token", "job-token-123");
    let creds = registry.credentials.clone();
    let project = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("fixtures/go/hello"), project.path());
    copy_tree(
        &repo_root().join("fixtures/static-site"),
        &project.path().join("public"),
    );
    let image = format!("{}/group/project", registry.host);
    let predefined: BTreeMap<String, String> = [
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_PROJECT_DIR", project.path().to_str().unwrap()),
        ("CI_REGISTRY", registry.host.as_str()),
        ("CI_REGISTRY_USER", "gitlab-ci-token"),
        ("CI_REGISTRY_PASSWORD", "job-token-123"),
        ("CI_REGISTRY_IMAGE", image.as_str()),
        ("CI_COMMIT_SHORT_SHA", "abc123"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();

    let started = Instant::now();
    let (outputs, report) =
        run_gitlab(GITLAB, project.path(), &predefined, None).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "{report}the pipeline took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        outputs.keys().collect::<Vec<_>>(),
        ["app", "compile", "web"]
    );

    for (job, repo) in [("app", image.clone()), ("web", format!("{image}/web"))] {
        let reference = format!("{repo}:abc123");
        let (_, archs) = index_of(&reference, creds.as_ref());
        assert_eq!(archs, ["amd64", "arm64"], "{job}");
        assert_eq!(
            outputs[job].trim(),
            format!("{repo}@{}", digest_of(&reference, creds.as_ref())),
            "{job}"
        );
    }
    let cache = project.path().join(".imgpush-cache");
    assert!(
        std::fs::read_dir(&cache).is_ok_and(|mut d| d.next().is_some()),
        "the cache is in the project directory, where GitLab's cache: keeps it"
    );

    // The credentials are the CI job's variables: a wrong job token is refused, and the
    // error names them.
    let mut wrong = predefined.clone();
    wrong.insert("CI_REGISTRY_PASSWORD".into(), "expired".into());
    let err = run_gitlab(GITLAB, project.path(), &wrong, Some("app")).unwrap_err();
    assert!(
        err.contains("CI_REGISTRY_USER/CI_REGISTRY_PASSWORD"),
        "{err}"
    );
}
