"""The search for ẑ (paper, Eq. 2 and sections 3.3–3.4): Adam on z, z clipped to its range after
every step, the sum of the context loss (Eq. 4) and the prior loss (Eq. 5) as the objective.

A batch of images is a batch of independent searches: the objective is the *sum* of the per-image
losses, so each image's gradient is exactly its own, and G and D are frozen in eval mode so that
BatchNorm does not mix batch mates. Restarts run as extra rows of the same batch; per image the
restart with the lowest final loss is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from .errors import InpaintError
from .losses import importance_weights, objective
from .networks.model import GenerativeModel
from .runtime.folding import search_copy
from .runtime.precision import PLAIN, autocast, compute_dtype, layout, resolve_precision
from .settings import PAPER, SearchSettings


@dataclass
class SearchResult:
    """What the search found, per image (B images).

    z: ẑ, (B, latent_dim) within the latent range. generated: G(ẑ), (B, C, H, W) in [-1, 1].
    loss, context, prior: the final total, context (Eq. 4) and prior (Eq. 5) losses at ẑ, (B,).
    history: total loss per step of the kept restart, (iterations, B); after an early stop the
        last value repeats. steps: Adam steps the kept restart took, (B,).
    """

    z: torch.Tensor
    generated: torch.Tensor
    loss: torch.Tensor
    context: torch.Tensor
    prior: torch.Tensor
    history: torch.Tensor
    steps: torch.Tensor


def check_search_inputs(model: GenerativeModel, corrupted: torch.Tensor, mask: torch.Tensor) -> None:
    """Raise InpaintError unless corrupted is (B, C, H, W) of the model's shape and mask (B, H, W) bool."""
    expected = tuple(model.image_shape)
    if corrupted.ndim != 4 or tuple(corrupted.shape[1:]) != expected:
        raise InpaintError(f"images must be (B, {expected[0]}, {expected[1]}, {expected[2]}) for this model, "
                           f"got {tuple(corrupted.shape)}")
    if mask.dtype != torch.bool or tuple(mask.shape) != (corrupted.shape[0], *expected[1:]):
        raise InpaintError(f"mask must be bool (B, H, W) = {(corrupted.shape[0], *expected[1:])}, "
                           f"got {mask.dtype} {tuple(mask.shape)}")


class RowAdam:
    """Adam (Kingma & Ba) on the rows of z, each row with its own step count, so that rows can stop.

    Identical to torch.optim.Adam (no weight decay, eps 1e-8) for rows that step every time;
    stepping only the active rows is what lets an image stop early without Adam's momentum
    moving it further.
    """

    def __init__(self, z: torch.Tensor, learning_rate: float, betas: tuple[float, float], eps: float = 1e-8):
        self.z, self.learning_rate, self.betas, self.eps = z, learning_rate, betas, eps
        self.first = torch.zeros_like(z)   # m
        self.second = torch.zeros_like(z)  # v
        self.steps = torch.zeros(z.shape[0], 1, device=z.device, dtype=z.dtype)

    @torch.no_grad()
    def step(self, rows: torch.Tensor, gradient: torch.Tensor) -> None:
        """Update z[rows] with `gradient` (len(rows), latent_dim)."""
        beta1, beta2 = self.betas
        steps = self.steps[rows] + 1
        first = self.first[rows].mul_(beta1).add_(gradient, alpha=1 - beta1)
        second = self.second[rows].mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
        denominator = (second.sqrt() / (1 - beta2**steps).sqrt()).add_(self.eps)
        self.z[rows] -= self.learning_rate / (1 - beta1**steps) * first / denominator
        self.first[rows], self.second[rows], self.steps[rows] = first, second, steps


