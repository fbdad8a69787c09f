"""Inpainting masks: the paper's four kinds (section 4.1), a reproducible mask set, files, validation.

Mask convention, everywhere in this package: a mask is a boolean numpy array (H, W) in which
True means *missing — to be filled* (as in scikit-image). In a mask file, white (255) is missing
and black (0) is known. (The paper's M is the opposite, 1 = known; it appears only inside the losses, with a comment.)

Every random mask takes `rng`: a numpy Generator, an int seed, or None (fresh entropy); no
function here touches global random state.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from scipy import ndimage

from .errors import InpaintError
from .images import read_image, save_image

MASK_KINDS = ("center", "pattern", "random_pixels", "half")
MASK_ALIASES = {"random": "random_pixels"}
HALF_SIDES = ("left", "right", "top", "bottom")

# The Context Encoder's random pattern (Pathak et al. 2016, train_random.lua): uniform noise at
# 0.06 of the full resolution, upscaled bicubically, pixels below 0.25 missing; crops of 128
# pixels are kept when 20–30% of them are missing. 0.06 × 128 = 7.68 noise cells across a crop;
# we keep that ratio for every image size, so the blobs scale with the image.
PATTERN_DENSITY = 0.25
PATTERN_CELLS_PER_CROP = 7.68
PATTERN_FIELD_SCALE = 2  # the noise field is this many times the crop in each direction
PATTERN_MAX_FIELDS = 20  # fresh noise fields tried before the quantile fallback


def center_mask(height: int, width: int) -> np.ndarray:
    """The central block: bool (height, width), True = missing (white in files).

    The block is height//2 × width//2 (a quarter of the area; 32×32 centred in 64×64). For an odd
    side the block side is whichever of ⌊side/2⌋, ⌈side/2⌉ is odd, so the margins are equal.
    """
    _check_size(height, width)
    mask = np.zeros((height, width), dtype=bool)
    mask[_central_span(height), _central_span(width)] = True
    return mask


def pattern_mask(
    height: int, width: int, *, rng: np.random.Generator | int | None = None,
    missing_range: tuple[float, float] = (0.2, 0.3),
) -> np.ndarray:
    """The Context Encoder's random pattern: bool (height, width), True = missing (white in files).

    A coarse uniform noise field (PATTERN_CELLS_PER_CROP cells across the image) is upsampled
    with a cubic spline to PATTERN_FIELD_SCALE times the image size and thresholded at
    PATTERN_DENSITY; a crop of the image size is drawn uniformly among the crops whose missing
    fraction lies in missing_range (inclusive), which is what rejection sampling of random crops
    gives. The holes are smooth blobs, not pixel noise. If PATTERN_MAX_FIELDS fields hold no such
    crop (only for ranges far from 25%), the last field's crop is thresholded at the quantile
    that leaves the middle of the range missing. The same rng state always gives the same mask.
    """
    _check_size(height, width)
    rng = np.random.default_rng(rng)
    low, high = _check_range(missing_range, height * width)
    field_height, field_width = PATTERN_FIELD_SCALE * height, PATTERN_FIELD_SCALE * width
    cell = max(height, width) / PATTERN_CELLS_PER_CROP  # noise cell side in pixels
    cells = (math.ceil(field_height / cell) + 1, math.ceil(field_width / cell) + 1)
    for _ in range(PATTERN_MAX_FIELDS):
        coarse = rng.random(cells)
        field = ndimage.zoom(coarse, (field_height / cells[0], field_width / cells[1]), order=3, mode="nearest")
        missing = field < PATTERN_DENSITY
        counts = _window_sums(missing, height, width)  # counts[i, j]: missing pixels of the crop at (i, j)
        rows, columns = np.nonzero((counts >= low) & (counts <= high))
        if rows.size:
            pick = rng.integers(rows.size)
            top, left = rows[pick], columns[pick]
            return missing[top:top + height, left:left + width].copy()
    # Fallback: the top-left crop of the last field, its `target` lowest values missing.
    crop = field[:height, :width]
    target = min(max(round((low + high) / 2), low), high)
    mask = np.zeros(height * width, dtype=bool)
    mask[np.argsort(crop, axis=None, kind="stable")[:target]] = True
    return mask.reshape(height, width)


def random_pixels_mask(
    height: int, width: int, *, rng: np.random.Generator | int | None = None, missing_fraction: float = 0.8,
) -> np.ndarray:
    """I.i.d. missing pixels: bool (height, width), True = missing (white in files).

    Exactly round(missing_fraction · height · width) pixels are missing, drawn without replacement,
    so the fraction is exact (the paper's "80% missing complete random masks").
    """
    _check_size(height, width)
    if not isinstance(missing_fraction, Real) or not 0.0 <= missing_fraction <= 1.0:
        raise InpaintError(f"missing_fraction must lie in [0, 1], got {missing_fraction!r}")
    rng = np.random.default_rng(rng)
    count = round(missing_fraction * height * width)
    mask = np.zeros(height * width, dtype=bool)
    mask[rng.choice(height * width, size=count, replace=False)] = True
    return mask.reshape(height, width)


def half_mask(
    height: int, width: int, *, rng: np.random.Generator | int | None = None, side: str | None = None,
) -> np.ndarray:
    """One half missing: bool (height, width), True = missing (white in files).

    side: "left", "right", "top" or "bottom"; None draws one of the four from rng (the paper's
    "randomly horizontal or vertical"). For an odd side length the missing half is the smaller,
    ⌊side/2⌋ rows or columns.
    """
    _check_size(height, width)
    if side is None:
        side = HALF_SIDES[np.random.default_rng(rng).integers(len(HALF_SIDES))]
    elif side not in HALF_SIDES:
        raise InpaintError(f"side must be one of {', '.join(HALF_SIDES)}, got {side!r}")
    mask = np.zeros((height, width), dtype=bool)
    rows, columns = height // 2, width // 2
    region = {
        "left": (slice(None), slice(0, columns)),
        "right": (slice(None), slice(width - columns, width)),
        "top": (slice(0, rows), slice(None)),
        "bottom": (slice(height - rows, height), slice(None)),
    }[side]
    mask[region] = True
    return mask


_MAKERS = {"center": center_mask, "pattern": pattern_mask, "random_pixels": random_pixels_mask, "half": half_mask}


def make_mask(
    kind: str, height: int, width: int, *, rng: np.random.Generator | int | None = None, **options,
) -> np.ndarray:
    """A mask of one of MASK_KINDS ("random" is an alias of "random_pixels"): bool (H, W), True = missing.

    `options` go to the kind's function (missing_range for pattern, missing_fraction for
    random_pixels, side for half); "center" is not random and ignores rng.
    """
    name = MASK_ALIASES.get(kind, kind)
    if name not in _MAKERS:
        raise InpaintError(f"unknown mask kind {kind!r}; valid kinds: {', '.join(MASK_KINDS)} (or 'random')")
    if name == "center":
        return center_mask(height, width, **options)
    return _MAKERS[name](height, width, rng=rng, **options)


def make_masks(kind: str, count: int, height: int, width: int, *, seed: int = 0, **options) -> np.ndarray:
    """A reproducible mask set: bool (count, H, W), True = missing (white in files).

    Mask i is drawn from np.random.default_rng([seed, i]), so it does not depend on `count`:
    the first 10 masks of a set of 100 are the set of 10. `options` as for make_mask.
    """
    if not isinstance(count, Integral) or isinstance(count, bool) or count < 0:
        raise InpaintError(f"count must be a non-negative integer, got {count!r}")
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise InpaintError(f"seed must be a non-negative integer, got {seed!r}")
    _check_size(height, width)
    masks = np.zeros((count, height, width), dtype=bool)
    for index in range(count):
        masks[index] = make_mask(kind, height, width, rng=np.random.default_rng([seed, index]), **options)
    return masks


def training_masks(count: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """`count` masks for training a network that fills holes, bool (count, H, W), True = missing,
    each of a kind drawn uniformly from MASK_KINDS with `rng`."""
    kinds = rng.integers(len(MASK_KINDS), size=count)
    return np.stack([make_mask(MASK_KINDS[kind], height, width, rng=rng) for kind in kinds])


def training_rng(seed: int, epoch: int, step_in_epoch: int, stream: int) -> np.random.Generator:
    """The random numbers (flips, masks) of one training step: np.random.default_rng([seed, epoch,
    step, stream]), a function of where the run is, so a checkpoint needs no random-number state.
    make_masks draws evaluation mask i from default_rng([seed, i]) = default_rng([seed, i, 0, 0]),
    so a stream ≠ 0 never repeats an evaluation mask."""
    if stream == 0:
        raise InpaintError("a training stream must not be 0, the evaluation masks' stream")
    return np.random.default_rng([seed, epoch, step_in_epoch, stream])


def read_mask(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read a mask file: bool (H, W), True = missing = white (gray value > 127 after conversion).

    Any image mode is read and converted to 8-bit gray. shape: the image's (H, W), or its full
    (H, W, C); when given and the sizes differ, InpaintError names both sizes (width×height).
    A missing file or one that is not an image raises InpaintError.
    """
    mask = read_image(path, mode="L") > 127
    if shape is not None:
        height, width = tuple(shape)[:2]
        if mask.shape != (height, width):
            raise InpaintError(
                f"mask size {mask.shape[1]}×{mask.shape[0]} does not match image size {width}×{height} "
                f"(width×height): {path}"
            )
    return mask


