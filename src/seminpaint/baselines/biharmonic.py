"""Biharmonic inpainting: scikit-image's `inpaint_biharmonic` (Damelin & Hoang, 2018).

The hole is the solution of the biharmonic equation Δ²x = 0 with the known pixels as boundary
values, solved per channel as one sparse linear system per connected hole.
"""

from __future__ import annotations

import numpy as np
from skimage.restoration import inpaint_biharmonic

from ._common import baseline


@baseline("biharmonic")
def fill(image: np.ndarray, mask: np.ndarray, *, split_into_regions: bool = False) -> np.ndarray:
    """Biharmonic fill; split_into_regions solves each connected hole separately (faster for many holes)."""
    return inpaint_biharmonic(image, mask, split_into_regions=bool(split_into_regions), channel_axis=-1)
