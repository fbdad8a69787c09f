"""DCGAN training speed, the plain fp32 loop against ours (precision auto: bf16 autocast and channels_last where the CPU computes bf16 natively, else fp32-fast), in one process.

Both ways train from the same initialisation (same seed) on the same CelebA training faces with
the same batches, flips and z, for the same number of steps; the table gives training images per
second (G and D steps together, checkpoints excluded: one is written only at the end). With
--quality-epochs E, each way then trains E whole epochs from scratch and the validation
inpainting PSNR of each model is compared (300 search steps from a random start on
--quality-count validation faces, centre and random masks), since a faster loop is only worth having at equal quality.

    python benchmarks/train_speed.py --steps 40
    python benchmarks/train_speed.py --steps 30 --repeats 5   # the ways take turns: medians, paired speed-ups
    python benchmarks/train_speed.py --steps 40 --quality-epochs 2
    python benchmarks/train_speed.py --steps 10 --ways fp32 fp32-fast bf16   # every precision
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import CELEBA, machine_line, spread
from seminpaint import PRESETS, inpaint
from seminpaint.data import load_dataset
from seminpaint.masks import make_masks
from seminpaint.metrics import psnr
from seminpaint.networks.checkpoint import load_model
from seminpaint.runtime.precision import PRECISIONS
from seminpaint.training import CHECKPOINT_NAME, TrainConfig, train

QUALITY_SEARCH = PRESETS["fast"].with_options(iterations=300, start="random")
"""The quality check's search: 300 steps from a random start (a freshly trained model has no encoder)."""


def images_per_second(faces: np.ndarray, precision: str, steps: int, batch: int) -> float:
    """Train `steps` batches from scratch in a scratch folder; images per second."""
    subset = faces[:steps * batch]
    config = TrainConfig(epochs=1, batch_size=batch, precision=precision, checkpoint_every=10**9)
    train(subset[:batch], tempfile.mkdtemp(), config=config, progress=False)  # warm-up: one step
    with tempfile.TemporaryDirectory() as run:
        started = time.perf_counter()
        train(subset, run, config=config, progress=False)
        return len(subset) / (time.perf_counter() - started)


def validation_psnr(checkpoint: Path, faces: np.ndarray) -> dict[str, float]:
    """Mean full-image PSNR of QUALITY_SEARCH on `faces` for the centre and random masks."""
    model, scores = load_model(checkpoint), {}
    truth = faces.astype(np.float32) / 255.0
    for kind in ("center", "random_pixels"):
        masks = make_masks(kind, len(faces), 64, 64, seed=0)
        result = inpaint(faces, masks, model=model, settings=QUALITY_SEARCH, generator=torch.Generator().manual_seed(0))
        scores[kind] = float(np.mean([psnr(t, r, data_range=1.0) for t, r in zip(truth, result.image)]))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=CELEBA)
    parser.add_argument("--steps", type=int, default=40, help="training steps timed per way")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--quality-epochs", type=int, default=0, help="also train each way this many epochs")
    parser.add_argument("--quality-count", type=int, default=32, help="validation faces for the quality check")
    parser.add_argument("--out", type=Path, default=None, help="keep the quality runs here (default: a scratch folder)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="time the ways this many times, taking turns, and report medians and ranges")
    parser.add_argument("--ways", nargs="+", default=["fp32", "auto"], choices=PRECISIONS,
                        help="training precisions to compare, the first being the baseline")
    args = parser.parse_args()
    if args.repeats < 1 or args.steps < 1:
        parser.error("--repeats and --steps must be at least 1")

    faces = load_dataset("celeba", args.root, split="train")
    rates = {way: [] for way in args.ways}
    for _ in range(args.repeats):  # taking turns, so that the machine's drift in speed hits every way alike
        for way in args.ways:
            rates[way].append(images_per_second(faces, way, args.steps, args.batch_size))
    print(f"{machine_line()} · DCGAN 64×64, batch {args.batch_size}, {args.steps} steps per way"
          + (f" · {args.repeats} repeats, taking turns: medians (ranges); speed-ups paired within a repeat"
             if args.repeats > 1 else ""))
    print("| way | training images/s | speed-up |")
    print("|---|---|---|")
    for way in args.ways:
        speed_up = [rate / base for rate, base in zip(rates[way], rates[args.ways[0]])]
        print(f"| {way} | {spread(rates[way], 1)} | {spread(speed_up, 2)}× |")

    if args.quality_epochs:
        validation = load_dataset("celeba", args.root, split="val", limit=args.quality_count)
        out = args.out or Path(tempfile.mkdtemp())
        print(f"\n{args.quality_epochs} epoch(s) per way from the same seed; fast-preset PSNR (dB) on "
              f"{args.quality_count} validation faces")
        print("| way | center | random_pixels | training minutes |")
        print("|---|---|---|---|")
        for way in args.ways:
            started = time.perf_counter()
            train(faces, out / way, config=TrainConfig(epochs=args.quality_epochs, precision=way), progress=True)
            minutes = (time.perf_counter() - started) / 60
            scores = validation_psnr(out / way / CHECKPOINT_NAME, validation)
            print(f"| {way} | {scores['center']:.2f} | {scores['random_pixels']:.2f} | {minutes:.1f} |", flush=True)


if __name__ == "__main__":
    main()
