//! Running the same build again: bit-for-bit the same image from anywhere, a no-op push
//! in at most 3 registry requests, the layer cache (and what happens when it is damaged),
//! and zstd layers.

mod support;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use support::*;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Runs imgpush with its own cache directory.
fn run_with_cache(imgpush: &Imgpush, cache: &Path, args: &[String]) -> Output {
    imgpush
        .command()
        .env("IMGPUSH_CACHE_DIR", cache)
        .args(args)
        .output()
        .unwrap()
}

/// Copies the static-site fixture into `dir` with every file's mtime set to `mtime` and
/// permissions as a `umask` would leave them, plus a config file and the hello binary.
fn prepare_inputs(dir: &Path, mtime: i64, umask: u32) {
    let copy = Command::new("cp")
        .arg("-r")
        .arg(repo_root().join("fixtures/static-site"))
        .arg(dir.join("site"))
        .status()
        .unwrap();
    assert!(copy.success());
    std::fs::write(dir.join("app.toml"), "port = 8080\n").unwrap();
    std::fs::copy(&hello().amd64, dir.join("hello")).unwrap();
    let walk = Command::new("find").arg(dir).output().unwrap();
    for line in String::from_utf8_lossy(&walk.stdout).lines() {
        let p = Path::new(line);
        let meta = std::fs::symlink_metadata(p).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        let base = if meta.is_dir() || line.ends_with("/hello") {
            0o777
        } else {
            0o666
        };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(base & !umask)).unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime as u64);
        let f = std::fs::File::options().read(true).open(p).unwrap();
        f.set_modified(t).unwrap();
    }
}

fn build_args(extra: &[&str]) -> Vec<String> {
    arg_list(
        &[
            "build",
            "--static",
            "site",
            "--dest",
            "/srv/www",
            "--file",
            "app.toml:/etc/app.toml",
            "--file",
            "hello:/usr/local/bin/hello",
            "--platform",
            "linux/amd64,linux/arm64",
        ],
        extra,
    )
}

