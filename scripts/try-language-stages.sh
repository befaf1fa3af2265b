#!/usr/bin/env bash
# An experiment for the default's card: retrains only the language stages (stage 1 captions,
# stage 2 QA, models/default/stage{1,2}.toml) on the SHIPPED tower with a language set of the
# given size (generator seed 1001, byte-checked against every evaluation image), then evaluates
# the fine-tuned default (plain prompt) on the demo split and the card's fresh seeds. Nothing
# in models/default changes; scripts/train-default.sh remains the recipe.
# Usage: bash scripts/try-language-stages.sh PER_CATEGORY [work folder]
#   e.g. PER_CATEGORY=train=80,validation=0,good=16,logical=48,structural=48
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
PER="${1:?usage: try-language-stages.sh PER_CATEGORY [work folder]}"
WORK="${2:-$HOME/.cache/vlm-inspect/try-language-stages}"
CFG="$ROOT/models/default"
[ -x "$CARGO_TARGET_DIR/release/vlm-inspect" ] || cargo build --release -p vlm-inspect
rm -rf "$WORK" && mkdir -p "$WORK"
BIN="$WORK/vlm-inspect"; cp "$CARGO_TARGET_DIR/release/vlm-inspect" "$BIN"
export VLM_INSPECT_DATA_DIR="$WORK/data"
step() { echo "$(date -u +%FT%TZ) $*" | tee -a "$WORK/timings.txt"; }
split_of() { "$BIN" dataset split "$1" --seed 0 --fraction "$2" | cut -d: -f1; }
hashes() { find "$@" -name '*.png' -not -path '*/ground_truth/*' -print0 | xargs -0 sha256sum | cut -d' ' -f1 | sort -u; }

"$BIN" dataset synth --out "$WORK/loco-synth" > /dev/null
"$BIN" dataset synth --seed 1001 --per-category "$PER" --out "$WORK/lm-set" > /dev/null
for seed in $(cat "$CFG/eval-seeds.txt"); do
  "$BIN" dataset synth --seed "$seed" --per-category "$(cat "$CFG/eval-data.txt")" --out "$WORK/eval-$seed" > /dev/null
done
overlap=$(comm -12 <(hashes "$WORK/lm-set") <(hashes "$WORK/loco-synth" "$WORK"/eval-*) | wc -l)
[ "$overlap" -eq 0 ] || { echo "refusing: $overlap training images equal evaluation images" >&2; exit 1; }
"$BIN" dataset import --loco "$WORK/loco-synth" --name loco-synth > /dev/null
"$BIN" dataset import --loco "$WORK/lm-set" --name default-lm-set > /dev/null
LM_SPLIT="$(split_of default-lm-set 0.85)"
step "language set $PER: split $LM_SPLIT, no overlap with the evaluation images"
"$BIN" model compose --lm smollm2 --out "$WORK/base" --tower "$CFG/tower.json" \
  --tower-weights "$CFG/tower.safetensors" --name vlm-default-base > /dev/null
for stage in stage1 stage2; do
  sed "s/@SPLIT@/$LM_SPLIT/" "$CFG/$stage.toml" > "$WORK/$stage.toml"
  s=$(date +%s)
  "$BIN" train --config "$WORK/$stage.toml" --out "$WORK/$stage" > "$WORK/$stage.log" 2>&1
  step "$stage took $(( $(date +%s) - s )) s"
done
evaluate() { # evaluate NAME DATASET SPLIT
  local s; s=$(date +%s)
  "$BIN" eval --model vlm-default --dataset "$2" --split "$3" --prompts plain \
    --max-new-tokens 64 --out "$WORK/eval-$1" > "$WORK/eval-$1.log" 2>&1
  step "$1 ($(( $(date +%s) - s )) s): $(grep '^| vlm-default' "$WORK/eval-$1.log" | tr '\n' ' ')"
}
evaluate demo loco-synth "$(split_of loco-synth 0.1)"
for seed in $(cat "$CFG/eval-seeds.txt"); do
  "$BIN" dataset import --loco "$WORK/eval-$seed" --name "eval-$seed" > /dev/null
  evaluate "seed$seed" "eval-$seed" "$(split_of "eval-$seed" 0)"
done
