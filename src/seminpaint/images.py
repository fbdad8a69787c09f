"""Image files and arrays: reading with clear errors, conversions, saving, grids.

Arrays in the public API are numpy, (H, W) for gray or (H, W, C) for colour, either uint8 in
[0, 255] or float in [0, 1]. Tensors for the networks are (B, C, H, W) float in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InpaintError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}

# Decompression bombs: refuse images above this many pixels (PIL warns at ~89 M; we raise).
MAX_PIXELS = 64_000_000


def auto_mode(image: Image.Image) -> str:
    """The mode a user expects back: gray stays "L", any transparency gives "RGBA", else "RGB"."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        return "RGBA"
    if image.mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F"):
        return "L"
    return "RGB"


def read_image(path: str | Path, *, mode: str | None = "RGB") -> np.ndarray:
    """Read an image file as uint8: (H, W, 3) for mode "RGB", (H, W) for "L", (H, W, 4) for "RGBA".

    mode="auto" keeps gray as gray and transparency as RGBA (auto_mode); None keeps the stored
    mode. EXIF orientation is applied. A missing file or one that is not an image raises InpaintError.
    """
    path = Path(path)
    if not path.is_file():
        raise InpaintError(f"image not found: {path}")
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InpaintError(f"{path} is too large ({image.width}×{image.height} pixels)")
            image = ImageOps.exif_transpose(image)
            if mode == "auto":
                image = image.convert(auto_mode(image))
            elif mode is not None:
                image = image.convert(mode)
            return np.asarray(image).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        if isinstance(error, InpaintError):
            raise
        raise InpaintError(f"{path} is not a readable image ({type(error).__name__})") from None


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] or float [0, 1] → float32 [0, 1], same shape; anything else raises InpaintError."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if np.issubdtype(image.dtype, np.floating):
        if not np.all(np.isfinite(image)):
            raise InpaintError("image contains NaN or infinite values")
        if image.size and (image.min() < 0.0 or image.max() > 1.0):
            raise InpaintError(
                f"float image values must lie in [0, 1], got [{image.min():.3g}, {image.max():.3g}]"
            )
        return image.astype(np.float32)
    raise InpaintError(f"image dtype must be uint8 or float in [0, 1], got {image.dtype}")


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float [0, 1] → uint8 [0, 255], rounded, same shape."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) or (H, W, C) float [0, 1] or uint8 → (N, C, H, W) float32 in [-1, 1]."""
    images = to_float(images)
    if images.ndim == 3:
        images = images[None]
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))) * 2.0 - 1.0


def from_tensor(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] → (N, H, W, C) float32 in [0, 1] (clipped)."""
    images = images.detach().float().cpu().clamp(-1.0, 1.0)
    return ((images.permute(0, 2, 3, 1).numpy() + 1.0) / 2.0).astype(np.float32)


def save_image(path: str | Path, image: np.ndarray) -> None:
    """Write (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), uint8 or float [0, 1], to `path`."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def make_grid(images: np.ndarray, *, columns: int = 8, padding: int = 2) -> np.ndarray:
    """Tile (N, H, W, C) float [0, 1] images into one (rows·(H+p)+p, columns·(W+p)+p, C) image."""
    images = np.asarray(images, dtype=np.float32)
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    grid = np.ones((rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
                   dtype=np.float32)
    for index, image in enumerate(images):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        grid[top:top + height, left:left + width] = image
    return grid


def center_crop_resize(image: Image.Image, size: int, *, crop_fraction: float = 1.0) -> Image.Image:
    """Crop the centred square of side crop_fraction·min(W, H), then resize it to size×size (bicubic)."""
    side = max(1, round(min(image.width, image.height) * crop_fraction))
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return image
