"""The search for ẑ (paper, Eq. 2 and sections 3.3–3.4): Adam on z, z clipped to its range after
every step, the sum of the context loss (Eq. 4) and the prior loss (Eq. 5) as the objective.

A batch of images is a batch of independent searches: the objective is the *sum* of the per-image
losses, so each image's gradient is exactly its own, and G and D are frozen in eval mode so that
BatchNorm does not mix batch mates. Restarts run as extra rows of the same batch; per image the
restart with the lowest final loss is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from tqdm import tqdm

from .errors import InpaintError
from .losses import PRIOR_FORMS, context_loss, importance_weights, prior_loss
from .model import GenerativeModel, search_copy
from .precision import PLAIN, autocast, check_precision, compute_dtype, layout, resolve_precision


STARTS = ("random", "encoder", "auto")


@dataclass(frozen=True)
class SearchSettings:
    """Options of the latent search. The defaults are the paper's setting (the "paper" preset).

    iterations: Adam steps (paper: 1500). learning_rate, betas: Adam on z (not in the paper;
    chosen on the validation split for the paper's 1500 steps, docs/decisions.md; for searches of
    about 300 steps or fewer validation prefers SHORT_SEARCH_LEARNING_RATE). prior_weight: λ of
    Eq. 5 (paper: 0.003); 0 switches the prior off. prior_form: "paper" (λ log(1 − D)) or
    "non_saturating" (−λ log D). window: Eq. 3's window (paper: 7). restarts: random starts per
    image, the lowest final loss kept (paper: 1). precision: how the networks run (precision.py):
    "auto" (the default: "bf16" where the device computes bfloat16 natively, else "fp32-fast"),
    "bf16" (copies of G and D with BatchNorm folded into the convolutions, channels_last, under
    bf16 autocast; about 2.5× the plain loop on a CPU with AVX-512 BF16, with equal PSNR, see
    docs/results/README.md, "Speed"), "fp32-fast" (the same copies in float32) or "fp32" (the
    networks as given, float32: the plain loop).
    start: where the first restart of each image starts: "random" (z ~ U[low, high], the paper),
    "encoder" (z = E(y, M), the model's latent encoder, encoder.py; ours) or "auto" (the encoder
    when the model has one, else random); further restarts start at random.
    screen: draw this many z per image (the start above, then random ones), score them by the loss
    (forward passes only) and start from the `restarts` best (0: no screen, the paper). patience: stop an image
    once its loss has not fallen by a fraction `tolerance` for this many steps (0: never stop,
    the paper).
    """

    iterations: int = 1500
    learning_rate: float = 0.003
    betas: tuple[float, float] = (0.9, 0.999)
    prior_weight: float = 0.003
    prior_form: str = "paper"
    window: int = 7
    restarts: int = 1
    precision: str = "auto"
    start: str = "random"
    screen: int = 0
    patience: int = 0
    tolerance: float = 1e-3

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
        if self.screen and self.screen < self.restarts:
            raise InpaintError(f"screen ({self.screen}) must be 0 or at least restarts ({self.restarts})")
        if self.patience < 0 or not 0 <= self.tolerance < 1:
            raise InpaintError("patience must be ≥ 0 and tolerance in [0, 1)")
        check_precision(self.precision)
        if self.start not in STARTS:
            raise InpaintError(f"start must be one of {', '.join(STARTS)}, got {self.start!r}")

    def with_options(self, **options) -> "SearchSettings":
        """A copy with some options changed, e.g. PAPER.with_options(iterations=300)."""
        unknown = set(options) - set(self.__dataclass_fields__)
        if unknown:
            raise InpaintError(f"unknown search option(s): {', '.join(sorted(unknown))}")
        return replace(self, **options)


PAPER = SearchSettings()
"""The paper's setting: 1500 iterations, λ = 0.003, window 7, one random start (Adam lr 0.003)."""

