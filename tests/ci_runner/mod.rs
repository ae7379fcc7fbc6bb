//! Stand-ins for the CI systems, for `tests/ci_templates.rs`: a GitHub Actions job runner
//! (`run:` steps with `${{ … }}` expressions resolved, `$GITHUB_OUTPUT`/`$GITHUB_ENV`/
//! `$GITHUB_PATH` honoured, matrix entries as written) and a GitLab CI pipeline runner
//! (`script:` lines in stage order, `variables:` expanded), each with the YAML helpers
//! they share.

use crate::support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;
use yaml_rust2::{Yaml, YamlLoader};

pub const SHA: &str = "4e1c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f";
pub const IMGPUSH_IMAGE: &str = "ghcr.io/imgpush/imgpush:debug";
/// What a skipped install step may contain, line by line.
const INSTALL_COMMANDS: &[&str] = &[
    "cargo install --locked imgpush",
    "rustup target add ",
    "rustup component add ",
    "python3 -m venv ",
    "~/.zig/bin/pip install ",
    "echo \"$HOME/.zig/bin\" >> \"$GITHUB_PATH\"",
];

pub fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap()
}

pub fn load(path: &str) -> Yaml {
    YamlLoader::load_from_str(&read(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .remove(0)
}

pub fn text(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

pub fn entries(y: &Yaml) -> Vec<(String, &Yaml)> {
    y.as_hash()
        .map(|h| h.iter().map(|(k, v)| (text(k), v)).collect())
        .unwrap_or_default()
}

/// The directory of the built `imgpush` and `cargo-imgpush`.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_imgpush"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The suite's imgpush cache (the std built from source lives there), where
/// `tests/support` places it.
fn suite_imgpush_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("imgpush-cache")
}

/// zig's cache as the rest of the suite uses it (the cargo tests run zig with the
/// invoking user's environment), so that a fresh HOME does not mean compiling libc again.
fn suite_zig_cache() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("ZIG_GLOBAL_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("zig")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/zig")))
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("zig-cache"))
}

