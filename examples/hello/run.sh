#!/usr/bin/env bash
# The main job on the embedded default, no registry needed: cross-compile a static "hello"
# for linux/amd64 and linux/arm64 on this host (gcc and aarch64-linux-gnu-gcc; no emulation),
# then let imgpush put both on the embedded `static` base as one multi-arch image, written
# as an OCI layout. Installs the two cross compilers it needs (Debian/Ubuntu).
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
need=()
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

out=target/example-hello
mkdir -p "$out"
gcc -static -O2 -o "$out/hello-amd64" fixtures/hello/hello.c
aarch64-linux-gnu-gcc -static -O2 -o "$out/hello-arm64" fixtures/hello/hello.c

ref=$(cargo run --release --locked -q --bin imgpush -- build \
  --artifact "linux/amd64=$out/hello-amd64" \
  --artifact "linux/arm64=$out/hello-arm64" \
  --dest /app/hello \
  --oci-layout "$out/oci" -t latest)

echo "built: $ref" >&2
python3 - "$out/oci" <<'PY'
import json, os, sys
layout = sys.argv[1]
blob = lambda d: json.load(open(os.path.join(layout, "blobs", "sha256", d.split(":")[1])))
top = json.load(open(os.path.join(layout, "index.json")))["manifests"][0]
for m in blob(top["digest"])["manifests"]:
    p = m["platform"]
    cfg = blob(blob(m["digest"])["config"]["digest"])
    print(f'{p["os"]}/{p["architecture"]}{"/" + p["variant"] if "variant" in p else ""}  '
          f'{m["digest"][:19]}…  entrypoint={cfg["config"]["Entrypoint"]} user={cfg["config"]["User"]}')
PY
echo "inspect with: skopeo inspect --raw oci:$out/oci:latest" >&2
