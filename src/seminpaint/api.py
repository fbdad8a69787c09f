"""inpaint(image, mask, *, model): the whole method on numpy images, in four steps: resolve the
model and settings, prepare each image's crop at the model's size (geometry.py), search ẑ
(latent.py, Eq. 2), blend G(ẑ) back (blend.py, Eq. 6).

Mask convention: True (or white in a file) = missing, to be filled; False = known.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .blend import blend_crop
from .candidates import mean_and_spread, search_candidates
from .errors import InpaintError
from .geometry import CONTEXT, Crop, crop_around, from_model_channels, to_model_channels, to_model_size
from .images import MAX_PIXELS, from_tensor, to_float, to_tensor
from .latent import SearchResult
from .masks import check_mask
from .networks.checkpoint import load_model
from .networks.model import GenerativeModel
from .plausibility import warn_if_implausible
from .runtime.precision import resolve_precision
from .settings import PRESETS, WITHOUT_ENCODER, SearchSettings, candidates_and_tuning, resolve_preset

DEFAULT_MODEL = Path(__file__).parent / "weights" / "celeba64.safetensors"


@dataclass
class InpaintResult:
    """The result of inpaint, with the input's layout ((H, W), (H, W, C) or (N, H, W, C)).

    image: the blended result x̂ (Eq. 6), float32 in [0, 1]; known pixels equal the input's.
    generated: the raw G(ẑ), float32 in [0, 1], same layout: G(ẑ) upsampled to the crop and placed
    there, the input's pixels outside the crop (at the model's size the crop is the whole image).
    z: ẑ, (latent_dim,) or (N, latent_dim). loss_history: total loss per step, (iterations,) or
    (iterations, N). loss: the final total loss, a float or (N,). crop: the region searched and
    blended (a Crop, or one per image of a batch). steps: Adam steps taken (fewer than the
    iterations where an image stopped early), an int or (N,).
    candidates: with K > 1 completions per image (SearchSettings.candidates), the K blended
    completions, (K, *image.shape); `image` and `generated` are then their per-pixel means and z,
    loss, loss_history and steps those of candidate 1. spread: with K > 1, the candidates' per-pixel
    standard deviation averaged over channels, (H, W) or (N, H, W) float32, 0 at known pixels.
    """

    image: np.ndarray
    generated: np.ndarray
    z: np.ndarray
    loss: np.ndarray | float
    loss_history: np.ndarray
    crop: Crop | list[Crop] | None = None
    steps: "np.ndarray | int | None" = None
    candidates: np.ndarray | None = None
    spread: np.ndarray | None = None


def resolve_model(model: GenerativeModel | str | Path | None, device: torch.device | str | None) -> GenerativeModel:
    """A GenerativeModel from a model, a checkpoint path, or None (the model shipped with the package).

    The shipped model comes as a face model (its `faces` is faces.SHIPPED: CelebA's framing and its
    plausibility threshold); other checkpoints take images as they come."""
    if model is None:
        if not DEFAULT_MODEL.is_file():
            raise InpaintError("no model given and no default model is installed; pass a checkpoint")
        model = DEFAULT_MODEL
    if isinstance(model, (str, Path)):
        loaded = load_model(model, device=device or "cpu")
        if Path(model).resolve() == DEFAULT_MODEL.resolve():
            from .faces import SHIPPED

            loaded.faces = SHIPPED
        return loaded
    if not isinstance(model, GenerativeModel):
        raise InpaintError(f"model must be a GenerativeModel or a checkpoint path, got {type(model).__name__}")
    return model.to(device) if device is not None else model


def resolve_settings(settings: SearchSettings | str | None, model: GenerativeModel, *,
                     blend: str | None = None, smoothness: float | None = None,
                     candidates: int | None = None) -> SearchSettings:
    """The settings inpaint runs: an instance, a preset name (settings.PRESETS), or None for the
    default (settings.DEFAULT; settings.WITHOUT_ENCODER for a model without a latent encoder), with
    `blend`, `smoothness` and `candidates` replacing the preset's when given. Raises InpaintError
    for unknown names and bad values."""
    resolved = resolve_preset(settings, has_encoder=model.encoder is not None)
    overrides = {name: value for name, value in (("blend", blend), ("smoothness", smoothness),
                                                  ("candidates", candidates)) if value is not None}
    return resolved.with_options(**overrides) if overrides else resolved


def describe(settings: SearchSettings, model: GenerativeModel) -> str:
    """One line saying what `settings` run on `model`: preset name, steps, rate, start, blend, precision."""
    named = [*((f"preset {name}", preset) for name, preset in PRESETS.items()),
             ("the default for a model without a latent encoder", WITHOUT_ENCODER)]
    name = next((name for name, preset in named if preset == settings), "custom settings")
    encoded = settings.start == "encoder" or (settings.start == "auto" and model.encoder is not None)
    start = "the latent encoder's z" if encoded else "a random z"
    stop = f", stopping once the loss stalls for {settings.patience}" if settings.patience else ""
    blend = settings.blend + (f" (μ = {settings.smoothness:g})" if settings.blend == "hybrid" else "")
    return (f"{name}: at most {settings.iterations} Adam steps (lr {settings.learning_rate:g}) from {start}"
            f"{stop}, {settings.restarts} start(s) per image{candidates_and_tuning(settings)}, "
            f"λ = {settings.prior_weight:g}, "
            f"{blend} blend, precision {resolve_precision(settings.precision, model.device)}")


def as_batch(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """Images to float (N, H, W, C) in [0, 1] and masks to bool (N, H, W), with layout flags.

    Accepts (H, W), (H, W, C) with C in 1, 3, 4 (alpha is ignored for the search) or (N, H, W, C),
    uint8, uint16 or float in [0, 1], of at most MAX_PIXELS pixels, and a mask (H, W) (shared by a
    batch) or (N, H, W).
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
    if image.shape[1] * image.shape[2] > MAX_PIXELS:
        raise InpaintError(f"image is too large: {image.shape[2]}×{image.shape[1]} pixels (at most {MAX_PIXELS:,})")
    images = to_float(image)
    count, height, width = images.shape[:3]
    if mask.ndim == 2:
        mask = np.broadcast_to(mask, (count, *mask.shape))
    if mask.ndim != 3 or mask.shape[0] != count:
        raise InpaintError(f"mask must be (H, W) or (N, H, W) for {count} image(s), got shape {mask.shape}")
    masks = np.stack([check_mask(m, height, width) for m in mask])
    return images, masks, single, gray


