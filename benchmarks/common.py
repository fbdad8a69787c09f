"""Helpers shared by the benchmark scripts (run them as `python benchmarks/NAME.py`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seminpaint.blend import poisson_blend
from seminpaint.images import from_tensor
from seminpaint.metrics import psnr

CELEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba"


def blended_psnr(model, z: torch.Tensor, truth: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Full-image PSNR per image of Poisson-blended G(z) against the true faces (float [0, 1])."""
    with torch.no_grad():
        generated = from_tensor(model.generator(z))
    return np.array([psnr(t, np.clip(poisson_blend(t, g, m), 0, 1), data_range=1.0)
                     for t, g, m in zip(truth, generated, masks)])


def spread(values: list[float], digits: int) -> str:
    """The median, and the range (min–max) when the values differ: for repeated timings."""
    middle = f"{np.median(values):.{digits}f}"
    return middle if min(values) == max(values) else f"{middle} ({min(values):.{digits}f}–{max(values):.{digits}f})"
