"""Any folder of images (searched recursively, sorted by path); its split is all of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InpaintError
from ..images import IMAGE_SUFFIXES
from .common import read_files


def image_files(root: Path) -> list[Path]:
    """Every image file under `root`, sorted; raises InpaintError when there is none."""
    if not root.is_dir():
        raise InpaintError(f"image folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InpaintError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}")
    return files


def load(
    root: Path, *, split: str = "all", image_size: int = 64, channels: int = 3, limit: int | None = None,
) -> np.ndarray:
    """Every image under `root` (any split name gives all of them): uint8 (N, size, size, channels)."""
    return read_files(image_files(root)[:limit], image_size=image_size, channels=channels,
                      description=f"images in {root.name}")
