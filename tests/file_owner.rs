//! `--file SRC:DST[:MODE[:UID:GID]]` and `files = [{ …, mode, owner }]`: the owner and mode
//! land in the layer's tar headers, the same for the flag and the `imgpush.toml` form, and
//! an independent unpacker (umoci, as root) gives the files that owner and mode.

mod support;

use flate2::read::GzDecoder;
use serde_json::Value;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use support::*;

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> std::path::PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// One entry of a layer: path (no leading `/`), kind byte, mode, uid, gid, content.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    path: String,
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    content: Vec<u8>,
}

/// Every layer of every platform manifest of the layout's only index, as (platform
/// architecture, layer digest, entries).
fn layers(layout: &Path) -> Vec<(String, String, Vec<Entry>)> {
    let top = json(&layout.join("index.json"));
    let index_digest = top["manifests"][0]["digest"].as_str().unwrap();
    let index = json(&blob(layout, index_digest));
    let mut out = Vec::new();
    for m in index["manifests"].as_array().unwrap() {
        let arch = m["platform"]["architecture"].as_str().unwrap().to_string();
        let manifest = json(&blob(layout, m["digest"].as_str().unwrap()));
        for layer in manifest["layers"].as_array().unwrap() {
            let digest = layer["digest"].as_str().unwrap().to_string();
            assert_eq!(
                layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
                "{digest}"
            );
            let bytes = std::fs::read(blob(layout, &digest)).unwrap();
            let mut archive = tar::Archive::new(GzDecoder::new(bytes.as_slice()));
            let entries = archive
                .entries()
                .unwrap()
                .map(|e| {
                    let mut e = e.unwrap();
                    let h = e.header().clone();
                    let mut content = Vec::new();
                    e.read_to_end(&mut content).unwrap();
                    Entry {
                        path: e
                            .path()
                            .unwrap()
                            .to_string_lossy()
                            .trim_end_matches('/')
                            .to_string(),
                        kind: h.entry_type().as_byte(),
                        mode: h.mode().unwrap(),
                        uid: h.uid().unwrap(),
                        gid: h.gid().unwrap(),
                        content,
                    }
                })
                .collect();
            out.push((arch.clone(), digest, entries));
        }
    }
    out
}

/// The layer holding `path` (the extra files' layer), per platform: its digest and entries.
fn files_layer(layout: &Path, path: &str) -> Vec<(String, Vec<Entry>)> {
    let found: Vec<(String, Vec<Entry>)> = layers(layout)
        .into_iter()
        .filter(|(_, _, entries)| entries.iter().any(|e| e.path == path))
        .map(|(_, digest, entries)| (digest, entries))
        .collect();
    assert_eq!(
        found.len(),
        2,
        "one files layer per platform (amd64, arm64)"
    );
    assert_eq!(found[0].0, found[1].0, "the files layer is shared");
    found
}

fn entry<'a>(entries: &'a [Entry], path: &str) -> &'a Entry {
    entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("{path} not in the layer: {entries:#?}"))
}

