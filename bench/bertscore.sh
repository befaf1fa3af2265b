#!/usr/bin/env bash
# Benchmark: BERTScore of 1,000 candidate/reference pairs (defect explanations built from
# templates, seeded) with all-MiniLM-L6-v2, layer 6, no idf: our release CPU build and the
# bert_score package on the CPU, in one run, on the same files. Prints pairs/s of both, the ratio
# (ours / bert_score) and the largest score difference.
# Run by hand (not in CI): bash bench/bertscore.sh [pairs]
# The peer needs Python with torch + transformers + bert-score: BENCH_PYTHON=/path/to/python,
# else a venv is made in ~/.cache/vlm-inspect/bench-venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
BIN="$CARGO_TARGET_DIR/release/vlm-inspect"
[ -x "$BIN" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
PAIRS="${1:-1000}"
PY="${BENCH_PYTHON:-}"
if [ -z "$PY" ]; then
  VENV="$HOME/.cache/vlm-inspect/bench-venv"
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch, transformers, bert_score" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch transformers gguf accelerate peft bert-score
  fi
  PY="$VENV/bin/python"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PY" - "$PAIRS" "$WORK" <<'PY'
import random, sys
n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(0)
parts = ["cap", "label", "screw", "pushpin", "cable", "connector", "bottle", "seal", "nut", "washer"]
defects = ["is missing", "is scratched", "is bent", "has a crack", "is misplaced", "is the wrong colour",
           "is contaminated", "is torn", "is twisted", "appears twice"]
places = ["on the left", "on the right", "in the centre", "near the top edge", "at the bottom",
          "in row 2", "in the third compartment", "next to the orange one"]
def sentence():
    s = f"The {rng.choice(parts)} {rng.choice(defects)} {rng.choice(places)}."
    if rng.random() < 0.5:
        s += f" The {rng.choice(parts)} {rng.choice(defects)}."
    return s
with open(f"{out}/cands.txt", "w") as c, open(f"{out}/refs.txt", "w") as r:
    for _ in range(n):
        c.write(sentence() + "\n"); r.write(sentence() + "\n")
PY
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "ours: $("$BIN" --version); peer: $("$PY" -c 'import torch, transformers, bert_score; print(f"torch {torch.__version__}, transformers {transformers.__version__}, bert_score {bert_score.__version__}")')"
"$BIN" bertscore --model "$VLM_INSPECT_MINILM_DIR" --layers 6 --cands "$WORK/cands.txt" --refs "$WORK/refs.txt" \
  > "$WORK/ours.json" 2> "$WORK/ours.err"
"$PY" "$ROOT/bench/bertscore_peer.py" "$VLM_INSPECT_MINILM_DIR" 6 "$WORK/cands.txt" "$WORK/refs.txt" 2>/dev/null | tail -1 > "$WORK/peer.json"
"$PY" - "$WORK/ours.json" "$WORK/ours.err" "$WORK/peer.json" <<'PY'
import json, re, sys
ours, err, peer = json.load(open(sys.argv[1])), open(sys.argv[2]).read(), json.load(open(sys.argv[3]))
m = re.search(r"loaded in ([\d.]+) s; scored (\d+) pairs in ([\d.]+) s", err)
load, n, score = float(m[1]), int(m[2]), float(m[3])
print(f"{n} pairs, layer 6, no idf; peer threads {peer['threads']}")
print(f"{'':10}{'ours':>10}{'bert_score':>12}{'ratio':>8}")
print(f"{'load s':10}{load:>10.2f}{peer['load_s']:>12.2f}")
print(f"{'score s':10}{score:>10.2f}{peer['score_s']:>12.2f}")
print(f"{'pairs/s':10}{n / score:>10.1f}{peer['pairs_per_s']:>12.1f}{(n / score) / peer['pairs_per_s']:>8.2f}")
diff = max(abs(a - b) for k in ("P", "R", "F1") for a, b in zip(ours[k], peer[k]))
print(f"largest |score difference| over P, R, F1: {diff:.2e}")
PY
