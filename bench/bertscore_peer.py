"""The peer of bench/bertscore.sh: the bert_score package on the same files, CPU, same layer.
Prints one JSON line: load and scoring seconds, pairs/s, and the scores.
    python bench/bertscore_peer.py MODEL_DIR LAYERS CANDS REFS
"""
import json
import sys
import time

import torch
from bert_score import BERTScorer

model, layers, cands_path, refs_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cands = open(cands_path).read().splitlines()
refs = open(refs_path).read().splitlines()
t0 = time.perf_counter()
scorer = BERTScorer(model_type=model, num_layers=layers, lang=None, device="cpu", batch_size=64)
loaded = time.perf_counter() - t0
t1 = time.perf_counter()
P, R, F = scorer.score(cands, refs)
scored = time.perf_counter() - t1
print(json.dumps({
    "threads": torch.get_num_threads(), "load_s": loaded, "score_s": scored,
    "pairs_per_s": len(cands) / scored, "P": P.tolist(), "R": R.tolist(), "F1": F.tolist(),
}))
