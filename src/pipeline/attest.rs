//! After compose: the documents attached to each platform image — its SBOM and its SLSA
//! provenance. Each is rendered from this run's plan, artifacts and base, deterministically, so
//! that a re-push of the same inputs finds every referrer already there.

use crate::base::OpenedBase;
use crate::compile::Artifact;
use crate::compile::versions::ToolVersion;
use crate::error::Error;
use crate::image::provenance::{self, PREDICATE_ANNOTATION, ProvenanceInput, Resource};
use crate::image::sbom::{BaseRef, Component, SbomFormat, SbomInput};
use crate::image::{Attachment, BaseImage, ImageSet};
use crate::oci::{Digest, media};
use crate::plan::{BuildStd, Builder, Libc, Plan, Source};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the run learnt about itself for its provenance.
#[derive(Clone, Debug, Default)]
pub(super) struct BuildFacts {
    /// The compilers and linkers that ran, with their versions.
    pub tools: Vec<ToolVersion>,
    /// The packages the one cargo invocation built together, when it built more than this
    /// image's (`--workspace`): cargo unifies features across them, so they are part of
    /// how this binary was made. Sorted; empty for a build of one image.
    pub built_with: Vec<String>,
}

/// The name documents give the image: the target repository, else the program's name.
pub(super) fn image_name(plan: &Plan) -> String {
    if let Some(repo) = &plan.repo {
        return repo.to_string();
    }
    match &plan.source {
        Source::Cargo(c) => c.name().to_string(),
        Source::Go(g) => g.name.clone(),
        Source::Prebuilt(a) => a
            .first()
            .and_then(|a| a.dest.rsplit('/').next())
            .unwrap_or("image")
            .to_string(),
        Source::Bundle => plan
            .bundle
            .as_ref()
            .and_then(|b| b.source.file_name())
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "bundle".into()),
    }
}

/// Attaches an SBOM in `format` to every platform image: what that platform's artifacts
/// hold (crates compiled for its target, Go modules, prebuilt files), the bundle and the
/// extra files shared by all platforms, and the base as the ancestor, with its packages
/// when imgpush built it from packages.
pub(super) fn attach_sbom(
    plan: &Plan,
    set: &mut ImageSet,
    base: &BaseImage,
    opened: &OpenedBase,
    artifacts: &[Artifact],
    format: SbomFormat,
) -> Result<(), Error> {
    let name = image_name(plan);
    let mut shared: Vec<Component> = Vec::new();
    if let Some(b) = &plan.bundle {
        shared.extend(crate::compile::sbom::bundle(&b.source, &b.dest)?);
    }
    shared.extend(crate::compile::sbom::extra_files(&plan.files)?);
    let subjects = subjects(set);
    for (platform, subject) in subjects {
        let mut components: Vec<Component> = artifacts
            .iter()
            .filter(|a| a.platform == platform)
            .flat_map(|a| a.sbom.iter().cloned())
            .collect();
        components.extend(shared.iter().cloned());
        let ancestor = base
            .platforms
            .iter()
            .find(|b| b.platform == platform)
            .map(|bp| BaseRef {
                name: base.name.clone(),
                digest: bp.manifest_digest.clone(),
                packages: opened.packages(&platform),
            });
        let document = format.render(&SbomInput {
            name: name.clone(),
            platform: platform.clone(),
            subject,
            base: ancestor,
            components,
            created: plan.image.created,
            tool: format!("imgpush-{}", env!("CARGO_PKG_VERSION")),
        });
        let attachment =
            Attachment::new(format.artifact_type(), document).created_at(plan.image.created);
        set.attach(&platform, &attachment)?;
    }
    Ok(())
}

/// The platform images' platforms and manifest digests (attestation manifests carried from
/// a base, `unknown/unknown`, get no documents).
fn subjects(set: &ImageSet) -> Vec<(crate::oci::Platform, Digest)> {
    set.images
        .iter()
        .filter(|i| !i.platform.is_unknown())
        .map(|i| (i.platform.clone(), i.manifest.digest.clone()))
        .collect()
}

