"""The peer side of bench/gpu.sh: makes a random-weight vision-language checkpoint of the chosen
shape with transformers (nothing downloaded), saves it with a word-level tokenizer and a chat
template for our binary, writes a Chain-of-Image input (template image, test image, a P3-length
prompt), and times transformers on the same device in the same precision our `--half` uses:
  prefill  one forward pass over the whole prompt (images + text), SDPA attention
  decode   greedy generate of NEW tokens after that prompt (min_new_tokens = NEW):
           (NEW - 1) / (time of NEW tokens - time of 1 token)
  train    one LoRA step (r8, alpha 16, q/k/v/o/gate/up/down of the language model, AdamW lr
           1e-4, a SEQ-token text sequence whose last 64 tokens carry the loss), after a warm-up
           step; bf16 weights on a GPU (f32 on the CPU)
and the peak memory of each (torch's allocator: max_memory_reserved).

    python gpu_peer.py SHAPE FAMILY OUT_DIR DEVICE NEW SEQ
      SHAPE: tiny | full     FAMILY: llava | internvl     DEVICE: cuda | cpu
writes OUT_DIR/model and OUT_DIR/inputs.safetensors, prints one JSON line.

Shapes ("full" is the paper's models):
  llava     full: LLaVA-1.5-7B (CLIP ViT-L/14-336, 576 tokens an image; Vicuna-7B, vocab 32064)
            tiny: the same layout, 2 layers of width 64 (still 336 px, 576 tokens an image)
  internvl  full: InternVL3-8B (InternViT-300M, 448 px tiles, 256 tokens a tile; Qwen2.5-7B),
            one tile an image; tiny: 2 layers of width 64, same tiles
"""
import json
import os
import sys
import time

import torch
from safetensors.torch import save_file

shape, family, out, device, new, seq = sys.argv[1:7]
new, seq = int(new), int(seq)
assert shape in ("tiny", "full") and family in ("llava", "internvl") and device in ("cuda", "cpu")
HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
gpu = device == "cuda"
infer_dtype = torch.float16 if gpu else torch.float32
train_dtype = torch.bfloat16 if gpu else torch.float32
PROMPT_TOKENS = 220  # P3's length in tokens, as bench/llava.sh


def sync():
    if gpu:
        torch.cuda.synchronize()


def reset_peak():
    if gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_mb():
    return torch.cuda.max_memory_reserved() / 2**20 if gpu else None


if family == "llava":
    from transformers import (CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration as Model)
    full = shape == "full"
    vocab, image_token, per_image, size = 32064, 32000, 576, 336
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=1024 if full else 64, intermediate_size=4096 if full else 128,
            num_hidden_layers=24 if full else 2, num_attention_heads=16 if full else 4,
            image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu"),
        text_config=LlamaConfig(
            vocab_size=vocab, hidden_size=4096 if full else 64,
            intermediate_size=11008 if full else 128, num_hidden_layers=32 if full else 2,
            num_attention_heads=32 if full else 4, num_key_value_heads=32 if full else 4,
            max_position_embeddings=4096, rms_norm_eps=1e-5, tie_word_embeddings=False),
        image_token_id=image_token, vision_feature_layer=-2,
        vision_feature_select_strategy="default", projector_hidden_act="gelu",
    )
    image_ids = lambda: [image_token] * per_image
    template = ("{% for m in messages %}{{ m['role'].upper() + ': ' + m['content'] + ' ' }}"
                "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")
    specials = {"<image>": image_token}
else:
    from transformers import InternVLConfig, InternVLForConditionalGeneration as Model
    full_cfg = json.load(open(os.path.join(HERE, "..", "vlm", "tests", "fixtures",
                                           "internvl3-8b-config.json")))
    if shape == "tiny":
        full_cfg["text_config"].update(hidden_size=64, intermediate_size=128,
                                       num_hidden_layers=2, num_attention_heads=4,
                                       num_key_value_heads=2, layer_types=["full_attention"] * 2,
                                       max_window_layers=2)
        full_cfg["vision_config"].update(hidden_size=64, intermediate_size=128,
                                         num_hidden_layers=2, num_attention_heads=4)
    cfg = InternVLConfig(**full_cfg)
    vocab = cfg.text_config.vocab_size
    image_token, per_image, size = cfg.image_token_id, cfg.image_seq_length, 448
    start, end = image_token - 2, image_token - 1  # <img>, </img> in Qwen2's added tokens
    image_ids = lambda: [start] + [image_token] * per_image + [end]
    template = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
                "'<|im_end|>\\n' }}{% endfor %}"
                "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    specials = {"<img>": start, "</img>": end, "<IMG_CONTEXT>": image_token,
                "<|im_start|>": 151644, "<|im_end|>": 151645}

torch.set_default_dtype(infer_dtype)  # made in the inference precision: half the memory
with torch.device(device):
    model = Model._from_config(cfg, attn_implementation="sdpa").eval()
torch.set_default_dtype(torch.float32)
model_dir = os.path.join(out, "model")
model.save_pretrained(model_dir)

