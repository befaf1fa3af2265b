#!/usr/bin/env bash
# Benchmark: SmolLM2-135M-Instruct greedy generation (same chat prompt, 128 new tokens) with
# our release CPU build, transformers on the CPU (the GGUF dequantised to f32) and llama.cpp
# (the GGUF's blocks kept, PyPI's llama-cpp-python built for this CPU), in one run, all on
# the same threads; prints tokens/s for prefill and decode, the ratios (ours / each peer),
# whether the texts agree, the machine's CPU and vector extensions, and the decode's physical
# limit: the bytes of weights read per token against the measured memory read bandwidth.
# Run by hand (not in CI): bash bench/generate.sh ["prompt"] [new tokens]
# The peers need Python with torch + transformers + gguf + llama-cpp-python: BENCH_PYTHON=
# /path/to/python, else a venv is made in ~/.cache/vlm-inspect/bench-venv (about 3 GB from
# PyPI; llama-cpp-python compiles llama.cpp, some minutes).
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
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch, transformers, gguf, llama_cpp" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch transformers gguf accelerate llama-cpp-python
  fi
  PY="$VENV/bin/python"
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "vector extensions: $(grep -m1 -o -w -E 'avx2|fma|f16c|avx512[a-z_0-9]*|amx[a-z_0-9]*|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "ours: $("$BIN" --version); peer: $("$PY" -c 'import torch, transformers; print(f"torch {torch.__version__}, transformers {transformers.__version__}")')"

ours() {
  "$BIN" generate --model smollm2 --prompt "$PROMPT" --max-new-tokens "$NEW" --min-new-tokens "$NEW" \
    2> "$WORK/ours.err" > "$WORK/ours.txt"
}
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ours  # warm-up: page cache and allocator
ours
THREADS="$(nproc)"
PEER="$("$PY" "$ROOT/bench/generate_peer.py" "$VLM_INSPECT_SMOLLM2_GGUF" "$PROMPT" "$NEW" 2>/dev/null | tail -1)"
LLAMACPP="$("$PY" "$ROOT/bench/generate_llamacpp.py" "$VLM_INSPECT_SMOLLM2_GGUF" "$PROMPT" "$NEW" "$THREADS" 2>/dev/null | tail -1)"
# Memory read bandwidth: torch summing 1 GiB of f32 on the same threads, best of 5.
BANDWIDTH="$("$PY" -c '
import time, torch
a = torch.ones(1 << 28)
best = min((lambda s: (a.sum(), time.perf_counter() - s)[1])(time.perf_counter()) for _ in range(5))
print(a.numel() * 4 / best / 1e9)')"

"$PY" - "$WORK/ours.err" "$WORK/ours.txt" "$PEER" "$LLAMACPP" "$BANDWIDTH" <<'PY'
import json, re, sys
err, txt = open(sys.argv[1]).read(), open(sys.argv[2]).read().strip()
tf, lc, bandwidth = json.loads(sys.argv[3]), json.loads(sys.argv[4]), float(sys.argv[5])
m = re.search(r"prompt: (\d+) tokens, ([\d.]+) tokens/s; generation: (\d+) tokens, ([\d.]+) tokens/s", err)
ours = dict(prompt_tokens=int(m[1]), prefill_tps=float(m[2]), new_tokens=int(m[3]), decode_tps=float(m[4]))
q = re.search(r"quantised: (\d+) matrices, ([\d.]+) MB read per token, kernel (\w+)", err)
print(f"prompt {ours['prompt_tokens']} tokens (transformers {tf['prompt_tokens']}, llama.cpp {lc['prompt_tokens']}), "
      f"{ours['new_tokens']} new tokens, threads: transformers {tf['threads']}, llama.cpp {lc['threads']}")
print(f"{'':8}{'ours':>10}{'transformers':>14}{'llama.cpp':>11}{'ours/tf':>9}{'ours/llama.cpp':>16}")
for k, label in (("prefill_tps", "prefill"), ("decode_tps", "decode")):
    print(f"{label:8}{ours[k]:>10.1f}{tf[k]:>14.1f}{lc[k]:>11.1f}{ours[k] / tf[k]:>9.2f}{ours[k] / lc[k]:>16.2f}  tokens/s")
print("same text as transformers:", "yes" if txt == tf["text"].strip() else "no",
      "| llama.cpp's text the same as transformers':", "yes" if lc["text"].strip() == tf["text"].strip() else "no")
if q:
    mb = float(q[2])
    print(f"decode: {q[1]} quantised matrices, kernel {q[3]}; {mb:.0f} MB of weights read per token, "
          f"memory read bandwidth {bandwidth:.1f} GB/s: at most {bandwidth * 1e3 / mb:.0f} tokens/s "
          f"(ours reaches {100 * ours['decode_tps'] * mb / 1e3 / bandwidth:.0f} % of it)")
else:
    print("decode: f32 weights (no quantised matrices reported)")
PY
