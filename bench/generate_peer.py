"""The peer side of bench/generate.sh: SmolLM2-135M-Instruct greedy generation with
transformers on the CPU, loading the same GGUF (dequantised to f32, as ours).

Prints one JSON line: prompt/generated token counts, prefill and decode tokens/s, the text.
"""
import json
import os
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, prompt, new = sys.argv[1], sys.argv[2], int(sys.argv[3])
folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
ids = tok.apply_chat_template(
    [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt",
    return_dict=True,
)["input_ids"]


def run(n):
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
            do_sample=False, pad_token_id=tok.eos_token_id,
        )
    return time.perf_counter() - start, out[0, ids.shape[1]:]


run(8)  # warm-up
prefill, _ = min(run(1) for _ in range(3))
total, out = run(new)
print(json.dumps({
    "threads": torch.get_num_threads(),
    "prompt_tokens": ids.shape[1],
    "new_tokens": len(out),
    "prefill_tps": ids.shape[1] / prefill,
    "decode_tps": (len(out) - 1) / (total - prefill),
    "text": tok.decode(out, skip_special_tokens=True),
}))
