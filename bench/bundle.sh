#!/usr/bin/env bash
# Static bundle benchmark (not a timed test): a 10,000-file / 50 MB tree layered with
# `--static` for one platform and for two, to an OCI layout on the embedded base. The goal:
# the second platform costs ~nothing (the bundle is one layer shared by every platform),
# and memory stays flat (files are streamed, never held).
#   bash bench/bundle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/imgpush-bundle-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cargo build --release --locked -q
IMG=$PWD/target/release/imgpush

python3 - "$WORK/site" <<'PY'
import os, random, sys, base64
root = sys.argv[1]
rnd = random.Random(42)
for i in range(10_000):
    d = os.path.join(root, f"assets/{i % 50:02d}/{(i // 50) % 20:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"chunk-{i:05d}.js"), "wb") as f:
        f.write(base64.b64encode(rnd.randbytes(3750)))  # 5000 bytes, mildly compressible
PY
printf 'bundle: %s files, %s\n\n' "$(find "$WORK/site" -type f | wc -l)" "$(du -sh --apparent-size "$WORK/site" | cut -f1)"
printf '| platforms | seconds | peak RSS (MiB) |\n|---|---|---|\n'
for p in linux/amd64 linux/amd64,linux/arm64; do
  rm -rf "$WORK/out"
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$IMG" build --static "$WORK/site" --dest /usr/share/nginx/html \
    --platform "$p" --oci-layout "$WORK/out" >/dev/null 2>&1
  read -r secs kib <"$WORK/time"
  printf '| %s | %s | %s |\n' "$p" "$secs" "$((kib / 1024))"
done
