"""inpaint(image, mask, *, model): the whole method — validate, search ẑ, blend — on numpy images.

Mask convention: True (or white in a file) = missing, to be filled; False = known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from skimage.transform import resize

from .blend import overlay, poisson_blend
from .checkpoint import load_model
from .errors import InpaintError
from .images import from_tensor, to_float, to_tensor
from .latent import PAPER, PRESETS, SearchSettings, search
from .masks import check_mask
from .model import GenerativeModel

BLEND_MODES = ("poisson", "overlay")
DEFAULT_MODEL = Path(__file__).parent / "weights" / "celeba64.safetensors"


@dataclass
class InpaintResult:
    """The result of inpaint, with the input's layout ((H, W), (H, W, C) or (N, H, W, C)).

    image: the blended result x̂ (Eq. 6), float32 in [0, 1]; known pixels equal the input's.
    generated: the raw G(ẑ), float32 in [0, 1], same layout.
    z: ẑ, (latent_dim,) or (N, latent_dim). loss_history: total loss per step, (iterations,) or
    (iterations, N). loss: the final total loss, a float or (N,).
    """

    image: np.ndarray
    generated: np.ndarray
    z: np.ndarray
    loss: np.ndarray | float
    loss_history: np.ndarray


def resolve_model(model: GenerativeModel | str | Path | None, device: torch.device | str | None) -> GenerativeModel:
    """A GenerativeModel from a model, a checkpoint path, or None (the model shipped with the package)."""
    if model is None:
        if not DEFAULT_MODEL.is_file():
            raise InpaintError("no model given and no default model is installed; pass a checkpoint")
        model = DEFAULT_MODEL
    if isinstance(model, (str, Path)):
        return load_model(model, device=device or "cpu")
    if not isinstance(model, GenerativeModel):
        raise InpaintError(f"model must be a GenerativeModel or a checkpoint path, got {type(model).__name__}")
    return model.to(device) if device is not None else model


def resolve_settings(settings: SearchSettings | str | None) -> SearchSettings:
    """A SearchSettings from an instance, a preset name ("paper", "fast", ...), or None (the paper's)."""
    if settings is None:
        return PAPER
    if isinstance(settings, SearchSettings):
        return settings
    if settings not in PRESETS:
        raise InpaintError(f"unknown preset {settings!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[settings]


def as_batch(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """Images to float (N, H, W, C) in [0, 1] and masks to bool (N, H, W), with layout flags.

    Accepts (H, W), (H, W, C) with C in 1, 3, 4 (alpha is ignored for the search) or (N, H, W, C),
    and a mask (H, W) (shared by a batch) or (N, H, W).
    """
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim == 2:
        image, single, gray = image[None, :, :, None], True, True
    elif image.ndim == 3:
        image, single, gray = image[None], True, False
    elif image.ndim == 4:
        single, gray = False, False
    else:
        raise InpaintError(f"image must be (H, W), (H, W, C) or (N, H, W, C), got shape {image.shape}")
    if image.shape[-1] not in (1, 3, 4):
        raise InpaintError(f"image must have 1, 3 or 4 channels, got {image.shape[-1]}")
    if min(image.shape[1:3]) == 0:
        raise InpaintError(f"image is empty: shape {image.shape}")
    images = to_float(image)
    count, height, width = images.shape[:3]
    if mask.ndim == 2:
        mask = np.broadcast_to(mask, (count, *mask.shape))
    if mask.ndim != 3 or mask.shape[0] != count:
        raise InpaintError(f"mask must be (H, W) or (N, H, W) for {count} image(s), got shape {mask.shape}")
    masks = np.stack([check_mask(m, height, width) for m in mask])
    return images, masks, single, gray


def to_model_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """(N, H, W, 1|3|4) float → (N, H, W, channels): gray repeated, colour to luma, alpha dropped."""
    images = images[..., :3] if images.shape[-1] == 4 else images
    if images.shape[-1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    return (images @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]


def from_model_channels(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Bring model-channel results (N, H, W, c) back to the input's channels (1, 3 or 4)."""
    channels = like.shape[-1]
    colour = to_model_channels(result, 3 if channels in (3, 4) else 1)
    if channels == 4:  # alpha is the input's, untouched
        colour = np.concatenate([colour, like[..., 3:]], axis=-1)
    return colour


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
                f"at the model's {size[1]}×{size[0]} the hole {'vanishes' if not small.any() else 'covers everything'}; "
                "crop the image around the hole or use a mask of larger regions")
    return small_images, small_masks


def inpaint(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    model: GenerativeModel | str | Path | None = None,
    settings: SearchSettings | str | None = None,
    blend: str = "poisson",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> InpaintResult:
    """Fill the hole of `image` with the semantic inpainting of Yeh et al. (2017).

    image: (H, W), (H, W, C) or a batch (N, H, W, C); uint8 [0, 255] or float [0, 1]. At the
        model's size (64×64 for the shipped face model) the search sees the image as it is; other
        sizes are brought to the model's size for the search (see to_model_size) and G(ẑ) is
        upsampled and blended into the full-resolution image. Gray inputs are repeated to RGB for
        an RGB model and returned gray; an alpha channel is kept as it is.
    mask: bool (H, W) or (N, H, W); True = missing (to be filled), False = known.
    model: a GenerativeModel (any G/D pair), a checkpoint path, or None for the shipped model.
    settings: a SearchSettings, a preset name ("paper" is the default: 1500 iterations, one start).
    blend: "poisson" (Eq. 6, the paper) or "overlay" (G(ẑ) pasted into the hole).
    generator: torch.Generator for the random starts of z; the same state gives the same result.
    device: where to run (default: where the model is).
    Returns an InpaintResult whose `image` has the input's shape, known pixels unchanged.
    """
    if blend not in BLEND_MODES:
        raise InpaintError(f"blend must be one of {', '.join(BLEND_MODES)}, got {blend!r}")
    model = resolve_model(model, device)
    settings = resolve_settings(settings)
    images, masks, single, gray = as_batch(image, mask)
    channels, height, width = model.image_shape
    model_images = to_model_channels(images, channels)
    small_images, small_masks = to_model_size(model_images, masks, (height, width))
    found = search(model, to_tensor(small_images), torch.from_numpy(small_masks), settings,
                   generator=generator, progress=progress)
    generated = from_tensor(found.generated)  # (N, h, w, channels) in [0, 1] at the model's size
    if generated.shape[1:3] != images.shape[1:3]:
        generated = np.clip(resize(generated, (*images.shape[:3], channels), order=3), 0, 1).astype(np.float32)
    combine = poisson_blend if blend == "poisson" else overlay
    blended = np.stack([np.clip(combine(y, g, m), 0.0, 1.0) for y, g, m in zip(model_images, generated, masks)])
    blended = from_model_channels(blended.astype(np.float32), images)
    blended = np.where(masks[..., None], blended, images)  # known pixels exactly the input's
    generated = from_model_channels(generated, images)
    if gray:
        blended, generated = blended[..., 0], generated[..., 0]
    history = found.history.numpy()
    z, loss = found.z.cpu().numpy(), found.loss.cpu().numpy()
    if single:
        return InpaintResult(image=blended[0], generated=generated[0], z=z[0], loss=float(loss[0]),
                             loss_history=history[:, 0])
    return InpaintResult(image=blended, generated=generated, z=z, loss=loss, loss_history=history)
