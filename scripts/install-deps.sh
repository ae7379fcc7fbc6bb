#!/usr/bin/env bash
# Installs what imgpush's tests, examples and benchmarks need on Debian 12 (amd64):
# a real registry (CNCF distribution 2.8), the independent checkers (skopeo, umoci, runc,
# qemu-user-static), compilers for the static test binaries, and buildah for benchmarks.
# Idempotent; uses sudo when not root.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(
  docker-registry apache2-utils      # the registry under test, htpasswd for its auth
  skopeo umoci runc qemu-user-static  # independent checkers
  gcc libc6-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross  # static test binaries
  python3 dpkg curl file ca-certificates openssl   # openssl: the test token server signs JWTs
  golang-go                          # Go builds (GOOS/GOARCH)
  buildah                            # benchmarks only
  podman                             # loads docker-archive tarballs in the tests
  zstd git                           # checks zstd layers; --epoch git
)

# The busybox base fixture needs the arm64 package lists (apt-get download busybox-static:arm64).
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ! -e /var/lib/apt/lists/partial ] || [ ${#missing[@]} -gt 0 ] \
   || ! ls /var/lib/apt/lists/*binary-arm64_Packages* >/dev/null 2>&1; then
  $SUDO apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "install-deps: ready (${#missing[@]} packages installed)"

# Rust cross-compilation (cargo imgpush tests): Debian's rustc-web + std source, zig,
# cargo-zigbuild.
bash "$(dirname "$0")/install-toolchain.sh"

# check-jsonschema validates the CI templates in fixtures/ci/ (tests/ci_templates.rs); its
# GitHub and GitLab schemas are vendored in the package, so it runs offline.
CHECK_JSONSCHEMA_VERSION=0.39.0
if ! check-jsonschema --version 2>/dev/null | grep -qx "check-jsonschema, version $CHECK_JSONSCHEMA_VERSION"; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
fi

# The SBOM validators (tests/sbom_documents.rs): spdx-tools' pyspdxtools validates SPDX 2.3,
# ntia-conformance-checker's ntia-checker checks the NTIA minimum elements, and
# cyclonedx-python-lib's JsonStrictValidator checks CycloneDX 1.5 against its schema (the
# json-validation extra brings jsonschema). All are pure Python and run offline.
SBOM_PACKAGES=(
  "spdx-tools==0.8.5"
  "ntia-conformance-checker==6.0.0"
  "cyclonedx-python-lib[json-validation]==11.12.0"
)
sbom_installed() {
  python3 - "$@" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for spec in sys.argv[1:]:
    name, wanted = spec.split("==")
    try:
        if version(name.split("[")[0]) != wanted:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}
if ! sbom_installed "${SBOM_PACKAGES[@]}"; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    "${SBOM_PACKAGES[@]}"
fi
