//! The same commit built as two CI runners would build it — two checkouts at different
//! depths, two `HOME`s, `CARGO_HOME`s, `TMPDIR`s, zig caches and empty imgpush caches (so
//! std is built from source twice) — gives the same index digest, for Rust and for Go, and
//! no machine path (home, temporary or cache directory, checkout, `.cargo/registry/src`)
//! appears in any layer. One platform (arm64, cross-compiled) keeps the two cold std builds
//! to a few minutes; the remaps are the same for every target.

mod support;

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use support::*;

/// One runner's private directories under `root/NAME`, and its checkout of `fixture`
/// at `root/NAME/DEPTH/…`.
struct Runner {
    dir: PathBuf,
    checkout: PathBuf,
}

impl Runner {
    fn new(root: &Path, name: &str, depth: &str, fixture: &Path) -> Runner {
        let dir = root.join(name);
        let checkout = dir.join(depth).join("src");
        copy_tree(fixture, &checkout);
        for d in ["home", "cargo-home", "tmp", "zig", "imgpush-cache", "go"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        Runner { dir, checkout }
    }

    /// imgpush with this runner's environment, writing an OCI layout; its printed reference.
    fn build(&self, imgpush: &Imgpush, program: &str, args: &[&str]) -> (String, PathBuf) {
        let name = Path::new(program).file_name().unwrap().to_string_lossy();
        let layout = self.dir.join(format!("out-{name}"));
        let mut c = imgpush.prepared(program);
        if program.ends_with("cargo-imgpush") {
            c.arg("imgpush");
        } else {
            c.arg("build");
        }
        c.args(args)
            .arg("--oci-layout")
            .arg(&layout)
            .current_dir(&self.checkout)
            // rustup's proxies find their toolchains through RUSTUP_HOME, not the new HOME.
            .env("RUSTUP_HOME", rustup_home())
            .env("HOME", self.dir.join("home"))
            .env("CARGO_HOME", self.dir.join("cargo-home"))
            .env("TMPDIR", self.dir.join("tmp"))
            .env("ZIG_GLOBAL_CACHE_DIR", self.dir.join("zig"))
            .env("ZIG_LOCAL_CACHE_DIR", self.dir.join("zig/local"))
            .env("IMGPUSH_CACHE_DIR", self.dir.join("imgpush-cache"))
            .env("GOPATH", self.dir.join("go"))
            .env("GOCACHE", self.dir.join("go/cache"))
            .env("GOMODCACHE", self.dir.join("go/mod"))
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR");
        let out = c.output().unwrap();
        (success_line(&out), layout)
    }
}

fn rustup_home() -> PathBuf {
    std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".rustup")))
        .unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            if e.file_name() != "target" {
                copy_tree(&e.path(), &target);
            }
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn digest_of(reference: &str) -> String {
    reference.rsplit('@').next().unwrap().to_string()
}

/// Every file of every layer in the layout, uncompressed: `(layer digest, path, bytes)`.
fn layer_files(layout: &Path) -> Vec<(String, String, Vec<u8>)> {
    let blob = |digest: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let json = |b: Vec<u8>| serde_json::from_slice::<Value>(&b).unwrap();
    let index = json(std::fs::read(layout.join("index.json")).unwrap());
    let mut out = Vec::new();
    for top in index["manifests"].as_array().unwrap() {
        let image_index = json(blob(top["digest"].as_str().unwrap()));
        for m in image_index["manifests"].as_array().unwrap() {
            let manifest = json(blob(m["digest"].as_str().unwrap()));
            for layer in manifest["layers"].as_array().unwrap() {
                let digest = layer["digest"].as_str().unwrap().to_string();
                // The referrers' documents (SBOM, provenance): checked whole, like files.
                if !layer["mediaType"].as_str().unwrap().contains(".tar") {
                    out.push((digest.clone(), "(attached document)".into(), blob(&digest)));
                    continue;
                }
                let gz = flate2::read::GzDecoder::new(std::io::Cursor::new(blob(&digest)));
                let mut tar = tar::Archive::new(gz);
                for entry in tar.entries().unwrap() {
                    let mut entry = entry.unwrap();
                    let path = entry.path().unwrap().display().to_string();
                    let mut bytes = Vec::new();
                    entry.read_to_end(&mut bytes).unwrap();
                    out.push((digest.clone(), path, bytes));
                }
            }
        }
    }
    out
}

/// Fails naming each layer file that holds one of `needles`.
fn assert_no_machine_paths(layout: &Path, needles: &[String]) {
    let mut found = Vec::new();
    for (layer, path, bytes) in layer_files(layout) {
        for n in needles {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                found.push(format!("{n} in {path} (layer {layer})"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "machine paths in the image:\n{}",
        found.join("\n")
    );
}

#[test]
fn two_runners_build_the_same_rust_and_go_images() {
    require_rust_cross();
    require("go", "golang-go");
    let imgpush = Imgpush::new();
    let root = tempfile::tempdir().unwrap();
    let rust = repo_root().join("fixtures/cargo/repro");
    let go = repo_root().join("fixtures/go/hello");
    let a = Runner::new(root.path(), "runner-a", "builds", &rust);
    let b = Runner::new(root.path(), "runner-b", "work/deeper/checkout", &rust);
    let cargo_imgpush = env!("CARGO_BIN_EXE_cargo-imgpush");
    let args = ["--platform", "linux/arm64", "--locked"];
    let (ref_a, layout_a) = a.build(&imgpush, cargo_imgpush, &args);
    let (ref_b, layout_b) = b.build(&imgpush, cargo_imgpush, &args);
    assert_eq!(
        digest_of(&ref_a),
        digest_of(&ref_b),
        "the same commit built by two runners"
    );
    // What would betray the machine: any of the runners' directories (checkouts, homes,
    // CARGO_HOMEs, TMPDIRs, zig and imgpush caches all live under `root`), a registry
    // source path, zig's default cache, the host's own home.
    let host_home = std::env::var("HOME").unwrap();
    let needles: Vec<String> = vec![
        root.path().display().to_string(),
        // The unremapped registry path; the remapped one is `/cargo/registry/src/…`.
        "/.cargo/registry/src".into(),
        "/.cache/zig".into(),
        format!("{host_home}/"),
        "/usr/lib/rustlib/src".into(),
    ];
    assert_no_machine_paths(&layout_a, &needles);
    // The remapped names are there instead (std's sources and the dependency's).
    let files = layer_files(&layout_a);
    let binary = &files
        .iter()
        .find(|(_, p, _)| p.ends_with("app/repro"))
        .unwrap()
        .2;
    let has = |s: &str| binary.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(has("/rustc/"), "std's sources as /rustc/<commit>");
    assert!(
        has("/cargo/registry/src/"),
        "the dependency's sources under /cargo"
    );
    drop(layout_b);

    let ga = Runner::new(root.path(), "go-a", "x", &go);
    let gb = Runner::new(root.path(), "go-b", "y/z/w", &go);
    let go_args = [".", "--platform", "linux/amd64,linux/arm64"];
    let (go_a, go_layout) = ga.build(&imgpush, env!("CARGO_BIN_EXE_imgpush"), &go_args);
    let (go_b, _) = gb.build(&imgpush, env!("CARGO_BIN_EXE_imgpush"), &go_args);
    assert_eq!(digest_of(&go_a), digest_of(&go_b), "Go: the same digest");
    assert_no_machine_paths(&go_layout, &needles[..2]);
}
