#!/usr/bin/env bash
# Spine benchmark (not a timed test): layer + push of two platforms with a ~9 MB binary each
# onto a busybox base in the same registry — imgpush cold, imgpush with nothing changed, and
# buildah doing the same job on the same registry and payload. Prints one table.
#
#   bash bench/spine.sh            # needs: bash scripts/install-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/imgpush-bench.XXXXXX)
REG_PID=""
cleanup() {
  [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null
  buildah --root "$WORK/buildah/root" --runroot "$WORK/buildah/run" --storage-driver vfs rm --all >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --locked -q
IMGPUSH=$ROOT/target/release/imgpush

# Registry on a free loopback port.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cat >"$WORK/registry.yml" <<YAML
version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $WORK/storage}}
http: {addr: $REG}
YAML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done

# Base: the test fixture's busybox (amd64 + arm64), pushed with skopeo.
mkdir -p "$WORK/debs"
python3 fixtures/busybox-base/make-base.py "$WORK/base-layout" "$WORK/debs" >/dev/null 2>&1
skopeo copy -q --all --dest-tls-verify=false "oci:$WORK/base-layout:latest" "docker://$REG/base/busybox:latest"

# Payload: a static hello per CPU padded to ~9 MB with mildly compressible data (random
# bytes as base64), so compression and upload both do real work.
gcc -static -O2 -o "$WORK/hello-amd64" fixtures/hello/hello.c
aarch64-linux-gnu-gcc -static -O2 -o "$WORK/hello-arm64" fixtures/hello/hello.c
for a in amd64 arm64; do
  head -c 6500000 /dev/urandom | base64 -w0 >>"$WORK/hello-$a"
done
SIZE=$(stat -c %s "$WORK/hello-amd64")

requests() { grep -cE '"(GET|HEAD|PUT|POST|PATCH) /v2/' "$WORK/registry.log" || true; }
base_layer_gets() {
  # GETs of the base's layer blobs (downloads); must stay 0 for imgpush.
  local n=0
  for d in $(skopeo inspect --raw --tls-verify=false "docker://$REG/base/busybox:latest" | python3 -c '
import json,sys; print(" ".join(m["digest"] for m in json.load(sys.stdin)["manifests"]))'); do
    for l in $(skopeo inspect --raw --tls-verify=false "docker://$REG/base/busybox@$d" | python3 -c '
import json,sys; print(" ".join(x["digest"] for x in json.load(sys.stdin)["layers"]))'); do
      n=$((n + $(grep -c "GET /v2/base/busybox/blobs/$l" "$WORK/registry.log" || true)))
    done
  done
  echo $n
}
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }
uploaded_bytes() { python3 -c '
import re,sys
units={"B":1,"KiB":1024,"MiB":1024*1024}
t=0
for line in open(sys.argv[1]):
    m=re.search(r" ([0-9.]+) (B|KiB|MiB) \(.*\): uploaded$", line)
    if m: t+=float(m.group(1))*units[m.group(2)]
print(int(t))' "$1"; }

run_imgpush() { # $1 = tag, $2 = log
  "$IMGPUSH" build --repo "$REG/app/imgpush" --base "$REG/base/busybox:latest" -t "$1" -v \
    --artifact "linux/amd64=$WORK/hello-amd64" --artifact "linux/arm64=$WORK/hello-arm64" \
    --dest /app/hello >/dev/null 2>"$2"
}

r0=$(requests); t0=$(now); run_imgpush v1 "$WORK/cold.log"; t1=$(now); r1=$(requests)
t2=$(now); run_imgpush v1 "$WORK/warm.log"; t3=$(now); r2=$(requests)
IMG_COLD=$(elapsed "$t0" "$t1"); IMG_WARM=$(elapsed "$t2" "$t3")
BASE_GETS=$(base_layer_gets)

# buildah: the same job (vfs storage, its own root so the host's is untouched).
B="buildah --root $WORK/buildah/root --runroot $WORK/buildah/run --storage-driver vfs"
r3=$(requests); t4=$(now)
$B manifest create bench-list >/dev/null
for a in amd64 arm64; do
  c=$($B from -q --arch "$a" --tls-verify=false "docker://$REG/base/busybox:latest")
  $B copy "$c" "$WORK/hello-$a" /app/hello >/dev/null
  $B config --entrypoint '["/app/hello"]' --cmd '' "$c" 2>/dev/null
  $B commit -q --manifest bench-list "$c" >/dev/null
done
$B manifest push -q --all --tls-verify=false bench-list "docker://$REG/app/buildah:v1" >/dev/null
t5=$(now); r4=$(requests)
BUILDAH=$(elapsed "$t4" "$t5")

printf '\nSpine benchmark — %s, %s cores, payload %s bytes per platform, 2 platforms\n\n' \
  "$(. /etc/os-release; echo "$PRETTY_NAME")" "$(nproc)" "$SIZE"
printf '| run | seconds | registry requests | bytes uploaded | base layer bytes downloaded |\n'
printf '|---|---|---|---|---|\n'
printf '| imgpush cold | %s | %s | %s | %s |\n' "$IMG_COLD" $((r1 - r0)) "$(uploaded_bytes "$WORK/cold.log")" "$BASE_GETS"
printf '| imgpush, nothing changed | %s | %s | %s | 0 |\n' "$IMG_WARM" $((r2 - r1)) "$(uploaded_bytes "$WORK/warm.log")"
printf '| buildah (from/copy/commit/manifest push) | %s | %s | – | – |\n' "$BUILDAH" $((r4 - r3))
python3 -c "print(f'\nbuildah / imgpush cold: {$BUILDAH / $IMG_COLD:.1f}x   buildah / imgpush no-change: {$BUILDAH / $IMG_WARM:.1f}x')"
