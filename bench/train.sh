#!/usr/bin/env bash
# Benchmark: LoRA training steps of SmolLM2-135M-Instruct (rank 8, alpha 16, on q/k/v/o and
# gate/up/down, base frozen, AdamW lr 1e-4, batch 1, a 256-token sequence whose last 64 tokens
# carry the loss) with our release CPU build and with transformers + peft on the CPU, in one run;
# each does 1 warm-up step and then times N steps (forward, backward, clipping, AdamW). Prints
# ms/step of both and the ratio (peft / ours: above 1 means ours is faster), and peak RSS.
# Run by hand (not in CI): bash bench/train.sh [seq_len] [steps]   (defaults: 256, 5)
# The peer needs Python with torch + transformers + gguf + peft: BENCH_PYTHON=/path/to/python,
# else a venv is made in ~/.cache/vlm-inspect/bench-venv (about 3 GB from PyPI).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
BIN="$CARGO_TARGET_DIR/release/vlm-inspect"
[ -x "$BIN" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
SEQ="${1:-256}"
STEPS="${2:-5}"
PY="${BENCH_PYTHON:-}"
if [ -z "$PY" ]; then
  VENV="$HOME/.cache/vlm-inspect/bench-venv"
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch, transformers, gguf, peft" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch transformers gguf accelerate peft
  fi
  PY="$VENV/bin/python"
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "ours: $("$BIN" --version); peer: $("$PY" -c 'import torch, transformers, peft; print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")')"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# Runs "$@", recording its max RSS in $1 with GNU time where there is one.
timed() {
  local out="$1"; shift
  if [ -x /usr/bin/time ]; then /usr/bin/time -v -o "$out" "$@"; else "$@"; fi
}
timed "$WORK/ours.time" "$BIN" bench-train --model smollm2 --seq-len "$SEQ" --steps "$STEPS" \
  > "$WORK/ours.json" 2> "$WORK/ours.err" || { cat "$WORK/ours.err" >&2; exit 1; }
timed "$WORK/peer.time" "$PY" "$ROOT/bench/train_peer.py" "$VLM_INSPECT_SMOLLM2_GGUF" "$SEQ" "$STEPS" \
  > "$WORK/peer.json" 2> "$WORK/peer.err" || { tail -20 "$WORK/peer.err" >&2; exit 1; }

"$PY" - "$WORK" <<'PY'
import json, os, re, sys
work = sys.argv[1]
ours, peer = (json.loads(open(f"{work}/{w}.json").read().strip().splitlines()[-1]) for w in ("ours", "peer"))


def time_rss(who):  # GNU time's "Maximum resident set size (kbytes)", in MB; None without it
    path = f"{work}/{who}.time"
    m = os.path.exists(path) and re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m[1]) / 1024 if m else None


print(f"LoRA training, seq_len {ours['seq_len']} (peer {peer['seq_len']}), 1 warm-up + {ours['steps']} timed steps;"
      f" threads: ours {ours['threads']}, peft {peer['threads']}")
print(f"{'':24}{'ours':>10}{'peft':>10}{'ratio':>8}")
print(f"{'ms/step':24}{ours['ms_per_step']:>10.1f}{peer['ms_per_step']:>10.1f}"
      f"{peer['ms_per_step'] / ours['ms_per_step']:>8.2f}")
print(f"{'peak RSS MB (own)':24}{ours['peak_rss_mb']:>10.0f}{peer['peak_rss_mb']:>10.0f}"
      f"{peer['peak_rss_mb'] / ours['peak_rss_mb']:>8.2f}")
o, p = time_rss("ours"), time_rss("peer")
if o and p:
    print(f"{'peak RSS MB (time -v)':24}{o:>10.0f}{p:>10.0f}{p / o:>8.2f}")
print("ratio = peft / ours: above 1 means ours is faster (or uses less memory)")
print(f"loss first -> last: ours {ours['loss_first']:.4f} -> {ours['loss_last']:.4f},"
      f" peft {peer['loss_first']:.4f} -> {peer['loss_last']:.4f} (the token ids need not match)")
PY
