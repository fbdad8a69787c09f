"""Pixels in and out of the page: uploads and masks decoded (checked before they are read), preset
masks drawn, images kept between requests (ImageStore) and encoded as PNG.

Everything here runs in the request's thread, so each function's time and memory is bounded by the
pixels it is given (the routes check those against WebConfig.max_pixels first). Mask convention:
white (True) = missing.
"""

from __future__ import annotations

import base64
import collections
import io
import math
import os
import secrets
import tempfile
import threading
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InpaintError
from ..images import png_bytes, read_image
from ..masks import MASK_ALIASES, MASK_KINDS, make_mask
from .parsing import short

RANDOM_PIXELS_MISSING = 0.8  # the paper's "80 % missing", masks.random_pixels_mask's default
PRESET_EXACT_PIXELS = 512 * 512
"""Preset masks up to this many pixels are exactly those of `seminpaint masks` (masks.make_mask); see
preset_mask for larger ones."""



def preset_mask(kind: str, height: int, width: int, seed: int) -> np.ndarray:
    """A mask of one of MASK_KINDS for the page: bool (height, width), True = missing, drawn in time
    and memory proportional to height × width (a few bytes a pixel).

    Up to PRESET_EXACT_PIXELS pixels it is masks.make_mask(kind, height, width, rng=default_rng(seed)),
    the mask `seminpaint masks` draws. Larger: center and half as make_mask (they are cheap); pattern
    drawn by make_mask at the largest size of the same aspect ratio within PRESET_EXACT_PIXELS, then
    enlarged (nearest neighbour): its blobs scale with the image anyway, so only their edges are
    coarser (make_mask itself needs about 100 bytes a pixel: 1.6 GB and 15 s at 4096 × 4096);
    random_pixels drawn as independent choices, each pixel missing with probability
    RANDOM_PIXELS_MISSING, a block of rows at a time, so its fraction is 0.8 within a fraction of a
    percent rather than exactly. An unknown kind raises InpaintError.
    """
    name = MASK_ALIASES.get(kind, kind)
    if name not in MASK_KINDS:
        raise InpaintError(f"unknown mask kind {short(kind)}; valid kinds: {', '.join(MASK_KINDS)}")
    rng = np.random.default_rng(seed)
    if height * width <= PRESET_EXACT_PIXELS or name in ("center", "half"):
        return make_mask(name, height, width, rng=rng)
    if name == "pattern":
        scale = math.sqrt(PRESET_EXACT_PIXELS / (height * width))
        small_height = max(1, min(height, int(height * scale)))
        small_width = max(1, min(width, PRESET_EXACT_PIXELS // small_height))
        small = make_mask("pattern", small_height, small_width, rng=rng)
        rows = np.arange(height) * small_height // height
        columns = np.arange(width) * small_width // width
        return small[rows[:, None], columns[None, :]]
    mask = np.empty((height, width), dtype=bool)
    step = max(1, 2**20 // width)
    for top in range(0, height, step):
        rows = min(step, height - top)
        mask[top:top + rows] = rng.random((rows, width), dtype=np.float32) < RANDOM_PIXELS_MISSING
    return mask


def as_8_bit(image: np.ndarray) -> np.ndarray:
    """uint16 → uint8, equal to to_uint8(to_float(image)) (round(v / 257)) in integers, a block of rows
    at a time: one byte a value more, not the 12 of the float route. Other dtypes are returned as they are."""
    if image.dtype != np.uint16:
        return image
    out = np.empty(image.shape, dtype=np.uint8)
    step = max(1, 2**20 // max(1, image[0].size))
    for top in range(0, image.shape[0], step):
        out[top:top + step] = (image[top:top + step].astype(np.uint32) + 128) // 257
    return out



class ImageStore:
    """Uploaded images by id, the oldest forgotten past `keep` images or `max_bytes` bytes of pixels
    (the newest is always kept); samples are kept for good."""

    def __init__(self, keep: int, max_bytes: int | None = None):
        self.keep, self.max_bytes = keep, max_bytes
        self.images: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
        self.pinned: dict[str, np.ndarray] = {}
        self.lock = threading.Lock()

    def add(self, image: np.ndarray, *, name: str | None = None) -> str:
        with self.lock:
            if name is not None:
                self.pinned[name] = image
                return name
            image_id = secrets.token_hex(8)
            self.images[image_id] = image
            while len(self.images) > self.keep or (
                    self.max_bytes is not None and len(self.images) > 1
                    and sum(kept.nbytes for kept in self.images.values()) > self.max_bytes):
                self.images.popitem(last=False)
            return image_id

    def get(self, image_id: str) -> np.ndarray | None:
        with self.lock:
            return self.pinned.get(image_id, self.images.get(image_id))


def sample_images() -> dict[str, np.ndarray]:
    """Pictures to try the page with, all shipped inside scikit-image (nothing is downloaded)."""
    from skimage import data

    astronaut = data.astronaut()
    lfw = data.lfw_subset()
    samples = {
        "astronaut (512×512)": astronaut,
        "astronaut face (160×160)": astronaut[30:190, 140:300],
    }
    for index in (0, 3):
        gray = Image.fromarray(np.rint(lfw[index] * 255).astype(np.uint8)).resize((64, 64), Image.Resampling.BICUBIC)
        samples[f"LFW face {index} (64×64, gray)"] = np.asarray(gray)
    return samples


def data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, compress_level=1)).decode("ascii")


def decode_upload(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Bytes of an uploaded file → the image as read_image(mode="auto") reads it, or InpaintError.

    First PIL's verify() on the header and structure (cheap, decodes no pixels), then the pixel
    limit, then the full read (EXIF orientation applied, 16-bit kept).
    """
    if not data:
        raise InpaintError("the upload is empty")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            size = probe.size
            probe.verify()
    except Image.DecompressionBombError:
        raise InpaintError(f"the image is far too large (more than {Image.MAX_IMAGE_PIXELS:,} pixels); "
                           f"this server takes at most {max_pixels:,}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, IndexError, KeyError, MemoryError, EOFError):
        raise InpaintError("the upload is not an image this server can read (PNG, JPEG, TIFF, BMP, GIF, WebP)") from None
    if size[0] * size[1] > max_pixels or min(size) < 1:
        raise InpaintError(f"the image is {size[0]}×{size[1]} pixels; this server takes at most {max_pixels:,}")
    handle, temporary = tempfile.mkstemp(prefix="seminpaint-upload-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        try:
            image = read_image(temporary, mode="auto")
        except InpaintError:
            raise InpaintError("the upload is not a readable image (it may be truncated or corrupt)") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    if image.ndim == 3 and image.shape[2] not in (3, 4):
        raise InpaintError(f"images with {image.shape[2]} channels are not supported")
    return image


def decode_mask(text: str, shape: tuple[int, int]) -> np.ndarray:
    """A PNG data URL (white = missing) → bool (H, W); it must have the image's size."""
    prefix = "data:image/png;base64,"
    if not isinstance(text, str) or not text.startswith(prefix):
        raise InpaintError("the mask must be a PNG data URL (white = missing)")
    try:
        data = base64.b64decode(text[len(prefix):], validate=True)
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            if image.size != (shape[1], shape[0]):
                raise InpaintError(f"the mask is {image.width}×{image.height} but the image is {shape[1]}×{shape[0]}")
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:  # transparent = known
                image = Image.alpha_composite(Image.new("RGBA", image.size, (0, 0, 0, 255)), image.convert("RGBA"))
            return np.asarray(image.convert("L")) > 127
    except InpaintError:
        raise
    except (ValueError, UnidentifiedImageError, OSError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise InpaintError("the mask is not a readable PNG image") from None

