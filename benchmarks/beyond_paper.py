"""The levers beyond the paper (several candidates, G tuned to the image), on validation faces.

Each variant is a preset with some options changed (NAME:PRESET[,option=value…]). For every
variant and mask kind it runs `inpaint` on the first N CelebA validation faces (never test) with
the masks of benchmarks/validate.py and reports, per kind: the mean full-image PSNR and SSIM of
the result; with K > 1 candidates also candidate 1's PSNR alone, the PSNR of the mean of the first
k candidates for k = 1 … K (how the average grows with K), and the candidates' diversity (mean
pairwise RMS difference inside the hole, 0–1 scale); and the seconds per image (this machine,
this run, after one untimed run of the variant).

    python benchmarks/beyond_paper.py --count 64 --variants enhanced:enhanced \\
        K4:enhanced,candidates=4 tune3:enhanced,tune_steps=30,tune_learning_rate=3e-4 \\
        --out docs/results/quality/validation.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common import CELEBA, machine_line, publish, with_option_texts
from seminpaint import inpaint, load_model
from seminpaint.api import DEFAULT_MODEL
from seminpaint.candidates import mean_and_spread, pairwise_distance
from seminpaint.data import load_dataset
from seminpaint.masks import MASK_KINDS, make_masks
from seminpaint.metrics import psnr, ssim
from seminpaint.settings import PRESETS, SearchSettings


def parse_variant(text: str) -> tuple[str, SearchSettings]:
    """NAME:PRESET[,option=value…] → (NAME, the preset with those options)."""
    name, _, spec = text.partition(":")
    preset, *options = spec.split(",")
    return name, with_option_texts(PRESETS[preset], options)


def mean_psnr(truth: np.ndarray, images: np.ndarray) -> float:
    return float(np.mean([psnr(t, i, data_range=1.0) for t, i in zip(truth, images)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=CELEBA)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--kinds", nargs="+", default=list(MASK_KINDS))
    parser.add_argument("--variants", nargs="+", required=True, metavar="NAME:PRESET[,option=value…]")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL,
                        help="the model (G, D and its latent encoder); default: the shipped face model")
    parser.add_argument("--out", type=Path, help="also write the tables here (Markdown)")
    args = parser.parse_args()

    model = load_model(args.model)
    faces = load_dataset("celeba", args.root, split="val", limit=args.count)
    truth = faces.astype(np.float32) / 255.0
    rows, growth = [], []
    for text in args.variants:
        name, settings = parse_variant(text)
        scores = {}
        # One untimed run first: oneDNN builds its kernels for a batch's shapes on first use.
        inpaint(faces, make_masks(args.kinds[0], args.count, 64, 64, seed=1), model=model, settings=settings,
                generator=torch.Generator().manual_seed(0))
        for kind in args.kinds:
            masks = make_masks(kind, args.count, 64, 64, seed=1)
            started = time.perf_counter()
            result = inpaint(faces, masks, model=model, settings=settings, generator=torch.Generator().manual_seed(0))
            seconds = (time.perf_counter() - started) / args.count
            entry = {"psnr": mean_psnr(truth, result.image), "seconds": seconds,
                     "ssim": float(np.mean([ssim(t, i, data_range=1.0) for t, i in zip(truth, result.image)]))}
            if result.candidates is not None:
                candidates = result.candidates  # (K, N, H, W, C)
                entry["single"] = mean_psnr(truth, candidates[0])
                entry["diversity"] = float(np.mean([pairwise_distance(candidates[:, n], masks[n])
                                                    for n in range(args.count)]))
                entry["growth"] = [mean_psnr(truth, [mean_and_spread(candidates[:k, n], masks[n])[0]
                                                     for n in range(args.count)])
                                   for k in range(1, len(candidates) + 1)]
            scores[kind] = entry
            print(f"{name:<12} {kind:<14} {entry['psnr']:.2f} dB  SSIM {entry['ssim']:.3f}  "
                  + (f"single {entry['single']:.2f}  diversity {entry['diversity']:.3f}  " if "single" in entry else "")
                  + f"{seconds:.3f} s/img", flush=True)
        rows.append((name, text, scores))
        for kind, entry in scores.items():
            if "growth" in entry:
                growth.append((name, kind, entry["growth"]))

    kinds = args.kinds
    lines = [f"{machine_line()}", "", f"Model: `{args.model.name}`.", "",
             f"The first {args.count} CelebA validation faces, full-image PSNR (dB) / SSIM of the result "
             "(with K > 1: the candidates' mean), seconds per image over the four kinds.", "",
             "| variant | settings | " + " | ".join(kinds) + " | mean PSNR | SSIM " + " / ".join(kinds) + " | s/img |",
             "|---|---|" + "---|" * len(kinds) + "---|---|---|"]
    for name, text, scores in rows:
        lines.append(f"| {name} | `{text.partition(':')[2]}` | "
                     + " | ".join(f"{scores[k]['psnr']:.2f}" for k in kinds)
                     + f" | {np.mean([scores[k]['psnr'] for k in kinds]):.2f} | "
                     + " / ".join(f"{scores[k]['ssim']:.3f}" for k in kinds)
                     + f" | {np.mean([scores[k]['seconds'] for k in kinds]):.3f} |")
    if growth:
        lines += ["", "With K candidates: candidate 1 alone, the mean of the first k, and the diversity "
                  "(mean pairwise RMS difference inside the hole, 0–1 scale).", "",
                  "| variant | mask | candidate 1 | mean of k = 1 … K | diversity |", "|---|---|---|---|---|"]
        for name, text, scores in rows:
            for kind in kinds:
                entry = scores[kind]
                if "growth" in entry:
                    lines.append(f"| {name} | {kind} | {entry['single']:.2f} | "
                                 + " → ".join(f"{v:.2f}" for v in entry["growth"]) + f" | {entry['diversity']:.3f} |")
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
