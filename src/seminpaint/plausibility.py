"""The plausibility check: after the search, say when a completion is unlikely to be a face.

A face model can only draw faces: where the known pixels are not a face (a cat's eye, a coffee cup,
a face framed far from how the training faces were), the best G(ẑ) it finds misses them by much
more than it misses real faces — not so much in colour (a DCGAN's fit is rough everywhere) as in
structure: its edges (eyes, brows, the face's outline) do not follow the known pixels' edges. The
check measures that — the structure agreement, the correlation between the steps from pixel to
pixel of G(ẑ) and of y over the known pixels at the model's size — and warns, never refuses, when
it is below the model's threshold (FaceModel.implausible_below: the 1st percentile on CelebA
validation faces, from benchmarks/plausibility.py, so 1 face in 100 is warned about).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .networks.model import GenerativeModel


class ImplausibleCompletion(UserWarning):
    """The completion is unlikely to be a face (see the module's docstring). `index` is the image's
    position in the batch or list, `score` its score, `threshold` the model's, `reason` the message
    without the image's number."""

    def __init__(self, message: str, *, index: int = 0, score: float = float("nan"),
                 threshold: float = float("nan"), reason: str | None = None):
        super().__init__(message)
        self.index, self.score, self.threshold = index, score, threshold
        self.reason = reason if reason is not None else message


def context_error(generated: torch.Tensor | np.ndarray, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Mean |G(ẑ) − y| over each image's known pixels and channels, in [0, 1] units: (N,).

    generated: G(ẑ) (N, C, h, w) in [-1, 1] (a tensor, as the search returns it) or (N, h, w, C) in
    [0, 1] (numpy); images: y, (N, h, w, C) float [0, 1]; masks: (N, h, w) bool, True = missing.
    """
    known = (~np.asarray(masks, dtype=bool)).astype(np.float32)[..., None]
    difference = np.abs(as_images(generated) - np.asarray(images, np.float32)) * known
    return difference.sum(axis=(1, 2, 3)) / np.maximum(known.sum(axis=(1, 2, 3)) * images.shape[-1], 1.0)


def as_images(generated: torch.Tensor | np.ndarray) -> np.ndarray:
    """G(ẑ) as (N, h, w, C) float [0, 1]: a tensor (N, C, h, w) in [-1, 1] is converted, numpy kept."""
    if isinstance(generated, torch.Tensor):
        return ((generated.detach().float().cpu().permute(0, 2, 3, 1) + 1) / 2).numpy()
    return np.asarray(generated, np.float32)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equal-size arrays (0 where either is constant)."""
    a, b = a - a.mean(), b - b.mean()
    scale = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / scale) if scale > 1e-12 else 0.0


def structure_agreement(generated: torch.Tensor | np.ndarray, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image, the correlation between the steps of G(ẑ) and of y from each known pixel to its
    known right and lower neighbours (all channels): (N,), in [-1, 1]; 1 = the same edges.

    Arguments as for context_error. A face model's G(ẑ) follows a face's edges (eyes, brows, the
    face's outline) and misses a cat's or a cup's, whatever their mean colour.
    """
    generated = as_images(generated)
    known = ~np.asarray(masks, dtype=bool)
    out = np.zeros(len(generated), dtype=np.float32)
    for index, (g, y, k) in enumerate(zip(generated, np.asarray(images, np.float32), known)):
        pairs_down, pairs_right = k[1:] & k[:-1], k[:, 1:] & k[:, :-1]
        steps_g = np.concatenate([(g[1:] - g[:-1])[pairs_down], (g[:, 1:] - g[:, :-1])[pairs_right]])
        steps_y = np.concatenate([(y[1:] - y[:-1])[pairs_down], (y[:, 1:] - y[:, :-1])[pairs_right]])
        out[index] = correlation(steps_g, steps_y) if len(steps_g) else 0.0
    return out


def warn_if_implausible(model: GenerativeModel, generated, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Warn (ImplausibleCompletion, one line per image) for each image whose structure agreement is
    below the model's threshold (FaceModel.implausible_below); nothing for a model without one.

    generated: G(ẑ) as the search returns it; images, masks: what the search saw (model size).
    Returns the structure agreements, (N,).
    """
    agreement = structure_agreement(generated, images, masks)
    threshold = model.faces.implausible_below if model.faces is not None else None
    if threshold is None:
        return agreement
    for index, score in enumerate(agreement):
        if score < threshold:
            reason = (f"the completion is unlikely to be a face: the model's best fit follows the edges of the known "
                      f"pixels with a correlation of {score:.3f}, below the {threshold:.3f} that 99 in 100 face crops "
                      "reach (is the hole in a face, framed as the model's faces?)")
            which = f"image {index}: " if len(agreement) > 1 else ""
            warnings.warn(ImplausibleCompletion(which + reason, index=index, score=float(score),
                                                threshold=float(threshold), reason=reason), stacklevel=3)
    return agreement