def face_boxes(face, count: int) -> list:
    """inpaint's `face` as one box (or None) per image: None, a box (x, y, width, height) for every
    image, or a sequence of `count` boxes (or None)."""
    if face is None:
        return [None] * count
    per_image = isinstance(face, (list, tuple)) and len(face) > 0 and all(
        box is None or isinstance(box, (list, tuple, np.ndarray)) or hasattr(box, "votes") for box in face)
    if not per_image:
        return [face] * count
    if len(face) != count:
        raise InpaintError(f"give one face box per image: {len(face)} boxes for {count} images")
    return list(face)


def choose_crop(image: np.ndarray, mask: np.ndarray, model: GenerativeModel, *, context: float = CONTEXT,
                face=None, face_check: bool = True) -> Crop:
    """The region the search sees for one image ((H, W, C) float [0, 1]) and its mask ((H, W) bool,
    True = missing).

    For a face model (model.faces set) the face's square, framed as the model's training faces were
    (faces.framed_crop): the face box given, else the detected face whose square holds the hole; a
    hole that touches no face raises InpaintError (faces.NO_FACE). An image no larger than the
    model is taken as framed already (no detection). face_check=False (and a model that is not a
    face model) takes the hole-centred crop instead (crop_around); a face box needs a face model.
    """
    size = model.image_shape[1:]
    if face is not None:
        if model.faces is None:
            raise InpaintError("a face box needs a face model (its `faces` says how its faces were framed); "
                               "this one takes images as they come")
        from .faces import framed_crop

        return framed_crop(mask, image, size, model.faces.framing, face=face)
    if model.faces is None or not face_check or (mask.shape[0] <= size[0] and mask.shape[1] <= size[1]):
        return crop_around(mask, size, context=context)
    from .faces import framed_crop

    return framed_crop(mask, image, size, model.faces.framing)


