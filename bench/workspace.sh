#!/usr/bin/env bash
# Workspace benchmark (not a timed test): fixtures/cargo/fleet (six binaries in five members,
# linux/amd64 + linux/arm64) pushed to a local registry as six images, two ways, side by side
# in one run, each from an empty target dir with a warm std cache (a CI runner that keeps
# imgpush's cache but not the project's target dir):
#   workspace   one `cargo imgpush --workspace` (one cargo invocation for all twelve binaries)
#   separate    six `cargo imgpush -p PKG --bin BIN` runs, one after another, sharing the
#               target dir as a CI script would
# Each way runs ROUNDS times (default 2), alternating, so machine noise hits both alike.
#   bash bench/workspace.sh      # needs: bash scripts/install-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_NAME=workspace-bench
source bench/lib.sh
ROUNDS=${ROUNDS:-2}

cargo build --release --locked -q
CI=${CARGO_TARGET_DIR:-$PWD/target}/release/cargo-imgpush
start_registry reg
cp -r fixtures/cargo/fleet "$WORK/fleet"
export IMGPUSH_CACHE_DIR=$WORK/cache
MANIFEST=$WORK/fleet/Cargo.toml

# std for both targets into the cache once, outside the timings.
"$CI" imgpush --manifest-path "$MANIFEST" -p gateway --target-dir "$WORK/warm" \
  --repo "$REGISTRY_HOST/warm" >/dev/null 2>"$WORK/warm.log"

now() { date +%s.%N; }
workspace() { # $1 = target dir
  "$CI" imgpush --manifest-path "$MANIFEST" --workspace --target-dir "$1" \
    --repo "$REGISTRY_HOST/ws-$2" >/dev/null 2>>"$WORK/ws.log"
}
separate() { # $1 = target dir
  for pb in api:api worker:worker gateway:gateway cron:cron tools:migrate tools:seed; do
    "$CI" imgpush --manifest-path "$MANIFEST" -p "${pb%%:*}" --bin "${pb##*:}" \
      --target-dir "$1" --repo "$REGISTRY_HOST/sep-$2/${pb##*:}" >/dev/null 2>>"$WORK/sep.log"
  done
}

printf '| round | --workspace (s) | six -p runs (s) | ratio |\n|---|---|---|---|\n'
for r in $(seq "$ROUNDS"); do
  if (( r % 2 )); then order="workspace separate"; else order="separate workspace"; fi
  declare -A took
  for way in $order; do
    rm -rf "$WORK/t-$way"
    t0=$(now); "$way" "$WORK/t-$way" "$r"; t1=$(now)
    took[$way]=$(python3 -c "print(f'{$t1-$t0:.1f}')")
  done
  ratio=$(python3 -c "print(f'{${took[separate]}/${took[workspace]}:.2f}')")
  printf '| %s | %s | %s | %s× |\n' "$r" "${took[workspace]}" "${took[separate]}" "$ratio"
done
