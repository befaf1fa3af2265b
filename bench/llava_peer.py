"""The peer side of bench/llava.sh: makes a random LLaVA with a ViT-B-sized CLIP tower
(LLaVA-1.5's 336 px / 14 px patching: 576 tokens per image) and a SmolLM2-135M-sized LLaMA,
saves it and a Chain-of-Image input (two images + a P3-length prompt) for our `forward`, and
times transformers' forward pass on the CPU.

    python llava_peer.py OUT_DIR     -> writes OUT_DIR/model, OUT_DIR/inputs.safetensors,
                                        prints one JSON line with the timing
"""
import json
import os
import sys
import time

import torch
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

out = sys.argv[1]
torch.manual_seed(0)
cfg = LlavaConfig(
    vision_config=CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                   num_attention_heads=12, image_size=336, patch_size=14),
    text_config=LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                            num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                            max_position_embeddings=8192, rope_theta=100000.0,
                            tie_word_embeddings=True, rms_norm_eps=1e-5),
    image_token_id=49151, vision_feature_layer=-2, vision_feature_select_strategy="default",
    tie_word_embeddings=True,
)
model = LlavaForConditionalGeneration(cfg).eval()
model.save_pretrained(os.path.join(out, "model"))

# A Chain-of-Image prompt: template image, test image, then a P3-length instruction.
g = torch.Generator().manual_seed(1)
prompt_tokens = 220
ids = ([1] + torch.randint(3, 49000, (10,), generator=g).tolist() + [49151] * 576 + [198]
       + [49151] * 576 + torch.randint(3, 49000, (prompt_tokens,), generator=g).tolist())
input_ids = torch.tensor([ids])
pixel_values = torch.randn(2, 3, 336, 336, generator=g)
save_file({"input_ids": input_ids, "pixel_values": pixel_values},
          os.path.join(out, "inputs.safetensors"))

with torch.inference_mode():
    model(input_ids=input_ids, pixel_values=pixel_values)  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model(input_ids=input_ids, pixel_values=pixel_values)
        times.append(time.perf_counter() - start)
print(json.dumps({"tokens": len(ids), "seconds": min(times), "threads": torch.get_num_threads()}))
