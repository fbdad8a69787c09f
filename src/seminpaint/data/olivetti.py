"""The Olivetti (AT&T) faces as `olivettifaces.mat`: 400 gray 64×64 faces, 40 people × 10.

The file holds one variable, `faces`, uint8 (4096, 400): one image per column, each stored
column-major, so `faces.T.reshape(400, 64, 64).transpose(0, 2, 1)` gives upright faces.
There is no official split: it is used only to evaluate (a face distribution other than
CelebA's), so "test" and "all" both give all 400 images and "train"/"val" are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InpaintError
from .common import fit, load_mat, split_parts

FILE_NAME = "olivettifaces.mat"


def read_faces(root: Path) -> np.ndarray:
    """All faces, upright, in file order: uint8 (400, 64, 64, 1), values 0–255."""
    path = root / FILE_NAME
    faces = load_mat(path, f"the Olivetti faces ({FILE_NAME})", ("faces",))["faces"]
    if faces.dtype != np.uint8 or faces.ndim != 2 or faces.shape[0] != 64 * 64:
        raise InpaintError(f"{path}: faces must be uint8 (4096, N), got {faces.dtype} {faces.shape}")
    return faces.T.reshape(-1, 64, 64).transpose(0, 2, 1)[..., None]


def load(
    root: Path, *, split: str = "test", image_size: int = 64, channels: int = 3, limit: int | None = None,
) -> np.ndarray:
    """Olivetti faces ("test" or "all": every one): uint8 (N, size, size, channels), gray repeated to RGB."""
    split_parts("Olivetti (an evaluation-only set)", split, ("test",))
    return fit(read_faces(root)[:limit], image_size, channels)
