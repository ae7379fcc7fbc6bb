#!/usr/bin/env bash
# Cold-runner benchmark (not a timed test) for `--toolchain-cache` (issue 15): bench/service
# (tokio, clap, regex, serde) for linux/amd64 + linux/arm64, pushed to a local
# registry, from a cold runner: empty imgpush cache (std), empty zig and cargo-zigbuild
# caches, empty target dir. Side by side in one run:
#   host         native host-only `cargo build --release` of the same crate, empty target dir
#   cold, empty toolchain cache   everything built here (std, zig's libc/compiler-rt), then
#                                 pushed to the toolchain cache
#   cold, filled toolchain cache  a second cold runner: std and zig's cache pulled
# Host builds alternate with the cold runs; each ratio is against the mean of the host
# builds just before and after that run.
#   bash bench/toolchain_cache.sh      # needs: bash scripts/install-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_NAME=toolchain-cache
. bench/lib.sh

cargo build --release --locked -q
CI=$PWD/target/release/cargo-imgpush
start_registry reg
REG=$REGISTRY_HOST
cp -r bench/service "$WORK/demo"
# Crate sources are downloaded once, before timing: every run below reads the same CARGO_HOME.
RUSTC=/usr/bin/rustc /usr/bin/cargo fetch --locked --manifest-path "$WORK/demo/Cargo.toml" -q

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }

host() { # $1 = label
  local t0 t1
  t0=$(now)
  env -u RUSTFLAGS RUSTC=/usr/bin/rustc /usr/bin/cargo build --release --manifest-path "$WORK/demo/Cargo.toml" \
    --target-dir "$WORK/host-$1" --locked -q
  t1=$(now)
  secs "$t0" "$t1"
}

cold() { # $1 = label; a runner with nothing of its own
  local r="$WORK/runner-$1" t0 t1
  mkdir -p "$r"
  t0=$(now)
  IMGPUSH_CACHE_DIR="$r/imgpush" ZIG_GLOBAL_CACHE_DIR="$r/zig" CARGO_ZIGBUILD_CACHE_DIR="$r/zigbuild" \
    "$CI" imgpush --manifest-path "$WORK/demo/Cargo.toml" --target-dir "$r/target" \
    --repo "$REG/bench/service" --tag "$1" --locked --toolchain-cache "$REG/toolchain-cache" \
    >"$r/out" 2>"$r/log"
  t1=$(now)
  secs "$t0" "$t1"
}

h1=$(host first)
c0=$(cold empty)
h2=$(host second)
c1=$(cold filled-1)
h3=$(host third)
c2=$(cold filled-2)
h4=$(host fourth)
# Each cold run against the mean of the host builds just before and after it.
ratio() { python3 -c "print(f'{$1 / (($2 + $3) / 2):.2f}')"; }

printf '\nCold-runner benchmark - %s, %s cores; bench/service for linux/amd64 + linux/arm64\n\n' \
  "$(. /etc/os-release; echo "$PRETTY_NAME")" "$(nproc)"
printf '| run | seconds | host build before / after (s) | × host build |\n|---|---|---|---|\n'
printf '| cold runner, toolchain cache empty (builds std + zig cache, pushes them) | %s | %s / %s | %s |\n' "$c0" "$h1" "$h2" "$(ratio "$c0" "$h1" "$h2")"
printf '| cold runner, toolchain cache filled (pulls them), round 1 | %s | %s / %s | %s |\n' "$c1" "$h2" "$h3" "$(ratio "$c1" "$h2" "$h3")"
printf '| cold runner, toolchain cache filled (pulls them), round 2 | %s | %s / %s | %s |\n' "$c2" "$h3" "$h4" "$(ratio "$c2" "$h3" "$h4")"
grep -h "toolchain cache" "$WORK/runner-filled-1/log" | sed 's/^/    /'
for r in filled-1 filled-2; do
  a=$(cat "$WORK/runner-empty/out"); b=$(cat "$WORK/runner-$r/out")
  [ "${a#*@}" = "${b#*@}" ] || { echo "digests differ: $a $b"; exit 1; }
done
echo "same index digest on every runner: $(cat "$WORK/runner-empty/out" | sed 's/.*@//')"
