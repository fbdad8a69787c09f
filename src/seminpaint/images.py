"""Image files and arrays: reading with clear errors, conversions, saving, grids.

Arrays in the public API are numpy, (H, W) for gray or (H, W, C) for colour, either uint8 in
[0, 255] or float in [0, 1]. Tensors for the networks are (B, C, H, W) float in [-1, 1].
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import png
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
    """Read an image file: (H, W, 3) for mode "RGB", (H, W) for "L", (H, W, 4) for "RGBA", as uint8.

    mode="auto" keeps gray as gray and transparency as RGBA (auto_mode), and keeps a 16-bit PNG
    or TIFF at 16 bits: uint16 (H, W), (H, W, 3) or (H, W, 4) (to_float maps it to [0, 1]; save it
    back with save_image(..., bits=16)). None keeps the stored mode. EXIF orientation is applied.
    A missing file, one that is not an image, a truncated one, or one of more than MAX_PIXELS
    pixels (a decompression bomb) raises InpaintError.
    """
    path = Path(path)
    if not path.is_file():
        raise InpaintError(f"image not found: {path}")
    try:
        with quiet_reading(), Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InpaintError(f"{path} is too large ({image.width}×{image.height} pixels; "
                                   f"at most {MAX_PIXELS:,} are read)")
            deep = _read_16_bit(path, image)
            if deep is not None:
                deep = exif_orient(deep, image.getexif().get(ORIENTATION_TAG, 1))
                return _deep_to_mode(deep, mode)
            image = ImageOps.exif_transpose(image)
            if mode == "auto":
                image = image.convert(auto_mode(image))
            elif mode is not None:
                image = image.convert(mode)
            return np.asarray(image).copy()
    except InpaintError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, IndexError, KeyError, struct.error,
            zlib.error, Image.DecompressionBombError, MemoryError) as error:
        raise InpaintError(f"{path} is not a readable image ({type(error).__name__})") from None


ORIENTATION_TAG = 0x0112


@contextlib.contextmanager
def quiet_reading():
    """No warnings from PIL and no log lines from tifffile while a file is read: on a damaged file
    they would only repeat, on extra lines, what the InpaintError then says."""
    logger = logging.getLogger("tifffile")
    disabled, logger.disabled = logger.disabled, True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = disabled


def exif_orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1–8) to an (H, W, ...) array, as PIL.ImageOps.exif_transpose does."""
    transforms = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    transform = transforms.get(orientation)
    return np.ascontiguousarray(transform(array)) if transform else array


def _read_16_bit(path: Path, image: Image.Image) -> np.ndarray | None:
    """A 16-bit PNG or TIFF as uint16 (H, W) or (H, W, C); None for anything else (read by PIL)."""
    if image.format == "PNG":
        return read_png16(path)
    if image.format == "TIFF" and set(np.atleast_1d(image.tag_v2.get(258, 8))) == {16}:
        import tifffile

        array = tifffile.imread(path)
        if array.dtype != np.uint16 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] > 4):
            return None
        return array
    return None


def _deep_to_mode(array: np.ndarray, mode: str | None) -> np.ndarray:
    """uint16 (H, W) or (H, W, C) → what read_image returns for `mode` (uint16 for "auto" and None)."""
    channels = 1 if array.ndim == 2 else array.shape[2]
    if array.ndim == 3 and channels == 1:
        array, channels = array[..., 0], 1
    if channels == 2:  # gray + alpha → RGBA
        array = np.concatenate([np.repeat(array[..., :1], 3, axis=2), array[..., 1:]], axis=2)
    if mode in ("auto", None):
        return array
    eight = ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    pil_mode = {1: "L", 3: "RGB", 4: "RGBA"}[1 if eight.ndim == 2 else eight.shape[2]]
    return np.asarray(Image.fromarray(eight, pil_mode).convert(mode)).copy()


PNG_SIGNATURE = png.signature


def read_png16(path: str | Path) -> np.ndarray | None:
    """A 16-bit PNG (gray, gray+alpha, RGB, RGBA) as uint16 (H, W, C), decoded by pypng, as PIL reads
    16-bit colour at 8 bits. None for any other PNG, or one with a tRNS colour (PIL reads those, at
    8 bits). The size is checked from the header before decoding; a corrupt or truncated file raises
    InpaintError."""
    try:
        with open(path, "rb") as file:
            reader = png.Reader(file=file)
            reader.validate_signature()
            reader.process_chunk()  # IHDR, which must come first
            if getattr(reader, "bitdepth", None) != 16:
                return None
            width, height, planes = reader.width, reader.height, reader.planes
            if width * height > MAX_PIXELS or width == 0 or height == 0:
                raise InpaintError(f"{path} is too large or empty ({width}×{height} pixels)")
            reader.preamble()
            if reader.trns is not None:
                return None
            rows = [np.frombuffer(row, dtype=np.uint16) for row in reader.read()[2]]
    except (png.Error, EOFError, zlib.error) as error:
        raise InpaintError(f"{path} is not a readable image ({type(error).__name__})") from None
    if len(rows) != height:
        raise InpaintError(f"{path} is truncated or corrupt ({len(rows)} of {height} rows)")
    return np.stack(rows).reshape(height, width, planes)


