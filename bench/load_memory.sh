#!/usr/bin/env bash
# Peak memory of loading the LLaVA benchmark checkpoint's shapes (a ViT-B-sized CLIP tower at
# 336 px and SmolLM2-135M, composed here in f32 from the embedded GGUF): `forward` on one token,
# so nearly all of its peak resident memory is the load. Prints the peak, the checkpoint's f32
# size and their ratio, for this build and, with BEFORE_BIN=/path/to/older/vlm-inspect, for an
# older one in the same run. Run by hand (not in CI): bash bench/load_memory.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" >/dev/null
BIN="$CARGO_TARGET_DIR/release/vlm-inspect"
[ -x "$BIN" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$BIN" model compose --out "$WORK/model" --image-size 336 --patch-size 14 --width 768 \
  --layers 12 --heads 12 --mlp 3072 --data-dir "$WORK/data" >/dev/null
python3 - "$WORK/inputs.safetensors" <<'PY'
import json, struct, sys
header = json.dumps({"input_ids": {"dtype": "I64", "shape": [1, 1], "data_offsets": [0, 8]}}).encode()
header += b" " * (-len(header) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(header)) + header + struct.pack("<q", 1))
PY
SIZE=$(stat -c %s "$WORK/model/model.safetensors")
peak() {
  /usr/bin/time -f %M "$1" forward --model "$WORK/model" --inputs "$WORK/inputs.safetensors" \
    --out "$WORK/out.safetensors" 2>&1 >/dev/null | tail -1
}
report() {
  local kb
  kb=$(peak "$2")
  awk -v n="$1" -v kb="$kb" -v size="$SIZE" 'BEGIN {
    printf "%-7s peak %.0f MB, checkpoint %.0f MB (f32), ratio %.3f\n", n, kb / 1024, size / 1048576, kb * 1024 / size }'
}
[ -n "${BEFORE_BIN:-}" ] && report before "$BEFORE_BIN"
report after "$BIN"
