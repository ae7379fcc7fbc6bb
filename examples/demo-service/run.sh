#!/usr/bin/env bash
# The main job on the embedded default, no registry needed: cross-compile the demo HTTP
# service for linux/amd64 and linux/arm64 on this host (cargo-zigbuild; no emulation) and
# write one multi-arch image on the embedded `static` base as an OCI layout.
# Installs the cross toolchain first (Debian's rustc-web + std source, zig, cargo-zigbuild).
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/install-toolchain.sh >&2

layout=target/demo-service/oci
ref=$(cargo run --release --locked -q --bin cargo-imgpush -- imgpush \
  --manifest-path examples/demo-service/Cargo.toml \
  --target-dir target/demo-service/build \
  --oci-layout "$layout")

echo "built: $ref" >&2
python3 - "$layout" <<'PY'
import json, os, sys
layout = sys.argv[1]
blob = lambda d: json.load(open(os.path.join(layout, "blobs", "sha256", d.split(":")[1])))
top = json.load(open(os.path.join(layout, "index.json")))["manifests"]
print("tags:", ", ".join(m["annotations"]["org.opencontainers.image.ref.name"] for m in top))
for m in blob(top[0]["digest"])["manifests"]:
    p = m["platform"]
    cfg = blob(blob(m["digest"])["config"]["digest"])["config"]
    print(f'{p["os"]}/{p["architecture"]}{"/" + p["variant"] if "variant" in p else ""}  {m["digest"][:19]}…  '
          f'entrypoint={cfg["Entrypoint"]} user={cfg["User"]} ports={list(cfg.get("ExposedPorts", {}))}')
PY
echo "inspect with: skopeo inspect --raw oci:$layout:latest" >&2
