#!/usr/bin/env bash
# imgpush benchmark suite (not timed tests): one run, side by side, one table per job.
#
#   1. layer + push of 2 platforms × ~9 MB static binary onto a base in the same registry:
#      imgpush cold (empty cache), warm cache (new repository), no-op — requests and bytes
#      uploaded each — and buildah doing the same job on the same registry and payload;
#   2. layer throughput (tar + compress + 2×sha256, one core) for a 100 MB input, gzip and zstd;
#   3. copy of a base with a 1 GiB layer from one registry to another: time and peak RSS;
#   4. `cargo imgpush` of examples/demo-service for 2 platforms: warm, and after a one-line
#      edit (skip with BENCH_SKIP_CARGO=1);
#   5. token renewal: the same throttled push through the field front with 300 s and 1 s
#      tokens (tests/field_bench.rs).
#
#   bash bench/run.sh          # needs: bash scripts/install-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. bench/lib.sh

cargo build --release --locked -q --bins --example layer_throughput
IMGPUSH=$ROOT/target/release/imgpush
export IMGPUSH_CACHE_DIR=$WORK/cache

start_registry a; REG=$REGISTRY_HOST
start_registry b; REG_B=$REGISTRY_HOST

requests() { grep -cE '"(GET|HEAD|PUT|POST|PATCH) /v2/' "$WORK/a.log" || true; }
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }
# Bytes of the blobs whose uploads completed (a 201 to a PUT …/blobs/uploads/…?digest=),
# sized from the registry's storage; mounted blobs are not uploads.
uploaded_since() { # $1 = log line to start after
  tail -n +"$(($1 + 1))" "$WORK/a.log" | STORAGE="$WORK/a-storage" python3 -c '
import os,re,sys
root=os.environ["STORAGE"]
t=0
for line in sys.stdin:
    if "http.request.method=PUT" not in line or "http.response.status=201" not in line:
        continue
    m=re.search(r"/blobs/uploads/[^ ]*digest=sha256%3A([0-9a-f]{64})", line)
    if m:
        h=m.group(1)
        t+=os.path.getsize(f"{root}/docker/registry/v2/blobs/sha256/{h[:2]}/{h}/data")
print(t)'; }
lines() { wc -l <"$WORK/a.log"; }

# ---------------------------------------------------------------- 1. the spine job
spine_inputs "$REG"
SIZE=$(stat -c %s "$WORK/hello-amd64")

median() { python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.3f}')" "$@"; }

run_imgpush() { # $1 = repo, $2 = cache dir; prints "seconds requests bytes"
  local r0 l0 t0 t1
  r0=$(requests); l0=$(lines); t0=$(now)
  IMGPUSH_CACHE_DIR=$2 "$IMGPUSH" build --repo "$REG/$1" --base "$REG/base/busybox:latest" \
    --artifact "linux/amd64=$WORK/hello-amd64" --artifact "linux/arm64=$WORK/hello-arm64" \
    --dest /app/hello >/dev/null 2>"$WORK/imgpush.err"
  t1=$(now)
  echo "$(elapsed "$t0" "$t1") $(($(requests) - r0)) $(uploaded_since "$l0")"
}
"$IMGPUSH" --version >/dev/null   # page the binary in before timing anything
# Cold: empty cache, new repository (base already in the registry) — three runs, median.
COLD_TIMES=()
for i in 1 2 3; do
  read -r secs COLD_REQ COLD_UP <<<"$(run_imgpush "app/cold-$i" "$WORK/cache-cold-$i")"
  COLD_TIMES+=("$secs")
done
COLD=$(median "${COLD_TIMES[@]}")
# Warm cache (the layers of cold run 3), new repository: nothing compressed, all uploaded.
read -r WARM WARM_REQ WARM_UP <<<"$(run_imgpush app/warm "$WORK/cache-cold-3")"
# No-op: the same build again.
read -r NOOP NOOP_REQ NOOP_UP <<<"$(run_imgpush app/warm "$WORK/cache-cold-3")"

# buildah, the same job: fresh storage each time (its cold run pulls the base), median of 3.
BUILDAH_TIMES=()
for i in 1 2 3; do
  B="buildah --root $WORK/buildah-$i/root --runroot $WORK/buildah-$i/run --storage-driver vfs"
  r0=$(requests); l0=$(lines); t0=$(now)
  $B manifest create bench-list >/dev/null
  for a in amd64 arm64; do
    c=$($B from -q --arch "$a" --tls-verify=false "docker://$REG/base/busybox:latest")
    $B copy "$c" "$WORK/hello-$a" /app/hello >/dev/null
    $B config --entrypoint '["/app/hello"]' --cmd '' "$c" 2>/dev/null
    $B commit -q --manifest bench-list "$c" >/dev/null
  done
  $B manifest push -q --all --tls-verify=false bench-list "docker://$REG/app/buildah-$i:v1" >/dev/null
  t1=$(now)
  BUILDAH_TIMES+=("$(elapsed "$t0" "$t1")")
  BUILDAH_REQ=$(($(requests) - r0)); BUILDAH_UP=$(uploaded_since "$l0")
  $B rm --all >/dev/null 2>&1 || true
done
BUILDAH=$(median "${BUILDAH_TIMES[@]}")

# ---------------------------------------------------------------- 2. layer throughput
# 100 MB of real executables and libraries (what layers mostly hold), and 100 MB of random
# bytes (pre-compressed assets: the worst case).
# (head closes the pipe after 100 MB; the writer's SIGPIPE is expected.)
(for f in /usr/bin/* /usr/lib/x86_64-linux-gnu/*.so*; do [ -f "$f" ] && cat "$f"; done) 2>/dev/null \
  | head -c 100000000 >"$WORK/binaries-100MB" || true
head -c 100000000 /dev/urandom >"$WORK/random-100MB"
THROUGHPUT_BIN=$("$ROOT/target/release/examples/layer_throughput" "$WORK/binaries-100MB" gzip:3 gzip:6 gzip:1 zstd:3 zstd:9)
THROUGHPUT_RND=$("$ROOT/target/release/examples/layer_throughput" "$WORK/random-100MB" gzip:3 zstd:3)

# ---------------------------------------------------------------- 3. 1 GiB copy
mkdir -p "$WORK/big"
head -c 1073741824 /dev/urandom >"$WORK/big/blob"
"$IMGPUSH" build --no-cache --static "$WORK/big" --dest /data --platform linux/amd64 \
  --compression zstd:1 --repo "$REG/base/big" >/dev/null 2>&1
rss() { # runs "$@", prints "seconds peak-RSS-MiB"
  local t0 t1 kb
  t0=$(now)
  /usr/bin/time -f %M -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/rss.err"
  t1=$(now)
  kb=$(tail -1 "$WORK/rss")
  printf '%s %s' "$(elapsed "$t0" "$t1")" "$(python3 -c "print(f'{$kb/1024:.1f}')")"
}
read -r COPY_S COPY_RSS <<<"$(rss "$IMGPUSH" copy "$REG/base/big:latest" "$REG_B/mirror/big:latest")"
read -r BASE_S BASE_RSS <<<"$(rss "$IMGPUSH" build --base "$REG/base/big:latest" --repo "$REG_B/app/on-big" \
  --artifact "linux/amd64=$WORK/hello-amd64" --dest /app/hello)"

# ---------------------------------------------------------------- 4. cargo imgpush
CARGO_ROWS=""
if [ "${BENCH_SKIP_CARGO:-0}" != 1 ]; then
  CI=$ROOT/target/release/cargo-imgpush
  cp -r examples/demo-service "$WORK/demo"
  # A std built before (by examples/demo-service/run.sh or the tests) is reused from the
  # usual cache; the first build of the suite is the warm-up and is not reported.
  CARGO_CACHE=${IMGPUSH_BENCH_STD_CACHE:-$HOME/.cache/imgpush}
  cargo_run() { # $1 = label
    local r0 t0 t1
    r0=$(requests); t0=$(now)
    IMGPUSH_CACHE_DIR=$CARGO_CACHE "$CI" imgpush --manifest-path "$WORK/demo/Cargo.toml" \
      --target-dir "$WORK/demo-target" --repo "$REG/demo/service" >/dev/null 2>"$WORK/cargo.err"
    t1=$(now)
    printf '| %s | %s | %s |\n' "$1" "$(elapsed "$t0" "$t1")" $(($(requests) - r0))
  }
  cargo_run "first build (warm-up)" >/dev/null
  CARGO_ROWS=$(
    cargo_run "warm: nothing changed"
    sed -i 's/hello from/hi from/' "$WORK/demo/src/main.rs"
    cargo_run "after a one-line edit of main.rs"
  )
fi

# ---------------------------------------------------------------- 5. token renewal
RENEWAL=$(cd "$ROOT" && cargo test --release --locked -q --test field_bench -- --ignored --nocapture 2>&1 \
  | grep -E '^\||^renewal overhead')

# ---------------------------------------------------------------- report
printf '\nimgpush benchmark suite — %s, %s cores, %s; %s\n' \
  "$(. /etc/os-release; echo "$PRETTY_NAME")" "$(nproc)" "$(free -g | awk '/Mem:/{print $2 " GiB"}')" "$(date -u +%Y-%m-%d)"
printf '\n### 1. Two platforms × %s-byte static binary onto a base in the same registry\n\n' "$SIZE"
printf '| run | seconds | registry requests | bytes uploaded |\n|---|---|---|---|\n'
printf '| imgpush cold: empty cache, new repository (median of %s) | %s | %s | %s |\n' "${COLD_TIMES[*]}" "$COLD" "$COLD_REQ" "$COLD_UP"
printf '| imgpush warm cache, new repository | %s | %s | %s |\n' "$WARM" "$WARM_REQ" "$WARM_UP"
printf '| imgpush no-op (the same build again) | %s | %s | %s |\n' "$NOOP" "$NOOP_REQ" "$NOOP_UP"
printf '| buildah from/copy/commit/manifest push (median of %s) | %s | %s | %s |\n' "${BUILDAH_TIMES[*]}" "$BUILDAH" "$BUILDAH_REQ" "$BUILDAH_UP"
python3 -c "print(f'\nbuildah / imgpush cold: {$BUILDAH / $COLD:.1f}x (goal >= 5x); buildah / imgpush no-op: {$BUILDAH / $NOOP:.1f}x')"
printf '\n### 2. Layer throughput, one core, 100 MB input\n\nExecutables and libraries:\n\n%s\n\nRandom bytes:\n\n%s\n' \
  "$THROUGHPUT_BIN" "$THROUGHPUT_RND"
printf '\n### 3. A base with a 1 GiB layer, registry A → registry B\n\n| operation | seconds | peak RSS (MiB) |\n|---|---|---|\n'
printf '| imgpush copy (streamed) | %s | %s |\n' "$COPY_S" "$COPY_RSS"
printf '| imgpush build on it, pushed to B (base layer streamed) | %s | %s |\n' "$BASE_S" "$BASE_RSS"
if [ -n "$CARGO_ROWS" ]; then
  printf '\n### 4. cargo imgpush of examples/demo-service, linux/amd64 + linux/arm64, pushed\n\n| run | seconds | registry requests |\n|---|---|---|\n%s\n' "$CARGO_ROWS"
fi
printf '\n### 5. Token renewal: 30 MiB at 10 MiB/s through the field front, fresh registry each run\n\n%s\n' "$RENEWAL"
