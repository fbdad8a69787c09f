"""Putting the generated content into the hole: Poisson blending (Eq. 6), the naive overlay, and a
hybrid of Poisson blending with biharmonic smoothness (ours, beyond the paper).

Mask convention: mask is bool (H, W), True = missing (the hole; white in mask files).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import linalg
from skimage.transform import resize

from .errors import InpaintError
from .geometry import area_resize, to_model_size
from .masks import check_mask
from .settings import HYBRID_SMOOTHNESS, check_smoothness

# Each ordered pair of 4-neighbours (p, q) once, as (slice of p, slice of q): q right of, left of,
# below and above p. Pixels on the image border lack one or two of these pairs: that missing
# term is the Neumann condition at the border.
_NEIGHBOUR_PAIRS = (
    (np.s_[:, :-1], np.s_[:, 1:]),
    (np.s_[:, 1:], np.s_[:, :-1]),
    (np.s_[:-1, :], np.s_[1:, :]),
    (np.s_[1:, :], np.s_[:-1, :]),
)


def poisson_blend(image: np.ndarray, fill: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Eq. 6: x̂ = argmin_x ‖∇x − ∇fill‖² subject to x = image on the known pixels.

    image, fill: float arrays of one shape, (H, W) or (H, W, C), any value range (nothing is
    clipped; the image's values inside the hole are ignored and may be NaN). mask: bool (H, W)
    (or 0/1), True = missing — the pixels that are solved for. Returns an array of image's shape
    and dtype whose known pixels are bit-identical to image's.

    The minimiser solves, for every hole pixel p with in-image 4-neighbours N_p,
        |N_p| x_p − Σ_{q ∈ N_p ∩ hole} x_q = Σ_{q ∈ N_p} (fill_p − fill_q) + Σ_{q ∈ N_p ∩ known} image_q,
    Dirichlet values on the known pixels and Neumann at the image border (a neighbour outside
    the image contributes nothing), so a hole touching the border (the half mask) is fine. The
    matrix is factorised once (sparse LU) and all channels are solved with it: exact, no iterations
    (milliseconds at 64×64: benchmarks/blend_speed.py).

    The system is singular only for a hole component with no known neighbour; since the pixel
    grid is connected, that happens only when every pixel is missing, which check_mask rejects
    with InpaintError ("mask has no known pixel"). A mask with no missing pixel is rejected too.
    """
    image, fill, mask = _check_inputs(image, fill, mask)
    height, width = mask.shape
    known = image.reshape(height, width, -1).astype(np.float64)  # only its known pixels are read
    source = fill.reshape(height, width, -1).astype(np.float64)
    count = int(mask.sum())
    index = np.full((height, width), -1, dtype=np.int64)
    index[mask] = np.arange(count)

    degree = np.zeros(count)
    rhs = np.zeros((count, known.shape[2]))
    rows, columns = [], []
    for p, q in _NEIGHBOUR_PAIRS:
        hole_p, hole_q = mask[p], mask[q]
        at = index[p][hole_p]  # each hole pixel at most once per direction, so += is safe
        degree[at] += 1
        rhs[at] += source[p][hole_p] - source[q][hole_p]  # guidance: the gradient of fill
        inner = hole_p & hole_q
        rows.append(index[p][inner])
        columns.append(index[q][inner])
        boundary = hole_p & ~hole_q
        rhs[index[p][boundary]] += known[q][boundary]  # Dirichlet: x_q = image_q
    rows.append(np.arange(count))
    columns.append(np.arange(count))
    values = np.concatenate([-np.ones(sum(r.size for r in rows[:-1])), degree])
    matrix = sparse.csc_matrix((values, (np.concatenate(rows), np.concatenate(columns))), shape=(count, count))
    # The matrix is symmetric positive definite: a symmetric ordering makes the LU ~25% faster.
    factor = linalg.splu(matrix, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    solution = factor.solve(rhs)

    out = image.copy()  # known pixels stay bit-identical; only the hole is written
    out[mask] = solution if image.ndim == 3 else solution[:, 0]
    return out


def hybrid_blend(image: np.ndarray, fill: np.ndarray, mask: np.ndarray, *,
                 smoothness: float = HYBRID_SMOOTHNESS) -> np.ndarray:
    """x̂ = argmin_x ‖∇x − ∇fill‖² + μ‖Δx‖² subject to x = image on the known pixels (μ = smoothness).

    Eq. 6 plus a biharmonic smoothness term: μ = 0 is poisson_blend, and as μ grows the result
    tends to the biharmonic interpolation of the known pixels, which ignores `fill`. In between,
    the generated gradients guide the fill while the smoothness term damps what G(ẑ) gets wrong at
    fine scales; it helps most where the hole is many small pieces (pattern, random pixels), where
    smooth interpolation from nearby known pixels is hard to beat. μ is in pixels² of the grid
    solved on: on a grid s times finer, s²·μ gives the same result at the coarser scale.

    Shapes, dtypes, value ranges and the mask convention (True = missing) as for poisson_blend;
    known pixels of the result are bit-identical to image's. ∇ is the forward difference between
    4-neighbours inside the image and Δ = −∇ᵀ∇ the 5-point Laplacian with the Neumann condition at
    the border. The normal equations, restricted to the hole, are factorised once (sparse LU).
    """
    image, fill, mask = _check_inputs(image, fill, mask)
    check_smoothness(smoothness)
    height, width = mask.shape
    known = np.where(mask[..., None], 0.0, image.reshape(height, width, -1)).reshape(height * width, -1)
    source = fill.reshape(height * width, -1).astype(np.float64)
    gradient = _gradient_operator(height, width)
    normal = (gradient.T @ gradient).tocsr()  # ∇ᵀ∇ = −Δ
    system = (normal + smoothness * (normal @ normal)).tocsr()  # ∇ᵀ∇ + μ ΔᵀΔ
    hole = mask.ravel()
    rows = system[hole]
    # Normal equations for the hole's pixels u, with x = u on the hole and x = image elsewhere
    # (`known` is 0 on the hole, so rows @ known is the known pixels' contribution alone).
    rhs = (normal[hole] @ source) - rows @ known
    matrix = rows[:, hole].tocsc()
    factor = linalg.splu(matrix, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    out = image.copy()
    solution = factor.solve(rhs)
    out[mask] = solution if image.ndim == 3 else solution[:, 0]
    return out


def _gradient_operator(height: int, width: int) -> sparse.csr_matrix:
    """∇ on an (H, W) grid as a sparse (edges, H·W) matrix: one row per 4-neighbour pair, x_q − x_p."""
    index = np.arange(height * width).reshape(height, width)
    first = np.concatenate([index[:, :-1].ravel(), index[:-1, :].ravel()])
    second = np.concatenate([index[:, 1:].ravel(), index[1:, :].ravel()])
    edges = np.arange(first.size)
    values = np.concatenate([-np.ones(first.size), np.ones(first.size)])
    return sparse.csr_matrix((values, (np.concatenate([edges, edges]), np.concatenate([first, second]))),
                             shape=(first.size, height * width))


def overlay(image: np.ndarray, fill: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The naive composite, the paper's "without blending" (Fig. 5): fill in the hole, image elsewhere.

    Shapes, dtypes and the mask convention (True = missing) as for poisson_blend; returns
    image's shape and dtype, known pixels bit-identical to image's.
    """
    image, fill, mask = _check_inputs(image, fill, mask)
    out = image.copy()
    out[mask] = fill[mask]
    return out


def _check_inputs(image: np.ndarray, fill: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image, fill = np.asarray(image), np.asarray(fill)
    if image.ndim not in (2, 3):
        raise InpaintError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    if fill.shape != image.shape:
        raise InpaintError(f"fill shape {fill.shape} does not match image {image.shape}")
    for name, array in (("image", image), ("fill", fill)):
        if not np.issubdtype(array.dtype, np.floating):
            raise InpaintError(f"{name} must be a float array, got dtype {array.dtype} (see images.to_float)")
    mask = check_mask(mask, image.shape[0], image.shape[1])
    if not np.isfinite(image[~mask]).all():
        raise InpaintError("image has NaN or infinite values at known pixels")
    if not np.isfinite(fill).all():
        raise InpaintError("fill has NaN or infinite values")
    return image, fill, mask


POISSON_MAX_UNKNOWNS = 1_000_000
"""Holes with more pixels than this are Poisson-blended on a coarser grid (see blend_crop): the exact
sparse solve of a 1024×1024 hole takes about 10 s and 2 GB, and grows faster than the hole."""

HYBRID_MAX_UNKNOWNS = 65_536
"""The same for the hybrid blend, whose 13-point system fills its factor far more: a 256×256 hole
takes about 1 s and 200 MB, a 362×362 one twice the time and memory."""


def blend_crop(image: np.ndarray, generated: np.ndarray, mask: np.ndarray, blend: str, *,
               scale: float = 1.0, smoothness: float = HYBRID_SMOOTHNESS) -> np.ndarray:
    """Blend `generated` into `image` (both (H, W, C), the crop) where `mask` is True.

    "overlay" pastes; "poisson" solves Eq. 6 exactly; "hybrid" solves blend.hybrid_blend with
    μ = smoothness, given in pixels² of the model's grid (the crop is `scale` times the model's
    size per side, so μ·scale² is used on it). A hole of more than POISSON_MAX_UNKNOWNS pixels
    (HYBRID_MAX_UNKNOWNS for the hybrid blend) is solved for the correction (blended − generated; for Poisson a harmonic function with the
    known pixels' differences as boundary values) on a grid coarse enough to stay under that limit,
    and the correction, upsampled, is added to `generated` — the content is an upsampled
    model-size G(ẑ) anyway, so only the seam's finest detail differs from the exact solve.
    """
    if blend == "overlay":
        return overlay(image, generated, mask)

    def solve(image, generated, mask, scale):
        if blend == "hybrid":
            return hybrid_blend(image, generated, mask, smoothness=smoothness * scale**2)
        return poisson_blend(image, generated, mask)

    unknowns, limit = int(mask.sum()), HYBRID_MAX_UNKNOWNS if blend == "hybrid" else POISSON_MAX_UNKNOWNS
    if unknowns <= limit:
        return solve(image, generated, mask, scale)
    factor = float(np.sqrt(unknowns / limit)) * 1.05
    size = (max(2, int(mask.shape[0] / factor)), max(2, int(mask.shape[1] / factor)))
    small_image, small_mask = to_model_size(image[None], mask[None], size)
    small_generated = area_resize(generated[None], size)[0]
    correction = solve(small_image[0], small_generated, small_mask[0], scale * size[0] / mask.shape[0])
    correction = resize(correction - small_generated, generated.shape, order=1).astype(np.float32)
    return np.where(mask[..., None], generated + correction, image)
