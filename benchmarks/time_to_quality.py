"""Time to quality: PSNR against search iterations for the paper's setting and a faster preset.

For N CelebA test faces and each mask kind, runs each preset once and records the mean
full-image PSNR of the Poisson-blended result every few iterations (and the mean number of Adam
steps actually taken, since a preset may stop images early). Iteration 0 is the start: a random z,
or the latent encoder's E(y, M). Writes a Markdown table and a plot. A preset may carry changed
options, NAME:OPTION=VALUE[,OPTION=VALUE] (e.g. fast:start=random, the fast preset from random starts).
The first preset is the reference: the table says at which iteration each other one reaches its final PSNR.

    python benchmarks/time_to_quality.py --model src/seminpaint/weights/celeba64.safetensors \
        --count 64 --presets paper fast:start=random fast --out docs/results/time_to_quality
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common import CELEBA, blended_psnr, with_option_texts
from seminpaint import PRESETS, load_model, search
from seminpaint.data import load_dataset
from seminpaint.images import to_tensor
from seminpaint.masks import MASK_KINDS, make_masks


def preset_settings(spec: str):
    """NAME or NAME:OPTION=VALUE[,OPTION=VALUE] → the preset's SearchSettings with those options (VALUE read as the option's type: common.with_option_texts)."""
    name, _, changes = spec.partition(":")
    return with_option_texts(PRESETS[name], filter(None, changes.split(",")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--root", type=Path, default=CELEBA)
    parser.add_argument("--split", default="test")
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--presets", nargs="+", default=["paper", "fast"])
    parser.add_argument("--every", type=int, default=25, help="record PSNR every this many iterations")
    parser.add_argument("--kinds", nargs="+", default=list(MASK_KINDS))
    parser.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.png")
    args = parser.parse_args()
    try:  # checked before the long run, not after it
        import matplotlib
    except ImportError:
        parser.error("the plot needs matplotlib: pip install -e '.[bench]'")

    faces = load_dataset("celeba", args.root, split=args.split, limit=args.count)
    truth = faces.astype(np.float32) / 255.0
    curves: dict[tuple[str, str], dict[int, float]] = {}
    summary = []
    for preset in args.presets:
        settings = preset_settings(preset)
        for kind in args.kinds:
            model = load_model(args.model)
            masks = make_masks(kind, args.count, 64, 64, seed=0)
            curve = curves[preset, kind] = {}
            start = search(model, to_tensor(faces), torch.from_numpy(masks), settings.with_options(iterations=0),
                           generator=torch.Generator().manual_seed(0))
            curve[0] = float(blended_psnr(model, start.z, truth, masks).mean())  # the same start as below

            def record(step, z, masks=masks, curve=curve, batch=args.count):
                if step % args.every == 0 or step == settings.iterations:
                    # The first restart's rows; with restarts the final choice is scored below.
                    curve[step] = float(blended_psnr(model, z[:batch], truth, masks).mean())

            started = time.perf_counter()
            result = search(model, to_tensor(faces), torch.from_numpy(masks), settings,
                            generator=torch.Generator().manual_seed(0), callback=record)
            seconds = time.perf_counter() - started
            final = float(blended_psnr(model, result.z, truth, masks).mean())
            summary.append((preset, kind, final, float(result.steps.float().mean()), seconds / args.count))
            print(f"{preset:<6} {kind:<14} final {final:.2f} dB, {summary[-1][3]:.0f} steps on average, "
                  f"{summary[-1][4]:.2f} s/image", flush=True)

    lines = [f"{args.count} CelebA {args.split} faces; full-image PSNR (dB) of the blended result; iteration 0 "
             "is the start.", "",
             "| preset | mask | final PSNR | mean Adam steps | s / image (incl. PSNR tracking) |",
             "|---|---|---|---|---|"]
    lines += [f"| {p} | {k} | {f:.2f} | {s:.0f} | {t:.2f} |" for p, k, f, s, t in summary]
    reached = []
    reference = args.presets[0]  # the others are measured against its final PSNR
    for kind in args.kinds:
        if len(args.presets) > 1:
            target = [f for p, k, f, _, _ in summary if p == reference and k == kind][0]
            for preset in args.presets[1:]:
                hits = [step for step, value in sorted(curves[preset, kind].items()) if value >= target]
                reached.append(f"| {preset} | {kind} | {target:.2f} | {hits[0] if hits else 'not reached'} |")
    if reached:
        lines += ["", f"Iterations a preset needs to reach the final PSNR of {reference} (first recorded step):",
                  "", f"| preset | mask | final PSNR of {reference} | reached at iteration |", "|---|---|---|---|",
                  *reached]
    steps = sorted({step for curve in curves.values() for step in curve})
    lines += ["", "The curves (PSNR in dB after each recorded iteration; what the plot shows):", "",
              "| preset | mask | " + " | ".join(map(str, steps)) + " |", "|---|---|" + "---|" * len(steps)]
    lines += [f"| {preset} | {kind} | " + " | ".join(f"{curve[step]:.2f}" if step in curve else "" for step in steps)
              + " |" for (preset, kind), curve in curves.items()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(args.kinds), figsize=(4 * len(args.kinds), 3.2), sharey=False)
    for axis, kind in zip(np.atleast_1d(axes), args.kinds):
        for preset in args.presets:
            steps, values = zip(*sorted(curves[preset, kind].items()))
            axis.plot(steps, values, label=preset)
        axis.set_title(kind)
        axis.set_xlabel("iterations")
        axis.set_ylabel("PSNR (dB)")
        axis.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend()
    figure.tight_layout()
    figure.savefig(args.out.with_suffix(".png"), dpi=100)


if __name__ == "__main__":
    main()