def fit_mask(mask: np.ndarray, shape: tuple[int, ...], *, source: str | Path = "mask") -> tuple[np.ndarray, bool]:
    """A bool mask (h, w) brought to an image's shape (H, W[, C]): (mask, whether it was resized).

    A mask of the image's size is returned as it is; one of another size with the same aspect ratio
    (to within a pixel) is resized with nearest-neighbour sampling, so it stays bool and its edges
    stay hard; any other size raises InpaintError naming both sizes (width×height) and `source`.
    """
    height, width = tuple(shape)[:2]
    mask_height, mask_width = mask.shape
    if (mask_height, mask_width) == (height, width):
        return mask, False
    if abs(mask_width * height - mask_height * width) > max(mask_height, height):
        raise InpaintError(f"mask size {mask_width}×{mask_height} does not match image size {width}×{height} "
                           f"(width×height) nor its aspect ratio: {source}")
    rows = np.minimum((np.arange(height) + 0.5) * mask_height / height, mask_height - 1).astype(int)
    columns = np.minimum((np.arange(width) + 0.5) * mask_width / width, mask_width - 1).astype(int)
    return mask[np.ix_(rows, columns)], True


def save_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write a mask (bool or 0/1, (H, W), True = missing) as an 8-bit gray PNG: white = missing, black = known."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InpaintError(f"masks are saved as PNG (lossless); got {path.name!r}")
    save_image(path, mask_to_uint8(_as_bool(mask)))


