"""Latent-search speed, the plain way against ours, in one process on the same inputs.

The plain way is what public ports run: float32, NCHW, batch 64. Ours is the library's default,
precision "auto": bf16 autocast with channels_last where the CPU computes bf16 natively (AVX-512
BF16 or AMX), else fp32-fast (float32, BatchNorm folded, the fast layers). Both search the same CelebA test faces with the same
masks and random starts; the table gives image-iterations per second (Adam steps actually taken),
seconds per image end to end (search and Poisson blending), peak resident memory added by the
search (the largest over repeats), and mean full-image PSNR. With --repeats the ways take turns,
so that the machine's drift in speed (it varies about twofold between hours here) falls on every
way alike; the speed-ups are then paired within each turn and given as median (range).

A way is PRESET/PRECISION, PRECISION one of seminpaint.settings.PRECISIONS. Throughput at a fixed iteration count (--iterations overrides every
preset's count):

    python benchmarks/search_speed.py --model src/seminpaint/weights/celeba64.safetensors \
        --count 64 --iterations 300 --kind center --ways paper/fp32 paper/auto --repeats 5

End to end, the plain loop with the paper's 1500 iterations against the faster presets (each
preset blends as inpaint does: "enhanced" with the hybrid blend):

    python benchmarks/search_speed.py --model src/seminpaint/weights/celeba64.safetensors \
        --count 64 --kind center --ways paper/fp32 fast/auto enhanced/auto
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import numpy as np
import torch

from common import machine_line, spread
from seminpaint import PRESETS, inpaint, load_model
from seminpaint.data import load_dataset
from seminpaint.masks import make_masks
from seminpaint.metrics import psnr
from seminpaint.runtime.precision import PRECISIONS


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


def parse_way(way: str) -> tuple[str, str] | None:
    """PRESET/PRECISION → (preset, precision), or None when it is not one."""
    preset, _, precision = way.partition("/")
    return (preset, precision) if preset in PRESETS and precision in PRECISIONS else None


def run_way(way: str, model_path: Path, faces: np.ndarray, masks: np.ndarray, iterations: int | None) -> dict:
    """One timed inpaint of all the faces as one batch, after a two-step warm-up."""
    preset, precision = parse_way(way)
    settings = PRESETS[preset].with_options(precision=precision)
    if iterations is not None:
        settings = settings.with_options(iterations=iterations)
    model = load_model(model_path)  # a fresh copy: bf16 changes the memory layout
    inpaint(faces[:2], masks[:2], model=model, settings=settings.with_options(iterations=2))  # warm-up
    with PeakMemory() as memory:
        started = time.perf_counter()
        result = inpaint(faces, masks, model=model, settings=settings, generator=torch.Generator().manual_seed(0))
        seconds = time.perf_counter() - started
    truth = faces.astype(np.float32) / 255.0
    steps = int(np.sum(result.steps))
    return dict(rate=steps / seconds, steps=steps / len(faces), seconds=seconds / len(faces), peak=memory.peak,
                psnr=float(np.mean([psnr(t, r, data_range=1.0) for t, r in zip(truth, result.image)])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/celeba")
    parser.add_argument("--count", type=int, default=64, help="images, searched as one batch")
    parser.add_argument("--iterations", type=int, default=None, help="override every preset's iteration count")
    parser.add_argument("--kind", default="center")
    parser.add_argument("--ways", nargs="+", default=["paper/fp32", "paper/auto"],
                        help="PRESET/PRECISION pairs to compare, the first being the baseline")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run the ways this many times, taking turns, and report medians and ranges")
    args = parser.parse_args()
    for way in args.ways:
        if parse_way(way) is None:
            parser.error(f"a way is PRESET/PRECISION with PRESET in {', '.join(PRESETS)} and PRECISION "
                         f"in {', '.join(PRECISIONS)}, got {way!r}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    faces = load_dataset("celeba", args.root, split="test", limit=args.count)
    masks = make_masks(args.kind, args.count, 64, 64, seed=0)
    runs = {way: [] for way in args.ways}
    for repeat in range(args.repeats):  # taking turns, so that the machine's drift hits every way alike
        for way in args.ways:
            runs[way].append(run_way(way, args.model, faces, masks, args.iterations))
            print(f"repeat {repeat + 1}/{args.repeats} {way}: {runs[way][-1]['rate']:.0f} image-iterations/s",
                  flush=True)
    base = runs[args.ways[0]]
    print(f"{machine_line()} · {args.count} CelebA test faces, {args.kind} mask, batch {args.count}"
          + (f" · {args.repeats} repeats, taking turns: medians (ranges); ratios paired within a repeat"
             if args.repeats > 1 else ""))
    print("| way | image-iterations/s | throughput × | mean steps | s per image | time ÷ | peak memory (MiB) | PSNR (dB) |")
    print("|---|---|---|---|---|---|---|---|")
    for way, done in runs.items():
        speed_up = [run["rate"] / first["rate"] for run, first in zip(done, base)]
        time_ratio = [first["seconds"] / run["seconds"] for run, first in zip(done, base)]
        print(f"| {way} | {spread([run['rate'] for run in done], 0)} | {spread(speed_up, 2)}× | "
              f"{done[0]['steps']:.0f} | {spread([run['seconds'] for run in done], 3)} | {spread(time_ratio, 1)}× | "
              f"{max(run['peak'] for run in done):.0f} | {done[0]['psnr']:.2f} |")


if __name__ == "__main__":
    main()