/// Attaches the provenance to every platform image (attestation manifests carried from a
/// base, `unknown/unknown`, get none).
pub(super) fn attach_provenance(
    plan: &Plan,
    set: &mut ImageSet,
    base: &BaseImage,
    artifacts: &[Artifact],
    facts: &BuildFacts,
) -> Result<(), Error> {
    let name = image_name(plan);
    let mut parameters = parameters(plan, set);
    if !facts.built_with.is_empty() {
        parameters.insert("builtWith".into(), json!(facts.built_with));
    }
    let mut common = dependencies(plan, facts);
    common.extend(source_revision(&project_dir(plan)));
    let subjects = subjects(set);
    for (platform, subject) in subjects {
        let mut deps = common.clone();
        if let Some(bp) = base.platforms.iter().find(|b| b.platform == platform) {
            deps.push(base_resource(base, &bp.manifest_digest));
        }
        if matches!(plan.source, Source::Prebuilt(_)) {
            deps.extend(prebuilt_inputs(artifacts, &platform));
        }
        let statement = provenance::render(&ProvenanceInput {
            name: name.clone(),
            platform: platform.clone(),
            subject,
            build_type: provenance::BUILD_TYPE,
            builder_version: env!("CARGO_PKG_VERSION").to_string(),
            parameters: parameters.clone(),
            dependencies: deps,
        });
        let attachment = Attachment::new(media::IN_TOTO_JSON, statement)
            .with_annotation(PREDICATE_ANNOTATION, provenance::PREDICATE_TYPE)
            .created_at(plan.image.created);
        set.attach(&platform, &attachment)?;
    }
    Ok(())
}

/// Files built elsewhere are inputs, not outputs: each by its place in the image and its
/// SHA-256 (unreadable ones were refused by the compile stage already).
fn prebuilt_inputs(artifacts: &[Artifact], platform: &crate::oci::Platform) -> Vec<Resource> {
    artifacts
        .iter()
        .filter(|a| &a.platform == platform)
        .flat_map(|a| &a.files)
        .filter_map(|f| {
            let digest = Digest::of_file(&f.source).ok()?;
            Some(Resource::named(&f.dest).digest("sha256", digest.hex()))
        })
        .collect()
}

/// The base as a resolved dependency: its platform manifest, by digest.
fn base_resource(base: &BaseImage, manifest: &Digest) -> Resource {
    let r = Resource::named("base").digest("sha256", manifest.hex());
    match &base.name {
        Some(n) => r.annotate("reference", n.as_str()),
        None => r.annotate("embedded", true),
    }
}

/// The settings that change the image (`externalParameters`), as values with no machine
/// paths in them: a path is named by its last component or its place in the image.
fn parameters(plan: &Plan, set: &ImageSet) -> BTreeMap<String, Value> {
    let mut p = BTreeMap::new();
    let platforms: Vec<String> = set
        .images
        .iter()
        .filter(|i| !i.platform.is_unknown())
        .map(|i| i.platform.to_string())
        .collect();
    p.insert("platforms".into(), json!(platforms));
    p.insert("source".into(), source_parameters(&plan.source));
    p.insert("dest".into(), json!(plan.dest));
    let i = &plan.image;
    let env: Vec<String> = i.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    p.insert(
        "image".into(),
        json!({
            "entrypoint": i.entrypoint,
            "cmd": i.cmd,
            "env": env,
            "workdir": i.workdir,
            "user": i.user,
            "expose": i.expose,
            "labels": i.labels,
            "annotations": i.annotations,
            "created": crate::oci::rfc3339(i.created),
        }),
    );
    let files: Vec<Value> = plan
        .files
        .iter()
        .map(|f| json!({ "dest": f.dest, "mode": f.mode.map(|m| format!("{m:04o}")), "owner": format!("{}:{}", f.owner.0, f.owner.1) }))
        .collect();
    if !files.is_empty() {
        p.insert("files".into(), json!(files));
    }
    if let Some(b) = &plan.bundle {
        p.insert(
            "static".into(),
            json!({ "dest": b.dest, "owner": format!("{}:{}", b.owner.0, b.owner.1) }),
        );
    }
    p.insert(
        "format".into(),
        json!(match plan.format {
            crate::image::ImageFormat::Oci => "oci",
            crate::image::ImageFormat::Docker => "docker",
        }),
    );
    p.insert("compression".into(), json!(plan.compression.to_string()));
    if let Some(s) = plan.sbom {
        p.insert("sbom".into(), json!(s.name()));
    }
    p
}

