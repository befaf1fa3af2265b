#!/usr/bin/env bash
# Trains the embedded default vision-language model with our own pipeline, end to end, on this
# machine's CPU (docs/models/default.md): compose SmolLM2-135M-Instruct with a fresh vision
# tower, stage 1 (models/default/stage1.toml), stage 2 (stage2.toml), evaluate the three
# variants the model card reports, and copy the small trained parts into models/default/.
# Usage: bash scripts/train-default.sh [work folder, default ~/.cache/vlm-inspect/default-recipe]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
[ -x "$CARGO_TARGET_DIR/release/vlm-inspect" ] || cargo build --release -p vlm-inspect
WORK="${1:-$HOME/.cache/vlm-inspect/default-recipe}"
DATA="$WORK/data"
LOG="$WORK/timings.txt"
rm -rf "$WORK" && mkdir -p "$WORK"
# A copy of the binary: a build during the hour this takes must not pull it away.
BIN="$WORK/vlm-inspect"
cp "$CARGO_TARGET_DIR/release/vlm-inspect" "$BIN"
export VLM_INSPECT_DATA_DIR="$DATA"
step() { printf '\033[1;34m[default]\033[0m %s\n' "$*"; echo "$(date -u +%FT%TZ) $*" >> "$LOG"; }
t0=$(date +%s)

step "demo set (generated, seed 0) and its 10% split (seed 0)"
"$BIN" dataset synth --out "$WORK/loco-synth" > /dev/null
"$BIN" dataset import --loco "$WORK/loco-synth" --name loco-synth > /dev/null
SPLIT="$("$BIN" dataset split loco-synth --seed 0 --fraction 0.1 | cut -d: -f1)"
step "split $SPLIT"

step "compose the base: SmolLM2-135M-Instruct + a fresh vision tower (seed 0)"
"$BIN" model compose --lm smollm2 --out "$WORK/base" --tower "$ROOT/models/default/tower.json" --name vlm-default-base

for stage in stage1 stage2; do
  sed "s/@SPLIT@/$SPLIT/" "$ROOT/models/default/$stage.toml" > "$WORK/$stage.toml"
  step "$stage: $(grep -m1 '^# Stage' "$WORK/$stage.toml" | cut -c3-)"
  s=$(date +%s)
  "$BIN" train --config "$WORK/$stage.toml" --out "$WORK/$stage"
  step "$stage took $(( $(date +%s) - s )) s"
done

step "evaluate: (c) stage 2 (Part A), then (a) stage 1 plain and (b) stage 1 with P1-P3"
s=$(date +%s)
"$BIN" eval --model vlm-default --dataset loco-synth --split "$SPLIT" --prompts plain --max-new-tokens 48 --out "$WORK/eval-stage2"
"$BIN" eval --model vlm-default-stage1 --dataset loco-synth --split "$SPLIT" --prompts plain,P1,P2,P3 --max-new-tokens 48 --out "$WORK/eval-stage1"
step "evaluation took $(( $(date +%s) - s )) s"

step "copy the trained parts to models/default (base paths made relative)"
for stage in stage1 stage2; do
  rm -rf "$ROOT/models/default/$stage" && mkdir -p "$ROOT/models/default/$stage"
  cp "$WORK/$stage/adapter/adapter_model.safetensors" "$WORK/$stage/adapter/vlm_inspect.json" "$ROOT/models/default/$stage/"
  base=$([ "$stage" = stage1 ] && echo "../base" || echo "../stage1")
  python3 - "$WORK/$stage/adapter/adapter_config.json" "$ROOT/models/default/$stage/adapter_config.json" "$base" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["base_model_name_or_path"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"), indent=2, sort_keys=True)
PY
  last="$(ls -d "$WORK/$stage"/checkpoint-* | sort -t- -k2 -n | tail -1)"
  cp "$last/trainer_state.json" "$ROOT/models/default/$stage/"
done
cp "$WORK"/eval-stage*/evaluation-*.json "$ROOT/models/default/" 2>/dev/null || true
step "whole recipe: $(( $(date +%s) - t0 )) s"
