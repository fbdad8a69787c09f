"""What this CPU's arithmetic allows the search and training, against targets in multiples of the plain loop.

For the latent search (per image-iteration) and DCGAN training (per training image) it counts the
FLOPs the code actually runs (common.CountFlops: torch's formulas for the convolutions and matrix
products, backward passes included; two runs of different length, so set-up, the encoder and
the checkpoint at the end cancel out), measures each way's rate in this process, and prints the
arithmetic rate (GFLOP/s) of each — and of each target: the search at --search-target times the
plain loop's rate, training at --training-target times, on ours' arithmetic. Beside them, a
1024² matrix product's rate in each dtype: the practical peak of this CPU. A target that needs
more than the peak cannot be met by running the same arithmetic faster.

    python benchmarks/ceiling.py --model src/seminpaint/weights/celeba64.safetensors
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from common import CELEBA, counted_flops, machine_line, matrix_gigaflops_per_second
from search_speed import run_way
from seminpaint import PRESETS, inpaint, load_model
from seminpaint.data import load_dataset
from seminpaint.masks import make_masks
from seminpaint.runtime.precision import PLAIN, compute_dtype, resolve_precision
from seminpaint.training import TrainConfig, train
from train_speed import images_per_second


def search_flops(model_path: Path, faces: np.ndarray, masks: np.ndarray, precision: str) -> float:
    """FLOPs (×1e-9) of one image-iteration of the paper's search at `precision`."""
    model = load_model(model_path)
    settings = PRESETS["paper"].with_options(precision=precision)
    one, two = (counted_flops(lambda: inpaint(faces, masks, model=model,
                                              settings=settings.with_options(iterations=steps)))
                for steps in (1, 2))
    return (two - one) / len(faces) / 1e9


def training_flops(faces: np.ndarray, precision: str, batch: int = 8) -> float:
    """FLOPs (×1e-9) per training image of DCGAN training at `precision` (one step more, counted)."""
    def run(steps: int) -> None:
        config = TrainConfig(epochs=1, batch_size=batch, precision=precision, checkpoint_every=10**9)
        with tempfile.TemporaryDirectory() as folder:
            train(faces[:steps * batch], folder, config=config, progress=False)
    return (counted_flops(lambda: run(2)) - counted_flops(lambda: run(1))) / batch / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--root", type=Path, default=CELEBA)
    parser.add_argument("--ours", default="auto", help="ours' precision (default auto)")
    parser.add_argument("--iterations", type=int, default=30, help="search steps timed per way (batch 64)")
    parser.add_argument("--steps", type=int, default=10, help="training steps timed per way (batch 64)")
    parser.add_argument("--search-target", type=float, default=2.5,
                        help="target: this many times the plain search (default 2.5)")
    parser.add_argument("--training-target", type=float, default=2.0,
                        help="target: this many times the plain training (default 2)")
    args = parser.parse_args()
    ours = resolve_precision(args.ours, "cpu")

    test = load_dataset("celeba", args.root, split="test", limit=64)
    masks = make_masks("center", len(test), 64, 64, seed=0)
    training_faces = load_dataset("celeba", args.root, split="train", limit=64 * args.steps)
    rows = []
    for work, unit, target, flops, rate in (
        ("search", "image-iteration", args.search_target,
         lambda precision: search_flops(args.model, test[:4], masks[:4], precision),
         lambda precision: run_way(f"paper/{precision}", args.model, test, masks, args.iterations)["rate"]),
        ("training", "training image", args.training_target,
         lambda precision: training_flops(training_faces, precision),
         lambda precision: images_per_second(training_faces, precision, args.steps, 64)),
    ):
        measured = {precision: (flops(precision), rate(precision)) for precision in (PLAIN, ours)}
        for precision, (gigaflop, per_second) in measured.items():
            rows.append((work, precision, unit, gigaflop, per_second))
        target_rate = target * measured[PLAIN][1]
        rows.append((work, f"target: {target:g}× {PLAIN}, on {ours}'s arithmetic", unit, measured[ours][0], target_rate))

    print(machine_line())
    print("| work | way | GFLOP per unit | units/s | GFLOP/s |")
    print("|---|---|---|---|---|")
    for work, way, unit, gigaflop, per_second in rows:
        print(f"| {work} | {way} | {gigaflop:.3f} per {unit} | {per_second:.1f} | {gigaflop * per_second:.0f} |")
    dtypes = dict.fromkeys([torch.float32, compute_dtype(ours)])
    print("\nPractical peak, a 1024² matrix product: "
          + ", ".join(f"{dtype}: {matrix_gigaflops_per_second(dtype):.0f} GFLOP/s" for dtype in dtypes) + ".")


if __name__ == "__main__":
    main()
