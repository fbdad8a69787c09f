"""Validation PSNR of Context Encoder checkpoints, to choose the epoch that ships.

For each checkpoint and mask kind, fills the first N CelebA validation faces (never test) with one
forward pass and reports the mean full-image PSNR (the hole's pixels from the network, the known
pixels kept). Masks use seed 1, as benchmarks/validate.py does.

    python benchmarks/validate_context_encoder.py --models runs/context_encoder/epochs/epoch_*.safetensors \
        --count 256 --out docs/results/context_encoder_epochs.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from common import CELEBA
from seminpaint import baselines
from seminpaint.data import load_dataset
from seminpaint.masks import MASK_KINDS, make_masks
from seminpaint.metrics import psnr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, type=Path, nargs="+")
    parser.add_argument("--root", type=Path, default=CELEBA)
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    args = parser.parse_args()

    truth = load_dataset("celeba", args.root, split="val", limit=args.count).astype(np.float32) / 255.0
    masks = {kind: make_masks(kind, args.count, 64, 64, seed=1) for kind in MASK_KINDS}
    lines = [f"Context Encoder: validation PSNR (dB, full image, mean of the first {args.count} validation "
             "faces, mask seed 1).", "", "| checkpoint | " + " | ".join(MASK_KINDS) + " | mean |",
             "|---|" + "---|" * (len(MASK_KINDS) + 1)]
    print("\n".join(lines), flush=True)
    for model in args.models:
        means = []
        for kind in MASK_KINDS:
            scores = []
            for image, mask in zip(truth, masks[kind]):
                corrupted = np.where(mask[..., None], np.float32(0), image)
                filled = baselines.fill("context_encoder", corrupted, mask, model=model)
                scores.append(psnr(image, filled, data_range=1.0))
            means.append(float(np.mean(scores)))
        lines.append(f"| {model.name} | " + " | ".join(f"{m:.2f}" for m in means) + f" | {np.mean(means):.2f} |")
        print(lines[-1], flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
