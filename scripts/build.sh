#!/usr/bin/env bash
# Builds the release server and the release WebAssembly bundle into target/site/pkg and prints
# the bundle's size. Expects scripts/setup.sh to have been sourced.
#
# These are the steps `cargo leptos build --release` (0.3.10) takes for this workspace, done with
# the tools setup.sh installs anyway: installing cargo-leptos itself took 18-30 minutes on a
# fresh machine, a third of a cold CI run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
: "${CARGO_TARGET_DIR:?source scripts/setup.sh first}"
OUTPUT_NAME=vlm-inspect
PKG="$ROOT/target/site/pkg"
say() { printf '\033[1;34m[build]\033[0m %s\n' "$*"; }
start=$(date +%s)

# Leptos reads LEPTOS_OUTPUT_NAME at compile time: when it is set, the pages load
# pkg/vlm-inspect.wasm rather than wasm-bindgen's pkg/vlm-inspect_bg.wasm.
export LEPTOS_OUTPUT_NAME="$OUTPUT_NAME"

say "server (release)"
cargo build --release -p vlm-inspect --bin vlm-inspect

say "browser bundle (wasm-release profile)"
cargo build -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release
wasm_in="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/frontend.wasm"

# Build into a new folder and swap it in, so a failed build never leaves a half-written site.
mkdir -p "$ROOT/target/site"
staging="$(mktemp -d -p "$ROOT/target/site" pkg.XXXXXX)"
chmod 755 "$staging"
trap 'rm -rf "$staging"' EXIT
wasm-bindgen --target web --out-name "$OUTPUT_NAME" --out-dir "$staging" "$wasm_in"
mv "$staging/${OUTPUT_NAME}_bg.wasm" "$staging/$OUTPUT_NAME.wasm"
# cargo-leptos's release flags for wasm-opt.
wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  "$staging/$OUTPUT_NAME.wasm" -o "$staging/$OUTPUT_NAME.wasm"
cp style/main.css "$staging/$OUTPUT_NAME.css"
rm -rf "$PKG.old"
[ ! -d "$PKG" ] || mv "$PKG" "$PKG.old"
mv "$staging" "$PKG"
rm -rf "$PKG.old"

wasm="$PKG/$OUTPUT_NAME.wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
printf '[build] release build took %ss; wasm bundle: %s bytes raw, %s bytes gzipped\n' \
  "$(( $(date +%s) - start ))" "$raw" "$gz"
