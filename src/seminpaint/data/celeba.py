"""CelebA as released: `img_align_celeba/<id>.jpg` and `list_eval_partition.txt` (0 train, 1 val, 2 test).

Reads both the full 178×218 release and the 64×64 copy in ../shared/data/celeba: each image is
centre-cropped to a square (crop_fraction of its shorter side) and resized to image_size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InpaintError
from .common import read_files, require

PARTITION = {"train": "0", "val": "1", "test": "2"}


def split_names(root: Path, split: str) -> list[str]:
    """File names of `split` in list_eval_partition.txt order ("all" = every listed file)."""
    partition = require(root / "list_eval_partition.txt", "CelebA's list_eval_partition.txt")
    names = []
    for number, line in enumerate(partition.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise InpaintError(f"{partition}:{number}: expected '<file> <0|1|2>', got {line!r}")
        if split == "all" or fields[1] == PARTITION[split]:
            names.append(fields[0])
    return names


def load(
    root: Path, *, split: str = "train", image_size: int = 64, channels: int = 3,
    limit: int | None = None, crop_fraction: float = 1.0,
) -> np.ndarray:
    """CelebA images of `split`: uint8 (N, image_size, image_size, channels)."""
    images_dir = require(root / "img_align_celeba", "CelebA's img_align_celeba/ folder")
    names = split_names(root, split)[:limit]
    missing = [name for name in names[:1000] if not (images_dir / name).is_file()]
    if missing:
        raise InpaintError(f"{len(missing)} CelebA images listed in the partition are missing, e.g. {images_dir / missing[0]}")
    return read_files([images_dir / name for name in names], image_size=image_size, channels=channels,
                      crop_fraction=crop_fraction, description=f"CelebA {split}")
