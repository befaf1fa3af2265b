#!/usr/bin/env bash
# The evaluations of the embedded default's card (docs/models/default.md), in the recipe's work
# folder (scripts/train-default.sh made it): on the demo split's test side (110 images) the
# fine-tuned default with the plain prompt and the training-free stage 1 with plain and P1-P3;
# on each fresh seed of models/default/eval-seeds.txt (never trained on: the recipe checked)
# both with the prompts of models/default/eval-prompts.txt. Writes evaluation-*.json under
# WORK/eval-*/ and copies them beside the parts as models/default/eval/<set>-<model>.json.
# Usage: bash scripts/eval-default.sh [work folder, default ~/.cache/vlm-inspect/default-recipe]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${1:-$HOME/.cache/vlm-inspect/default-recipe}"
CFG="$ROOT/models/default"
BIN="$WORK/vlm-inspect"
export VLM_INSPECT_DATA_DIR="$WORK/data"
step() { printf '\033[1;34m[eval]\033[0m %s\n' "$*"; echo "$(date -u +%FT%TZ) $*" >> "$WORK/timings.txt"; }
mkdir -p "$CFG/eval"
run() { # run SET DATASET SPLIT MODEL PROMPTS
  local set="$1" ds="$2" split="$3" model="$4" prompts="$5" s tokens; s=$(date +%s)
  # Stage 1 answers in its captions' long form (about 60-90 tokens, the verdict at the end):
  # cut at 48 tokens, a caption ends inside the product's rule sentence. The fine-tuned default gets
  # the first start's 64 (jobs/src/default_model.rs), so its demo row is the one a new user sees.
  tokens=$([ "$model" = vlm-default ] && echo 64 || echo 128)
  rm -rf "$WORK/eval-$set-$model"
  "$BIN" eval --model "$model" --dataset "$ds" --split "$split" --prompts "$prompts" \
    --max-new-tokens "$tokens" --out "$WORK/eval-$set-$model"
  cp "$WORK/eval-$set-$model"/evaluation-*.json "$CFG/eval/$set-$model.json"
  step "$set $model ($prompts) took $(( $(date +%s) - s )) s"
}
DEMO_SPLIT="$("$BIN" dataset split loco-synth --seed 0 --fraction 0.1 | cut -d: -f1)"
run demo loco-synth "$DEMO_SPLIT" vlm-default plain
run demo loco-synth "$DEMO_SPLIT" vlm-default-stage1 plain,P1,P2,P3
PROMPTS="$(cat "$CFG/eval-prompts.txt")"
for seed in $(cat "$CFG/eval-seeds.txt"); do
  if [ ! -d "$WORK/eval-$seed" ]; then
    "$BIN" dataset synth --seed "$seed" --per-category "$(cat "$CFG/eval-data.txt")" --out "$WORK/eval-$seed" > /dev/null
  fi
  "$BIN" dataset import --loco "$WORK/eval-$seed" --name "eval-$seed" > /dev/null 2>&1 || true
  # Fraction 0: every image of the set is on the test side.
  split="$("$BIN" dataset split "eval-$seed" --seed 0 --fraction 0 | cut -d: -f1)"
  run "seed$seed" "eval-$seed" "$split" vlm-default plain
  run "seed$seed" "eval-$seed" "$split" vlm-default-stage1 "$PROMPTS"
done
