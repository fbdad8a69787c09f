"""Helpers shared by the dataset loaders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import scipy.io
import scipy.io.matlab
from PIL import Image
from tqdm import tqdm

from ..errors import InpaintError
from ..geometry import to_model_channels
from ..images import center_crop_resize


def read_files(
    paths: Sequence[Path], *, image_size: int, channels: int, crop_fraction: float = 1.0,
    boxes: Sequence[tuple[int, int, int, int]] | None = None, description: str = "reading images",
) -> np.ndarray:
    """Decode, crop, resize: uint8 (N, image_size, image_size, channels), values 0–255.

    Without `boxes`, each image is centre-cropped to a square (crop_fraction of its shorter side).
    With `boxes` (one per path, (left, top, right, bottom) in 0-based pixels, right and bottom
    exclusive), each image is cropped to its box, clipped to the image, and resized to
    image_size×image_size without keeping its aspect ratio. Resizing is bicubic.
    """
    if boxes is not None and len(boxes) != len(paths):
        raise ValueError(f"{len(boxes)} boxes for {len(paths)} images")
    mode = "RGB" if channels == 3 else "L"
    out = np.empty((len(paths), image_size, image_size, channels), dtype=np.uint8)
    for index, path in enumerate(tqdm(paths, desc=description, unit="img", disable=len(paths) < 500)):
        try:
            with Image.open(path) as image:
                image = image.convert(mode)
                if boxes is None:
                    image = center_crop_resize(image, image_size, crop_fraction=crop_fraction)
                else:
                    image = _box_resize(image, boxes[index], image_size, path)
                out[index] = np.asarray(image).reshape(image_size, image_size, channels)
        except InpaintError:
            raise
        except (OSError, ValueError, SyntaxError) as error:
            raise InpaintError(f"{path} is not a readable image ({type(error).__name__})") from None
    return out


def _box_resize(image: Image.Image, box: tuple[int, int, int, int], size: int, path: Path) -> Image.Image:
    """Crop `box` (clipped to the image) and resize it to size×size (bicubic, aspect not kept)."""
    left, top = max(0, box[0]), max(0, box[1])
    right, bottom = min(image.width, box[2]), min(image.height, box[3])
    if right <= left or bottom <= top:
        raise InpaintError(f"box {tuple(box)} lies outside the {image.width}×{image.height} image {path}")
    image = image.crop((left, top, right, bottom))
    return image if image.size == (size, size) else image.resize((size, size), Image.Resampling.BICUBIC)


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 (N, H, W, 1|3) → uint8 (N, H, W, channels): geometry.to_model_channels (gray repeated to
    RGB, RGB to luma, ITU-R 601), the luma rounded."""
    mapped = to_model_channels(images, channels)
    return mapped if mapped.dtype == np.uint8 else np.clip(np.rint(mapped), 0, 255).astype(np.uint8)


def resize_array(images: np.ndarray, image_size: int) -> np.ndarray:
    """uint8 (N, H, W, C) → (N, image_size, image_size, C): centre square crop and bicubic resize."""
    if images.shape[1:3] == (image_size, image_size):
        return images
    out = np.empty((len(images), image_size, image_size, images.shape[-1]), dtype=np.uint8)
    for index, image in enumerate(images):
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        out[index] = np.asarray(center_crop_resize(pil, image_size)).reshape(out.shape[1:])
    return out


def require(path: Path, what: str) -> Path:
    """Return `path` if it exists, else raise InpaintError naming the expected file."""
    if not path.exists():
        raise InpaintError(f"expected {what} at {path}, not found")
    return path


def fit(images: np.ndarray, image_size: int, channels: int) -> np.ndarray:
    """uint8 (N, H, W, 1|3) → (N, image_size, image_size, channels): to_channels and resize_array.

    Converts channels before resizing when that shrinks the data, after it otherwise. The result
    is C-contiguous (a copy only where the input is not).
    """
    if channels < images.shape[-1]:
        return np.ascontiguousarray(resize_array(to_channels(images, channels), image_size))
    return np.ascontiguousarray(to_channels(resize_array(images, image_size), channels))


def split_parts(dataset: str, split: str, official: Sequence[str]) -> tuple[str, ...]:
    """The official splits that make up `split`: (split,) itself, or every one of them for "all".

    A split the dataset does not have raises InpaintError naming the ones it does have.
    """
    if split == "all":
        return tuple(official)
    if split not in official:
        raise InpaintError(f"{dataset} has no {split!r} split; it has: {', '.join((*official, 'all'))}")
    return (split,)


def take(chunks: Iterable[np.ndarray], limit: int | None) -> np.ndarray:
    """Concatenate arrays along axis 0, keeping the first `limit` rows (all for None).

    `chunks` is consumed lazily: once `limit` rows are gathered, later chunks are never produced.
    """
    kept: list[np.ndarray] = []
    count = 0
    for chunk in chunks:
        kept.append(chunk if limit is None else chunk[: limit - count])
        count += len(kept[-1])
        if limit is not None and count >= limit:
            break
    if not kept:
        raise ValueError("take() needs at least one chunk")
    return kept[0] if len(kept) == 1 else np.concatenate(kept)


def load_mat(path: Path, what: str, variables: Sequence[str]) -> dict[str, np.ndarray]:
    """The named variables of a MATLAB (v4–v7.2) file, as scipy.io.loadmat returns them.

    A missing file, one scipy cannot read, or one without a listed variable raises InpaintError.
    """
    require(path, what)
    try:
        contents = scipy.io.loadmat(path, variable_names=list(variables))
    except (OSError, ValueError, TypeError, NotImplementedError, scipy.io.matlab.MatReadError) as error:
        raise InpaintError(f"{path} is not a readable MATLAB file ({type(error).__name__}); expected {what}") from None
    missing = [name for name in variables if name not in contents]
    if missing:
        raise InpaintError(f"{path} has no variable {missing[0]!r}; expected {what} with {', '.join(variables)}")
    return {name: contents[name] for name in variables}
