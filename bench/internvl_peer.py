"""The peer side of bench/internvl.sh: makes a random InternVL with InternVL3-8B's vision tower
(InternViT-300M: 1024 wide, 24 layers, 448 px tiles of 14 px patches, 256 tokens a tile after
the pixel shuffle) and a SmolLM2-135M-sized Qwen2 decoder, saves it and a Chain-of-Image input
(a template image of 3 tiles and a test image of 1, then a P3-length prompt) for our `forward`,
and times transformers' forward pass on the CPU.

    python internvl_peer.py OUT_DIR   -> writes OUT_DIR/model, OUT_DIR/inputs.safetensors,
                                         prints one JSON line with the timing
"""
import json
import os
import sys
import time

import torch
from safetensors.torch import save_file
from transformers import (InternVLConfig, InternVLForConditionalGeneration, InternVLVisionConfig,
                          Qwen2Config)

out = sys.argv[1]
runs = int(os.environ.get("BENCH_RUNS", "2"))
torch.manual_seed(0)
IMAGE, START, END = 49151, 49149, 49150
cfg = InternVLConfig(
    vision_config=InternVLVisionConfig(hidden_size=1024, intermediate_size=4096,
                                       num_hidden_layers=24, num_attention_heads=16,
                                       image_size=448, patch_size=14, attention_bias=True),
    text_config=Qwen2Config(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                            num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                            max_position_embeddings=8192,
                            rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
                            tie_word_embeddings=True, rms_norm_eps=1e-5),
    image_token_id=IMAGE, image_seq_length=256, downsample_ratio=0.5, tie_word_embeddings=True,
)
model = InternVLForConditionalGeneration(cfg).eval()
model.save_pretrained(os.path.join(out, "model"))

g = torch.Generator().manual_seed(1)
text = lambda n: torch.randint(3, 49000, (n,), generator=g).tolist()
image = lambda tiles: [START] + [IMAGE] * (256 * tiles) + [END]
ids = [1] + text(10) + image(3) + [198] + image(1) + text(220)
input_ids = torch.tensor([ids])
pixel_values = torch.randn(4, 3, 448, 448, generator=g)
save_file({"input_ids": input_ids, "pixel_values": pixel_values},
          os.path.join(out, "inputs.safetensors"))

with torch.inference_mode():
    model(input_ids=input_ids, pixel_values=pixel_values)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model(input_ids=input_ids, pixel_values=pixel_values)
        times.append(time.perf_counter() - start)
print(json.dumps({"tokens": len(ids), "seconds": min(times), "threads": torch.get_num_threads()}))
