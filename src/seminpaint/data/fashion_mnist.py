"""Fashion-MNIST as gzipped IDX files, as Debian's `dataset-fashion-mnist` installs them.

`train-images-idx3-ubyte.gz` (60,000) and `t10k-images-idx3-ubyte.gz` (10,000) in one folder
(the un-gzipped names are read too). An IDX image file is a big-endian header (magic
0x00000803: unsigned bytes, 3 dimensions; then N, rows, columns as uint32) followed by
N·rows·columns uint8 pixels, row-major. Images are 28×28 gray, 0 = background.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import InpaintError
from .common import fit, require, split_parts, take

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")

SPLITS = ("train", "test")
IMAGE_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with `ndim` dimensions (gzipped if its name ends in .gz): uint8 array.

    A wrong magic number or a size that does not match the header raises InpaintError.
    """
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise InpaintError(f"{path} is not a readable gzip file ({type(error).__name__})") from None
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InpaintError(f"{path} is too short for an IDX header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != 0x0800 + ndim:
        raise InpaintError(f"{path}: IDX magic 0x{magic:08x}, expected 0x{0x0800 + ndim:08x} "
                           f"(unsigned bytes, {ndim} dimensions)")
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if len(data) - header != int(np.prod(shape)):
        raise InpaintError(f"{path}: header says {'×'.join(map(str, shape))} = {int(np.prod(shape))} bytes, "
                           f"file has {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def image_file(root: Path, split: str) -> Path:
    """Path of `split`'s image file: the .gz name if present, else the un-gzipped one."""
    name = IMAGE_FILES[split]
    if (root / name).exists() and not (root / f"{name}.gz").exists():
        return root / name
    return require(root / f"{name}.gz", f"Fashion-MNIST's {split} images ({name}.gz or {name})")


def load(
    root: Path, *, split: str = "train", image_size: int = 64, channels: int = 3, limit: int | None = None,
) -> np.ndarray:
    """Fashion-MNIST images of `split` ("train", "test", "all" = train then test): uint8 (N, size, size, channels)."""
    parts = split_parts("Fashion-MNIST", split, SPLITS)
    images = take((read_idx(image_file(root, part), 3) for part in parts), limit)
    return fit(images[..., None], image_size, channels)
