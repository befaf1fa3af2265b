#!/usr/bin/env bash
# Builds the release server and the release WebAssembly bundle with cargo-leptos and
# prints the bundle's size. Expects scripts/setup.sh to have been sourced.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$(date +%s)
cargo leptos build --release
wasm="$ROOT/target/site/pkg/vlm-inspect.wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
printf '[build] release build took %ss; wasm bundle: %s bytes raw, %s bytes gzipped\n' \
  "$(( $(date +%s) - start ))" "$raw" "$gz"
