"""torch's scaled_dot_product_attention at the shapes of vlm/benches/attention.rs, best of 10,
on torch's threads: python bench/attention_peer.py"""
import time

import torch
import torch.nn.functional as F

cases = [("decoder causal 1384 tokens, 9/3 heads", 1, 9, 3, 1384, True),
         ("tower 2 x 577 patches, 12 heads", 2, 12, 12, 577, False)]
print("threads:", torch.get_num_threads())
for name, b, h, kvh, n, causal in cases:
    q, k, v = torch.rand(b, h, n, 64), torch.rand(b, kvh, n, 64), torch.rand(b, kvh, n, 64)
    run = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=kvh != h)
    run()
    best = min((lambda t: (run(), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(10))
    pairs = n * n * (0.5 if causal else 1.0)
    print(f"{name:40} {best * 1e3:8.2f} ms {4 * pairs * b * h * 64 / best / 1e9:7.1f} GFLOP/s")