/// Go's build cache as the rest of the suite uses it (`go env GOCACHE`).
fn suite_go_cache() -> PathBuf {
    require("go", "golang-go");
    let out = Command::new("go")
        .args(["env", "GOCACHE"])
        .output()
        .unwrap();
    let dir = stdout(&out).trim().to_string();
    if out.status.success() && dir.starts_with('/') {
        PathBuf::from(dir)
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache")
    }
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

pub fn check(out: &Output, what: &str, script: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- script ---\n{script}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

// ---------------------------------------------------------------------------------------
// GitHub Actions

/// Replaces each `${{ EXPR }}` by its value; an expression the test has no value for is an
/// error, so a template cannot use one the test does not stand in for.
fn expand(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let len = rest[start..].find("}}").expect("an unclosed ${{");
        let expr = rest[start + 3..start + len].trim();
        let value = values
            .get(expr)
            .unwrap_or_else(|| panic!("the test has no value for `${{{{ {expr} }}}}`"));
        out.push_str(value);
        rest = &rest[start + len + 2..];
    }
    out + rest
}

/// `KEY=VALUE` lines of a `$GITHUB_OUTPUT` / `$GITHUB_ENV` file.
fn key_values(file: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("unsupported line `{l}`"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// One GitHub workflow run against a test registry.
pub struct GithubRun {
    pub workflow: Yaml,
    /// `IMAGE`: the test registry's repository instead of `ghcr.io/${{ github.repository }}`.
    pub image: String,
    home: tempfile::TempDir,
    pub report: String,
}

impl GithubRun {
    pub fn new(file: &str, registry: &Registry) -> GithubRun {
        let workflow = load(file);
        for (key, _) in entries(&workflow) {
            assert!(
                ["name", "on", "permissions", "env", "jobs"].contains(&key.as_str()),
                "{file}: `{key}` is not supported by the test"
            );
        }
        for (job, def) in entries(&workflow["jobs"]) {
            for (key, _) in entries(def) {
                assert!(
                    [
                        "strategy",
                        "runs-on",
                        "needs",
                        "permissions",
                        "env",
                        "steps"
                    ]
                    .contains(&key.as_str()),
                    "{file} {job}: `{key}` is not supported by the test"
                );
            }
        }
        assert_eq!(
            workflow["env"]["IMAGE"].as_str(),
            Some("ghcr.io/${{ github.repository }}"),
            "{file}: the steps push to $IMAGE, which the test points at its registry"
        );
        for (job, def) in entries(&workflow["jobs"]) {
            for step in def["steps"].as_vec().unwrap() {
                let run = step["run"].as_str().unwrap_or("");
                assert!(
                    !run.contains("ghcr.io"),
                    "{file} {job}: push to \"$IMAGE\": {run}"
                );
            }
        }
        GithubRun {
            workflow,
            image: format!("{}/acme/app", registry.host),
            home: tempfile::tempdir().unwrap(),
            report: format!("{file}\n"),
        }
    }

    /// `strategy.matrix.include` of a job (one empty entry without a matrix).
    pub fn matrix(&self, job: &str) -> Vec<BTreeMap<String, String>> {
        let matrix = &self.workflow["jobs"][job]["strategy"]["matrix"];
        if matrix.is_badvalue() {
            return vec![BTreeMap::new()];
        }
        assert_eq!(
            entries(matrix).len(),
            1,
            "only `include:` matrices are supported"
        );
        matrix["include"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|e| entries(e).into_iter().map(|(k, v)| (k, text(v))).collect())
            .collect()
    }

    /// Runs the job's `run:` steps (with one matrix entry) as the runner would, in a fresh
    /// checkout; returns each step's stdout by step name.
    pub fn run_job(
        &mut self,
        job: &str,
        matrix: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let def = self.workflow["jobs"][job].clone();
        let mut values: BTreeMap<String, String> = [
            ("github.sha", SHA),
            ("github.repository", "acme/app"),
            ("secrets.GITHUB_TOKEN", "ghs_not-a-real-token"),
            ("runner.os", "Linux"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in matrix {
            values.insert(format!("matrix.{k}"), v.clone());
        }
        let label = if matrix.is_empty() {
            job.to_string()
        } else {
            let values: Vec<&str> = matrix.values().map(String::as_str).collect();
            format!("{job} ({})", values.join(", "))
        };
        let checkout = tempfile::tempdir().unwrap();
        let steps = def["steps"].as_vec().unwrap();
        if steps.iter().any(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout@"))
        }) {
            copy_tree(&repo_root().join("fixtures/cargo/one-bin"), checkout.path());
        }
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in entries(&self.workflow["env"])
            .into_iter()
            .chain(entries(&def["env"]))
        {
            env.insert(k, expand(&text(v), &values));
        }
        env.insert("IMAGE".into(), self.image.clone());
        let mut path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir().display());
        let mut outputs = BTreeMap::new();
        for (n, step) in steps.iter().enumerate() {
            for (key, _) in entries(step) {
                assert!(
                    ["name", "id", "run", "uses", "with", "env"].contains(&key.as_str()),
                    "{label}: step key `{key}` is not supported by the test"
                );
            }
            let name = step["name"].as_str().map(|s| expand(s, &values));
            let name = name.unwrap_or_else(|| format!("step {}", n + 1));
            if let Some(uses) = step["uses"].as_str() {
                let with: Vec<String> = entries(&step["with"])
                    .into_iter()
                    .map(|(k, v)| format!("{k}: {}", expand(&text(v), &values).trim()))
                    .collect();
                let stand_in = if uses.starts_with("actions/checkout@") {
                    "the job starts in a fresh copy of fixtures/cargo/one-bin".to_string()
                } else {
                    format!("the suite's warm caches stand in; {}", with.join("; "))
                };
                self.report.push_str(&format!(
                    "  {label}: `uses: {uses}` not run ({})\n",
                    stand_in.replace('\n', " ")
                ));
                continue;
            }
            let script = expand(step["run"].as_str().unwrap(), &values);
            if script.contains("cargo install ") {
                for line in script.lines().filter(|l| !l.trim().is_empty()) {
                    assert!(
                        INSTALL_COMMANDS.iter().any(|c| line.trim().starts_with(c)),
                        "{label} `{name}`: an install step (not run) may only install; `{line}` is not an install command"
                    );
                }
                self.report.push_str(&format!(
                    "  {label}: `{name}` not run (installs tools; the built imgpush is on PATH)\n"
                ));
                continue;
            }
            let files = tempfile::tempdir().unwrap();
            let [output, github_env, github_path] =
                ["output", "env", "path"].map(|f| files.path().join(f));
            let mut cmd = Command::new("/bin/bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
                .current_dir(checkout.path())
                .env_clear()
                .env("HOME", self.home.path())
                .env("LANG", "C.UTF-8")
                .env("CI", "true")
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_ACTOR", "octocat")
                .env("GITHUB_SHA", SHA)
                .env("GITHUB_OUTPUT", &output)
                .env("GITHUB_ENV", &github_env)
                .env("GITHUB_PATH", &github_path)
                // The caches actions/cache would restore, warm: the suite's own.
                .env("IMGPUSH_CACHE_DIR", suite_imgpush_cache())
                .env("ZIG_GLOBAL_CACHE_DIR", suite_zig_cache())
                .env("CARGO_TARGET_DIR", shared_target_dir())
                .envs(&env)
                .env("PATH", &path);
            for (k, v) in entries(&step["env"]) {
                cmd.env(k, expand(&text(v), &values));
            }
            let started = Instant::now();
            let out = cmd.output().unwrap();
            check(&out, &format!("{label} `{name}`"), &script);
            self.report.push_str(&format!(
                "  {label}: `{name}` ran, ok in {:.1} s\n",
                started.elapsed().as_secs_f64()
            ));
            if let Some(id) = step["id"].as_str() {
                for (k, v) in key_values(&output) {
                    values.insert(format!("steps.{id}.outputs.{k}"), v);
                }
            }
            env.extend(key_values(&github_env));
            for dir in std::fs::read_to_string(&github_path)
                .unwrap_or_default()
                .lines()
            {
                path = format!("{dir}:{path}");
            }
            outputs.insert(name, stdout(&out));
        }
        outputs
    }
}

// ---------------------------------------------------------------------------------------
// GitLab CI

/// Expands `$NAME` and `${NAME}` as GitLab does in `variables:`.
fn expand_variables(value: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = value.to_string();
    // Longest names first (reverse order): `$CI_REGISTRY` must not eat `$CI_REGISTRY_IMAGE`.
    for (k, v) in vars.iter().rev() {
        out = out
            .replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v);
    }
    assert!(
        !out.contains('$'),
        "the test has no value for a variable in `{value}`"
    );
    out
}

const GITLAB_KEYWORDS: &[&str] = &[
    "stages",
    "variables",
    "default",
    "include",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
];

/// What a job may say for the test to run it faithfully.
const GITLAB_JOB_KEYS: &[&str] = &[
    "stage",
    "image",
    "needs",
    "cache",
    "artifacts",
    "variables",
    "script",
];

/// Runs the pipeline's jobs (all, or those named in `only`) in stage order in `project`;
/// returns each job's stdout and the report.
pub fn run_gitlab(
    file: &str,
    project: &Path,
    predefined: &BTreeMap<String, String>,
    only: Option<&str>,
) -> Result<(BTreeMap<String, String>, String), String> {
    let pipeline = load(file);
    let stages: Vec<String> = pipeline["stages"]
        .as_vec()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    let mut vars = predefined.clone();
    for (k, v) in entries(&pipeline["variables"]) {
        let value = expand_variables(&text(v), predefined);
        vars.insert(k, value);
    }
    let mut jobs: Vec<(String, &Yaml)> = entries(&pipeline)
        .into_iter()
        .filter(|(name, _)| !GITLAB_KEYWORDS.contains(&name.as_str()) && !name.starts_with('.'))
        .collect();
    jobs.sort_by_key(|(_, job)| {
        stages
            .iter()
            .position(|s| *s == text(&job["stage"]))
            .unwrap()
    });
    let home = tempfile::tempdir().unwrap();
    let mut outputs = BTreeMap::new();
    let mut report = format!("{file}\n");
    for (name, job) in jobs {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let image = job["image"]["name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| text(&job["image"]));
        for (key, _) in entries(job) {
            assert!(
                GITLAB_JOB_KEYS.contains(&key.as_str()),
                "job {name}: `{key}` is not supported by the test"
            );
        }
        let mut cmd = Command::new("/bin/sh");
        cmd.env_clear();
        if image == IMGPUSH_IMAGE {
            // The imgpush image holds imgpush and a busybox shell: nothing else is used.
            cmd.env("PATH", bin_dir());
        } else if image.starts_with("golang:") {
            cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("GOCACHE", suite_go_cache());
        } else {
            panic!("job {name}: the test has no stand-in for image {image}");
        }
        let lines: Vec<String> = job["script"].as_vec().unwrap().iter().map(text).collect();
        let script = lines.join("\n");
        let started = Instant::now();
        let out = cmd
            .args(["-e", "-c", &script])
            .current_dir(project)
            .env("HOME", home.path())
            .env("LANG", "C.UTF-8")
            .envs(&vars)
            .envs(
                entries(&job["variables"])
                    .into_iter()
                    .map(|(k, v)| (k, expand_variables(&text(v), &vars))),
            )
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(format!("job {name} failed:\n{}", stderr(&out)));
        }
        report.push_str(&format!(
            "  job {name} ({image}): {} script line(s) ran, ok in {:.1} s\n",
            lines.len(),
            started.elapsed().as_secs_f64()
        ));
        outputs.insert(name, stdout(&out));
    }
    Ok((outputs, report))
}