def write_png16(path: str | Path, image: np.ndarray) -> None:
    """Write uint16 (H, W) or (H, W, C), C in 1–4, as a 16-bit PNG."""
    Path(path).write_bytes(png16_bytes(image))


def png16_bytes(image: np.ndarray) -> bytes:
    """uint16 (H, W) or (H, W, C), C in 1–4 → the bytes of a 16-bit PNG file."""
    image = np.asarray(image, dtype=np.uint16)
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    writer = png.Writer(width, height, greyscale=channels < 3, alpha=channels in (2, 4), bitdepth=16,
                        compression=6)
    rows = image.astype(">u2").reshape(height, -1).view(np.uint8)
    buffer = io.BytesIO()
    writer.write_packed(buffer, (row.tobytes() for row in rows))
    return buffer.getvalue()


def png_bytes(image: np.ndarray, *, compress_level: int = 6) -> bytes:
    """(H, W), (H, W, 1) or (H, W, C) → the bytes of a PNG file: uint16 as a 16-bit PNG, uint8 and
    float [0, 1] as an 8-bit one, deflated at compress_level (0 none … 9 smallest; 16-bit: 6)."""
    image = np.asarray(image)
    if image.dtype == np.uint16:
        return png16_bytes(image)
    if image.dtype != np.uint8:
        image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def luma(rgb: np.ndarray) -> np.ndarray:
    """(…, 3) RGB → (…) luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R 601), on the input's scale."""
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """An image whose last axis holds 4 channels (RGBA: (H, W, 4) or (N, H, W, 4)) → (its colour
    channels (…, 3), its alpha (…, 1)); any other image → (the image, None)."""
    if image.ndim >= 3 and image.shape[-1] == 4:
        return image[..., :3], image[..., 3:]
    return image, None


def with_alpha(colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """split_alpha undone: colour (…, C) with alpha (…, 1) appended as the last channel; colour itself
    for alpha None."""
    return colour if alpha is None else np.concatenate([colour, alpha], axis=-1)


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255], uint16 [0, 65535] or float [0, 1] → float32 [0, 1], same shape; anything else
    raises InpaintError."""
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
    raise InpaintError(f"image dtype must be uint8 or float in [0, 1] (or uint16), got {image.dtype}")


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


def to_uint16(image: np.ndarray) -> np.ndarray:
    """float [0, 1] → uint16 [0, 65535], rounded, same shape; uint8 is scaled by 257."""
    image = np.asarray(image)
    if image.dtype == np.uint16:
        return image
    if image.dtype == np.uint8:
        return image.astype(np.uint16) * 257
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 65535.0), 0, 65535).astype(np.uint16)


SIXTEEN_BIT_SUFFIXES = {".png", ".tif", ".tiff"}


def output_bits(image: np.ndarray, path: str | Path) -> int:
    """16 when `image` (as read) is uint16 and `path` can hold 16 bits (PNG, TIFF), else 8."""
    return 16 if np.asarray(image).dtype == np.uint16 and Path(path).suffix.lower() in SIXTEEN_BIT_SUFFIXES else 8


def check_output_path(path: str | Path) -> Path:
    """`path` as a Path when its suffix names a format save_image writes; else InpaintError saying which do."""
    path = Path(path)
    Image.init()
    writable = sorted(suffix for suffix, name in Image.registered_extensions().items() if name in Image.SAVE)
    if path.suffix.lower() not in writable:
        common = ", ".join(s for s in (".png", ".jpg", ".tif", ".webp", ".bmp") if s in writable)
        raise InpaintError(f"cannot write {path.name!r}: unknown image format {path.suffix or '(no suffix)'}; "
                           f"use a suffix such as {common}")
    return path


def save_image(path: str | Path, image: np.ndarray, *, bits: int = 8) -> None:
    """Write (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), uint8, uint16 or float [0, 1], to `path`.

    bits: 8 (any format PIL writes) or 16 (PNG or TIFF only).
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    path = Path(path)
    if bits == 16:
        if path.suffix.lower() not in SIXTEEN_BIT_SUFFIXES:
            raise InpaintError(f"16-bit images are written as PNG or TIFF, not {path.suffix or 'no suffix'}")
        path.parent.mkdir(parents=True, exist_ok=True)
        image = to_uint16(image)
        if path.suffix.lower() == ".png":
            write_png16(path, image)
        else:
            import tifffile

            tifffile.imwrite(path, image, photometric="minisblack" if image.ndim == 2 else "rgb")
        return
    if bits != 8:
        raise InpaintError(f"bits must be 8 or 16, got {bits!r}")
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = to_uint8(image)
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
