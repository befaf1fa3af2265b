#!/usr/bin/env bash
# Takes the README's screenshots with headless Chromium against a real server on the embedded
# defaults: the Inspect page with an explanation by the default model, an evaluation run, and a
# training run with its live curve. Writes docs/screenshots/*.png. Rerunnable; takes minutes
# (the default model judges the demo set first).
# Usage: bash scripts/screenshots.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SETUP_BROWSER=1 source "$ROOT/scripts/setup.sh" >/dev/null
bash "$ROOT/scripts/build.sh" >/dev/null
BIN="$CARGO_TARGET_DIR/release/vlm-inspect"
DATA="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export VLM_INSPECT_URL="http://127.0.0.1:$PORT" VLM_INSPECT_ADMIN_PASSWORD="shots-$(date +%s)"
export VLM_INSPECT_DEFAULT_MODEL="$ROOT/models/default"
LEPTOS_SITE_ROOT="$ROOT/target/site" RUST_LOG=warn \
  "$BIN" serve --first-evaluation --addr "127.0.0.1:$PORT" --data-dir "$DATA" > "$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 300); do curl -fsS "$VLM_INSPECT_URL/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
mkdir -p "$ROOT/docs/screenshots"
cd "$ROOT/end2end" && node screenshots.mjs "$ROOT/docs/screenshots"
