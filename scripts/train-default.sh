#!/usr/bin/env bash
# Trains the embedded default vision-language model with our own pipeline, end to end, on this
# machine's CPU (docs/models/default.md):
#   data     the demo set (seed 0, evaluation only) and the default's own training sets, other
#            seeds of the generator, refused if any image's bytes match an evaluation image;
#   tower    dense pretraining of a fresh vision tower on the masks and defect names of images
#            the generator renders as it trains (models/default/tower-pretrain.toml: its own
#            seed, every image new), scored on the tower set's held-out side; then a base
#            composed with it;
#   stage 1  captions: projector and LoRA learn to describe images (the training-free default);
#   stage 2  the paper's Part A on top: QA, LoRA and projector (the fine-tuned default);
#   eval     the card's rows on the demo split and on fresh seeds (scripts/eval-default.sh);
# then copies the small trained parts into models/default/.
# Usage: bash scripts/train-default.sh [work folder, default ~/.cache/vlm-inspect/default-recipe]
# VLM_INSPECT_RECIPE_EVAL=0 skips the evaluations (the parts are the same).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
[ -x "$CARGO_TARGET_DIR/release/vlm-inspect" ] || cargo build --release -p vlm-inspect
WORK="${1:-$HOME/.cache/vlm-inspect/default-recipe}"
DATA="$WORK/data"
LOG="$WORK/timings.txt"
CFG="$ROOT/models/default"
rm -rf "$WORK" && mkdir -p "$WORK"
# A copy of the binary: a build during the hour this takes must not pull it away.
BIN="$WORK/vlm-inspect"
cp "$CARGO_TARGET_DIR/release/vlm-inspect" "$BIN"
export VLM_INSPECT_DATA_DIR="$DATA"
step() { printf '\033[1;34m[default]\033[0m %s\n' "$*"; echo "$(date -u +%FT%TZ) $*" >> "$LOG"; }
timed() { # timed NAME command...: runs it and records its seconds in timings.txt
  local name="$1" s; shift; s=$(date +%s); "$@"; step "$name took $(( $(date +%s) - s )) s"
}
split_of() { "$BIN" dataset split "$1" --seed 0 --fraction "$2" | cut -d: -f1; }
t0=$(date +%s)

step "data: the demo set (seed 0, evaluation only) and its 10% split"
"$BIN" dataset synth --out "$WORK/loco-synth" > /dev/null
"$BIN" dataset import --loco "$WORK/loco-synth" --name loco-synth > /dev/null
DEMO_SPLIT="$(split_of loco-synth 0.1)"
# The default's own training sets (docs/models/default.md#data): the tower's (seed 1000) and the
# language stages' (seed 1001, smaller: a decoder step costs a thousand tower steps).
"$BIN" dataset synth --seed 1000 --per-category "$(cat "$CFG/tower-data.txt")" --out "$WORK/tower-set" > /dev/null
"$BIN" dataset synth --seed 1001 --per-category "$(cat "$CFG/lm-data.txt")" --out "$WORK/lm-set" > /dev/null
# The evaluation seeds the card reports (scripts/eval-default.sh generates them the same way).
for seed in $(cat "$CFG/eval-seeds.txt"); do
  "$BIN" dataset synth --seed "$seed" --per-category "$(cat "$CFG/eval-data.txt")" --out "$WORK/eval-$seed" > /dev/null
done
hashes() { find "$@" -name '*.png' -not -path '*/ground_truth/*' -print0 | xargs -0 sha256sum | cut -d' ' -f1 | sort -u; }
hashes "$WORK/tower-set" "$WORK/lm-set" > "$WORK/train.sha256"
hashes "$WORK/loco-synth" $(for s in $(cat "$CFG/eval-seeds.txt"); do echo "$WORK/eval-$s"; done) > "$WORK/eval.sha256"
overlap=$(comm -12 "$WORK/train.sha256" "$WORK/eval.sha256" | wc -l)
if [ "$overlap" -ne 0 ]; then
  echo "refusing to train: $overlap training images are byte-identical to evaluation images" >&2
  exit 1
fi
step "no overlap: $(wc -l < "$WORK/train.sha256") training images, $(wc -l < "$WORK/eval.sha256") evaluation images (demo set and seeds $(tr '\n' ' ' < "$CFG/eval-seeds.txt"))"
"$BIN" dataset import --loco "$WORK/tower-set" --name default-tower-set > /dev/null
"$BIN" dataset import --loco "$WORK/lm-set" --name default-lm-set > /dev/null
TOWER_SPLIT="$(split_of default-tower-set 0.85)"
LM_SPLIT="$(split_of default-lm-set 0.85)"
step "splits: demo $DEMO_SPLIT, tower $TOWER_SPLIT, language stages $LM_SPLIT"

step "tower: dense pretraining of a fresh tower (seed 0) on the generator's stream"
"$BIN" model compose --lm smollm2 --out "$WORK/fresh" --tower "$CFG/tower.json" --name vlm-default-fresh > /dev/null
timed tower "$BIN" model pretrain-tower --base vlm-default-fresh --dataset default-tower-set \
  --split "$TOWER_SPLIT" --config "$CFG/tower-pretrain.toml" --out "$WORK/tower"
"$BIN" model compose --lm smollm2 --out "$WORK/base" --tower "$CFG/tower.json" \
  --tower-weights "$WORK/tower/tower.safetensors" --name vlm-default-base

for stage in stage1 stage2; do
  sed "s/@SPLIT@/$LM_SPLIT/" "$CFG/$stage.toml" > "$WORK/$stage.toml"
  step "$stage: $(grep -m1 '^# Stage' "$WORK/$stage.toml" | cut -c3-)"
  timed "$stage" "$BIN" train --config "$WORK/$stage.toml" --out "$WORK/$stage"
done

step "copy the trained parts to models/default (base paths made relative)"
cp "$WORK/tower/tower.safetensors" "$WORK/tower/tower-pretrain.json" "$CFG/"
for stage in stage1 stage2; do
  rm -rf "$CFG/$stage" && mkdir -p "$CFG/$stage"
  cp "$WORK/$stage/adapter/adapter_model.safetensors" "$WORK/$stage/adapter/vlm_inspect.json" "$CFG/$stage/"
  base=$([ "$stage" = stage1 ] && echo "../base" || echo "../stage1")
  python3 - "$WORK/$stage/adapter/adapter_config.json" "$CFG/$stage/adapter_config.json" "$base" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["base_model_name_or_path"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"), indent=2, sort_keys=True)
PY
  last="$(ls -d "$WORK/$stage"/checkpoint-* | sort -t- -k2 -n | tail -1)"
  cp "$last/trainer_state.json" "$CFG/$stage/"
done
step "training: $(( $(date +%s) - t0 )) s"

if [ "${VLM_INSPECT_RECIPE_EVAL:-1}" != 0 ]; then
  timed evaluation bash "$ROOT/scripts/eval-default.sh" "$WORK"
fi
step "whole recipe: $(( $(date +%s) - t0 )) s"
