#!/usr/bin/env bash
# Rust build benchmark (not a timed test): end-to-end `cargo imgpush` of the demo service for
# linux/amd64 + linux/arm64, pushed to a local registry on the embedded `static` base.
#   cold        empty std cache, empty target dir (std compiled from source once)
#   fresh       warm std cache, empty target dir (a new project on a machine that built once)
#   no-op       nothing changed
#   edit        one line of main.rs changed
# and, for reference, cargo's own no-op on the same target dir.
#   bash bench/cargo.sh      # needs: bash scripts/install-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/imgpush-cargo-bench.XXXXXX)
REG_PID=""
cleanup() { [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

cargo build --release --locked -q
CI=$PWD/target/release/cargo-imgpush
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
printf 'version: 0.1\nlog: {level: info, accesslog: {disabled: false}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: %s}\n' "$WORK/storage" "$REG" >"$WORK/registry.yml"
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done

cp -r examples/demo-service "$WORK/demo"
export IMGPUSH_CACHE_DIR=$WORK/cache
now() { date +%s.%N; }
run() { # $1 = label, $2 = target dir
  local r0 t0 t1
  r0=$(grep -c '"\(GET\|HEAD\|PUT\|POST\|PATCH\) /v2/' "$WORK/registry.log" || true)
  t0=$(now)
  "$CI" imgpush --manifest-path "$WORK/demo/Cargo.toml" --target-dir "$2" --repo "$REG/demo/service" >/dev/null 2>"$WORK/$1.log"
  t1=$(now)
  local r1; r1=$(grep -c '"\(GET\|HEAD\|PUT\|POST\|PATCH\) /v2/' "$WORK/registry.log" || true)
  printf '| %s | %s | %s |\n' "$1" "$(python3 -c "print(f'{$t1 - $t0:.2f}')")" $((r1 - r0))
}

printf '\nRust build benchmark — %s, %s cores; demo-service for linux/amd64 + linux/arm64\n\n' \
  "$(. /etc/os-release; echo "$PRETTY_NAME")" "$(nproc)"
printf '| run | seconds | registry requests |\n|---|---|---|\n'
run "cold (std built from source)" "$WORK/t1"
run "fresh target dir, std cached" "$WORK/t2"
run "no-op" "$WORK/t2"
sed -i 's/hello from/hi from/' "$WORK/demo/src/main.rs"
run "one-line edit" "$WORK/t2"

# cargo's own no-op on the same target dir, with the same flags imgpush used.
t0=$(now)
RUSTC=/usr/bin/rustc CARGO=/usr/bin/cargo RUSTFLAGS="-C link-self-contained=no --sysroot $(ls -d "$IMGPUSH_CACHE_DIR"/std-*)/sysroot" \
  cargo-zigbuild build --manifest-path "$WORK/demo/Cargo.toml" --release --target-dir "$WORK/t2" \
  --target x86_64-unknown-linux-musl --target aarch64-unknown-linux-musl >/dev/null 2>&1
t1=$(now)
printf '| cargo-zigbuild no-op alone | %s | – |\n' "$(python3 -c "print(f'{$t1 - $t0:.2f}')")"