@dataclass
class Prepared:
    """inpaint's inputs as the search sees them (see prepare)."""

    images: np.ndarray        # (N, H, W, C) float [0, 1], the input's channels
    masks: np.ndarray         # (N, H, W) bool, True = missing
    model_images: np.ndarray  # (N, H, W, c) in the model's channels
    crops: list[Crop]         # the region searched, per image
    small_images: np.ndarray  # (N, h, w, c) at the model's size
    small_masks: np.ndarray   # (N, h, w) bool
    single: bool
    gray: bool


def prepare(image: np.ndarray, mask: np.ndarray, model: GenerativeModel, *, context: float = CONTEXT,
            face=None, face_check: bool = True) -> Prepared:
    """Validate an image and mask (as inpaint takes them) and bring them to what the search sees:
    per image its crop (choose_crop), in the model's channels, area-averaged to the model's size
    over its known pixels only (to_model_size). Raises InpaintError for bad inputs and, for a face
    model, for a hole that touches no face (see choose_crop).
    face: a face box (x, y, width, height) for every image, or a sequence of one box (or None) per
        image of a batch.
    """
    images, masks, single, gray = as_batch(image, mask)
    channels, height, width = model.image_shape
    model_images = to_model_channels(images, channels)
    boxes = face_boxes(face, len(images))
    crops = [choose_crop(y, m, model, context=context, face=box, face_check=face_check)
             for y, m, box in zip(images, masks, boxes)]
    small = [to_model_size(*(part[None] for part in c.view(y, m)), (height, width))
             for y, m, c in zip(model_images, masks, crops)]
    small_images = np.concatenate([s[0] for s in small]).astype(np.float32, copy=False)
    small_masks = np.concatenate([s[1] for s in small])
    return Prepared(images, masks, model_images, crops, small_images, small_masks, single, gray)


def model_view(image: np.ndarray, mask: np.ndarray, crop: Crop, model: GenerativeModel) -> np.ndarray:
    """What the search saw of one image ((H, W) or (H, W, C), as inpaint takes it) and its mask
    ((H, W) bool, True = missing) in `crop`: (h, w, c) float [0, 1] at the model's size and channels,
    the hole (and anything past the image's borders) white. For --save-crop."""
    images, masks, _, _ = as_batch(image, mask)
    channels, height, width = model.image_shape
    view, missing = crop.view(to_model_channels(images, channels)[0], masks[0])
    small, small_mask = to_model_size(view[None], missing[None], (height, width))
    return np.where(small_mask[0, ..., None], 1.0, small[0]).astype(np.float32)