class Stall:
    """Early stopping, per row of the search: a row is done once its loss has not fallen below
    (1 − tolerance) × its best for `patience` steps in a row (SearchSettings.patience, tolerance)."""

    def __init__(self, rows: int, patience: int, tolerance: float):
        self.patience, self.tolerance = patience, tolerance
        self.best = torch.full((rows,), float("inf"))
        self.since_best = torch.zeros(rows, dtype=torch.long)

    def update(self, rows: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        """Record the losses (len(rows),) of `rows` (CPU indices) at this step; returns which are done (bool)."""
        improved = losses < self.best[rows] * (1 - self.tolerance) - 1e-12
        self.best[rows] = torch.where(improved, losses, self.best[rows])
        self.since_best[rows] = torch.where(improved, 0, self.since_best[rows] + 1)
        return self.since_best[rows] >= self.patience


def search(
    model: GenerativeModel,
    corrupted: torch.Tensor,
    mask: torch.Tensor,
    settings: SearchSettings = PAPER,
    *,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
    initial: torch.Tensor | None = None,
) -> SearchResult:
    """Find ẑ = argmin_z L_c(z | y, M) + L_p(z) for each image (Eq. 2), by Adam on z.

    model: the G/D pair and its latent size and range (any architecture).
    corrupted: y, (B, C, H, W) in [-1, 1]; its values in the hole are ignored (weight 0).
    mask: bool (B, H, W), True = missing.
    generator: torch.Generator for the random starts z⁽⁰⁾ ~ U[low, high] (on the CPU), or one per
        image (a list of B), so that each image's starts are those it gets when searched alone; the
        same generator state gives the same result.
    callback: called as callback(step, z) after every step (step = 1 … iterations) with the
        current z detached, (restarts·B, latent_dim), row r·B + b being restart r of image b —
        for live previews and quality-versus-iterations curves.
    initial: (B, latent_dim), where the first start of each image lies instead of where
        settings.start says (clipped to the latent range); further restarts start at random.
    Runs on the model's device; returns tensors there. z is clipped to the latent range after
    every step; G and D are in eval mode with frozen weights throughout. With the paper's settings
    (screen 0, patience 0) every image takes exactly `iterations` Adam steps from a uniform start.
    """
    check_search_inputs(model, corrupted, mask)
    if isinstance(generator, (list, tuple)) and len(generator) != corrupted.shape[0]:
        raise InpaintError(f"give one generator per image: {len(generator)} for {corrupted.shape[0]} images")
    if settings.prior_weight > 0 and model.discriminator is None:
        raise InpaintError("the prior loss needs a discriminator; give one or set prior_weight=0")
    device = model.device
    batch, restarts = corrupted.shape[0], settings.restarts
    rows_total = batch * restarts
    low, high = model.latent_range
    y = corrupted.to(device).float().repeat(restarts, 1, 1, 1)  # row r·B + b is restart r of image b
    weights = importance_weights(mask.to(device), settings.window).repeat(restarts, 1, 1)
    use_prior = settings.prior_weight > 0
    generator_net, discriminator_net, autocast, dtype = search_networks(model, settings.precision, use_prior)
    encoder = start_encoder(model, settings.start) if initial is None else None

    def losses(latent: torch.Tensor, rows: torch.Tensor | slice = slice(None)):
        """G(z), L_c and L_p for the rows `rows` of the search (latent holds exactly those rows)."""
        with autocast:
            generated = generator_net(latent.to(dtype))
            logits = discriminator_net(generated) if use_prior else None
        generated = generated.float()
        context, prior = objective(generated, y[rows], weights[rows], logits, prior_weight=settings.prior_weight,
                                   prior_form=settings.prior_form)
        return generated, context, prior

    def uniform(per_image: int) -> torch.Tensor:
        """`per_image` starts z ~ U[low, high] for each image, as rows c·B + b (start c of image b)."""
        if isinstance(generator, (list, tuple)):  # one stream per image: a row's start ignores its batch mates
            draws = torch.stack([torch.rand(per_image, model.latent_dim, generator=g) for g in generator], dim=1)
        else:
            draws = torch.rand(per_image * batch, model.latent_dim, generator=generator)
        return (draws.reshape(per_image * batch, -1) * (high - low) + low).to(device)

    history = torch.empty(settings.iterations, rows_total)
    steps_taken = torch.full((rows_total,), settings.iterations)
    with model.frozen():
        with torch.no_grad():  # restart 0 of each image from E(y, M) when the encoder starts it
            encoded = encoder(y[:batch], mask.to(device)).float() if encoder is not None else initial
            encoded = encoded.to(device).float().clamp(low, high) if encoded is not None else None
        if settings.screen == 0:
            z = uniform(restarts)
            if encoded is not None:
                z[:batch] = encoded
        else:
            z = screened_starts(losses, uniform, batch, restarts, settings.screen, device, encoded=encoded)
        optimizer = RowAdam(z, settings.learning_rate, settings.betas)
        active = torch.arange(rows_total, device=device)
        stall = Stall(rows_total, settings.patience, settings.tolerance)
        for step in tqdm(range(settings.iterations), disable=not progress, desc="latent search", unit="it"):
            with torch.enable_grad():  # also when the caller is under no_grad
                latent = z[active].requires_grad_(True)
                _, context, prior = losses(latent, active)
                total = context + prior
                # A sum, never a mean: each image keeps its own gradient.
                (gradient,) = torch.autograd.grad(total.sum(), latent)
            optimizer.step(active, gradient)
            z[active] = z[active].clamp(low, high)  # "restrict z to [-1, 1] in each iteration" (3.4)
            history[step] = history[step - 1] if step else 0.0  # stopped rows keep their last loss
            cpu_rows, values = active.cpu(), total.detach().float().cpu()
            history[step, cpu_rows] = values
            if callback is not None:
                callback(step + 1, z)
            if settings.patience:
                done = stall.update(cpu_rows, values)
                if done.any():
                    steps_taken[cpu_rows[done]] = step + 1
                    active = active[~done.to(device)]
                    if active.numel() == 0:
                        history[step + 1:] = history[step]
                        break
        with torch.no_grad():
            generated, context, prior = losses(z)
    total = context + prior

    # Keep, per image, the restart with the lowest final loss.
    chosen = total.reshape(restarts, batch).argmin(dim=0)  # (B,)
    rows = chosen * batch + torch.arange(batch, device=device)
    return SearchResult(
        z=z[rows], generated=generated[rows], loss=total[rows], context=context[rows], prior=prior[rows],
        history=history[:, rows.cpu()], steps=steps_taken[rows.cpu()],
    )


def search_networks(model: GenerativeModel, precision: str, use_prior: bool = True):
    """(G, D or None, autocast context, dtype of z) to run the search's forward and backward passes.

    precision is resolved on the model's device first ("auto", runtime/precision.py). "fp32": the model's
    own networks (the caller freezes them) and float32. "fp32-fast" and "bf16": frozen copies with
    BatchNorm folded into the convolutions and the fast layers (runtime.folding.search_copy), the model's
    networks untouched; "bf16" casts them to bf16, channels_last (oneDNN's fastest layout), and
    runs them under bf16 autocast, which still guards any op of a custom network that wants
    float32. Used by the search and by the encoder's training.
    """
    precision = resolve_precision(precision, model.device)
    context, dtype = autocast(precision, model.device), compute_dtype(precision)
    if precision == PLAIN:
        return model.generator, model.discriminator if use_prior else None, context, dtype
    form = layout(precision)
    return (search_copy(model.generator, dtype, memory_format=form),
            search_copy(model.discriminator, dtype, memory_format=form) if use_prior else None, context, dtype)


def start_encoder(model: GenerativeModel, start: str) -> torch.nn.Module | None:
    """The encoder that starts the search for SearchSettings.start, or None for random starts."""
    if start == "encoder" and model.encoder is None:
        raise InpaintError(f"start='encoder' needs a model with a latent encoder and {model.name!r} has none; "
                           "train one with `seminpaint train-encoder` or use start='random'")
    return model.encoder if start in ("encoder", "auto") else None


@torch.no_grad()
def screened_starts(losses, uniform, batch: int, restarts: int, screen: int, device,
                    encoded: torch.Tensor | None = None) -> torch.Tensor:
    """A cheap screen of many starts: draw `screen` z per image, score each by the total loss
    (forward passes only) and keep the `restarts` best, as rows r·B + b (restart r of image b).
    The first B candidates are the plain starts (`encoded`, (B, latent_dim), the encoder's, when
    given; else random), so the screen never starts worse.
    """
    candidates = uniform(screen)  # row c·B + b is candidate c of image b
    if encoded is not None:
        candidates[:batch] = encoded
    images = torch.arange(batch, device=device)
    scores = []
    for first in range(0, screen, restarts):  # score as many rows at once as the search runs
        count = min(restarts, screen - first)
        _, context, prior = losses(candidates[first * batch:(first + count) * batch], images.repeat(count))
        scores.append((context + prior).reshape(count, batch))
    best = torch.cat(scores).argsort(dim=0)[:restarts]  # (restarts, B): candidate indices per image
    return candidates.reshape(screen, batch, -1)[best, images].reshape(restarts * batch, -1).clone()
