"""The one place where baseline inputs are checked and the output contract is enforced.

Every baseline is written as a core function `core(image, mask, *, options...)` that receives
  image: float64 (H, W, C), C ≥ 1 (a gray input arrives as C = 1), values in [0, 1];
  mask:  bool (H, W), True = missing, with at least one missing and one known pixel;
and returns any float array of shape (H, W, C). The `baseline` decorator turns it into the public
`fill(image, mask, **options)`: it validates the input and the option names once, and on the way
out clips to [0, 1], casts to the input's dtype, restores the input's shape and copies the known
pixels back bit for bit.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import numpy as np

from ..errors import InpaintError

Core = Callable[..., np.ndarray]


def check_image_mask(image: object, mask: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate `image` and `mask`; return (image as an array, mask as a bool array).

    image: float (H, W) or (H, W, C) with finite values in [0, 1]; mask: bool (H, W), True =
    missing, with at least one missing and one known pixel. Anything else raises InpaintError.
    """
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0 or (
            image.ndim == 3 and image.shape[2] == 0):
        raise InpaintError(f"image must be (H, W) or (H, W, C) and non-empty, got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.floating):
        raise InpaintError(f"image must be float in [0, 1], got dtype {image.dtype} "
                           "(convert with seminpaint.images.to_float)")
    if not np.all(np.isfinite(image)):
        raise InpaintError("image contains NaN or infinite values")
    low, high = float(image.min()), float(image.max())
    if low < 0.0 or high > 1.0:
        raise InpaintError(f"image values must lie in [0, 1], got [{low:.3g}, {high:.3g}]")
    if mask.dtype != np.bool_:
        raise InpaintError(f"mask must be a bool array (True = missing), got dtype {mask.dtype}")
    if mask.shape != image.shape[:2]:
        raise InpaintError(f"mask shape {mask.shape} does not match the image's (H, W) {image.shape[:2]}")
    if not mask.any():
        raise InpaintError("mask has no missing pixel (True = missing): nothing to fill")
    if mask.all():
        raise InpaintError("mask has no known pixel (True = missing): nothing to fill from")
    return image, mask


def as_channels(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) → float64 (H, W, C), a new array."""
    image = np.asarray(image, dtype=np.float64)
    return (image[:, :, None] if image.ndim == 2 else image).copy()


def finish(result: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Clip `result` (H, W, C) to [0, 1], give it the input's dtype and shape, copy known pixels back."""
    result = np.asarray(result, dtype=np.float64)
    height, width = mask.shape
    channels = 1 if image.ndim == 2 else image.shape[2]
    if result.shape != (height, width, channels):  # a bug in a baseline, not a user error
        raise RuntimeError(f"baseline returned shape {result.shape}, expected {(height, width, channels)}")
    if not np.all(np.isfinite(result)):  # likewise a bug: never hide it behind the clip
        raise RuntimeError("baseline returned NaN or infinite values")
    output = np.clip(result, 0.0, 1.0).astype(image.dtype).reshape(image.shape)
    output[~mask] = image[~mask]
    return output


def option_names(core: Core) -> tuple[str, ...]:
    """The keyword options of a core function (every parameter after image and mask)."""
    return tuple(list(inspect.signature(core).parameters)[2:])


def baseline(name: str) -> Callable[[Core], Callable[..., np.ndarray]]:
    """Decorator: wrap a core function into the public, validated `fill(image, mask, **options)`."""

    def wrap(core: Core) -> Callable[..., np.ndarray]:
        accepted = option_names(core)

        @functools.wraps(core)
        def fill(image: np.ndarray, mask: np.ndarray, **options: object) -> np.ndarray:
            unknown = sorted(set(options) - set(accepted))
            if unknown:
                raise InpaintError(f"{name}: unknown option(s) {', '.join(unknown)}; "
                                   f"accepted: {', '.join(accepted) or 'none'}")
            image, mask = check_image_mask(image, mask)
            result = core(as_channels(image), mask.copy(), **options)
            return finish(result, image, mask)

        fill.method_name = name  # type: ignore[attr-defined]
        fill.options = accepted  # type: ignore[attr-defined]
        return fill

    return wrap


def positive_int(name: str, value: object) -> int:
    """`value` as an int ≥ 1, else InpaintError naming the option."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InpaintError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(name: str, value: object) -> int:
    """`value` as an int ≥ 0, else InpaintError naming the option."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InpaintError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def positive_float(name: str, value: object, *, allow_zero: bool = False) -> float:
    """`value` as a finite float > 0 (≥ 0 with allow_zero), else InpaintError naming the option."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InpaintError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise InpaintError(f"{name} must be a finite number {bound}, got {value!r}")
    return number
