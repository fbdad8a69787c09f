"""A figure of several completions: per face the input, each candidate, their mean, the spread and
the truth, so that the sharpness of single completions is seen beside the mean that PSNR prefers.

Validation faces (never test), the masks of benchmarks/validate.py (seed 1).

    python benchmarks/candidate_figures.py --preset quality --kinds center half \\
        --out docs/results/quality/candidates.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import CELEBA
from seminpaint import inpaint, load_model
from seminpaint.api import DEFAULT_MODEL
from seminpaint.data import load_dataset
from seminpaint.figures import labelled_grid, show_hole
from seminpaint.masks import make_masks
from seminpaint.metrics import psnr
from seminpaint.settings import PRESETS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=CELEBA)
    parser.add_argument("--preset", default="quality", choices=list(PRESETS))
    parser.add_argument("--candidates", type=int, help="default: the preset's")
    parser.add_argument("--faces", type=int, nargs="+", default=[0, 3, 7], help="validation face indices")
    parser.add_argument("--kinds", nargs="+", default=["center", "half"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    model = load_model(DEFAULT_MODEL)
    faces = load_dataset("celeba", args.root, split="val", limit=max(args.faces) + 1)
    truth = faces.astype(np.float32) / 255.0
    rows, titles = [], []
    for kind in args.kinds:
        masks = make_masks(kind, len(faces), 64, 64, seed=1)[args.faces]
        result = inpaint(faces[args.faces], masks, model=model, settings=args.preset, candidates=args.candidates,
                         generator=torch.Generator().manual_seed(0))
        count = len(result.candidates)
        for row, index in enumerate(args.faces):
            candidates = list(result.candidates[:, row])
            spread = np.clip(result.spread[row] * 4, 0, 1)
            rows.append([show_hole(truth[index], masks[row]), *candidates, result.image[row], spread, truth[index]])
            scores = [psnr(truth[index], c, data_range=1.0) for c in candidates]
            titles.append(f"{kind} {index}: {min(scores):.1f}-{max(scores):.1f} / "
                          f"{psnr(truth[index], result.image[row], data_range=1.0):.1f} dB")
    columns = ["input", *(f"candidate {k}" for k in range(1, count + 1)), "mean", "spread x4", "truth"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labelled_grid(rows, column_titles=columns, row_titles=titles, scale=2)).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
