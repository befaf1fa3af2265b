#!/usr/bin/env bash
# Benchmark: generate a LOCO-sized loco-synth set (about 3,600 images, 256 px) and import it
# into a fresh data folder, with the release binary. Prints images per second for both.
# Run by hand (not in CI): bash bench/datasets.sh [extra `dataset synth` options]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$HOME/.cache/vlm-inspect/target}/release/vlm-inspect"
[ -x "$BIN" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $("$BIN" --version)"
"$BIN" dataset synth --out "$WORK/src" --loco-sized --seed 1 "$@"
"$BIN" dataset import --loco "$WORK/src" --name loco-sized --data-dir "$WORK/data" 2>/dev/null
du -sh "$WORK/src" "$WORK/data" | sed 's/^/size: /'
