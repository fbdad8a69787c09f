"""Validation PSNR of the paper's search for several checkpoints and Adam learning rates.

Used for two choices the paper leaves open, both on the CelebA validation split (never test):
the learning rate of Adam on z, and the training epoch to ship. For each (checkpoint, rate,
mask kind) it runs one search (λ = 0.003, one start, Poisson blending) on the first N validation
faces and reports mean full-image PSNR of the blended result after each of the given iteration
counts of that same run.

    # learning rate (docs/results/learning_rate.md)
    python benchmarks/validate.py --models runs/celeba/epochs/epoch_003.safetensors \
        --rates 0.01 0.03 0.1 --count 16 --out docs/results/learning_rate.md
    # epoch (docs/results/epochs.md)
    python benchmarks/validate.py --models runs/celeba/epochs/epoch_0{04,08,12,16}.safetensors \
        --rates 0.03 --iterations 300 --count 16 --out docs/results/epochs.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common import CELEBA, blended_psnr, publish, with_option_texts
from seminpaint import PAPER, load_model, search
from seminpaint.data import load_dataset
from seminpaint.images import to_tensor
from seminpaint.masks import MASK_KINDS, make_masks
from seminpaint.runtime.precision import PRECISIONS, resolve_precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, type=Path, nargs="+")
    parser.add_argument("--root", type=Path, default=CELEBA)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.03])
    parser.add_argument("--iterations", type=int, nargs="+", default=[100, 300, 750, 1500])
    parser.add_argument("--kinds", nargs="+", default=list(MASK_KINDS))
    parser.add_argument("--precision", default="auto", choices=PRECISIONS)
    parser.add_argument("--options", nargs="+", default=[], metavar="NAME=VALUE",
                        help="further search settings, e.g. screen=64 patience=30 restarts=4")
    parser.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    args = parser.parse_args()
    base = with_option_texts(PAPER, args.options)

    faces = load_dataset("celeba", args.root, split="val", limit=args.count)
    truth = faces.astype(np.float32) / 255.0
    lines = [f"Validation PSNR (dB, full image, mean of the first {args.count} validation faces), "
             f"precision {args.precision} ({resolve_precision(args.precision, 'cpu')} here), λ = 0.003, Poisson blending, options {' '.join(args.options) or 'none'}.", "",
             "| model | learning rate | iterations | " + " | ".join(args.kinds) + " | mean |",
             "|---|---|---|" + "---|" * (len(args.kinds) + 1)]
    for model_path in args.models:
        model = load_model(model_path)
        for rate in args.rates:
            scores = {n: [] for n in args.iterations}
            for done, kind in enumerate(args.kinds):
                masks = make_masks(kind, args.count, 64, 64, seed=1)

                def record(step, z, masks=masks):
                    if step in scores:  # before the last step: the first restart's rows
                        scores[step].append(float(blended_psnr(model, z[:args.count], truth, masks).mean()))

                started = time.perf_counter()
                settings = base.with_options(learning_rate=rate, iterations=max(args.iterations),
                                             precision=args.precision)
                result = search(model, to_tensor(faces), torch.from_numpy(masks), settings,
                                generator=torch.Generator().manual_seed(0), callback=record)
                final = float(blended_psnr(model, result.z, truth, masks).mean())
                for step in args.iterations:  # checkpoints after every image stopped early: z is final
                    if len(scores[step]) == done:
                        scores[step].append(final)
                scores[max(args.iterations)][-1] = final  # with restarts: the kept one, not the first
                print(f"{model_path.name} lr {rate:g} {kind:<14} "
                      + " ".join(f"{n}:{scores[n][-1]:.2f}" for n in args.iterations)
                      + f" ({time.perf_counter() - started:.0f} s)", flush=True)
            for iterations in args.iterations:
                row = scores[iterations]
                lines.append(f"| {model_path.stem} | {rate:g} | {iterations} | "
                             + " | ".join(f"{v:.2f}" for v in row) + f" | {np.mean(row):.2f} |")
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
