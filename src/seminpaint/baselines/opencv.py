"""OpenCV's fast-marching inpainting: Telea (2004) and Navier–Stokes (Bertalmío et al., 2001).

Wraps `cv2.inpaint` from the optional pip package opencv-python-headless, imported on first use.
Each channel is inpainted on its own as 32-bit float (cv2 takes float images only with one channel),
which avoids 8-bit rounding and supports any number of channels; both algorithms treat colour
channels independently anyway. The float planes are scaled to [0, 255] first: OpenCV's Telea adds
a unit-size gradient-direction term to each filled value, written for 8-bit intensities, which on
[0, 1] data swamps the image (hole PSNR ~0.4 dB instead of 17 dB on a 64×64 CelebA face).
"""

from __future__ import annotations

import numpy as np

from ..errors import InpaintError
from ._common import baseline, positive_float


def _cv2():
    try:
        import cv2
    except ImportError:
        raise InpaintError("the telea and navier_stokes baselines need OpenCV: "
                           "pip install opencv-python-headless") from None
    return cv2


def _inpaint(image: np.ndarray, mask: np.ndarray, radius: float, flag_name: str) -> np.ndarray:
    cv2 = _cv2()
    radius = positive_float("radius", radius)
    hole = np.ascontiguousarray(mask, dtype=np.uint8)
    result = np.empty_like(image)
    for channel in range(image.shape[2]):
        plane = np.ascontiguousarray(image[:, :, channel] * 255.0, dtype=np.float32)
        result[:, :, channel] = cv2.inpaint(plane, hole, radius, getattr(cv2, flag_name))
    return result / 255.0


@baseline("telea")
def fill_telea(image: np.ndarray, mask: np.ndarray, *, radius: float = 3.0) -> np.ndarray:
    """Telea's fast marching method; radius (pixels) is the neighbourhood each filled pixel averages."""
    return _inpaint(image, mask, radius, "INPAINT_TELEA")


@baseline("navier_stokes")
def fill_navier_stokes(image: np.ndarray, mask: np.ndarray, *, radius: float = 3.0) -> np.ndarray:
    """Bertalmío et al.'s Navier–Stokes based inpainting; radius (pixels) as for telea."""
    return _inpaint(image, mask, radius, "INPAINT_NS")
