"""torch's f32 matrix products at the shapes of vlm/benches/matmul.rs (x @ W.T), best of N, on
torch's threads: python bench/matmul_peer.py"""
import time

import torch

shapes = [
    ("decoder q/o 1384x576x576", 1384, 576, 576),
    ("decoder gate/up 1384x576x1536", 1384, 576, 1536),
    ("decoder down 1384x1536x576", 1384, 1536, 576),
    ("decoder lm_head 1384x576x49152", 1384, 576, 49152),
    ("tower qkv/o 1154x768x768", 1154, 768, 768),
    ("tower fc1 1154x768x3072", 1154, 768, 3072),
    ("tower fc2 1154x3072x768", 1154, 3072, 768),
]
print("threads:", torch.get_num_threads())
for name, rows, inp, out in shapes:
    x, w = torch.rand(rows, inp), torch.rand(out, inp)
    x @ w.T
    reps = int(min(max(2e10 / (2 * rows * inp * out), 3), 50))
    best = min((lambda t: (x @ w.T, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(reps))
    print(f"{name:34} {best * 1e3:8.2f} ms {2 * rows * inp * out / best / 1e9:7.1f} GFLOP/s")