fn source_parameters(source: &Source) -> Value {
    match source {
        Source::Cargo(c) => json!({
            "kind": "cargo",
            "package": c.package,
            "version": c.version,
            "bins": c.bins,
            "features": c.features,
            "allFeatures": c.all_features,
            "noDefaultFeatures": c.no_default_features,
            "profile": c.profile,
            "libc": match c.libc { Libc::Musl => "musl".to_string(), Libc::Gnu => format!("gnu.{}", c.glibc_version) },
            "builder": match c.builder { Builder::Zigbuild => "zigbuild", Builder::Cargo => "cargo" },
            "buildStd": match c.build_std { BuildStd::Auto => "auto", BuildStd::Always => "always", BuildStd::Never => "never" },
            "locked": c.locked,
        }),
        Source::Go(g) => json!({
            "kind": "go",
            "package": g.package,
            "ldflags": g.ldflags,
            "tags": g.tags,
        }),
        Source::Prebuilt(a) => {
            // Sorted: the order of --artifact flags does not change the image.
            let mut artifacts: Vec<(String, &str)> = a
                .iter()
                .map(|a| (a.platform.to_string(), a.dest.as_str()))
                .collect();
            artifacts.sort();
            json!({
                "kind": "prebuilt",
                "artifacts": artifacts.iter().map(|(p, d)| json!({ "platform": p, "dest": d })).collect::<Vec<_>>(),
            })
        }
        Source::Bundle => json!({ "kind": "static" }),
    }
}

/// The directory whose revision is the source: the workspace, the Go module, the bundle,
/// or the first prebuilt file's directory.
fn project_dir(plan: &Plan) -> PathBuf {
    match &plan.source {
        Source::Cargo(c) => c.workspace_root.clone(),
        Source::Go(g) => g.module_dir.clone(),
        Source::Prebuilt(a) => a
            .first()
            .and_then(|a| a.path.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        Source::Bundle => plan
            .bundle
            .as_ref()
            .map(|b| b.source.clone())
            .unwrap_or_default(),
    }
}

/// Lockfiles and toolchains.
fn dependencies(plan: &Plan, facts: &BuildFacts) -> Vec<Resource> {
    let mut out = Vec::new();
    let locks: Vec<PathBuf> = match &plan.source {
        Source::Cargo(c) => vec![c.workspace_root.join("Cargo.lock")],
        Source::Go(g) => vec![g.module_dir.join("go.mod"), g.module_dir.join("go.sum")],
        Source::Bundle => plan
            .bundle
            .iter()
            .flat_map(|b| {
                [b.source.as_path()]
                    .into_iter()
                    .chain(b.source.parent())
                    .flat_map(|d| [d.join("package-lock.json"), d.join("npm-shrinkwrap.json")])
                    .collect::<Vec<_>>()
            })
            .collect(),
        Source::Prebuilt(_) => Vec::new(),
    };
    for lock in locks {
        if let Ok(bytes) = std::fs::read(&lock) {
            let name = lock
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            out.push(Resource::named(&name).digest("sha256", Digest::of(&bytes).hex()));
            // The nearest lockfile of a bundle is the one that counts.
            if matches!(plan.source, Source::Bundle) {
                break;
            }
        }
    }
    for t in &facts.tools {
        let r = Resource::named(&t.name).annotate("version", t.version.as_str());
        out.push(match version_number(&t.version) {
            Some(v) => r.uri(format!("pkg:generic/{}@{v}", t.name)),
            None => r,
        });
    }
    out
}

/// The first `N.N[.N…]` in a version line (`rustc 1.96.0 (…)` → `1.96.0`, `go1.19.8` →
/// `1.19.8`).
fn version_number(line: &str) -> Option<String> {
    let start = line.find(|c: char| c.is_ascii_digit())?;
    let v: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let v = v.trim_end_matches('.');
    v.contains('.').then(|| v.to_string())
}

/// The git revision of `dir` and whether its tree has changes: `uri` from `origin` (with
/// any credentials in it removed), `digest.gitCommit`, `annotations.dirty`. `None` outside
/// a git checkout or without git.
fn source_revision(dir: &Path) -> Option<Resource> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--verify", "-q", "HEAD"])?;
    let dirty = !git(&["status", "--porcelain", "--", "."])?.is_empty();
    let mut r = Resource::named("source")
        .digest("gitCommit", commit)
        .annotate("dirty", dirty);
    // A remote that is a directory on this machine names the machine, not the source.
    let local = |u: &str| u.starts_with('/') || u.starts_with('.') || u.starts_with("file:");
    if let Some(url) = git(&["remote", "get-url", "origin"]).filter(|u| !u.is_empty() && !local(u))
    {
        r = r.uri(format!("git+{}", without_credentials(&url)));
    }
    Some(r)
}

