# Shared by bench/run.sh and bench/compare.sh (sourced from the repository root): a work
# directory removed on exit with every registry started, throwaway distribution
# registries on free loopback ports, and the spine job's inputs.

WORK=$(mktemp -d "/tmp/imgpush-${BENCH_NAME:-bench}.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do { kill "$p" && wait "$p"; } 2>/dev/null || true; done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

start_registry() { # $1 = name; sets REGISTRY_HOST (not in a subshell: PIDS must be kept)
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nlog: {level: info, accesslog: {disabled: false}}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
    "$WORK/$1-storage" "$port" >"$WORK/$1.yml"
  docker-registry serve "$WORK/$1.yml" >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  REGISTRY_HOST="127.0.0.1:$port"
}

# The busybox base pushed to $1 as base/busybox:latest, and a static hello per CPU
# ($WORK/hello-amd64, $WORK/hello-arm64) padded to ~9 MB with mildly compressible data
# (random bytes as base64), so compression and upload both do real work.
spine_inputs() {
  mkdir -p "$WORK/debs"
  python3 fixtures/busybox-base/make-base.py "$WORK/base-layout" "$WORK/debs" >/dev/null 2>&1
  skopeo copy -q --all --dest-tls-verify=false "oci:$WORK/base-layout:latest" "docker://$1/base/busybox:latest"
  gcc -static -O2 -o "$WORK/hello-amd64" fixtures/hello/hello.c
  aarch64-linux-gnu-gcc -static -O2 -o "$WORK/hello-arm64" fixtures/hello/hello.c
  for a in amd64 arm64; do head -c 6500000 /dev/urandom | base64 -w0 >>"$WORK/hello-$a"; done
}
