"""Low-rank matrix completion, per channel (the paper's LR baseline, [12] and [24]).

Each channel is an H×W matrix M observed on the known pixels Ω. Following Hu, Zhang, Ye, Li & He,
"Fast and accurate matrix completion via truncated nuclear norm regularization" (TPAMI 2013, the
paper's [12]), the completion minimises the truncated nuclear norm

    min_X ‖X‖_r = Σ_{i > r} σ_i(X)    subject to   X_Ω = M_Ω,

which, unlike the nuclear norm, does not penalise the r largest singular values. It is solved by
their two-step scheme (TNNR-ADMM): an outer loop fixes A, B = the top-r left/right singular
vectors of the current X (so that ‖X‖_r = ‖X‖_* − max tr(A X Bᵀ)), and an inner ADMM solves the
convex problem min ‖X‖_* − tr(A X Bᵀ) s.t. X = W, W_Ω = M_Ω:

    X ← D_{1/β}(W − Y/β)                 (singular value thresholding)
    W ← X + (AᵀB + Y)/β,  W_Ω ← M_Ω
    Y ← Y + β (X − W)

with β growing geometrically (×`growth` per inner step, from β₀ = `beta` / ‖M_Ω‖₂ up to 10⁶·β₀),
the usual linearised-ALM continuation that makes the inner loop converge in tens of steps. With
rank = 0 this is plain nuclear-norm completion (Candès & Recht; Cai, Candès & Shen's SVT
problem). The channels are solved together as one batch of SVDs (torch's, on one thread).

Defaults: rank = 1 is the best on 64×64 CelebA faces with 80 % of the pixels missing (mean hole PSNR
over 10 faces: r = 0 → 17.3 dB, 1 → 18.3, 2 → 17.7, 3 → 16.7, 5 → 14.4); with 50 % missing
r = 3 is slightly better (23.3 dB against 23.0 for r = 1). tolerance = 1e-3: on CelebA test faces
it gives the PSNR of 1e-5 to within 0.05 dB (centre and random-pixel masks, 3 faces each) in a
third to a half of the time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from ..errors import InpaintError
from ._common import baseline, non_negative_int, positive_float, positive_int


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread: SVDs of 64×64 matrices gain nothing from threads, and on a machine
    with few cores a threaded LAPACK waits on itself, many times slower than one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _svd(matrices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD of a batch (C, H, W) in float64: U (C, H, k), S (C, k), Vᵀ (C, k, W)."""
    return torch.linalg.svd(torch.from_numpy(np.ascontiguousarray(matrices)), full_matrices=False)


def _svt(matrices: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Singular value soft-thresholding of a batch (C, H, W) by per-matrix thresholds (C,)."""
    u, s, vt = _svd(matrices)
    s = torch.clamp(s - torch.from_numpy(threshold)[:, None], min=0.0)
    return ((u * s[:, None, :]) @ vt).numpy()


def _top_singular(matrices: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """A (C, r, H) and B (C, r, W): the top-r left and right singular vectors, as rows."""
    u, _, vt = _svd(matrices)
    return u[:, :, :rank].transpose(1, 2).numpy(), vt[:, :rank, :].numpy()


def _norm(a: np.ndarray) -> float:
    """Frobenius norm without BLAS (numpy's norm calls a threaded dot, slow on a busy machine)."""
    return float(np.sqrt(np.sum(a * a)))


def complete(matrices: np.ndarray, known: np.ndarray, *, rank: int = 1, outer_iterations: int = 10,
             inner_iterations: int = 100, beta: float = 1.0, growth: float = 1.1,
             tolerance: float = 1e-3) -> np.ndarray:
    """TNNR-ADMM completion of a batch of matrices (C, H, W) observed where `known` (H, W) is True."""
    observed = np.where(known, matrices, 0.0)
    rank = min(rank, min(matrices.shape[1:]))
    # Start from the observed entries with each channel's known mean in the hole.
    means = np.array([channel[known].mean() for channel in matrices])
    x = np.where(known, matrices, means[:, None, None])
    beta0 = beta / np.maximum(np.linalg.norm(observed, ord=2, axis=(1, 2)), 1e-12)
    for _ in range(outer_iterations):
        if rank > 0:
            a, b = _top_singular(x, rank)
            atb = a.transpose(0, 2, 1) @ b  # (C, H, W), small: one product per outer step
        else:
            atb = np.zeros_like(x)
        w = x.copy()
        y = np.zeros_like(x)
        step = beta0.copy()
        previous_outer = x
        for _ in range(inner_iterations):
            x = _svt(w - y / step[:, None, None], 1.0 / step)
            w_previous = w
            w = x + (atb + y) / step[:, None, None]
            w = np.where(known, matrices, w)
            y = y + step[:, None, None] * (x - w)
            step = np.minimum(step * growth, beta0 * 1e6)
            change = _norm(w - w_previous) / max(_norm(w), 1e-12)
            if change < tolerance:
                break
        x = w
        if _norm(x - previous_outer) / max(_norm(x), 1e-12) < tolerance:
            break
    return x


@baseline("low_rank")
def fill(image: np.ndarray, mask: np.ndarray, *, rank: int = 1, outer_iterations: int = 10,
         inner_iterations: int = 100, beta: float = 1.0, growth: float = 1.1,
         tolerance: float = 1e-3) -> np.ndarray:
    """Truncated-nuclear-norm completion of each channel. rank: the r largest singular values left
    unpenalised (0 = plain nuclear norm); outer/inner_iterations: TNNR-ADMM loop limits; beta,
    growth: the ADMM penalty's start (relative to ‖M_Ω‖₂) and growth per step; tolerance: stop an
    inner or outer loop when the relative change falls below it.
    """
    rank = non_negative_int("rank", rank)
    outer_iterations = positive_int("outer_iterations", outer_iterations)
    inner_iterations = positive_int("inner_iterations", inner_iterations)
    beta = positive_float("beta", beta)
    growth = positive_float("growth", growth)
    if growth < 1.0:
        raise InpaintError(f"growth must be ≥ 1, got {growth!r}")
    tolerance = positive_float("tolerance", tolerance, allow_zero=True)
    matrices = np.ascontiguousarray(image.transpose(2, 0, 1))
    with _one_thread():
        completed = complete(matrices, ~mask, rank=rank, outer_iterations=outer_iterations,
                             inner_iterations=inner_iterations, beta=beta, growth=growth,
                             tolerance=tolerance)
    return completed.transpose(1, 2, 0)