/// `https://user:token@host/x` → `https://host/x`; other forms unchanged.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() && !rest.contains('/') {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_statement() {
        assert_eq!(
            without_credentials("https://ci:s3cret@git.example.com/team/app.git"),
            "https://git.example.com/team/app.git"
        );
        assert_eq!(
            without_credentials("https://git.example.com/app.git"),
            "https://git.example.com/app.git"
        );
        assert_eq!(
            without_credentials("git@github.com:team/app.git"),
            "git@github.com:team/app.git"
        );
    }

    #[test]
    fn version_numbers_from_version_lines() {
        assert_eq!(
            version_number("rustc 1.96.0 (ac68faa20 2026-05-25)").as_deref(),
            Some("1.96.0")
        );
        assert_eq!(
            version_number("go version go1.19.8 linux/amd64").as_deref(),
            Some("1.19.8")
        );
        assert_eq!(version_number("0.17.1").as_deref(), Some("0.17.1"));
        assert_eq!(
            version_number("cargo-zigbuild 0.24.0").as_deref(),
            Some("0.24.0")
        );
        assert_eq!(version_number("no digits"), None);
    }

    #[test]
    fn a_checkout_gives_its_commit_and_whether_it_is_dirty() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            assert!(
                Command::new("git")
                    .arg("-C")
                    .arg(dir.path())
                    .args(args)
                    .env("GIT_AUTHOR_NAME", "t")
                    .env("GIT_AUTHOR_EMAIL", "t@t")
                    .env("GIT_COMMITTER_NAME", "t")
                    .env("GIT_COMMITTER_EMAIL", "t@t")
                    .status()
                    .unwrap()
                    .success()
            )
        };
        assert_eq!(source_revision(dir.path()), None, "not a checkout");
        git(&["init", "-q"]);
        std::fs::write(dir.path().join("a"), "1").unwrap();
        git(&["add", "a"]);
        git(&["commit", "-qm", "one"]);
        git(&["remote", "add", "origin", "https://u:p@example.com/app.git"]);
        let r = source_revision(dir.path()).unwrap();
        assert_eq!(r.digest["gitCommit"].len(), 40);
        assert_eq!(r.annotations["dirty"], json!(false));
        assert_eq!(r.uri.as_deref(), Some("git+https://example.com/app.git"));
        git(&["remote", "set-url", "origin", "/home/ci/mirror/app.git"]);
        assert_eq!(
            source_revision(dir.path()).unwrap().uri,
            None,
            "a local remote is a machine path"
        );
        std::fs::write(dir.path().join("a"), "2").unwrap();
        assert_eq!(
            source_revision(dir.path()).unwrap().annotations["dirty"],
            json!(true)
        );
    }
}
