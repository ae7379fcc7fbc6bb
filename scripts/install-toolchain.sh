#!/usr/bin/env bash
# Installs a cross-compiling Rust toolchain that needs no downloads beyond Debian's and
# PyPI's (the recipe in docs/user-guide.md, "Rust toolchains"): Debian's rustc-web/cargo-web
# with the matching std source (rust-web-src, so imgpush can build std for any target),
# zig and cargo-zigbuild from PyPI in a venv, linked into /usr/local/bin, and
# qemu-user-static (only to check foreign binaries, never to build). Idempotent.
set -euo pipefail

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
VENV=${IMGPUSH_XC_VENV:-$HOME/.cache/imgpush-xc-venv}
ZIG_VERSION=0.17.1
ZIGBUILD_VERSION=0.24.0

missing=()
for p in rustc-web cargo-web rust-web-src qemu-user-static file python3-venv; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$VENV/bin/cargo-zigbuild" ] || ! "$VENV/bin/python3" -c "import ziglang" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "ziglang==$ZIG_VERSION" "cargo-zigbuild==$ZIGBUILD_VERSION"
fi
ZIG=$("$VENV/bin/python3" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
$SUDO ln -sf "$VENV/bin/cargo-zigbuild" /usr/local/bin/cargo-zigbuild
$SUDO ln -sf "$ZIG" /usr/local/bin/zig
echo "install-toolchain: $(/usr/bin/rustc -V), zig $(/usr/local/bin/zig version), $(/usr/local/bin/cargo-zigbuild --version)"
