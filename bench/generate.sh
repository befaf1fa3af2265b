#!/usr/bin/env bash
# Benchmark: SmolLM2-135M-Instruct greedy generation (same chat prompt, 128 new tokens) with
# our release CPU build and with transformers on the CPU, in one run; prints tokens/s for
# prefill and decode of both and the ratios (ours / transformers), and whether the texts agree.
# Run by hand (not in CI): bash bench/generate.sh ["prompt"] [new tokens]
# The peer needs Python with torch + transformers + gguf: BENCH_PYTHON=/path/to/python, else a
# venv is made in ~/.cache/vlm-inspect/bench-venv (about 3 GB from PyPI).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
BIN="$CARGO_TARGET_DIR/release/vlm-inspect"
[ -x "$BIN" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
PROMPT="${1:-What is the capital of France? Explain in detail.}"
NEW="${2:-128}"
PY="${BENCH_PYTHON:-}"
if [ -z "$PY" ]; then
  VENV="$HOME/.cache/vlm-inspect/bench-venv"
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch, transformers, gguf" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch transformers gguf accelerate
  fi
  PY="$VENV/bin/python"
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "ours: $("$BIN" --version); peer: $("$PY" -c 'import torch, transformers; print(f"torch {torch.__version__}, transformers {transformers.__version__}")')"

ours() {
  "$BIN" generate --model smollm2 --prompt "$PROMPT" --max-new-tokens "$NEW" --min-new-tokens "$NEW" \
    2> "$WORK/ours.err" > "$WORK/ours.txt"
}
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ours  # warm-up: page cache and allocator
ours
PEER="$("$PY" "$ROOT/bench/generate_peer.py" "$VLM_INSPECT_SMOLLM2_GGUF" "$PROMPT" "$NEW" 2>/dev/null | tail -1)"

"$PY" - "$WORK/ours.err" "$WORK/ours.txt" "$PEER" <<'PY'
import json, re, sys
err, txt, peer = open(sys.argv[1]).read(), open(sys.argv[2]).read().strip(), json.loads(sys.argv[3])
m = re.search(r"prompt: (\d+) tokens, ([\d.]+) tokens/s; generation: (\d+) tokens, ([\d.]+) tokens/s", err)
ours = dict(prompt_tokens=int(m[1]), prefill_tps=float(m[2]), new_tokens=int(m[3]), decode_tps=float(m[4]))
print(f"prompt {ours['prompt_tokens']} tokens (peer {peer['prompt_tokens']}), {ours['new_tokens']} new tokens, peer threads {peer['threads']}")
print(f"{'':8}{'ours':>10}{'transformers':>14}{'ratio':>8}")
for k, label in (("prefill_tps", "prefill"), ("decode_tps", "decode")):
    print(f"{label:8}{ours[k]:>10.1f}{peer[k]:>14.1f}{ours[k] / peer[k]:>8.2f}  tokens/s")
print("same text:", "yes" if txt == peer["text"].strip() else "no")
PY
