"""The search for ẑ (paper, Eq. 2 and sections 3.3–3.4): Adam on z, z clipped to its range after
every step, the sum of the context loss (Eq. 4) and the prior loss (Eq. 5) as the objective.

A batch of images is a batch of independent searches: the objective is the *sum* of the per-image
losses, so each image's gradient is exactly its own, and G and D are frozen in eval mode so that
BatchNorm does not mix batch mates. Restarts run as extra rows of the same batch; per image the
restart with the lowest final loss is kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from tqdm import tqdm

from .errors import InpaintError
from .losses import PRIOR_FORMS, context_loss, importance_weights, prior_loss
from .model import GenerativeModel


@dataclass(frozen=True)
class SearchSettings:
    """Options of the latent search. The defaults are the paper's setting (the "paper" preset).

    iterations: Adam steps (paper: 1500). learning_rate, betas: Adam on z (not in the paper;
    see docs/decisions.md for how 0.03 was chosen on the validation split). prior_weight: λ of
    Eq. 5 (paper: 0.003); 0 switches the prior off. prior_form: "paper" (λ log(1 − D)) or
    "non_saturating" (−λ log D). window: Eq. 3's window (paper: 7). restarts: random starts per
    image, the lowest final loss kept (paper: 1). precision: "fp32" (the plain loop) or "bf16"
    (autocast; the networks are switched to channels_last memory layout, same weights).
    """

    iterations: int = 1500
    learning_rate: float = 0.03
    betas: tuple[float, float] = (0.9, 0.999)
    prior_weight: float = 0.003
    prior_form: str = "paper"
    window: int = 7
    restarts: int = 1
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise InpaintError(f"iterations must be ≥ 0, got {self.iterations}")
        if self.restarts < 1:
            raise InpaintError(f"restarts must be ≥ 1, got {self.restarts}")
        if not self.learning_rate > 0:
            raise InpaintError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.prior_weight < 0:
            raise InpaintError(f"prior_weight must be ≥ 0, got {self.prior_weight}")
        if self.prior_form not in PRIOR_FORMS:
            raise InpaintError(f"prior_form must be one of {', '.join(PRIOR_FORMS)}, got {self.prior_form!r}")
        if self.precision not in ("fp32", "bf16"):
            raise InpaintError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")

    def with_options(self, **options) -> "SearchSettings":
        """A copy with some options changed, e.g. PAPER.with_options(iterations=300)."""
        unknown = set(options) - set(self.__dataclass_fields__)
        if unknown:
            raise InpaintError(f"unknown search option(s): {', '.join(sorted(unknown))}")
        return replace(self, **options)


PAPER = SearchSettings()
"""The paper's setting: 1500 iterations, λ = 0.003, window 7, one random start."""

PRESETS: dict[str, SearchSettings] = {
    "paper": PAPER,
}
"""Named settings for the command line and inpaint(settings=NAME)."""


@dataclass
class SearchResult:
    """What the search found, per image (B images).

    z: ẑ, (B, latent_dim) within the latent range. generated: G(ẑ), (B, C, H, W) in [-1, 1].
    loss, context, prior: the final total, context (Eq. 4) and prior (Eq. 5) losses at ẑ, (B,).
    history: total loss per step of the kept restart, (iterations, B).
    """

    z: torch.Tensor
    generated: torch.Tensor
    loss: torch.Tensor
    context: torch.Tensor
    prior: torch.Tensor
    history: torch.Tensor


def check_search_inputs(model: GenerativeModel, corrupted: torch.Tensor, mask: torch.Tensor) -> None:
    """Raise InpaintError unless corrupted is (B, C, H, W) of the model's shape and mask (B, H, W) bool."""
    expected = tuple(model.image_shape)
    if corrupted.ndim != 4 or tuple(corrupted.shape[1:]) != expected:
        raise InpaintError(f"images must be (B, {expected[0]}, {expected[1]}, {expected[2]}) for this model, "
                           f"got {tuple(corrupted.shape)}")
    if mask.dtype != torch.bool or tuple(mask.shape) != (corrupted.shape[0], *expected[1:]):
        raise InpaintError(f"mask must be bool (B, H, W) = {(corrupted.shape[0], *expected[1:])}, "
                           f"got {mask.dtype} {tuple(mask.shape)}")


