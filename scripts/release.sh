#!/usr/bin/env bash
# Release artifacts, made by imgpush's own pipeline: static musl `imgpush` and
# `cargo-imgpush` cross-compiled for linux/amd64 and linux/arm64 in one cargo invocation
# (`cargo imgpush --bin imgpush --bin cargo-imgpush --dist`), packed as
#   OUT/imgpush-VERSION-x86_64-unknown-linux-musl.tar.gz
#   OUT/imgpush-VERSION-aarch64-unknown-linux-musl.tar.gz
#   OUT/SHA256SUMS
# each tarball holding one directory imgpush-VERSION-TARGET/ with both binaries, the README
# and the license files: the names [package.metadata.binstall] in Cargo.toml points at.
# Byte-for-byte reproducible: entry times are the last commit's (`--epoch git`).
#
# Usage: scripts/release.sh [OUT]        (default OUT: ./dist)
# CARGO_IMGPUSH=path/to/cargo-imgpush uses that build of the tool instead of building one;
# CARGO_TARGET_DIR is honoured as cargo honours it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)
if [ -z "${CARGO_IMGPUSH:-}" ]; then
  cargo build --locked --quiet --manifest-path "$root/Cargo.toml" --bin cargo-imgpush
  target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  CARGO_IMGPUSH=$target_dir/debug/cargo-imgpush
fi
cd "$root"
"$CARGO_IMGPUSH" imgpush --manifest-path "$root/Cargo.toml" --locked \
  --bin imgpush --bin cargo-imgpush --dest /usr/local/bin/ \
  --platform linux/amd64,linux/arm64 --epoch git \
  --dist "$out" --quiet >/dev/null
cd "$out"
sha256sum -c --quiet SHA256SUMS
ls -1 ./*.tar.gz SHA256SUMS
