"""Datasets as their users keep them on disk, one module each, behind one registry.

Every loader has the signature
    load(root, *, split="train", image_size=64, channels=3, limit=None) -> np.ndarray
and returns uint8 images of shape (N, image_size, image_size, channels). Nothing is ever
downloaded: a loader reads what is at `root` and names the expected files when they are absent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import InpaintError
from . import cars, celeba, fashion_mnist, folder, olivetti, svhn

Loader = Callable[..., np.ndarray]

DATASETS: dict[str, Loader] = {
    "celeba": celeba.load,
    "folder": folder.load,
    "svhn": svhn.load,
    "cars": cars.load,
    "olivetti": olivetti.load,
    "fashion_mnist": fashion_mnist.load,
}

SPLITS = ("train", "val", "test", "all")


def load_dataset(
    name: str, root: str | Path, *, split: str = "train", image_size: int = 64,
    channels: int = 3, limit: int | None = None,
) -> np.ndarray:
    """Load dataset `name` from `root`: uint8 (N, image_size, image_size, channels).

    split: "train", "val", "test" (the dataset's official split where it has one) or "all"
    (every official split, in that order); a split the dataset lacks raises InpaintError.
    limit: keep the first `limit` images of the split (in the split's file order).
    """
    if name not in DATASETS:
        raise InpaintError(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATASETS))}")
    if split not in SPLITS:
        raise InpaintError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    if channels not in (1, 3):
        raise InpaintError(f"channels must be 1 or 3, got {channels}")
    return DATASETS[name](Path(root), split=split, image_size=image_size, channels=channels, limit=limit)
