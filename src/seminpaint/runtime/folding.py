"""Frozen, faster copies of the networks for the latent search: BatchNorm folded into the
convolutions (fold_batchnorm) and search_copy, which adds the fast layers, a dtype and a memory
layout. The same function of the input up to rounding; never for training.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import parametrize

from .fast_layers import speed_up_layers


@torch.no_grad()
def fold_batchnorm(network: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d that directly follows a Conv2d or ConvTranspose2d inside an
    nn.Sequential into that convolution, in place; returns `network`.

    In eval mode BatchNorm is a per-channel affine map, y = γ (x − μ) / √(σ² + ε) + β with its
    running μ and σ², so conv-then-BN is one convolution with weights scaled by s = γ / √(σ² + ε)
    along the output channels and bias β − μ s (plus s · the conv's own bias): the same function
    of the input, up to rounding, with one layer fewer to run forward and backward. The folded
    BatchNorm becomes nn.Identity. Only for frozen use (search, sampling): training would update
    the running statistics that no longer exist.
    """
    for sequence in [module for module in network.modules() if isinstance(module, nn.Sequential)]:
        layers = list(sequence)
        for index, (conv, norm) in enumerate(zip(layers, layers[1:])):
            if not (isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(norm, nn.BatchNorm2d)
                    and norm.track_running_stats and conv.groups == 1):
                continue
            scale = norm.running_var.add(norm.eps).rsqrt()
            scale = scale * norm.weight if norm.affine else scale
            shift = -norm.running_mean * scale + (norm.bias if norm.affine else 0.0)
            out_axis = 1 if isinstance(conv, nn.ConvTranspose2d) else 0  # ConvT weights are (in, out, kH, kW)
            shape = [1] * conv.weight.ndim
            shape[out_axis] = -1
            conv.weight.mul_(scale.reshape(shape))
            bias = shift if conv.bias is None else conv.bias * scale + shift
            conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)
            sequence[index + 1] = nn.Identity()
    return network


@torch.no_grad()
def fixed_weights(network: nn.Module) -> nn.Module:
    """`network` with every spectrally normalised convolution (a parametrised weight, W / σ(W)) replaced,
    in place, by a plain nn.Conv2d holding that weight's eval-mode value: no power iteration, the
    same function. Only for frozen use; apply it to a copy (the replaced modules are not changed)."""
    for parent in list(network.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d) and parametrize.is_parametrized(child, "weight"):
                plain = nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                  child.padding, child.dilation, child.groups, bias=child.bias is not None)
                plain = plain.to(device=child.weight.device, dtype=child.weight.dtype)
                plain.weight.copy_(child.weight)
                if child.bias is not None:
                    plain.bias.copy_(child.bias)
                setattr(parent, name, plain.train(child.training).requires_grad_(False))
    return network


def search_copy(network: nn.Module, dtype: torch.dtype, *, fast_layers: bool = True,
                memory_format: torch.memory_format = torch.channels_last) -> nn.Module:
    """A frozen copy of `network` for the latent search at `dtype` (the original is untouched):
    eval mode, no parameter gradients, parametrised weights fixed (fixed_weights), BatchNorm folded
    into the convolutions (fold_batchnorm), the thin convolutions re-expressed in forms that run faster (fast_layers.speed_up_layers;
    fast_layers=False keeps them as they are, for comparing), weights cast to `dtype` and laid out
    in `memory_format` (channels_last: what oneDNN's bf16 convolutions run fastest).
    """
    duplicate = fold_batchnorm(fixed_weights(copy.deepcopy(network).eval().requires_grad_(False)))
    if fast_layers:
        duplicate = speed_up_layers(duplicate)
    return duplicate.to(dtype=dtype, memory_format=memory_format)
