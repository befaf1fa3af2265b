"""The peer side of bench/train.sh: LoRA training steps of SmolLM2-135M-Instruct with
transformers + peft on the CPU, loading the same GGUF (dequantised to f32, as ours).

    python train_peer.py GGUF SEQ STEPS

The setup matches our `bench-train`: rank 8, alpha 16, dropout 0, on q/k/v/o and gate/up/down,
base weights frozen, AdamW lr 1e-4, batch 1, a SEQ-token sequence whose last 64 tokens carry the
loss; a step is forward + backward + gradient clipping to norm 1 + AdamW step. One warm-up step,
then STEPS timed steps. Prints one JSON line: threads, ms_per_step, first and last loss, peak RSS.
"""
import json
import os
import resource
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

gguf, seq, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
model = get_peft_model(model, LoraConfig(
    r=8, lora_alpha=16, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
))
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4)

ids = torch.randint(100, 10000, (1, seq), generator=torch.Generator().manual_seed(0))
labels = ids.clone()
labels[:, : max(seq - 64, 0)] = -100  # only the last 64 tokens (the answer) carry the loss
mask = torch.ones_like(ids)


def step():
    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad()
    return loss.item()


step()  # warm-up
losses = []
start = time.perf_counter()
for _ in range(steps):
    losses.append(step())
elapsed = time.perf_counter() - start
print(json.dumps({
    "seq_len": seq,
    "steps": steps,
    "ms_per_step": elapsed * 1000 / steps,
    "loss_first": losses[0],
    "loss_last": losses[-1],
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "threads": torch.get_num_threads(),
    "trainable_params": sum(p.numel() for p in params),
}))
