"""Latent-search speed, the plain way against ours, in one process on the same inputs.

The plain way is what public ports run: float32, NCHW, batch 64. Ours is the library's default
fast path: bf16 autocast with channels_last. Both search the same CelebA test faces with the same
masks and random starts; the table gives image-iterations per second (Adam steps actually taken),
seconds per image end to end (search and Poisson blending), peak resident memory added by the
search, and mean full-image PSNR.

A way is PRESET/PRECISION. Throughput at a fixed iteration count (--iterations overrides every
preset's count):

    python benchmarks/search_speed.py --model src/seminpaint/weights/celeba64.safetensors \
        --count 64 --iterations 300 --kind center --ways paper/fp32 paper/bf16

End to end, the plain loop with the paper's 1500 iterations against the faster presets (each
preset blends as inpaint does: "enhanced" with the hybrid blend):

    python benchmarks/search_speed.py --model src/seminpaint/weights/celeba64.safetensors \
        --count 64 --kind center --ways paper/fp32 fast/bf16 enhanced/bf16
"""

from __future__ import annotations

import argparse
import platform
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from seminpaint import PRESETS, inpaint, load_model
from seminpaint.api import resolve_blend
from seminpaint.data import load_dataset
from seminpaint.masks import make_masks
from seminpaint.metrics import psnr


def resident_mib() -> float:
    """This process's resident memory in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakMemory:
    """Samples resident memory every 5 ms in a thread; .peak is the largest rise over the start."""

    def __enter__(self):
        self.start, self.peak, self.running = resident_mib(), 0.0, True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def sample(self):
        while self.running:
            self.peak = max(self.peak, resident_mib() - self.start)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/celeba")
    parser.add_argument("--count", type=int, default=64, help="images, searched as one batch")
    parser.add_argument("--iterations", type=int, default=None, help="override every preset's iteration count")
    parser.add_argument("--kind", default="center")
    parser.add_argument("--ways", nargs="+", default=["paper/fp32", "paper/bf16"],
                        help="PRESET/PRECISION pairs to compare, the first being the baseline")
    args = parser.parse_args()

    faces = load_dataset("celeba", args.root, split="test", limit=args.count)
    truth = faces.astype(np.float32) / 255.0
    masks = make_masks(args.kind, args.count, 64, 64, seed=0)
    rows = []
    for way in args.ways:
        preset, _, precision = way.partition("/")
        if preset not in PRESETS or precision not in ("fp32", "bf16"):
            parser.error(f"a way is PRESET/PRECISION with PRESET in {', '.join(PRESETS)} and PRECISION "
                         f"fp32 or bf16, got {way!r}")
        settings = PRESETS[preset].with_options(precision=precision)
        if args.iterations is not None:
            settings = settings.with_options(iterations=args.iterations)
        model = load_model(args.model)  # a fresh copy: bf16 changes the memory layout
        inpaint(faces[:2], masks[:2], model=model, settings=settings.with_options(iterations=2))  # warm-up
        with PeakMemory() as memory:
            started = time.perf_counter()
            result = inpaint(faces, masks, model=model, settings=settings, blend=resolve_blend(None, preset),
                             generator=torch.Generator().manual_seed(0))
            seconds = time.perf_counter() - started
        quality = np.mean([psnr(t, r, data_range=1.0) for t, r in zip(truth, result.image)])
        steps = int(np.sum(result.steps))
        rows.append((way, steps / seconds, steps / args.count, seconds / args.count, memory.peak, quality))
    base_rate, base_seconds = rows[0][1], rows[0][3]
    print(f"{date.today()} · {platform.processor() or platform.machine()} · {torch.get_num_threads()} threads · "
          f"torch {torch.__version__} · {args.count} CelebA test faces, {args.kind} mask, batch {args.count}")
    print("| way | image-iterations/s | throughput ×| mean steps | s per image | time ÷ | peak memory (MiB) | PSNR (dB) |")
    print("|---|---|---|---|---|---|---|---|")
    for way, rate, steps, per_image, peak, quality in rows:
        print(f"| {way} | {rate:.0f} | {rate / base_rate:.2f}× | {steps:.0f} | {per_image:.3f} | "
              f"{base_seconds / per_image:.1f}× | {peak:.0f} | {quality:.2f} |")


if __name__ == "__main__":
    main()
