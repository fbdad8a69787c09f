"""Total-variation inpainting (the paper's [1]; Chan & Shen's TV inpainting model).

Solves   min_x TV(x)   subject to   x = image on the known pixels,  0 ≤ x ≤ 1,
with isotropic TV on forward differences (Neumann boundary). For colour images the default is
vectorial TV (Blomgren & Chan / Bresson & Chan): the per-pixel norm is taken jointly over both
directions and all channels, so edges are shared by the channels and no colour fringes appear;
`joint=False` gives the sum of per-channel isotropic TVs instead.

Solver: the first-order primal–dual algorithm of Chambolle & Pock (2011), with F = ‖·‖_{2,1}
applied to K = ∇ and G = the indicator of the constraint set, whose proximal map is the exact
projection (known pixels reset to the data, hole pixels clipped to [0, 1]). Step sizes
τ = σ = 0.99/√8, since ‖∇‖² ≤ 8. Stopping: the primal–dual gap
    gap = TV(x) + Σ_known f·div y + Σ_hole max(div y, 0)   (≥ 0, and 0 exactly at the optimum)
is checked every `check_every` iterations, and the loop stops when gap ≤ tolerance · (number of
hole pixels · channels), i.e. a mean gap per unknown of at most `tolerance`, or after
`iterations` steps. The hole starts from the mean known colour.
"""

from __future__ import annotations

import numpy as np
from ._common import baseline, positive_float, positive_int


def gradient(x: np.ndarray) -> np.ndarray:
    """Forward differences of x (H, W, C) with Neumann boundary → (2, H, W, C): (d/dy, d/dx)."""
    grad = np.zeros((2,) + x.shape, dtype=x.dtype)
    grad[0, :-1] = x[1:] - x[:-1]
    grad[1, :, :-1] = x[:, 1:] - x[:, :-1]
    return grad


def divergence(p: np.ndarray) -> np.ndarray:
    """The negative adjoint of `gradient`: ⟨∇x, p⟩ = −⟨x, div p⟩ for p (2, H, W, C)."""
    py, px = p
    div = np.zeros(py.shape, dtype=p.dtype)
    div[:-1] += py[:-1]
    div[1:] -= py[:-1]
    div[:, :-1] += px[:, :-1]
    div[:, 1:] -= px[:, :-1]
    return div


def pointwise_norm(p: np.ndarray, joint: bool) -> np.ndarray:
    """|p| per pixel over the directions (and the channels when joint), broadcastable to p[0]."""
    squared = (p * p).sum(axis=0)
    if joint:
        squared = squared.sum(axis=-1, keepdims=True)
    return np.sqrt(squared)


def total_variation(x: np.ndarray, joint: bool = True) -> float:
    """Isotropic (vectorial when joint) total variation of x (H, W, C)."""
    return float(pointwise_norm(gradient(x), joint).sum())


def duality_gap(x: np.ndarray, y: np.ndarray, image: np.ndarray, mask: np.ndarray, joint: bool) -> float:
    """TV(x) + G*(div y) for feasible x and |y| ≤ 1: primal minus dual objective, ≥ 0."""
    div = divergence(y)
    known = ~mask
    return (total_variation(x, joint) + float((div[known] * image[known]).sum())
            + float(np.maximum(div[mask], 0.0).sum()))


def solve(image: np.ndarray, mask: np.ndarray, *, iterations: int = 1000, tolerance: float = 1e-4,
          joint: bool = True, check_every: int = 10) -> tuple[np.ndarray, int, float]:
    """Chambolle–Pock TV inpainting of image (H, W, C); returns (x, iterations run, final gap)."""
    step = 0.99 / np.sqrt(8.0)
    known = ~mask
    x = image.copy()
    x[mask] = image[known].mean(axis=0)
    x_bar = x.copy()
    y = np.zeros((2,) + x.shape)
    budget = tolerance * mask.sum() * image.shape[2]
    gap = np.inf
    iteration = 0
    while iteration < iterations:
        iteration += 1
        y += step * gradient(x_bar)
        y /= np.maximum(1.0, pointwise_norm(y, joint))
        x_new = x + step * divergence(y)
        np.clip(x_new, 0.0, 1.0, out=x_new)
        x_new[known] = image[known]
        np.subtract(2.0 * x_new, x, out=x_bar)
        x = x_new
        if iteration % check_every == 0 or iteration == iterations:
            gap = duality_gap(x, y, image, mask, joint)
            if gap <= budget:
                break
    return x, iteration, gap


@baseline("tv")
def fill(image: np.ndarray, mask: np.ndarray, *, iterations: int = 1000, tolerance: float = 1e-4,
         joint: bool = True) -> np.ndarray:
    """TV inpainting. iterations: at most this many primal–dual steps; tolerance: stop once the
    primal–dual gap per unknown value is below it; joint: vectorial TV over the channels (default)
    or the sum of per-channel TVs.
    """
    iterations = positive_int("iterations", iterations)
    tolerance = positive_float("tolerance", tolerance, allow_zero=True)
    x, _, _ = solve(image, mask, iterations=iterations, tolerance=tolerance, joint=bool(joint))
    return x