/// The working directory's inputs: `a.txt`, an executable `run.sh` and a tree `conf/`.
fn inputs(dir: &Path) {
    std::fs::write(dir.join("a.txt"), "secret\n").unwrap();
    std::fs::write(dir.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(dir.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("conf/sub")).unwrap();
    std::fs::write(dir.join("conf/sub/app.toml"), "x = 1\n").unwrap();
}

fn build(imgpush: &Imgpush, extra: &[&str]) -> String {
    let hello = hello();
    let args = arg_list(
        &[
            "build",
            "--dest",
            "/app/hello",
            "--artifact",
            &format!("linux/amd64={}", hello.amd64.display()),
            "--artifact",
            &format!("linux/arm64={}", hello.arm64.display()),
            "--oci-layout",
            "out",
        ],
        extra,
    );
    success_line(&imgpush.run_owned(&args))
}

#[test]
fn file_flag_owner_and_mode_land_in_the_layer_as_in_the_toml_form() {
    let by_flag = Imgpush::new();
    inputs(by_flag.cwd.path());
    let flag_ref = build(
        &by_flag,
        &[
            "--file",
            "a.txt:/etc/a.txt:0600:1000:1001",
            "--file",
            "run.sh:/usr/local/bin/run.sh::65532:65533",
            "--file",
            "conf:/etc/conf:0640:7:8",
            "--file",
            "a.txt:/etc/root.txt",
        ],
    );
    let layout = by_flag.cwd.path().join("out");
    let found = files_layer(&layout, "etc/a.txt");
    let entries = &found[0].1;

    let a = entry(entries, "etc/a.txt");
    assert_eq!(a.kind, b'0');
    assert_eq!((a.uid, a.gid), (1000, 1001));
    assert_eq!(a.mode & 0o7777, 0o600);
    assert_eq!(a.content, b"secret\n");
    // An empty MODE keeps the default (executable: 0755).
    let run = entry(entries, "usr/local/bin/run.sh");
    assert_eq!((run.uid, run.gid, run.mode & 0o7777), (65532, 65533, 0o755));
    // A directory: every entry below it gets the owner, files the mode, directories 0755.
    let conf = entry(entries, "etc/conf");
    assert_eq!((conf.kind, conf.uid, conf.gid), (b'5', 7, 8));
    assert_eq!(conf.mode & 0o7777, 0o755);
    let sub = entry(entries, "etc/conf/sub");
    assert_eq!((sub.kind, sub.uid, sub.gid), (b'5', 7, 8));
    let app = entry(entries, "etc/conf/sub/app.toml");
    assert_eq!((app.uid, app.gid, app.mode & 0o7777), (7, 8, 0o640));
    // Parent directories made for the files stay root's.
    let etc = entry(entries, "etc");
    assert_eq!(
        (etc.kind, etc.uid, etc.gid, etc.mode & 0o7777),
        (b'5', 0, 0, 0o755)
    );
    // Without an owner: root.
    let root = entry(entries, "etc/root.txt");
    assert_eq!((root.uid, root.gid, root.mode & 0o7777), (0, 0, 0o644));

    // The same files in imgpush.toml: the same layer, the same image.
    let by_file = Imgpush::new();
    inputs(by_file.cwd.path());
    std::fs::write(
        by_file.cwd.path().join("imgpush.toml"),
        r#"files = [
  { src = "a.txt", dest = "/etc/a.txt", mode = "0600", owner = "1000:1001" },
  { src = "run.sh", dest = "/usr/local/bin/run.sh", owner = "65532:65533" },
  { src = "conf", dest = "/etc/conf", mode = "0640", owner = "7:8" },
  { src = "a.txt", dest = "/etc/root.txt" },
]
"#,
    )
    .unwrap();
    let file_ref = build(&by_file, &[]);
    let from_file = files_layer(&by_file.cwd.path().join("out"), "etc/a.txt");
    assert_eq!(from_file[0].0, found[0].0, "same files layer digest");
    assert_eq!(
        file_ref.rsplit('@').next(),
        flag_ref.rsplit('@').next(),
        "same image digest"
    );

    // An independent unpacker gives the files that owner and mode (it can chown only as
    // root; the tar headers above are checked for everyone).
    if unsafe { libc::geteuid() } == 0 {
        let work = tempfile::tempdir().unwrap();
        let tag = layout_tag(&layout);
        let bundle = unpack_platform(
            &format!("oci:{}:{tag}", layout.display()),
            "amd64",
            work.path(),
            None,
        );
        let meta = std::fs::metadata(bundle.join("rootfs/etc/a.txt")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 1001));
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        let meta = std::fs::metadata(bundle.join("rootfs/etc/conf/sub/app.toml")).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777),
            (7, 8, 0o640)
        );
    }
}

/// The tag the layout's index is under.
fn layout_tag(layout: &Path) -> String {
    let top = json(&layout.join("index.json"));
    top["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn bad_file_owners_fail_before_anything_is_written() {
    let imgpush = Imgpush::new();
    inputs(imgpush.cwd.path());
    let hello = hello();
    let amd = format!("linux/amd64={}", hello.amd64.display());
    for (file, expect) in [
        ("a.txt:/etc/a.txt:0600:1000", "the owner is UID:GID"),
        (
            "a.txt:/etc/a.txt:0600:me:1000",
            "the UID `me` is not a number",
        ),
        (
            "a.txt:/etc/a.txt:0600:1:1:1",
            "expected SRC:DST[:MODE[:UID:GID]]",
        ),
        ("a.txt:/etc/a.txt:0x600:1:1", "`0x600` is not an octal mode"),
    ] {
        let out = imgpush.run(&[
            "build",
            "--artifact",
            &amd,
            "--oci-layout",
            "out",
            "--file",
            file,
        ]);
        assert!(!out.status.success(), "{file} should fail");
        let err = stderr(&out);
        assert!(
            err.contains("--file") && err.contains(expect),
            "{file}: {err}"
        );
        assert!(
            !imgpush.cwd.path().join("out").exists(),
            "{file}: wrote out/"
        );
    }
}
