#!/usr/bin/env bash
# Benchmark: one Chain-of-Image forward pass of an InternVL with InternVL3-8B's vision tower
# (InternViT-300M) and a SmolLM2-135M-sized Qwen2 decoder (random weights): a template image of
# 3 tiles and a test image of 1 (1,024 image tokens) and a P3-length prompt; ours (release, CPU)
# vs transformers on the CPU, in one run; prints both and the ratio. Best of BENCH_RUNS (2) runs
# each, after one warm-up for the peer.
# Run by hand (not in CI): bash bench/internvl.sh   (BENCH_PYTHON as in bench/generate.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
BIN="$CARGO_TARGET_DIR/release/vlm-inspect"
[ -x "$BIN" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
PY="${BENCH_PYTHON:-$HOME/.cache/vlm-inspect/bench-venv/bin/python}"
[ -x "$PY" ] || { echo "no peer Python: run bash bench/generate.sh once or set BENCH_PYTHON" >&2; exit 1; }
RUNS="${BENCH_RUNS:-2}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
PEER="$(BENCH_RUNS="$RUNS" "$PY" "$ROOT/bench/internvl_peer.py" "$WORK" 2>/dev/null | tail -1)"
best=""
for _ in $(seq 1 "$RUNS"); do
  t="$("$BIN" forward --model "$WORK/model" --inputs "$WORK/inputs.safetensors" --out "$WORK/out.safetensors" 2>&1 >/dev/null \
    | sed -n 's/.*forward: \([0-9.]*\) s/\1/p')"
  if [ -z "$best" ] || awk "BEGIN {exit !($t < $best)}"; then best="$t"; fi
done
"$PY" - "$best" "$PEER" <<'PY'
import json, sys
ours, peer = float(sys.argv[1]), json.loads(sys.argv[2])
print(f"InternVL Chain-of-Image forward, {peer['tokens']} tokens (3 + 1 tiles × 256 + text), peer threads {peer['threads']}")
print(f"ours {ours:.2f} s, transformers {peer['seconds']:.2f} s, ratio (transformers / ours) {peer['seconds'] / ours:.2f}")
PY
