"""Calibrate faces.CELEBA: the map from the face detector's box to the square CelebA's faces were cropped to.

The model learned CelebA's faces as ../shared/data/celeba holds them: img_align_celeba's 178×218
faces, centre-cropped to 80 % of their width (a 142×142 square, columns 18–160, rows 38–180) and
resized to 64×64. Each *validation* face (never test) is enlarged F times (bicubic) and placed in
the middle of a grey canvas of twice its side; faces.detect_faces runs on the canvas, and the face
with most votes gives, in units of its box's side: the square's side (scale) and how far the
square's centre lies from the box's (dx right, dy down). The fit is the median over every face and
factor; the spread says how well one face's box predicts its framing.

    python benchmarks/face_framing.py --count 500
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from common import CELEBA, machine_line
from seminpaint.data.celeba import load
from seminpaint.faces import detect_faces


def measure(faces: np.ndarray, factor: int) -> tuple[np.ndarray, int]:
    """(found, 3) rows of (dx, dy, scale), and how many faces were not found, at one enlargement."""
    side = faces.shape[1] * factor
    pad = side // 2
    rows, missed = [], 0
    for face in faces:
        canvas = np.full((2 * side, 2 * side, 3), 128, np.uint8)
        canvas[pad:pad + side, pad:pad + side] = np.asarray(
            Image.fromarray(face).resize((side, side), Image.Resampling.BICUBIC))
        found = detect_faces(canvas)
        if not found:
            missed += 1
            continue
        box = found[0]
        size = np.sqrt(box.width * box.height)
        centre = pad + side / 2
        rows.append(((centre - box.x - box.width / 2) / size, (centre - box.y - box.height / 2) / size, side / size))
    return np.array(rows), missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(CELEBA))
    parser.add_argument("--count", type=int, default=500, help="validation faces (the split has 500)")
    parser.add_argument("--factors", type=int, nargs="+", default=[2, 3, 4, 6])
    args = parser.parse_args()

    from pathlib import Path

    faces = load(Path(args.root), split="val", image_size=64, limit=args.count)
    print(machine_line())
    print(f"{len(faces)} CelebA validation faces; per enlargement: found, then median [25th–75th percentile]")
    print("| enlarged | face side (px) | found | dx | dy | scale | s per face |")
    print("|---|---|---|---|---|---|---|")
    pooled = []
    for factor in args.factors:
        started = time.perf_counter()
        rows, missed = measure(faces, factor)
        seconds = (time.perf_counter() - started) / len(faces)
        pooled.append(rows)
        cells = [f"{np.median(c):+.3f} [{np.percentile(c, 25):+.3f} – {np.percentile(c, 75):+.3f}]" for c in rows.T[:2]]
        scale = rows[:, 2]
        cells.append(f"{np.median(scale):.3f} [{np.percentile(scale, 25):.3f} – {np.percentile(scale, 75):.3f}]")
        print(f"| ×{factor} | {64 * factor} | {len(rows)}/{len(faces)} | " + " | ".join(cells) + f" | {seconds:.2f} |")
    rows = np.concatenate(pooled)
    dx, dy, scale = np.median(rows, axis=0)
    error = np.abs(rows[:, 2] / scale - 1)
    print(f"\nfit (median of all): Framing(scale={scale:.3f}, dx={dx:+.3f}, dy={dy:+.3f}); "
          f"a face's square side is within ±{100 * np.percentile(error, 50):.1f} % of its true side for half "
          f"the faces, ±{100 * np.percentile(error, 90):.1f} % for 90 %")


if __name__ == "__main__":
    main()