#[test]
fn same_inputs_same_digest_from_any_directory_mtime_or_umask() {
    let cache = tempfile::tempdir().unwrap();
    let a = Imgpush::new();
    let b = Imgpush::new();
    prepare_inputs(a.cwd.path(), 1_000_000_000, 0o022);
    prepare_inputs(b.cwd.path(), 1_700_000_000, 0o002);
    // Different directories, times, permissions; separate caches so nothing is shared.
    let out_a = run_with_cache(&a, cache.path(), &build_args(&[]));
    let out_b = a
        .command()
        .current_dir(b.cwd.path())
        .env("IMGPUSH_CACHE_DIR", b.cwd.path().join(".cache"))
        .args(build_args(&["--oci-layout", "elsewhere"]))
        .output()
        .unwrap();
    let (la, lb) = (success_line(&out_a), success_line(&out_b));
    let digest = |l: &str| l.rsplit('@').next().unwrap().to_string();
    assert_eq!(digest(&la), digest(&lb));

    // (The golden index digest of a fixed fixture is pinned in tests/embedded.rs.)

    // SOURCE_DATE_EPOCH (and --epoch) move every timestamp, and only them.
    let at = |epoch: &str| {
        let out = a
            .command()
            .env("IMGPUSH_CACHE_DIR", cache.path())
            .env("SOURCE_DATE_EPOCH", epoch)
            .args(build_args(&["--oci-layout", "epoch"]))
            .output()
            .unwrap();
        digest(&success_line(&out))
    };
    let later = at("1700000000");
    assert_ne!(later, digest(&la));
    assert_eq!(later, at("1700000000"));
    let raw = skopeo_raw(
        &format!("oci:{}:latest", a.cwd.path().join("epoch").display()),
        None,
    );
    let index = json(&raw);
    let manifest = json(
        &std::fs::read(
            a.cwd.path().join("epoch/blobs/sha256").join(
                index["manifests"][0]["digest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:"),
            ),
        )
        .unwrap(),
    );
    let config = json(
        &std::fs::read(
            a.cwd.path().join("epoch/blobs/sha256").join(
                manifest["config"]["digest"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("sha256:"),
            ),
        )
        .unwrap(),
    );
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
}

#[test]
fn epoch_git_takes_the_last_commit_time() {
    require("git", "git");
    let imgpush = Imgpush::new();
    let dir = imgpush.cwd.path();
    std::fs::copy(&hello().amd64, dir.join("hello")).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_COMMITTER_DATE", "2021-01-02T03:04:05Z")
            .env("GIT_AUTHOR_DATE", "2021-01-02T03:04:05Z")
            .args(["-c", "user.name=t", "-c", "user.email=t@e"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "hello"]);
    git(&["commit", "-qm", "x"]);
    let out = imgpush.run(&[
        "build",
        "--artifact",
        "linux/amd64=hello",
        "--epoch",
        "git",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out.stdout);
    let layout = dir.join("imgpush-out");
    let manifest_digest = v["platforms"][0]["digest"].as_str().unwrap();
    let manifest =
        json(&std::fs::read(layout.join("blobs/sha256").join(&manifest_digest[7..])).unwrap());
    let config = json(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(&manifest["config"]["digest"].as_str().unwrap()[7..]),
        )
        .unwrap(),
    );
    assert_eq!(config["created"], "2021-01-02T03:04:05Z");

    let out = Imgpush::new().run(&[
        "build",
        "--artifact",
        "linux/amd64=/bin/true",
        "--epoch",
        "git",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not in a git repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_no_op_push_takes_at_most_three_requests_and_new_tags_only_tags() {
    let registry = Registry::start();
    let base = registry.seed_busybox("base/busybox", &[]);
    let cache = tempfile::tempdir().unwrap();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/noop", registry.host);
    let args = hello_build(&repo, &["--base", &base]);
    let first = success_line(&run_with_cache(&imgpush, cache.path(), &args));

    let before = registry.requests().len();
    let out = run_with_cache(&imgpush, cache.path(), &args);
    assert_eq!(success_line(&out), first);
    let requests: Vec<String> = registry.requests()[before..].to_vec();
    assert!(requests.len() <= 3, "{requests:?}");
    assert_eq!(
        requests,
        [
            "GET /v2/",
            "HEAD /v2/base/busybox/manifests/latest",
            "HEAD /v2/app/noop/manifests/latest"
        ]
    );
    let err = stderr(&out);
    assert!(err.contains("is up to date"), "{err}");
    assert_eq!(
        err.matches("from the cache (nothing compressed)").count(),
        2,
        "{err}"
    );

    // Only a new tag: the tag is all that is written.
    let before = registry.requests().len();
    let mut tagged = args.clone();
    tagged.extend(["-t".to_string(), "v2".to_string()]);
    success_line(&run_with_cache(&imgpush, cache.path(), &tagged));
    let writes: Vec<String> = registry.requests()[before..]
        .iter()
        .filter(|r| !r.starts_with("GET") && !r.starts_with("HEAD"))
        .cloned()
        .collect();
    assert_eq!(writes, ["PUT /v2/app/noop/manifests/v2"]);
    let mut tags = registry.tags("app/noop");
    tags.sort();
    assert_eq!(tags, ["latest", "v2"]);

    // When the base tag moves, the new base is fetched and the image rebuilt on it.
    let moved = registry.seed_busybox("base/busybox", &["--format", "v2s2"]);
    assert_eq!(moved, base);
    let out = run_with_cache(&imgpush, cache.path(), &args);
    let rebuilt = success_line(&out);
    assert_ne!(rebuilt, first, "the moved base was noticed");
    let raw = skopeo_raw(&format!("docker://{repo}:latest"), None);
    assert!(rebuilt.ends_with(&sha256_hex(&raw)));
}

#[test]
fn the_layer_cache_skips_compression_and_survives_damage() {
    let registry = Registry::start();
    let cache = tempfile::tempdir().unwrap();
    let imgpush = Imgpush::new();
    let repo = format!("{}/app/cached", registry.host);
    let args = hello_build(&repo, &[]);
    let out = run_with_cache(&imgpush, cache.path(), &args);
    let first = success_line(&out);
    assert!(!stderr(&out).contains("from the cache"), "{}", stderr(&out));

    // Another repository, same inputs: no compression at all, same digest.
    let other = hello_build(&format!("{}/app/cached-too", registry.host), &[]);
    let out = run_with_cache(&imgpush, cache.path(), &other);
    let err = stderr(&out);
    assert_eq!(
        err.matches("from the cache (nothing compressed)").count(),
        2,
        "{err}"
    );
    assert_eq!(
        success_line(&out).rsplit('@').next(),
        first.rsplit('@').next()
    );

    // Damage every cached layer blob: noticed, rebuilt, and the pushed image is sound.
    let blobs = cache.path().join("blobs/sha256");
    let layers: Vec<std::path::PathBuf> = std::fs::read_dir(cache.path().join("layers"))
        .unwrap()
        .map(|e| {
            let entry: Value = json(&std::fs::read(e.unwrap().path()).unwrap());
            blobs.join(&entry["digest"].as_str().unwrap()[7..])
        })
        .collect();
    assert_eq!(layers.len(), 2);
    for blob in &layers {
        let mut bytes = std::fs::read(blob).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(blob, bytes).unwrap();
    }
    let damaged = hello_build(&format!("{}/app/after-damage", registry.host), &[]);
    let out = run_with_cache(&imgpush, cache.path(), &damaged);
    let line = success_line(&out);
    let err = stderr(&out);
    assert_eq!(
        err.matches("damaged cache entry rebuilt").count(),
        2,
        "{err}"
    );
    assert_eq!(line.rsplit('@').next(), first.rsplit('@').next());
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack_platform(
        &format!("docker://{}/app/after-damage:latest", registry.host),
        "amd64",
        work.path(),
        None,
    );
    assert_eq!(runc_run(&bundle).trim(), "hello from x86_64");

    // --no-cache builds everything again and leaves the cache alone.
    let out = run_with_cache(&imgpush, cache.path(), &hello_build(&repo, &["--no-cache"]));
    success_line(&out);
    assert!(!stderr(&out).contains("from the cache"));

    // The cache is bounded: a tiny limit evicts what a run does not need any more.
    let out = imgpush
        .command()
        .env("IMGPUSH_CACHE_DIR", cache.path())
        .env("IMGPUSH_CACHE_MAX_MB", "0")
        .args(hello_build(&repo, &[]))
        .output()
        .unwrap();
    success_line(&out);
    assert_eq!(std::fs::read_dir(&blobs).unwrap().count(), 0);
}

#[test]
fn zstd_layers_carry_the_oci_zstd_type_and_decompress_to_the_diff_id() {
    require("zstd", "zstd");
    let registry = Registry::start();
    let repo = format!("{}/app/zstd", registry.host);
    let line =
        success_line(&Imgpush::new().run_owned(&hello_build(&repo, &["--compression", "zstd:9"])));
    let raw = skopeo_raw(&format!("docker://{repo}:latest"), None);
    assert!(line.ends_with(&sha256_hex(&raw)), "{line}");
    let index = json(&raw);
    let child = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest = json(&skopeo_raw(&format!("docker://{repo}@{child}"), None));
    let config_out = Command::new("skopeo")
        .args(["inspect", "--config", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{repo}@{child}"))
        .output()
        .unwrap();
    let config = json(&config_out.stdout);
    let ours = manifest["layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        ours["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    // The base layer (gzip, from the embedded base) is kept as it is.
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let work = tempfile::tempdir().unwrap();
    let blob = work.path().join("layer.zst");
    let digest = ours["digest"].as_str().unwrap();
    let out = Command::new("curl")
        .args(["-sf", "-o"])
        .arg(&blob)
        .arg(format!(
            "http://{}/v2/app/zstd/blobs/{digest}",
            registry.host
        ))
        .status()
        .unwrap();
    assert!(out.success());
    let tar = Command::new("zstd")
        .args(["-d", "-c"])
        .arg(&blob)
        .output()
        .unwrap();
    assert!(
        tar.status.success(),
        "{}",
        String::from_utf8_lossy(&tar.stderr)
    );
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(
        format!("sha256:{}", sha256_hex(&tar.stdout)),
        diff_ids.last().unwrap().as_str().unwrap()
    );

    // zstd has no Docker schema2 type.
    let out = Imgpush::new().run_owned(&hello_build(
        &repo,
        &["--compression", "zstd", "--format", "docker"],
    ));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no zstd layer type"),
        "{}",
        stderr(&out)
    );
}

/// No HOME, no XDG_CACHE_HOME, no IMGPUSH_CACHE_DIR (a bare container, a system user): the
/// cache is `$TMPDIR/imgpush-<uid>`, made 0700, and refused (cache off, one warning) once
/// it is open to other users.
#[test]
fn without_home_the_cache_is_private_to_the_user() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let uid = std::fs::metadata(tmp.path()).unwrap().uid();
    let imgpush = Imgpush::new();
    let hello = hello();
    let run = || {
        imgpush
            .command()
            .env_remove("HOME")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("IMGPUSH_CACHE_DIR")
            .env("TMPDIR", tmp.path())
            .args([
                "build",
                "--oci-layout",
                "out",
                "--dest",
                "/app/hello",
                "--artifact",
            ])
            .arg(format!("linux/amd64={}", hello.amd64.display()))
            .output()
            .unwrap()
    };
    success_line(&run());
    let dir = tmp.path().join(format!("imgpush-{uid}"));
    let meta = std::fs::symlink_metadata(&dir).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert!(dir.join("layers").is_dir(), "the cache was used");
    let out = run();
    success_line(&out);
    assert!(stderr(&out).contains("from the cache"), "{}", stderr(&out));

    // Someone (or a careless chmod) opened it up: not trusted any more.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run();
    success_line(&out);
    let err = stderr(&out);
    assert_eq!(err.matches("warning:").count(), 1, "{err}");
    assert!(
        err.contains("cache is off") && err.contains("mode 755"),
        "{err}"
    );
    assert!(!err.contains("from the cache"), "{err}");
}
