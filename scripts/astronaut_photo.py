"""Write the README's first example: a real photo and a hole over a face in it.

    python scripts/astronaut_photo.py [--hole mouth|eyes] [--out .]

writes astronaut.png (scikit-image's 512×512 photo of Eileen Collins, NASA, public domain; it ships
inside scikit-image) and hole.png (white = missing: her mouth, or her eyes), then:

    seminpaint inpaint --image astronaut.png --mask hole.png --output filled.png --save-crop seen.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

HOLES = {"mouth": (128, 158, 189, 256), "eyes": (84, 115, 172, 273)}
"""(top, bottom, left, right) in the photo's pixels: benchmarks/real_photos.py's holes on this photo."""


def main() -> None:
    from skimage import data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hole", choices=sorted(HOLES), default="mouth")
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    photo = data.astronaut()
    top, bottom, left, right = HOLES[args.hole]
    hole = np.zeros(photo.shape[:2], dtype=np.uint8)
    hole[top:bottom, left:right] = 255
    args.out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo).save(args.out / "astronaut.png")
    Image.fromarray(hole).save(args.out / "hole.png")
    print(f"wrote {args.out / 'astronaut.png'} (512×512) and {args.out / 'hole.png'} (white = missing: {args.hole})")


if __name__ == "__main__":
    main()
