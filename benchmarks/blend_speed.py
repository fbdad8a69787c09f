"""Poisson blending (Eq. 6) time per 64×64×3 image, for each mask kind.

    python benchmarks/blend_speed.py --count 64
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from common import CELEBA
from seminpaint.blend import poisson_blend
from seminpaint.data import load_dataset
from seminpaint.masks import MASK_KINDS, make_masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=64)
    args = parser.parse_args()
    faces = load_dataset("celeba", CELEBA, split="test", limit=args.count).astype(np.float32) / 255.0
    fills = faces[::-1].copy()  # another face as the fill: a realistic gradient field
    print("| mask | median ms | 90th percentile ms |")
    print("|---|---|---|")
    for kind in MASK_KINDS:
        masks = make_masks(kind, args.count, 64, 64, seed=0)
        times = []
        for face, fill, mask in zip(faces, fills, masks):
            started = time.perf_counter()
            poisson_blend(face, fill, mask)
            times.append((time.perf_counter() - started) * 1000)
        print(f"| {kind} | {np.median(times):.1f} | {np.percentile(times, 90):.1f} |")


if __name__ == "__main__":
    main()
