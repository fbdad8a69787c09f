"""A moving average of G's weights during training (beyond the paper, which keeps the last G).

The exponential moving average θ̄ ← β θ̄ + (1 − β) θ after every G step (Yazıcı et al. 2019, "The
Unusual Effectiveness of Averaging in GAN Training"; Karras et al.'s GANs since) smooths out the
oscillation of the adversarial game, and its samples are usually better than the last G's. Its
weights never ran forward in training, so BatchNorm's running statistics of the trained G do not
fit them; `standing_statistics` re-estimates them for the average (Brock et al. 2019, BigGAN).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import InpaintError
from ..networks.dcgan import sample_latent


def check_decay(decay: float) -> None:
    """Raise InpaintError unless 0 ≤ decay < 1 (0: no average)."""
    if not 0.0 <= decay < 1.0:
        raise InpaintError(f"the weight average's decay must be in [0, 1), got {decay}")


@torch.no_grad()
def update_average(average: nn.Module, network: nn.Module, decay: float) -> None:
    """θ̄ ← decay · θ̄ + (1 − decay) · θ for each parameter of `average` and the same-named one of
    `network` (their layouts may differ); buffers (BatchNorm's running statistics) are copied."""
    parameters = dict(network.named_parameters())
    for name, value in average.named_parameters():
        value.lerp_(parameters[name].detach().to(value.dtype), 1.0 - decay)
    buffers = dict(network.named_buffers())
    for name, value in average.named_buffers():
        value.copy_(buffers[name])


@torch.no_grad()
def standing_statistics(generator: nn.Module, latent_dim: int, *, batches: int = 16, batch_size: int = 64,
                        seed: int = 0) -> nn.Module:
    """A copy of `generator` in eval mode whose BatchNorm running statistics are its own: the mean
    and variance of each BatchNorm's input over `batches` batches of z ~ U[-1, 1] (each batch's
    statistics averaged, as in training mode), drawn from a generator seeded with `seed`.
    `generator` is not changed."""
    estimate = copy.deepcopy(generator).train()
    norms = [module for module in estimate.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches
    device = next(estimate.parameters()).device
    draws = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        estimate(sample_latent(batch_size, latent_dim, generator=draws).to(device))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    return estimate.eval()
