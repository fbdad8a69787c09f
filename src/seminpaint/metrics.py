"""Image quality against the ground truth: PSNR (the paper's Table 1) and SSIM, whole image or hole only.

Images are (H, W) or (H, W, C), any real dtype (computed in float64), with an explicit
data_range: the span of possible values (1.0 for float [0, 1], 255 for uint8). It is never
estimated from the images: per-image normalisation makes PSNR values incomparable.
Mask convention: mask is bool (H, W), True = missing (the hole; white in mask files).
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
from skimage.metrics import structural_similarity

from .errors import InpaintError
from .masks import check_mask

SSIM_WINDOW = 7  # scikit-image's default window side; images must be at least this large


def psnr(reference: np.ndarray, estimate: np.ndarray, *, data_range: float, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB: 10·log10(data_range² / MSE); inf for identical images.

    reference, estimate: arrays of one shape, (H, W) or (H, W, C). MSE is the mean over all
    pixels and channels, or with mask (bool (H, W), True = missing) over the hole's pixels only.
    """
    reference, estimate, mask = _check_pair(reference, estimate, data_range, mask)
    error = (reference - estimate) ** 2
    mse = float(error.mean() if mask is None else error[mask].mean())
    return math.inf if mse == 0.0 else 10.0 * math.log10(data_range**2 / mse)


def ssim(reference: np.ndarray, estimate: np.ndarray, *, data_range: float, mask: np.ndarray | None = None) -> float:
    """Structural similarity (Wang et al. 2004), scikit-image's 7×7 uniform-window version.

    reference, estimate: arrays of one shape, (H, W) or (H, W, C) (channels scored separately
    and averaged), at least 7×7. Without mask this is structural_similarity's mean (which leaves
    out a 3-pixel border); with mask (bool (H, W), True = missing) it is the mean of the full SSIM
    map over the hole's pixels and all channels, border included, so a hole at the border counts.
    """
    reference, estimate, mask = _check_pair(reference, estimate, data_range, mask)
    if min(reference.shape[:2]) < SSIM_WINDOW:
        raise InpaintError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got {reference.shape[:2]}")
    channel_axis = -1 if reference.ndim == 3 else None
    mean, full = structural_similarity(
        reference, estimate, data_range=data_range, channel_axis=channel_axis, full=True
    )
    return float(mean if mask is None else full[mask].mean())


def score(reference: np.ndarray, estimate: np.ndarray, mask: np.ndarray, *, data_range: float) -> dict[str, float]:
    """All four numbers for one result: {"psnr", "psnr_hole", "ssim", "ssim_hole"}.

    Shapes as for psnr; mask: bool (H, W), True = missing, selects the hole for the *_hole values.
    """
    return {
        "psnr": psnr(reference, estimate, data_range=data_range),
        "psnr_hole": psnr(reference, estimate, data_range=data_range, mask=mask),
        "ssim": ssim(reference, estimate, data_range=data_range),
        "ssim_hole": ssim(reference, estimate, data_range=data_range, mask=mask),
    }


def _check_pair(
    reference: np.ndarray, estimate: np.ndarray, data_range: float, mask: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate and convert to float64; the mask through check_mask (it must have a hole and a known pixel)."""
    reference, estimate = np.asarray(reference), np.asarray(estimate)
    if reference.shape != estimate.shape:
        raise InpaintError(f"estimate shape {estimate.shape} does not match reference {reference.shape}")
    if reference.ndim not in (2, 3):
        raise InpaintError(f"images must be (H, W) or (H, W, C), got shape {reference.shape}")
    if isinstance(data_range, bool) or not isinstance(data_range, Real) or not 0 < data_range < math.inf:
        raise InpaintError(f"data_range must be a positive number (1.0 for [0, 1], 255 for uint8), got {data_range!r}")
    arrays = []
    for name, array in (("reference", reference), ("estimate", estimate)):
        if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise InpaintError(f"{name} must hold real numbers, got dtype {array.dtype}")
        array = array.astype(np.float64)
        if not np.isfinite(array).all():
            raise InpaintError(f"{name} has NaN or infinite values")
        arrays.append(array)
    if mask is not None:
        mask = check_mask(mask, reference.shape[0], reference.shape[1])
    return arrays[0], arrays[1], mask
