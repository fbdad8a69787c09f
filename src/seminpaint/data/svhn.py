"""SVHN "format 2" (cropped 32×32 digits) as released: `train_32x32.mat`, `test_32x32.mat`.

Each file holds `X`, uint8 (32, 32, 3, N), and `y`, uint8 (N, 1) with digits 1–9 and 10 for
the digit 0. The paper uses the official train (73,257) and test (26,032) splits and resizes
the images to 64×64; `extra_32x32.mat` is not read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InpaintError
from .common import fit, load_mat, split_parts, take

SPLITS = ("train", "test")


def read_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One official split's raw arrays: images uint8 (N, 32, 32, 3), labels uint8 (N,) in 1–10."""
    path = root / f"{split}_32x32.mat"
    mat = load_mat(path, f"SVHN's {split} split ({path.name})", ("X", "y"))
    images, labels = mat["X"], mat["y"]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[:3] != (32, 32, 3):
        raise InpaintError(f"{path}: X must be uint8 (32, 32, 3, N), got {images.dtype} {images.shape}")
    labels = labels.reshape(-1)
    if len(labels) != images.shape[3]:
        raise InpaintError(f"{path}: {len(labels)} labels in y for {images.shape[3]} images in X")
    return images.transpose(3, 0, 1, 2), labels


def load(
    root: Path, *, split: str = "train", image_size: int = 64, channels: int = 3, limit: int | None = None,
) -> np.ndarray:
    """SVHN images of `split` ("train", "test", "all" = train then test): uint8 (N, size, size, channels)."""
    parts = split_parts("SVHN", split, SPLITS)
    return fit(take((read_split(root, part)[0] for part in parts), limit), image_size, channels)


def load_labels(root: Path, split: str = "train") -> np.ndarray:
    """Digits of `split`, int64 (N,) in 0–9 (the file's label 10 is the digit 0), in image order."""
    labels = np.concatenate([read_split(root, part)[1] for part in split_parts("SVHN", split, SPLITS)])
    return np.where(labels == 10, 0, labels).astype(np.int64)