def mask_to_uint8(mask: np.ndarray) -> np.ndarray:
    """bool (H, W), True = missing → uint8 (H, W), 255 (white) = missing, 0 (black) = known: a mask
    as its image file holds it."""
    return np.where(mask, np.uint8(255), np.uint8(0))


def check_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Validate a user's mask for an image of height × width: returns a new bool (H, W), True = missing.

    Accepts bool or numeric arrays holding only 0 and 1 (1 = missing). Raises InpaintError for
    other values (a 0/255 image array: use read_mask), NaN, a wrong shape, a mask with no missing
    pixel (nothing to fill) or with no known pixel (nothing to condition on).
    """
    mask = _as_bool(mask)
    if mask.shape != (height, width):
        raise InpaintError(f"mask shape {mask.shape} does not match image ({height}, {width})")
    if not mask.any():
        raise InpaintError("mask has no missing pixel (True/white = missing)")
    if mask.all():
        raise InpaintError("mask has no known pixel (True/white = missing): there is nothing to inpaint from")
    return mask


def _as_bool(mask: np.ndarray) -> np.ndarray:
    """bool or 0/1 numeric array (2-D) → a new bool array; anything else raises InpaintError."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InpaintError(f"mask must be a 2-D (H, W) array, got shape {mask.shape}")
    if mask.dtype == bool:
        return mask.copy()
    if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
        raise InpaintError(f"mask must be boolean or 0/1 numbers, got dtype {mask.dtype}")
    if np.isnan(mask).any():
        raise InpaintError("mask contains NaN; it must be boolean or 0/1 (True/1 = missing)")
    if not np.isin(mask, (0, 1)).all():
        bad = mask[~np.isin(mask, (0, 1))][0].item()
        raise InpaintError(
            f"mask values must be boolean or 0/1 (1 = missing), found {bad!r}; read 0/255 image files with read_mask"
        )
    return mask == 1


def _check_size(height: int, width: int) -> None:
    for name, value in (("height", height), ("width", width)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise InpaintError(f"mask {name} must be a positive integer, got {value!r}")


def _central_span(length: int) -> slice:
    """The central ⌊length/2⌋ (odd lengths: the odd one of ⌊·⌋, ⌈·⌉, for equal margins)."""
    span = length // 2
    if length % 2 and span % 2 == 0:
        span += 1
    start = (length - span) // 2
    return slice(start, start + span)


def _check_range(missing_range: tuple[float, float], pixels: int) -> tuple[int, int]:
    """missing_range (fractions) → inclusive bounds on the missing-pixel count; InpaintError if empty."""
    try:
        low, high = (float(value) for value in missing_range)
    except (TypeError, ValueError):
        raise InpaintError(f"missing_range must be two fractions (low, high), got {missing_range!r}") from None
    if not 0.0 <= low <= high <= 1.0:
        raise InpaintError(f"missing_range must satisfy 0 ≤ low ≤ high ≤ 1, got {missing_range!r}")
    count_low, count_high = math.ceil(low * pixels - 1e-9), math.floor(high * pixels + 1e-9)
    if count_low > count_high:
        raise InpaintError(f"missing_range {missing_range!r} holds no whole number of the {pixels} pixels")
    return count_low, count_high


def _window_sums(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """Sums of every height × width window of a 2-D array, via an integral image: (H'−h+1, W'−w+1)."""
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(values, axis=0), axis=1, out=table[1:, 1:])
    return table[height:, width:] - table[:-height, width:] - table[height:, :-width] + table[:-height, :-width]