SHORT_SEARCH_LEARNING_RATE = 0.01
"""Adam's rate for z that validation prefers when the search is cut to about 300 steps or fewer
(the fast presets, the demo, the web page's default): 0.003 peaks near 750 steps and 0.01 by 300
(docs/results/learning_rate_shipped.md)."""

FAST = PAPER.with_options(iterations=100, patience=50, tolerance=1e-3, start="auto",
                          learning_rate=SHORT_SEARCH_LEARNING_RATE)
"""The paper's losses, 100 Adam steps at most from the model's latent encoder E(y, M), an image
stopping once its loss has not fallen by 0.1 % for 50 steps: on validation faces 100 steps from
E(y, M) beat 300 from a random z, and more steps lower the loss but not the error
(docs/results/README.md, "Time to quality"). A model without an encoder starts at random, where
100 steps are about 0.3 dB below 300 (docs/results/epochs.md): train one (`seminpaint
train-encoder`) or ask for iterations=300."""

PRESETS: dict[str, SearchSettings] = {
    "paper": PAPER,
    "fast": FAST,
    "enhanced": FAST,  # the fast search; inpaint blends it with the hybrid blend (api.PRESET_BLENDS)
}
"""Named settings for the command line and inpaint(settings=NAME). "enhanced" is ours beyond the
paper: the fast search, then the hybrid blend instead of Eq. 6 (docs/results/README.md)."""


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
    every step; G and D are in eval mode with frozen weights throughout. With the paper's settings
    (screen 0, patience 0) every image takes exactly `iterations` Adam steps from a uniform start.
    """
    check_search_inputs(model, corrupted, mask)
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
    encoder = start_encoder(model, settings.start)

    def losses(latent: torch.Tensor, rows: torch.Tensor | slice = slice(None)):
        """G(z), L_c and L_p for the rows `rows` of the search (latent holds exactly those rows)."""
        with autocast:
            generated = generator_net(latent.to(dtype))
            logits = discriminator_net(generated) if use_prior else None
        generated = generated.float()
        context = context_loss(generated, y[rows], weights[rows])
        prior = (prior_loss(logits.float(), weight=settings.prior_weight, form=settings.prior_form)
                 if logits is not None else torch.zeros_like(context))
        return generated, context, prior

    def uniform(count: int) -> torch.Tensor:
        return (torch.rand(count, model.latent_dim, generator=generator) * (high - low) + low).to(device)

    history = torch.empty(settings.iterations, rows_total)
    steps_taken = torch.full((rows_total,), settings.iterations)
    with model.frozen():
        with torch.no_grad():  # restart 0 of each image from E(y, M) when the encoder starts it
            encoded = encoder(y[:batch], mask.to(device)).float().clamp(low, high) if encoder is not None else None
        if settings.screen == 0:
            z = uniform(rows_total)
            if encoded is not None:
                z[:batch] = encoded
        else:
            z = screened_starts(losses, uniform, batch, restarts, settings.screen, device, encoded=encoded)
        optimizer = RowAdam(z, settings.learning_rate, settings.betas)
        active = torch.arange(rows_total, device=device)
        best = torch.full((rows_total,), float("inf"))
        since_best = torch.zeros(rows_total, dtype=torch.long)
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
                improved = values < best[cpu_rows] * (1 - settings.tolerance) - 1e-12
                best[cpu_rows] = torch.where(improved, values, best[cpu_rows])
                since_best[cpu_rows] = torch.where(improved, 0, since_best[cpu_rows] + 1)
                done = since_best[cpu_rows] >= settings.patience
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

    precision is resolved on the model's device first ("auto", precision.py). "fp32": the model's
    own networks (the caller freezes them) and float32. "fp32-fast" and "bf16": frozen copies with
    BatchNorm folded into the convolutions and the fast layers (model.search_copy), the model's
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
    candidates = uniform(screen * batch)  # row c·B + b is candidate c of image b
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
