#!/usr/bin/env bash
# Benchmark for a GPU machine (CUDA + PyTorch + transformers; no Rust, no internet): our release
# binary built elsewhere with `--features cuda` against transformers on the same GPU, in one run,
# on random-weight checkpoints that transformers makes here (nothing downloaded) in the shapes of
# the paper's models: LLaVA-1.5-7B (CLIP ViT-L/14-336 + Vicuna-7B) and InternVL3-8B
# (InternViT-300M + Qwen2.5-7B). Per model it measures, ours and transformers:
#   - a Chain-of-Image prefill: one forward pass over template image + test image + a P3-length
#     prompt (LLaVA 2 × 576 image tokens; InternVL 2 × 256, one tile an image), f16, SDPA;
#   - decode tokens/s over NEW (128) greedy tokens after that prompt, against the memory-
#     bandwidth limit (the language model's f16 bytes read per token ÷ the measured bandwidth);
#   - one LoRA training step (r8, q/k/v/o/gate/up/down, seq SEQ = 512); ours trains in f32,
#     transformers + peft in bf16 (said in the table);
#   - peak GPU memory (ours: nvidia-smi sampled every 100 ms minus the idle level; theirs:
#     torch's max_memory_reserved).
# Without a GPU (no torch.cuda) the same steps run on the CPU with f32 (how the script is tested
# with a CPU build): bash bench/gpu.sh "$CARGO_TARGET_DIR/release/vlm-inspect" tiny
#
# Usage: bash bench/gpu.sh BIN [full|tiny] [llava,internvl]
#   BIN             our vlm-inspect (cargo build --release -p vlm-inspect --features cuda)
#   BENCH_PYTHON    Python with torch + transformers (+ peft if there; else LoRA by hand)
#   BENCH_OUT       folder for gpu-bench.json (default $OUT if set, else the working folder)
#   BENCH_NEW_TOKENS (128), BENCH_SEQ (512), BENCH_WORK (a big scratch folder; default /tmp)
# Budget: about 3-4 minutes per full-size model on an H100/H200 (most of it making, saving and
# loading the 15 GB checkpoint); each step has a timeout so a slow one still leaves the others.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:?usage: bash bench/gpu.sh BIN [full|tiny] [llava,internvl]}"
SHAPE="${2:-full}"
FAMILIES="${3:-llava,internvl}"
PY="${BENCH_PYTHON:-python3}"
NEW="${BENCH_NEW_TOKENS:-128}"
SEQ="${BENCH_SEQ:-512}"
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
case "$SHAPE" in full|tiny) ;; *) echo "shape must be full or tiny" >&2; exit 1 ;; esac
WORK="$(mktemp -d "${BENCH_WORK:-/tmp}/gpu-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
RESULTS="${BENCH_OUT:-${OUT:-$WORK}}"
mkdir -p "$RESULTS"

if "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  DEVICE=cuda; OURS=(--device cuda:0 --half)
else
  DEVICE=cpu; OURS=(--device cpu)
fi
if [ "$DEVICE" = cuda ]; then
  # Our binary loads the CUDA driver and NVRTC at run time: use the NVRTC that PyTorch's wheels
  # bring when the system has none on the library path.
  NVLIBS="$("$PY" -c 'import glob, os, site
dirs = {os.path.dirname(p) for d in site.getsitepackages() for p in glob.glob(d + "/nvidia/**/libnvrtc.so*", recursive=True)}
print(":".join(sorted(dirs)))')"
  export LD_LIBRARY_PATH="${NVLIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
[ "$DEVICE" = cuda ] && echo "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader -i 0)"
echo "ours: $("$BIN" --version); device $DEVICE; shape $SHAPE; new tokens $NEW; train seq $SEQ"

# Peak GPU memory of a command: nvidia-smi every 100 ms, minus the level before it started.
SAMPLER=""
sample_start() {
  [ "$DEVICE" = cuda ] || return 0
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 > "$1.idle"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 100 > "$1" &
  SAMPLER=$!
}
sample_stop() {  # prints the peak in MiB above idle, or null
  if [ -n "$SAMPLER" ]; then
    kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; SAMPLER=""
    sort -n "$1" | tail -1 | awk -v idle="$(cat "$1.idle")" '{print $1 - idle}'
  else
    echo null
  fi
}

