#!/usr/bin/env bash
# Starts the release server on a free port with a throw-away data folder, runs the browser
# tests against it in headless Chromium, and stops it. Expects a release build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$CARGO_TARGET_DIR/release/vlm-inspect"
DATA="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export VLM_INSPECT_URL="http://127.0.0.1:$PORT"
# Browser tests register models with the binary against the same data folder.
export VLM_INSPECT_BIN="$BIN" VLM_INSPECT_E2E_DATA="$DATA"
export VLM_INSPECT_ADMIN_PASSWORD="e2e-$(date +%s%N)"
LEPTOS_SITE_ROOT="$ROOT/target/site" RUST_LOG=warn \
  "$BIN" serve --addr "127.0.0.1:$PORT" --data-dir "$DATA" > "$DATA/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "$VLM_INSPECT_URL/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$DATA/server.log"; echo "the server did not start" >&2; exit 1; }
  sleep 0.2
done
cd "$ROOT/end2end"
node --test --test-concurrency=1 tests/