# A word-level tokenizer over the whole vocabulary with the family's special tokens: our binary
# opens a folder with its tokenizer and chat template (the ids below bypass both).
names = [f"w{i}" for i in range(vocab)]
names[:3] = ["<unk>", "<s>", "</s>"]
for text, i in specials.items():
    names[i] = text
vocab_map = {t: i for i, t in enumerate(names)}
added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
          "normalized": False, "special": True} for t, i in specials.items()]
with open(os.path.join(model_dir, "tokenizer.json"), "w") as f:
    json.dump({"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
               "normalizer": None, "pre_tokenizer": {"type": "Whitespace"},
               "post_processor": None, "decoder": None,
               "model": {"type": "WordLevel", "vocab": vocab_map, "unk_token": "<unk>"}}, f)
with open(os.path.join(model_dir, "tokenizer_config.json"), "w") as f:
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>",
               "eos_token": "</s>" if family == "llava" else "<|im_end|>", "unk_token": "<unk>",
               "chat_template": template}, f, indent=1)

# The Chain-of-Image prompt: template image, test image, a P3-length instruction.
g = torch.Generator().manual_seed(1)
text = lambda n: torch.randint(3, min(vocab, 30000), (n,), generator=g).tolist()
ids = [1] + text(10) + image_ids() + text(1) + image_ids() + text(PROMPT_TOKENS)
input_ids = torch.tensor([ids])
pixel_values = torch.randn(2, 3, size, size, generator=g)
save_file({"input_ids": input_ids, "pixel_values": pixel_values},
          os.path.join(out, "inputs.safetensors"))
input_ids, pixel_values = input_ids.to(device), pixel_values.to(device, infer_dtype)

result = {"shape": shape, "family": family, "device": device, "tokens": len(ids),
          "params": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
          "torch": torch.__version__, "gpu": torch.cuda.get_device_name() if gpu else None}
import transformers
result["transformers"] = transformers.__version__
# What decoding reads a token: the language model's matrices and head, not its embedding table.
result["lm_params"] = sum(p.numel() for n, p in model.named_parameters()
                          if ("language_model" in n or "lm_head" in n) and "embed_tokens" not in n)


def bandwidth_gbs():
    """Memory read bandwidth: summing a 2 GiB (GPU) or 1 GiB (CPU) tensor, best of 5."""
    a = torch.ones(1 << 30 if gpu else 1 << 28, dtype=infer_dtype, device=device)
    best = float("inf")
    for _ in range(5):
        sync()
        t = time.perf_counter()
        a.sum()
        sync()
        best = min(best, time.perf_counter() - t)
    return a.numel() * a.element_size() / best / 1e9


result["bandwidth_gbs"] = bandwidth_gbs()


def timed(fn, runs=3):
    fn()  # warm-up
    best = float("inf")
    for _ in range(runs):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


with torch.inference_mode():
    reset_peak()
    result["prefill_s"] = timed(lambda: model(input_ids=input_ids, pixel_values=pixel_values))
    result["prefill_peak_mb"] = peak_mb()

    def gen(n):
        return model.generate(input_ids=input_ids, pixel_values=pixel_values, do_sample=False,
                              max_new_tokens=n, min_new_tokens=n, pad_token_id=0)
    reset_peak()
    first = timed(lambda: gen(1), runs=2)
    whole = timed(lambda: gen(new), runs=2)
    result["first_token_s"] = first
    result["decode_tps"] = (new - 1) / (whole - first)
    result["decode_peak_mb"] = peak_mb()

# One LoRA training step on the language model.
model = model.to(train_dtype)
lora_targets = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
try:
    from peft import LoraConfig, get_peft_model
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, bias="none",
                                             target_modules=lora_targets))
    result["lora"] = "peft"
except ImportError:  # a machine without peft: the same adapters by hand
    import re

    class Lora(torch.nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base = base
            self.a = torch.nn.Parameter(torch.randn(8, base.in_features, dtype=train_dtype,
                                                    device=device) / base.in_features ** 0.5)
            self.b = torch.nn.Parameter(torch.zeros(base.out_features, 8, dtype=train_dtype,
                                                    device=device))

        def forward(self, x):
            return self.base(x) + (x @ self.a.t() @ self.b.t()) * 2.0

    for name, module in list(model.named_modules()):
        if re.fullmatch(lora_targets, name):
            parent, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(parent), leaf, Lora(module))
    for name, p in model.named_parameters():
        p.requires_grad = name.endswith((".a", ".b"))
    result["lora"] = "by hand (no peft on this machine)"
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4)
train_ids = torch.randint(100, 10000, (1, seq), generator=torch.Generator().manual_seed(0)).to(device)
labels = train_ids.clone()
labels[:, : max(seq - 64, 0)] = -100


def step():
    loss = model(input_ids=train_ids, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


reset_peak()
result["train_step_s"] = timed(step, runs=2)
result["train_peak_mb"] = peak_mb()
result["train_dtype"] = str(train_dtype).removeprefix("torch.")
result["infer_dtype"] = str(infer_dtype).removeprefix("torch.")
print(json.dumps(result))
