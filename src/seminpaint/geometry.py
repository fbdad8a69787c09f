"""Where the search looks and at what size: crops around the hole, resizing to the model's size and
back, and the mapping between an image's channels and the model's.

An image of any size is searched in a region around its hole (a Crop: the hole's bounding box with
context around it, crop_around; for a face model the face's framed square, faces.framed_crop),
area-averaged to the model's size over its known pixels only (to_model_size), in the model's
channels (to_model_channels); G(ẑ) goes back the other way (Crop.from_model, from_model_channels).
Images are float in [0, 1], (N, H, W, C) unless said otherwise; masks are bool, True = missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.transform import resize

from .errors import InpaintError
from .images import luma, split_alpha, with_alpha

CONTEXT = 2.0
"""Side of the crop over the side of the hole's bounding box: at 2 the hole covers about the central
quarter of the crop, as the paper's centre mask covers the central quarter of a 64×64 face."""


@dataclass(frozen=True)
class Crop:
    """The region of an image that the search sees: rows top … top+height, columns left … left+width.

    It holds the whole hole (the mask's bounding box) with context around it; G(ẑ) is computed at
    the model's size for this region, upsampled to it, and blended in only here.

    frame: for a face framed like the model's training faces (faces.py), the square the model sees,
    (top, left, height, width) in image pixels; it may reach past the image, whose region inside is
    the crop (the pixels outside count as missing). None: the crop itself. face: the face box
    (x, y, width, height) it was framed around, None when there is none.
    """

    top: int
    left: int
    height: int
    width: int
    frame: tuple[int, int, int, int] | None = None
    face: tuple[int, int, int, int] | None = None

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns) slices of the region, for indexing (H, W, ...) arrays."""
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)

    @property
    def framed(self) -> tuple[int, int, int, int]:
        """(top, left, height, width) of what the model sees: the frame, or the crop itself."""
        return self.frame if self.frame is not None else (self.top, self.left, self.height, self.width)

    def view(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The framed region of `image` (H, W, C) and `mask` (H, W) (True = missing): pixels outside
        the image are 0 and missing."""
        top, left, height, width = self.framed
        rows, columns = self.slices
        if (top, left, height, width) == (self.top, self.left, self.height, self.width):
            return image[rows, columns], mask[rows, columns]
        inner = (slice(self.top - top, self.top - top + self.height),
                 slice(self.left - left, self.left - left + self.width))
        view = np.zeros((height, width, image.shape[-1]), dtype=image.dtype)
        missing = np.ones((height, width), dtype=bool)
        view[inner], missing[inner] = image[rows, columns], mask[rows, columns]
        return view, missing

    def from_model(self, generated: np.ndarray) -> np.ndarray:
        """G(ẑ) at the model's size, (h, w, c) float [0, 1] → the crop's pixels (height, width, c):
        upsampled (bicubic) to the frame, and the part inside the image cut out."""
        top, left, height, width = self.framed
        if generated.shape[:2] != (height, width):
            generated = np.clip(resize(generated, (height, width, generated.shape[-1]), order=3), 0, 1)
        generated = generated.astype(np.float32, copy=False)
        return generated[self.top - top:self.top - top + self.height, self.left - left:self.left - left + self.width]


def hole_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The bounding box (top, left, bottom, right) of the missing pixels of `mask` (bool (H, W), True =
    missing), bottom and right exclusive; None when nothing is missing."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(columns[0]), int(rows[-1]) + 1, int(columns[-1]) + 1


def crop_around(mask: np.ndarray, size: tuple[int, int], *, context: float = CONTEXT) -> Crop:
    """The region around the hole of `mask` (bool (H, W), True = missing) that the search sees.

    The hole's bounding box grown by `context` (its side over the box's side; 2 puts the hole in
    about the central quarter of the region), in the model's aspect ratio (h, w) = size, at least
    the model's size (small holes are searched at full resolution, nothing resampled), centred on
    the hole, moved inside the image and clipped to it. It always holds the whole hole; an image
    of the model's size (or smaller) is its own crop.
    """
    height, width = mask.shape
    box = hole_box(mask)
    if box is None:
        return Crop(0, 0, height, width)
    top, left, bottom, right = box
    model_h, model_w = size
    crop_h = max(model_h, int(np.ceil(context * (bottom - top))),
                 int(np.ceil(context * (right - left) * model_h / model_w)))
    crop_w = max(model_w, int(np.ceil(crop_h * model_w / model_h)))
    crop_h, crop_w = min(crop_h, height), min(crop_w, width)

    def place(start: int, stop: int, length: int, total: int) -> int:
        first = (start + stop) // 2 - length // 2
        first = min(max(first, stop - length, 0), start, total - length)  # holds [start, stop), inside
        return max(first, 0)

    return Crop(place(top, bottom, crop_h, height), place(left, right, crop_w, width), crop_h, crop_w)


def to_model_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """(N, H, W, 1|3|4) → (N, H, W, channels): gray repeated, colour to luma (float32), alpha dropped."""
    images, _ = split_alpha(images)
    if images.shape[-1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    return luma(images)[..., None]


def from_model_channels(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Bring model-channel results (N, H, W, c) back to the input's channels (1, 3 or 4)."""
    channels = like.shape[-1]
    colour = to_model_channels(result, 3 if channels in (3, 4) else 1)
    return with_alpha(colour, split_alpha(like)[1])  # alpha is the input's, untouched


def area_resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, C) float → (N, h, w, C): each output pixel is the exact area average of its footprint."""
    from PIL import Image

    out = np.empty((images.shape[0], *size, images.shape[-1]), dtype=np.float32)
    for index, image in enumerate(images):
        for channel in range(images.shape[-1]):
            plane = Image.fromarray(np.ascontiguousarray(image[..., channel], dtype=np.float32))  # mode "F"
            out[index, ..., channel] = np.asarray(plane.resize(size[::-1], Image.Resampling.BOX))
    return out


def to_model_size(
    images: np.ndarray, masks: np.ndarray, size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Bring (N, H, W, C) images and (N, H, W) masks (True = missing) to the model's (h, w).

    Each model pixel averages the *known* pixels of its footprint (so hole colours never leak in)
    and is missing when less than half of its footprint is known. Raises InpaintError when the
    hole vanishes or covers everything at the model's size.
    """
    if images.shape[1:3] == size:
        return images, masks
    known = (~masks).astype(np.float32)[..., None]
    known_small = area_resize(known, size)
    values = area_resize(images * known, size)
    small_images = np.clip(values / np.maximum(known_small, 1e-6), 0, 1).astype(np.float32)
    small_masks = known_small[..., 0] < 0.5
    for small in small_masks:
        if not small.any() or small.all():
            raise InpaintError(
                f"at the model's {size[1]}×{size[0]} the hole {'vanishes' if not small.any() else 'covers everything'} "
                "(it is too thin or scattered for this image size); use a mask of larger, solid regions")
    return small_images, small_masks
