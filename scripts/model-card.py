#!/usr/bin/env python3
"""Prints the numbers of docs/models/default.md from what scripts/train-default.sh left in
models/default/ (tower-pretrain.json, trainer_state.json of both stages, the evaluation JSON
files under eval/), and draws the training curves as docs/models/default-loss.svg. Standard
library only.
Usage: python3 scripts/model-card.py"""
import glob
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "models", "default")


def history(stage):
    state = json.load(open(os.path.join(MODELS, stage, "trainer_state.json")))
    return state["history"], state


def per_epoch(h):
    out = {}
    for p in h:
        out.setdefault(p["epoch"], []).append(p["loss"])
    return {e: sum(v) / len(v) for e, v in sorted(out.items())}


def svg(curves, path):
    w, hgt, pad = 640, 240, 40
    allv = [v for _, pts in curves for v in pts]
    lo, hi = min(allv), max(allv)
    n = sum(len(pts) for _, pts in curves)
    x = lambda i: pad + (w - pad - 10) * i / max(n - 1, 1)
    y = lambda v: 10 + (hgt - 40) * (1 - (v - lo) / (hi - lo or 1))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {hgt}" width="{w}" height="{hgt}" font-family="sans-serif" font-size="11">',
             f'<line x1="{pad}" y1="{hgt-30}" x2="{w-10}" y2="{hgt-30}" stroke="#888"/>',
             f'<line x1="{pad}" y1="10" x2="{pad}" y2="{hgt-30}" stroke="#888"/>',
             f'<text x="{pad-4}" y="16" text-anchor="end">{hi:.2f}</text>',
             f'<text x="{pad-4}" y="{hgt-30}" text-anchor="end">{lo:.2f}</text>']
    start = 0
    for (name, pts), colour in zip(curves, ["#16a34a", "#2563eb", "#dc2626"]):
        line = " ".join(f"{x(start + i):.1f},{y(v):.1f}" for i, v in enumerate(pts))
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        parts.append(f'<text x="{x(start) + 4:.1f}" y="{hgt-14}" fill="{colour}">{name} ({len(pts)} steps)</text>')
        start += len(pts)
    parts.append("</svg>")
    open(path, "w").write("\n".join(parts))


curves = []
tower = json.load(open(os.path.join(MODELS, "tower-pretrain.json")))
# One point per 10 steps: the tower takes thousands of small steps.
losses = tower["losses"]
curves.append(("tower", [sum(losses[i:i + 10]) / len(losses[i:i + 10]) for i in range(0, len(losses), 10)]))
print(f"## tower: {tower['summary']['steps']} steps in {tower['summary']['seconds']:.0f} s on {tower['train_images']} images, options {json.dumps(tower['options'])}")
print("epoch losses:", ", ".join(f"{v:.3f}" for v in tower["summary"]["epoch_losses"]))
print("| images | n | detection | kind | product | defect patches found | normal patches flagged |\n|---|---|---|---|---|---|---|")
for side, key in (("training side", "train_scores"), ("held out", "heldout_scores")):
    sc = tower[key]
    print(f"| {side} | {sc['images']} | {100*sc['detection']:.1f} | {100*sc['kind']:.1f} | {100*sc['group']:.1f} | {100*sc['defect_patch_recall']:.1f} | {100*sc['normal_patch_false_alarms']:.1f} |")
print()
for stage in ("stage1", "stage2"):
    h, state = history(stage)
    curves.append((stage, [p["loss"] for p in h]))
    print(f"## {stage}: {len(h)} steps, options {json.dumps(state['options'])}")
    print("| epoch | mean loss |\n|---|---|")
    for e, v in per_epoch(h).items():
        print(f"| {e} | {v:.3f} |")
    print()
svg(curves, os.path.join(ROOT, "docs", "models", "default-loss.svg"))
for f in sorted(glob.glob(os.path.join(MODELS, "eval", "*.json"))):
    doc = json.load(open(f))
    print(f"## {os.path.basename(f)}: {doc['config']['model']}, prompts {doc['config']['prompts']}")
    print(doc["table1"])
    print(doc["table2"])