def search(
    model: GenerativeModel,
    corrupted: torch.Tensor,
    mask: torch.Tensor,
    settings: SearchSettings = PAPER,
    *,
    generator: torch.Generator | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> SearchResult:
    """Find ẑ = argmin_z L_c(z | y, M) + L_p(z) for each image (Eq. 2), by Adam on z.

    model: the G/D pair and its latent size and range (any architecture).
    corrupted: y, (B, C, H, W) in [-1, 1]; its values in the hole are ignored (weight 0).
    mask: bool (B, H, W), True = missing.
    generator: torch.Generator for the random starts z⁽⁰⁾ ~ U[low, high] (on the CPU); the same
        generator state gives the same result.
    callback: called as callback(step, z) after every step (step = 1 … iterations) with the
        current z detached, (restarts·B, latent_dim), row r·B + b being restart r of image b —
        for live previews and quality-versus-iterations curves.
    Runs on the model's device; returns tensors there. z is clipped to the latent range after
    every step; G and D are in eval mode with frozen weights throughout.
    """
    check_search_inputs(model, corrupted, mask)
    if settings.prior_weight > 0 and model.discriminator is None:
        raise InpaintError("the prior loss needs a discriminator; give one or set prior_weight=0")
    device = model.device
    batch, restarts = corrupted.shape[0], settings.restarts
    low, high = model.latent_range
    y = corrupted.to(device).float().repeat(restarts, 1, 1, 1)  # row r·B + b is restart r of image b
    weights = importance_weights(mask.to(device), settings.window).repeat(restarts, 1, 1)
    z0 = torch.rand(batch * restarts, model.latent_dim, generator=generator) * (high - low) + low
    z = z0.to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=settings.learning_rate, betas=settings.betas)
    autocast = contextlib.nullcontext()
    if settings.precision == "bf16":  # bf16 matrix products; channels_last suits oneDNN's convolutions
        autocast = torch.autocast(device.type, dtype=torch.bfloat16)
        for network in (model.generator, model.discriminator):
            if network is not None:
                network.to(memory_format=torch.channels_last)

    def losses(latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with autocast:
            generated = model.generator(latent)
            logits = model.discriminator(generated) if settings.prior_weight > 0 else None
        generated = generated.float()
        context = context_loss(generated, y, weights)
        prior = (prior_loss(logits.float(), weight=settings.prior_weight, form=settings.prior_form)
                 if logits is not None else torch.zeros_like(context))
        return generated, context, prior

    history = torch.empty(settings.iterations, batch * restarts)
    with model.frozen():
        for step in tqdm(range(settings.iterations), disable=not progress, desc="latent search", unit="it"):
            _, context, prior = losses(z)
            total = context + prior
            optimizer.zero_grad(set_to_none=True)
            total.sum().backward()  # a sum, never a mean: each image keeps its own gradient
            optimizer.step()
            with torch.no_grad():
                z.clamp_(low, high)  # "restrict z to [-1, 1] in each iteration" (section 3.4)
            history[step] = total.detach().float().cpu()
            if callback is not None:
                callback(step + 1, z.detach())
        with torch.no_grad():
            generated, context, prior = losses(z)
    total = (context + prior).detach()

    # Keep, per image, the restart with the lowest final loss.
    best = total.reshape(restarts, batch).argmin(dim=0)  # (B,)
    rows = best.to(device) * batch + torch.arange(batch, device=device)
    return SearchResult(
        z=z.detach()[rows], generated=generated.detach()[rows], loss=total[rows],
        context=context.detach()[rows], prior=prior.detach()[rows],
        history=history[:, rows.cpu()],
    )
