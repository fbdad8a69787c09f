"""Several completions per image, their mean and their spread (beyond the paper).

The paper returns one ẑ. A large hole has many plausible fillings, and one search finds one of
them; K searches from different starts find K. Their per-pixel mean approximates the
minimum-mean-squared-error estimate (what PSNR rewards, and what a regression network such as the
Context Encoder produces), and their per-pixel standard deviation says where the completion is
uncertain (cf. Patel & Oberai's GAN priors for uncertainty quantification; BRGM).

Candidate 1 of each image starts where SearchSettings.start says, exactly as with one candidate;
candidate k > 1 starts from that z plus N(0, σ²) noise, σ = candidate_noise, clipped to the
latent range (from random starts when the search starts at random). The K·B searches run as one
batch, rows k·B + b (candidate k of image b), and each is independent of the others.

With SearchSettings.mirror the even-numbered candidates (2, 4, …) search the image mirrored left
to right instead, and their G(ẑ) is mirrored back before it is blended: G and E see the mirrored
face as another image, so its completion errs differently, and the mean of the two views gains
more than the mean of two starts near one z (docs/results/beyond_paper.md). Candidate 2 then
starts from E of the mirrored image without noise, and the noise starts at candidate 3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .errors import InpaintError
from .latent import SearchResult, search, start_encoder
from .networks.model import GenerativeModel
from .settings import SearchSettings
from .tuning import tune_generator


def mirrored_candidates(settings: SearchSettings) -> list[bool]:
    """For each of the K candidates, whether it searches the mirrored image: with
    SearchSettings.mirror the even-numbered ones (2, 4, …), else none."""
    return [settings.mirror and k % 2 == 1 for k in range(settings.candidates)]


def candidate_views(rows: torch.Tensor, settings: SearchSettings) -> torch.Tensor:
    """Each candidate's view of its image: rows (K·B, …, W), row k·B + b for candidate k of image b,
    with the rows of the candidates that mirrored_candidates names flipped left to right (along the
    last axis). Mirroring twice is the identity, so the same call maps the views back."""
    chunks = rows.chunk(settings.candidates)
    return torch.cat([chunk.flip(-1) if mirror else chunk
                      for chunk, mirror in zip(chunks, mirrored_candidates(settings))])


def candidate_starts(model: GenerativeModel, views: torch.Tensor, masks: torch.Tensor, settings: SearchSettings,
                     generator: torch.Generator | Sequence[torch.Generator] | None) -> torch.Tensor | None:
    """Where the K candidates of each image start: (K·B, latent_dim), row k·B + b for candidate k of
    image b; None when the search starts at random (it then draws every row's start itself).
    views: (K·B, C, H, W) in [-1, 1], each candidate's view of its image (candidate_views); masks:
    bool (K·B, H, W), True = missing. Each view's first candidate starts at E(view); the others
    at that plus noise."""
    encoder = start_encoder(model, settings.start)
    if encoder is None:
        return None
    low, high = model.latent_range
    with torch.no_grad(), model.frozen():
        encoded = encoder(views.to(model.device).float(), masks.to(model.device)).float().clamp(low, high)
    exact = 2 if settings.mirror else 1  # candidates that start at E(view) itself
    batch = len(views) // settings.candidates
    further = settings.candidates - exact
    if isinstance(generator, (list, tuple)):  # each image's noise from its own stream
        noise = torch.stack([torch.randn(further, model.latent_dim, generator=g) for g in generator], dim=1)
    else:
        noise = torch.randn(further, batch, model.latent_dim, generator=generator)
    noisy = encoded[exact * batch:] + settings.candidate_noise * noise.reshape(-1, model.latent_dim).to(encoded.device)
    return torch.cat([encoded[:exact * batch], noisy.clamp(low, high)])


def search_candidates(
    model: GenerativeModel,
    corrupted: torch.Tensor,
    mask: torch.Tensor,
    settings: SearchSettings,
    *,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> SearchResult:
    """latent.search for settings.candidates completions of each image, then G tuned to each
    (tuning.py) when settings.tune_steps > 0.

    corrupted: y, (B, C, H, W) in [-1, 1]; mask: bool (B, H, W), True = missing; generator and
    callback as latent.search takes them (a list holds one generator per image).
    Returns a SearchResult of K·B rows, row k·B + b being candidate k of image b; with tuning its
    `generated` is the tuned G(ẑ) (its losses are those of the search). With K = 1 and no tuning
    it is latent.search's result itself.
    """
    count = settings.candidates
    if isinstance(generator, (list, tuple)) and len(generator) != corrupted.shape[0]:
        raise InpaintError(f"give one generator per image: {len(generator)} for {corrupted.shape[0]} images")
    if count == 1 and not settings.tune_steps:
        return search(model, corrupted, mask, settings, generator=generator, progress=progress, callback=callback)
    y = candidate_views(corrupted.repeat(count, 1, 1, 1), settings)
    masks = candidate_views(mask.repeat(count, 1, 1), settings)
    initial = candidate_starts(model, y, masks, settings, generator) if count > 1 else None
    rows_generator = list(generator) * count if isinstance(generator, (list, tuple)) else generator
    found = search(model, y, masks, settings, generator=rows_generator, progress=progress, callback=callback,
                   initial=initial)
    if settings.tune_steps:
        found.generated = tune_generator(model, found.z, y, masks, settings, progress=progress)
    found.generated = candidate_views(found.generated, settings)  # each G(ẑ) seen the way the image is
    return found


def mean_and_spread(candidates: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-pixel mean and standard deviation of K completions of one image.

    candidates: (K, H, W) or (K, H, W, C) float in [0, 1], equal outside the hole.
    hole: bool (H, W), True = missing.
    Returns (mean, spread): mean like one candidate, equal to candidate 1 outside the hole (bit for
    bit); spread (H, W) float32, the standard deviation over the K candidates averaged over the
    channels, 0 outside the hole.
    """
    candidates = np.asarray(candidates, dtype=np.float32)
    colour_hole = hole[..., None] if candidates.ndim == 4 else hole
    mean = np.where(colour_hole, candidates.mean(axis=0), candidates[0]).astype(np.float32)
    spread = candidates.std(axis=0)
    spread = spread.mean(axis=-1) if candidates.ndim == 4 else spread
    return mean, np.where(hole, spread, 0.0).astype(np.float32)


def pairwise_distance(candidates: np.ndarray, hole: np.ndarray) -> float:
    """Diversity of K ≥ 2 completions: the mean over candidate pairs of their root-mean-square
    difference inside the hole, on the [0, 1] scale. candidates: (K, H, W[, C]); hole: bool (H, W)."""
    inside = np.asarray(candidates, dtype=np.float64)[:, hole]  # (K, pixels[, C])
    count = len(inside)
    distances = [np.sqrt(np.mean((inside[a] - inside[b]) ** 2)) for a in range(count) for b in range(a + 1, count)]
    return float(np.mean(distances))