def inpaint(
    image: np.ndarray | Sequence[np.ndarray],
    mask: np.ndarray | Sequence[np.ndarray],
    *,
    model: GenerativeModel | str | Path | None = None,
    settings: SearchSettings | str | None = None,
    blend: str | None = None,
    smoothness: float | None = None,
    candidates: int | None = None,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
    face=None,
    face_check: bool = True,
) -> InpaintResult | list[InpaintResult]:
    """Fill the hole of `image` with the semantic inpainting of Yeh et al. (2017).

    image: (H, W), (H, W, C) or a batch (N, H, W, C); uint8 [0, 255], uint16 [0, 65535] or float
        [0, 1]; any size. Or a list of single images of any sizes, searched together in one batch:
        the result is then a list, one InpaintResult per image. The search sees the region around
        the hole (crop_around: the hole's bounding box with as much context again on each side, at
        least the model's size, clipped to the image), area-averaged to the model's size (64×64 for
        the shipped face model) over its known pixels; G(ẑ) is upsampled to that region and blended
        into the full-resolution image there. At the model's size the region is the whole image and
        nothing is resampled. Gray inputs are repeated to RGB for an RGB model and returned gray;
        an alpha channel is kept as it is.
    mask: bool (H, W) or (N, H, W), or a list of (H, W) masks for a list of images; True = missing
        (to be filled), False = known.
    model: a GenerativeModel (any G/D pair), a checkpoint path, or None for the shipped model.
    settings: a SearchSettings or a preset name (settings.PRESETS: "paper" is the paper's setting
        exactly; "fast"; "enhanced"; "mirrored"; "quality"). None runs settings.DEFAULT ("mirrored":
        25 steps from the model's latent encoder on the image and 25 on its mirror image, each
        blended with the hybrid blend, their mean the result), or settings.WITHOUT_ENCODER when the
        model has no latent encoder.
    blend, smoothness: replace the settings' blend ("poisson": Eq. 6; "hybrid": Eq. 6 plus
        μ‖Δx‖², μ = smoothness in pixels² at the model's size; "overlay": G(ẑ) pasted).
    candidates: replaces the settings' number of completions per image, K (1 to
        settings.MAX_CANDIDATES): with K > 1 the result holds all K (`candidates`), their per-pixel
        mean as `image` and their spread (candidates.py).
    generator: torch.Generator for the random starts of z; the same state gives the same result.
        With a list of images every image draws from its own copy of the generator's state, so
        each gets the result it gets alone (up to floating-point rounding, which can differ with
        the batch's size); a list of generators, one per image, is taken as it is.
    face: for a face model (the shipped one), the box (x, y, width, height) in pixels of the face
        the hole is in, instead of detecting it; one box for every image, or one per image (or
        None) for a batch or list. The search then sees that face framed as the model's training
        faces were (faces.py).
    face_check: for a face model and an image larger than the model, the faces are detected and
        the search sees the face whose framed square holds the hole; a hole that touches no face
        raises InpaintError. False searches the hole-centred crop instead, face or not.
        After the search a face model warns (plausibility.ImplausibleCompletion) for a completion
        that is unlikely to be a face.
    device: where to run (default: where the model is).
    callback: passed to seminpaint.search: called as callback(step, z) after every Adam step with
        the current z, (restarts·N, latent_dim) — for live previews of G(z) (see prepare for the
        model-size inputs the search compares G(z) with).
    Returns an InpaintResult (a list of them for a list of images) whose `image` has the input's
    shape, known pixels bit-identical.
    """
    # 1. Resolve: the model and the settings to run.
    model = resolve_model(model, device)
    settings = resolve_settings(settings, model, blend=blend, smoothness=smoothness, candidates=candidates)
    # 2. Prepare: each image's crop at the model's size and channels (geometry.py).
    if isinstance(image, (list, tuple)):
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(image)
        if len(masks) != len(image):
            raise InpaintError(f"give one mask per image: {len(masks)} masks for {len(image)} images")
        if not image:
            return []
        boxes = face_boxes(face, len(image))
        prepared = [prepare(one, one_mask, model, face=box, face_check=face_check)
                    for one, one_mask, box in zip(image, masks, boxes)]
        if not all(p.single for p in prepared):
            raise InpaintError("a list of images takes single images, (H, W) or (H, W, C), not batches")
        if not isinstance(generator, (list, tuple)):
            generator = [copy_generator(generator) for _ in image] if generator is not None else None
    else:
        prepared = [prepare(image, mask, model, face=face, face_check=face_check)]
    small_images = np.concatenate([p.small_images for p in prepared])
    small_masks = np.concatenate([p.small_masks for p in prepared])
    # 3. Search: ẑ for every image (Eq. 2), K candidates each (candidates.py).
    found = search_candidates(model, to_tensor(small_images), torch.from_numpy(small_masks), settings,
                              generator=generator, progress=progress, callback=callback)
    total = len(small_images)
    warn_if_implausible(model, found.generated[:total], small_images, small_masks)
    # 4. Blend: G(ẑ) back into each image's crop at full size (Eq. 6 or the settings' blend).
    results, first = [], 0
    for p in prepared:
        each = [blend_back(p, found, slice(k * total + first, k * total + first + len(p.images)), settings)
                for k in range(settings.candidates)]  # candidate k of these images: rows k·total + …
        results.append(each[0] if len(each) == 1 else with_candidates(each, p))
        first += len(p.images)
    return results if isinstance(image, (list, tuple)) else results[0]


