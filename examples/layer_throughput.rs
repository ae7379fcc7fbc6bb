//! Layer throughput: tar + compress + both sha256 of one input file, for each compression
//! setting, single-threaded (one layer = one core). Used by `bench/run.sh`.
//!
//!   cargo run --release --example layer_throughput -- FILE [gzip:1 gzip:6 zstd:3 …]

use imgpush::layer::{Compression, EntrySource, LayerEntry, LayerOptions, write_layer};
use std::time::Instant;

fn parse(s: &str) -> Compression {
    let (name, level) = s.split_once(':').unwrap_or((s, ""));
    match name {
        "gzip" => Compression::Gzip {
            level: level.parse().unwrap_or(6),
        },
        "zstd" => Compression::Zstd {
            level: level.parse().unwrap_or(3),
        },
        other => panic!("unknown compression {other}"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let input = std::path::PathBuf::from(
        args.next()
            .expect("usage: layer_throughput FILE [COMPRESSION…]"),
    );
    let mut settings: Vec<String> = args.collect();
    if settings.is_empty() {
        settings = ["gzip:1", "gzip:6", "zstd:3"].map(String::from).to_vec();
    }
    let size = std::fs::metadata(&input).expect("input file").len() as f64;
    let out = tempfile::tempdir().expect("temp dir");
    println!("| compression | MiB/s (one core) | ratio |");
    println!("|---|---|---|");
    for s in settings {
        let options = LayerOptions {
            mtime: 0,
            compression: parse(&s),
        };
        let entries = vec![LayerEntry::file(
            "/data",
            EntrySource::Path(input.clone()),
            0o644,
        )];
        let started = Instant::now();
        let layer = write_layer(entries, String::new(), options, out.path()).expect("layer");
        let secs = started.elapsed().as_secs_f64();
        println!(
            "| {s} | {:.0} | {:.2} |",
            size / 1024.0 / 1024.0 / secs,
            layer.size as f64 / size
        );
        std::fs::remove_file(&layer.path).ok();
    }
}
