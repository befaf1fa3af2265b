#!/usr/bin/env bash
# Wall time of a 110-image Chain-of-Image evaluation (P1: two images per request) of the tiny
# LLaVA, run locally and through vlm-inspect's own /v1 as a remote model at 1 and 4 requests
# in flight, on one machine. Run by hand after a release build:
#   bash bench/v1_eval.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${VLM_INSPECT_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/vlm-inspect/target}/release/vlm-inspect}"
WORK="$(mktemp -d)"
DATA="$WORK/data"
trap 'kill "${SERVER:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export RUST_LOG=warn VLM_INSPECT_SMOLLM2_GGUF=/nonexistent VLM_INSPECT_DEFAULT_MODEL=/nonexistent

# The tiny LLaVA with a word-level tokenizer (as the tests build it).
mkdir -p "$WORK/llava"
cp "$ROOT/vlm/tests/fixtures/tiny-llava/"{config.json,model.safetensors} "$WORK/llava/"
python3 - "$WORK/llava/tokenizer.json" <<'PY'
import json, sys
vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", "USER", ":", "ASSISTANT", "hello"])}
vocab.update({f"w{i}": i for i in range(7, 127)})
vocab["<image>"] = 127
json.dump({"version": "1.0", "truncation": None, "padding": None,
           "added_tokens": [{"id": 127, "content": "<image>", "single_word": False, "lstrip": False,
                             "rstrip": False, "normalized": False, "special": True}],
           "normalizer": None, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None,
           "decoder": None, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}},
          open(sys.argv[1], "w"))
PY

"$BIN" dataset synth --out "$WORK/synth" --per-category train=4,validation=2,good=20,logical=20,structural=20 --size 64 --categories pushpins,breakfast_box >/dev/null
"$BIN" dataset import --loco "$WORK/synth" --name bench --data-dir "$DATA" >/dev/null
SPLIT="$("$BIN" dataset split bench --data-dir "$DATA" | cut -d: -f1)"
"$BIN" model add tiny-llava "$WORK/llava" --data-dir "$DATA" >/dev/null
printf 'bench-pass-1234\n' | "$BIN" user add bench --role member --password-stdin --data-dir "$DATA" >/dev/null
export VLM_INSPECT_BENCH_TOKEN="$("$BIN" token create --user bench --data-dir "$DATA" | tail -1)"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" serve --addr "127.0.0.1:$PORT" --data-dir "$DATA" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
for c in 1 4; do
  "$BIN" model add "v1-c$c" --openai "http://127.0.0.1:$PORT/v1" --remote-model tiny-llava \
    --api-key-env VLM_INSPECT_BENCH_TOKEN --max-concurrency "$c" --data-dir "$DATA" >/dev/null
done

run() {
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" eval --model "$1" --dataset bench --split "$SPLIT" --prompts P1 --limit 110 \
    --max-new-tokens 16 --out "$WORK/out-$2" --data-dir "$DATA" >/dev/null 2>&1
  t1=$(date +%s.%N)
  python3 -c "print(f'| $2 | {($t1 - $t0):.2f} |')"
}
echo "110 test images × P1 (two images per request), tiny LLaVA, $(nproc) cores"
echo "| path | wall s |"
echo "|---|---|"
run "$WORK/llava" local
run v1-c1 "/v1, 1 in flight"
run v1-c4 "/v1, 4 in flight"
