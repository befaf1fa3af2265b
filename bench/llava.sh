#!/usr/bin/env bash
# Benchmark: one Chain-of-Image forward pass (two 336×336 images + a P3-length prompt, 1,383
# tokens) of a LLaVA with a ViT-B-sized CLIP tower and a SmolLM2-135M-sized LLaMA (random
# weights), ours (release, CPU) vs transformers on the CPU, in one run; prints both and the ratio.
# Run by hand (not in CI): bash bench/llava.sh   (BENCH_PYTHON as in bench/generate.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
BIN="$CARGO_TARGET_DIR/release/vlm-inspect"
[ -x "$BIN" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
PY="${BENCH_PYTHON:-$HOME/.cache/vlm-inspect/bench-venv/bin/python}"
[ -x "$PY" ] || { echo "no peer Python: run bash bench/generate.sh once or set BENCH_PYTHON" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
PEER="$("$PY" "$ROOT/bench/llava_peer.py" "$WORK" 2>/dev/null | tail -1)"
best=""
for _ in 1 2 3; do
  t="$("$BIN" forward --model "$WORK/model" --inputs "$WORK/inputs.safetensors" --out "$WORK/out.safetensors" 2>&1 >/dev/null \
    | sed -n 's/.*forward: \([0-9.]*\) s/\1/p')"
  if [ -z "$best" ] || awk "BEGIN {exit !($t < $best)}"; then best="$t"; fi
done
"$PY" - "$best" "$PEER" <<'PY'
import json, sys
ours, peer = float(sys.argv[1]), json.loads(sys.argv[2])
print(f"Chain-of-Image forward, {peer['tokens']} tokens (2 images × 576 + text), peer threads {peer['threads']}")
print(f"ours {ours:.2f} s, transformers {peer['seconds']:.2f} s, ratio (transformers / ours) {peer['seconds'] / ours:.2f}")
PY
