"""The llama.cpp side of bench/generate.sh: SmolLM2-135M-Instruct greedy generation with
llama.cpp (PyPI's llama-cpp-python, built from source for this CPU) on the same GGUF, its
blocks kept quantised, the same prompt tokens as transformers' chat template gives, the same
number of threads.

Usage: python generate_llamacpp.py GGUF PROMPT NEW THREADS
Prints one JSON line: prompt/generated token counts, prefill and decode tokens/s, the text.
"""
import json
import os
import sys
import time

import numpy as np
import llama_cpp
from llama_cpp import Llama
from transformers import AutoTokenizer

gguf, prompt, new, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
ids = tok.apply_chat_template(
    [{"role": "user", "content": prompt}], add_generation_prompt=True, return_dict=True,
)["input_ids"]
llm = Llama(
    model_path=gguf, n_ctx=2048, n_batch=512, n_threads=threads, n_threads_batch=threads,
    verbose=False,
)
eos = tok.eos_token_id


def prefill():
    llm.reset()
    start = time.perf_counter()
    llm.eval(ids)
    return time.perf_counter() - start


def next_token(allow_eos):
    # Greedy; end-of-text held back as --min-new-tokens does on our side. The last position's
    # logits straight from the context (llama-cpp-python 0.3 keeps `scores` only with
    # logits_all, which would compute the head for every prompt token).
    logits = np.ctypeslib.as_array(
        llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),)
    ).astype(np.float32)
    if not allow_eos:
        logits[eos] = -np.inf
    return int(np.argmax(logits))


prefill()  # warm-up
best = min(prefill() for _ in range(3))
prefill()
out = [next_token(False)]
start = time.perf_counter()
while len(out) < new:
    llm.eval([out[-1]])
    out.append(next_token(False))
decode = time.perf_counter() - start
print(json.dumps({
    "threads": threads,
    "prompt_tokens": len(ids),
    "new_tokens": len(out),
    "prefill_tps": len(ids) / best,
    "decode_tps": (len(out) - 1) / decode,
    "text": tok.decode(out, skip_special_tokens=True),
}))
