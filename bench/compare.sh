#!/usr/bin/env bash
# Two imgpush binaries side by side in one run, on the same registry and payload (for
# "not slower" checks of a refactoring): the spine job of bench/run.sh — 2 platforms ×
# ~9 MB static binary onto a base in the same registry — cold (empty cache, new
# repository), warm cache (new repository) and no-op, then `copy` of the result to a second
# registry; ROUNDS rounds (default 5), the two binaries alternating within each round;
# medians and after/before ratios.
#
#   bash bench/compare.sh BEFORE_BIN [AFTER_BIN]   # AFTER_BIN: target/release/imgpush (built)
#
# Keep a binary of the commit before a change with
#   git worktree add /tmp/before COMMIT && cargo build --release --bins --manifest-path /tmp/before/Cargo.toml
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BEFORE=$(realpath "${1:?usage: bench/compare.sh BEFORE_BIN [AFTER_BIN]}")
if [ -z "${2:-}" ]; then
  cargo build --release --locked -q --bins
  AFTER=$ROOT/target/release/imgpush
else
  AFTER=$(realpath "$2")
fi
ROUNDS=${ROUNDS:-5}
BENCH_NAME=compare . bench/lib.sh
start_registry a; REG=$REGISTRY_HOST
start_registry b; REG_B=$REGISTRY_HOST

spine_inputs "$REG"

now() { date +%s.%N; }
timed() { # $@ = command; prints seconds
  local t0 t1
  t0=$(now); "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; return 1; }; t1=$(now)
  python3 -c "print(f'{$t1 - $t0:.3f}')"
}
build() { # $1 = binary, $2 = repo, $3 = cache
  IMGPUSH_CACHE_DIR=$3 "$1" build --repo "$REG/$2" --base "$REG/base/busybox:latest" \
    --artifact "linux/amd64=$WORK/hello-amd64" --artifact "linux/arm64=$WORK/hello-arm64" \
    --dest /app/hello
}
declare -A T
"$BEFORE" --version >/dev/null; "$AFTER" --version >/dev/null   # page both in
for round in $(seq "$ROUNDS"); do
  for which in before after; do
    b=$BEFORE; [ "$which" = after ] && b=$AFTER
    c="$WORK/cache-$which-$round"
    T[$which-cold]+="$(timed build "$b" "app/$which-$round" "$c") "
    T[$which-warm]+="$(timed build "$b" "app/$which-warm-$round" "$c") "
    T[$which-noop]+="$(timed build "$b" "app/$which-warm-$round" "$c") "
    T[$which-copy]+="$(timed env IMGPUSH_CACHE_DIR="$c" "$b" copy "$REG/app/$which-$round:latest" "$REG_B/copy/$which-$round:latest") "
  done
done
median() { python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.3f}')" $1; }
printf '\n| run (median of %s) | before (s) | after (s) | after / before |\n|---|---|---|---|\n' "$ROUNDS"
for job in cold warm noop copy; do
  b=$(median "${T[before-$job]}"); a=$(median "${T[after-$job]}")
  printf '| %s | %s | %s | %s |\n' "$job" "$b" "$a" "$(python3 -c "print(f'{$a / $b:.2f}')")"
done
printf '\nbefore: %s\nafter:  %s\n' "$BEFORE" "$AFTER"
