"""Exact re-expressions of the convolutions that oneDNN runs slowly, for the frozen search copies.

Profiling the search's G and D forward and backward at batch 64 on this CPU (bf16,
channels_last) shows the wide middle layers near the machine's matrix-product peak and four thin
layers far below it, about a tenth of the step between them:

- the stride-2 4×4 transposed convolution to (or, in D's backward, from) the 3 image channels:
  G's last layer forward and D's first layer backward, each ~2× slower than the same arithmetic
  as a plain convolution;
- the 4×4 transposed convolution of G's first layer on its 1×1 input z, and D's last 4×4
  convolution on a 4×4 input: both are matrix products, run ~5× faster as one.

Each layer here computes the same function as the nn layer it replaces (up to rounding), with
gradients for its input only: the weights are frozen, as in the latent search. `speed_up_layers`
swaps them into a network; any other layer, and any input these forms do not cover, runs the
original way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEW_CHANNELS = 4  # image-side channels (RGB or gray) for which the stride-2 rewrite is faster

# The stride-2, padding-1, 4×4 transposed convolution as a 3×3 convolution to 4·C_out channels
# and a pixel shuffle (Shi et al. 2016, "sub-pixel convolution"): output row 2m + a takes kernel
# rows {3, 1} from input rows m − 1, m (a = 0) and {2, 0} from rows m, m + 1 (a = 1). Per output
# phase a: {offset in the 3×3 window (input row − m + 1): kernel row}; the same for columns.
PHASE_TAPS = {0: {0: 3, 1: 1}, 1: {1: 2, 2: 0}}


def subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """The 3×3 convolution weight (4·C_out, C_in, 3, 3) whose output, pixel-shuffled by 2, is the
    stride-2, padding-1 transposed convolution with `weight` (C_in, C_out, 4, 4); channel
    4·c + 2·a + b of it is output channel c at row phase a and column phase b.
    """
    c_in, c_out = weight.shape[:2]
    subpixel = weight.new_zeros(c_out, 2, 2, c_in, 3, 3)
    for a, rows in PHASE_TAPS.items():
        for b, columns in PHASE_TAPS.items():
            for dy, ky in rows.items():
                for dx, kx in columns.items():
                    subpixel[:, a, b, :, dy, dx] = weight[:, :, ky, kx].T
    return subpixel.reshape(4 * c_out, c_in, 3, 3)


def transposed_by_subpixel(x: torch.Tensor, subpixel: torch.Tensor) -> torch.Tensor:
    """conv_transpose2d(x, W, stride=2, padding=1) for W 4×4, given subpixel_weight(W):
    (B, C_in, H, W) → (B, C_out, 2H, 2W)."""
    return F.pixel_shuffle(F.conv2d(x, subpixel, padding=1), 2)


class StrideTwoPair(torch.autograd.Function):
    """A stride-2, padding-1, 4×4 convolution and its transpose are each other's adjoint, so each
    direction's backward is the other's forward; this runs both on the fast form: the
    convolution natively, the transposed convolution by sub-pixel convolution."""

    @staticmethod
    def forward(ctx, x, weight, subpixel, transposed: bool):
        ctx.save_for_backward(weight, subpixel)
        ctx.transposed = transposed
        return transposed_by_subpixel(x, subpixel) if transposed else F.conv2d(x, weight, stride=2, padding=1)

    @staticmethod
    def backward(ctx, grad):
        weight, subpixel = ctx.saved_tensors
        grad = grad.contiguous(memory_format=torch.channels_last)
        grad_x = F.conv2d(grad, weight, stride=2, padding=1) if ctx.transposed else transposed_by_subpixel(grad, subpixel)
        return grad_x, None, None, None


def frozen(layer: nn.Module) -> nn.Module:
    if any(parameter.requires_grad for parameter in layer.parameters()):
        raise ValueError("fast layers are for frozen networks: their weights get no gradients")
    return layer


class StrideTwoConvolution(nn.Module):
    """A frozen Conv2d (C_in ≤ FEW_CHANNELS → C) or ConvTranspose2d (C → C_out ≤ FEW_CHANNELS),
    4×4, stride 2, padding 1: the same function, forward and backward on StrideTwoPair.
    (B, C_in, H, W) → (B, C_out, H/2, W/2) for the convolution, (B, C_out, 2H, 2W) transposed.
    """

    def __init__(self, layer: nn.Conv2d | nn.ConvTranspose2d):
        super().__init__()
        frozen(layer)
        self.transposed = isinstance(layer, nn.ConvTranspose2d)
        # A convolution's weight (C_out, C_in, 4, 4) read as a transposed one's (in, out, 4, 4) is
        # its adjoint, so one sub-pixel weight serves both directions.
        self.weight = layer.weight
        self.register_buffer("subpixel", subpixel_weight(layer.weight.detach()), persistent=False)
        self.bias = layer.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = StrideTwoPair.apply(x, self.weight, self.subpixel.to(x.dtype), self.transposed)
        return y if self.bias is None else y + self.bias.to(y.dtype).view(1, -1, 1, 1)


class MatrixConvolution(nn.Module):
    """A frozen convolution that is a matrix product for one input size: a ConvTranspose2d with
    padding 0 on a 1×1 input (G's first layer: (B, C, 1, 1) → (B, C_out, k, k)) or a Conv2d
    with padding 0 whose kernel covers the input ((B, C, k, k) → (B, C_out, 1, 1), D's last).
    Other input sizes run the original layer.
    """

    def __init__(self, layer: nn.Conv2d | nn.ConvTranspose2d):
        super().__init__()
        self.layer = frozen(layer)
        self.transposed = isinstance(layer, nn.ConvTranspose2d)
        weight = layer.weight.detach()
        if self.transposed:  # (C, C_out, k, k) → (C, k·k·C_out), columns in channels-last order
            matrix = weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1)
        else:  # (C_out, C, k, k) → (k·k·C, C_out), rows in channels-last order
            matrix = weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1).T
        self.register_buffer("matrix", matrix.contiguous(), persistent=False)
        self.kernel = tuple(weight.shape[-2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, matrix, bias = x.shape[0], self.matrix.to(x.dtype), self.layer.bias
        if self.transposed and x.shape[-2:] == (1, 1):
            y = (x.flatten(1) @ matrix).view(batch, *self.kernel, -1).permute(0, 3, 1, 2)
        elif not self.transposed and tuple(x.shape[-2:]) == self.kernel:
            y = (x.permute(0, 2, 3, 1).reshape(batch, -1) @ matrix).view(batch, -1, 1, 1)
        else:
            return self.layer(x)
        return y if bias is None else y + bias.to(y.dtype).view(1, -1, 1, 1)


def plain(layer: nn.Module) -> bool:
    """A convolution with no groups, dilation, output padding or non-zero padding mode."""
    return (layer.groups == 1 and layer.dilation == (1, 1) and layer.padding_mode == "zeros"
            and getattr(layer, "output_padding", (0, 0)) == (0, 0))


def fast_form(layer: nn.Module) -> nn.Module | None:
    """The fast layer that computes `layer`, or None when it has none."""
    if not isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) or not plain(layer):
        return None
    transposed = isinstance(layer, nn.ConvTranspose2d)
    image_channels = layer.out_channels if transposed else layer.in_channels
    if (layer.kernel_size, layer.stride, layer.padding) == ((4, 4), (2, 2), (1, 1)) and image_channels <= FEW_CHANNELS:
        return StrideTwoConvolution(layer)
    if layer.padding == (0, 0):
        return MatrixConvolution(layer)
    return None


def speed_up_layers(network: nn.Module) -> nn.Module:
    """Replace, in place, every convolution of a frozen `network` that has a fast form here; returns it."""
    for parent in list(network.modules()):
        for name, child in parent.named_children():
            replacement = fast_form(child)
            if replacement is not None:
                setattr(parent, name, replacement)
    return network