def with_candidates(each: list[InpaintResult], prepared: Prepared) -> InpaintResult:
    """Candidate 1's result with all K blended completions, their per-pixel means as `image` and
    `generated`, and their spread (candidates.mean_and_spread)."""
    first = each[0]
    stacked, raw = np.stack([r.image for r in each]), np.stack([r.generated for r in each])
    per_image = stacked[:, None] if prepared.single else stacked  # (K, N, …)
    pairs = [mean_and_spread(per_image[:, n], hole) for n, hole in enumerate(prepared.masks)]
    image, spread = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    if prepared.single:
        image, spread = image[0], spread[0]
    generated = raw.mean(axis=0)
    if not prepared.gray and image.shape[-1] == 4:  # alpha is the input's, as in every candidate
        image[..., 3] = first.image[..., 3]
    return InpaintResult(image=image, generated=generated.astype(np.float32), z=first.z, loss=first.loss,
                         loss_history=first.loss_history, crop=first.crop, steps=first.steps,
                         candidates=stacked, spread=spread)


def copy_generator(generator: torch.Generator) -> torch.Generator:
    """A new generator on the same device in the same state as `generator`."""
    copy = torch.Generator(device=generator.device)
    copy.set_state(generator.get_state())
    return copy


def blend_back(prepared: Prepared, found: SearchResult, rows: slice, settings: SearchSettings) -> InpaintResult:
    """Put the search's G(ẑ) of `rows` (the images of `prepared`) into their crops, blended as
    `settings` says, at the input's size, channels and layout."""
    images, masks, crops = prepared.images, prepared.masks, prepared.crops
    small_generated = from_tensor(found.generated[rows])  # (N, h, w, c) in [0, 1] at the model's size
    blended, generated = images.copy(), images.copy()
    for index, (crop, g) in enumerate(zip(crops, small_generated)):
        crop_rows, crop_columns = crop.slices
        g = crop.from_model(g)
        y, m = prepared.model_images[index, crop_rows, crop_columns], masks[index, crop_rows, crop_columns]
        scale = crop.framed[2] / small_generated.shape[1]
        filled = blend_crop(y, g, m, settings.blend, scale=scale, smoothness=settings.smoothness)
        filled = np.clip(filled, 0.0, 1.0).astype(np.float32)
        like = images[index:index + 1, crop_rows, crop_columns]
        blended[index, crop_rows, crop_columns] = from_model_channels(filled[None], like)[0]
        generated[index, crop_rows, crop_columns] = from_model_channels(g[None], like)[0]
    blended = np.where(masks[..., None], blended, images)  # known pixels exactly the input's
    if prepared.gray:
        blended, generated = blended[..., 0], generated[..., 0]
    history = found.history[:, rows].numpy()
    z, loss, steps = found.z[rows].cpu().numpy(), found.loss[rows].cpu().numpy(), found.steps[rows].numpy()
    if prepared.single:
        return InpaintResult(image=blended[0], generated=generated[0], z=z[0], loss=float(loss[0]),
                             loss_history=history[:, 0], crop=crops[0], steps=int(steps[0]))
    return InpaintResult(image=blended, generated=generated, z=z, loss=loss, loss_history=history, crop=crops,
                         steps=steps)
