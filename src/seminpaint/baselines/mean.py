"""Mean fill: every missing pixel gets the mean colour of the known pixels (per channel)."""

from __future__ import annotations

import numpy as np

from ._common import baseline


@baseline("mean")
def fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill the hole with the per-channel mean of the known pixels. No options."""
    result = image.copy()
    result[mask] = image[~mask].mean(axis=0)
    return result