for FAMILY in ${FAMILIES//,/ }; do
  W="$WORK/$FAMILY"
  mkdir -p "$W"
  echo "== $FAMILY ($SHAPE): making the checkpoint and timing transformers"
  t0=$SECONDS
  if ! timeout 300 "$PY" "$ROOT/bench/gpu_peer.py" "$SHAPE" "$FAMILY" "$W" "$DEVICE" "$NEW" "$SEQ" \
      > "$W/peer.out" 2> "$W/peer.err"; then
    tail -20 "$W/peer.err" >&2; echo "transformers failed for $FAMILY" >&2; continue
  fi
  tail -1 "$W/peer.out" > "$W/peer.json"
  echo "   transformers done in $((SECONDS - t0)) s"

  t0=$SECONDS
  sample_start "$W/forward.mem"
  timeout 240 "$BIN" forward --model "$W/model" --inputs "$W/inputs.safetensors" \
    --out "$W/logits.safetensors" "${OURS[@]}" --decode "$NEW" --repeat 2 \
    > /dev/null 2> "$W/forward.err" || { tail -20 "$W/forward.err" >&2; echo "our forward failed" >&2; }
  echo "$(sample_stop "$W/forward.mem")" > "$W/forward.peak"
  echo "   ours forward + decode done in $((SECONDS - t0)) s"

  t0=$SECONDS
  sample_start "$W/train.mem"
  timeout 240 "$BIN" bench-train --model "$W/model" --data-dir "$W/data" --seq-len "$SEQ" \
    --steps 2 "${OURS[0]}" "${OURS[1]}" > "$W/train.json" 2> "$W/train.err" \
    || { tail -20 "$W/train.err" >&2; echo "our training step failed" >&2; }
  echo "$(sample_stop "$W/train.mem")" > "$W/train.peak"
  echo "   ours LoRA step done in $((SECONDS - t0)) s"

  "$PY" - "$W" "$RESULTS/gpu-bench-$FAMILY.json" <<'PY'
import json, re, sys
w, out = sys.argv[1], sys.argv[2]
peer = json.load(open(f"{w}/peer.json"))
err = open(f"{w}/forward.err").read()
fwd = re.search(r"forward: ([\d.]+) s", err)
dec = re.findall(r"first token: ([\d.]+) s; decode: (\d+) tokens, ([\d.]+) tokens/s", err)
try:
    train = json.loads(open(f"{w}/train.json").read().strip().splitlines()[-1])
except (IndexError, ValueError):
    train = {}
peak = lambda f: json.loads(open(f"{w}/{f}.peak").read().strip() or "null")
ours = {"prefill_s": float(fwd[1]) if fwd else None,
        "first_token_s": float(dec[-1][0]) if dec else None,
        "decode_tps": float(dec[-1][2]) if dec else None,
        "train_step_s": train.get("ms_per_step", 0) / 1000 or None,
        "forward_peak_mb": peak("forward"), "train_peak_mb": peak("train"),
        "train_dtype": "float32", "infer_dtype": peer["infer_dtype"]}
ratio = lambda a, b: round(a / b, 3) if a and b else None
# Decode reads the language model's weights once a token (f16 on a GPU, f32 on the CPU).
width = 2 if peer["infer_dtype"] == "float16" else 4
limit = peer["bandwidth_gbs"] * 1e9 / (width * peer["lm_params"])
summary = {
    "prefill_ratio (transformers_s / ours_s)": ratio(peer["prefill_s"], ours["prefill_s"]),
    "decode_ratio (ours / transformers)": ratio(ours["decode_tps"], peer["decode_tps"]),
    "decode_bandwidth_limit_tps": round(limit, 1),
    "decode_share_of_limit (ours)": ratio(ours["decode_tps"], limit),
    "train_ratio (transformers_s / ours_s)": ratio(peer["train_step_s"], ours["train_step_s"]),
}
json.dump({"peer": peer, "ours": ours, "summary": summary}, open(out, "w"), indent=1)
f = lambda v, d=2: "—" if v is None else f"{v:.{d}f}"
print(f"{peer['family']} ({peer['shape']}, {peer['params'] / 1e6:,.1f} M parameters) on {peer['gpu'] or 'cpu'}; "
      f"{peer['tokens']} prompt tokens; transformers {peer['transformers']}, torch {peer['torch']}")
print(f"{'':26}{'ours':>12}{'transformers':>14}{'ratio':>8}")
print(f"{'CoI prefill (s)':26}{f(ours['prefill_s'], 3):>12}{f(peer['prefill_s'], 3):>14}{f(summary['prefill_ratio (transformers_s / ours_s)']):>8}")
print(f"{'first token (s)':26}{f(ours['first_token_s'], 3):>12}{f(peer['first_token_s'], 3):>14}")
print(f"{'decode (tokens/s)':26}{f(ours['decode_tps'], 1):>12}{f(peer['decode_tps'], 1):>14}{f(summary['decode_ratio (ours / transformers)']):>8}")
print(f"{'LoRA step (s)':26}{f(ours['train_step_s'], 3):>12}{f(peer['train_step_s'], 3):>14}{f(summary['train_ratio (transformers_s / ours_s)']):>8}"
      f"   (ours f32, theirs {peer['train_dtype']}, LoRA {peer['lora']})")
print(f"{'peak memory, infer (MiB)':26}{f(ours['forward_peak_mb'], 0):>12}{f(peer['decode_peak_mb'], 0):>14}")
print(f"{'peak memory, train (MiB)':26}{f(ours['train_peak_mb'], 0):>12}{f(peer['train_peak_mb'], 0):>14}")
print(f"decode limit: {peer['lm_params'] / 1e6:,.1f} M {peer['infer_dtype']} language-model weights a token at a measured "
      f"{peer['bandwidth_gbs']:.0f} GB/s = {limit:.0f} tokens/s; ours reaches "
      f"{f(summary['decode_share_of_limit (ours)'])} of it (target 0.5)")
PY
  rm -rf "$W/model"  # 15 GB a model: free the disk before the next
done
echo "results: $RESULTS/gpu-bench-*.json"
