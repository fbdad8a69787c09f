"""Comparison methods of the paper (sections 4.2–4.3) and a few classical extras.

Every method has the signature `fill(image, mask, **options) -> np.ndarray`:
  image: float (H, W, C) or (H, W) in [0, 1];  mask: bool (H, W), True = MISSING (to be filled);
  returns the same shape and dtype, in [0, 1], with the known pixels bit-identical to the input.

    mean               per-channel mean colour of the known pixels
    biharmonic         scikit-image's biharmonic inpainting
    tv                 total-variation inpainting (the paper's TV, [1]), Chambolle–Pock
    low_rank           truncated-nuclear-norm matrix completion per channel (the paper's LR, [12, 24])
    patchmatch         PatchMatch exemplar inpainting (the paper's PM, [2]); needs pypatchmatch
    telea              OpenCV's fast-marching inpainting (Telea); needs opencv-python-headless
    navier_stokes      OpenCV's Navier–Stokes inpainting; needs opencv-python-headless
    nearest_neighbour  the closest image of `references` on the known pixels (the paper's NN, Fig. 7)
    context_encoder    a trained Context Encoder (the paper's CE, [30]); `model` = its checkpoint,
                       default weights/context_encoder64.safetensors; images of the network's size

Input checks and the output contract live in one place, `_common.baseline`, which wraps each
method's core; `fill(name, ...)` below only dispatches. Optional packages are imported on first
use, and a missing one raises InpaintError naming the pip package.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import InpaintError
from . import biharmonic, context_encoder, low_rank, mean, nearest_neighbour, opencv, patch_match, tv
from .nearest_neighbour import nearest_index

METHODS: dict[str, Callable[..., np.ndarray]] = {
    "mean": mean.fill,
    "biharmonic": biharmonic.fill,
    "tv": tv.fill,
    "low_rank": low_rank.fill,
    "patchmatch": patch_match.fill,
    "telea": opencv.fill_telea,
    "navier_stokes": opencv.fill_navier_stokes,
    "nearest_neighbour": nearest_neighbour.fill,
    "context_encoder": context_encoder.fill,
}


def fill(name: str, image: np.ndarray, mask: np.ndarray, **options: object) -> np.ndarray:
    """Run baseline `name` on image with mask (True = missing); see the module docstring.

    Inputs are validated once (shape match, bool mask, values in [0, 1], at least one known and
    one missing pixel), and the result is clipped to [0, 1] with the known pixels copied back
    exactly. Unknown names, bad inputs and bad options raise InpaintError.
    """
    method = METHODS.get(name)
    if method is None:
        raise InpaintError(f"unknown baseline {name!r}; choose from: {', '.join(METHODS)}")
    return method(image, mask, **options)


__all__ = ["METHODS", "fill", "nearest_index"]
