#!/usr/bin/env bash
# A profile-guided (PGO) release build of the gateway:
#   1. build it instrumented,
#   2. run it through the benchmark's request mix (`switchyard-bench --train`),
#   3. build it again with that profile.
# The result lays out the hot paths together; BENCHMARKS.md has what that measured.
# Needs LLVM's profdata tool for this toolchain: `rustup component add llvm-tools`.
# Prints the optimised binary's path last.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET="${CARGO_TARGET_DIR:-target}"
HOST="$(rustc -vV | sed -n 's/^host: //p')"
PROFDATA="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata"
if [ ! -x "$PROFDATA" ]; then
  echo "llvm-profdata not found at $PROFDATA: run \`rustup component add llvm-tools\`" >&2
  exit 1
fi
DATA="$(mktemp -d)"
trap 'rm -rf "$DATA"' EXIT

echo "== 1/3 instrumented build" >&2
RUSTFLAGS="-Cprofile-generate=$DATA" cargo build --release -p switchyard \
  --target-dir "$TARGET/pgo-generate" >&2
cargo build --release -p switchyard-bench >&2

echo "== 2/3 training run" >&2
"$TARGET/release/switchyard-bench" --train "$TARGET/pgo-generate/release/switchyard" >&2
"$PROFDATA" merge -o "$DATA/merged.profdata" "$DATA"/*.profraw

echo "== 3/3 optimised build" >&2
RUSTFLAGS="-Cprofile-use=$DATA/merged.profdata" cargo build --release -p switchyard \
  --target-dir "$TARGET/pgo" >&2
echo "$TARGET/pgo/release/switchyard"
