"""PatchMatch exemplar inpainting (Barnes et al., 2009; the paper's [2]).

Wraps the native PatchMatch inpainting of the optional pip package `pypatchmatch` (import name
`patchmatch`; its wheel ships a prebuilt library with OpenCV linked in, so no compiler or system
OpenCV is needed), imported on first use. It fills the hole coarse to fine over an image pyramid:
at each scale a nearest-neighbour field from hole patches to known patches is found by
propagation and random search, and the hole pixels are re-voted from the matched patches.

The native code takes 8-bit RGB images, so the input is rounded to uint8 for the search and the
hole receives 8-bit values (error ≤ 0.5/255); the known pixels are returned unchanged. A gray
image is searched as three equal channels. Other channel counts than 1 and 3 are refused.
"""

from __future__ import annotations

import numpy as np

from ..errors import InpaintError
from ._common import baseline, non_negative_int, positive_int


def _patchmatch():
    try:
        import patchmatch
    except ImportError:
        raise InpaintError("the patchmatch baseline needs PatchMatch: pip install pypatchmatch") from None
    if not getattr(patchmatch, "patchmatch_available", False):
        raise InpaintError("pypatchmatch is installed but its native library failed to load; "
                           "reinstall it: pip install --force-reinstall pypatchmatch")
    return patchmatch


@baseline("patchmatch")
def fill(image: np.ndarray, mask: np.ndarray, *, patch_size: int = 3, seed: int = 0) -> np.ndarray:
    """PatchMatch fill. patch_size is the patch RADIUS: patches are (2·patch_size + 1)² pixels
    (3 → 7×7, suited to 64×64 images); seed fixes the randomised search, so results are reproducible.
    """
    patchmatch = _patchmatch()
    patch_size = positive_int("patch_size", patch_size)
    seed = non_negative_int("seed", seed)
    channels = image.shape[2]
    if channels not in (1, 3):
        raise InpaintError(f"patchmatch supports 1 or 3 channels, got {channels}")
    rgb = np.repeat(image, 3, axis=2) if channels == 1 else image
    rgb8 = np.ascontiguousarray(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8))
    patchmatch.set_random_seed(seed)
    try:
        result = patchmatch.inpaint(rgb8, mask, patch_size=patch_size)
    except (RuntimeError, ValueError) as error:
        raise InpaintError(f"patchmatch failed: {error}") from None
    result = result.astype(np.float64) / 255.0
    return result.mean(axis=2, keepdims=True) if channels == 1 else result
