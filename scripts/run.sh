#!/usr/bin/env bash
# Sets everything up, builds the release app and starts it on the embedded defaults.
# Usage: bash scripts/run.sh [vlm-inspect serve options, e.g. --addr 0.0.0.0:3000]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/build.sh"
export LEPTOS_SITE_ROOT="$ROOT/target/site"
export VLM_INSPECT_DEFAULT_MODEL="${VLM_INSPECT_DEFAULT_MODEL:-$ROOT/models/default}"
export VLM_INSPECT_DATA_DIR="${VLM_INSPECT_DATA_DIR:-$ROOT/data}"
say "starting vlm-inspect (data folder: $VLM_INSPECT_DATA_DIR); stop it with Ctrl-C"
exec "$CARGO_TARGET_DIR/release/vlm-inspect" serve --first-evaluation "$@"
