"""Exact re-expressions of the convolutions that oneDNN runs slowly, for the fast paths (bf16, fp32-fast).

In the DCGAN's forward and backward at batch 64 (bf16, channels_last; benchmarks/layer_speed.py
measures them) the wide middle layers run at about one rate and four thin layers far below it:

- the stride-2 4×4 transposed convolution to (or, backward, from) the 3 image channels: G's last
  layer forward and D's first layer backward, each about twice as slow as the same arithmetic
  run as a plain convolution;
- the 4×4 transposed convolution of G's first layer on its 1×1 input z, and D's last 4×4
  convolution on a 4×4 map (its weight gradient especially): both are matrix products, and run
  several times faster as one.

Each layer class here is a subclass of the nn layer it replaces, with the same parameters (so the
same state_dict), computing the same function up to rounding, with gradients for its input and
its weights. `speed_up_layers` swaps them into a network, sharing the parameters; any other layer,
and any input size these forms do not cover, runs the original way. The plain fp32 paths (the
baselines of the benchmarks) never use them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEW_CHANNELS = 4  # image-side channels (RGB, gray, or RGB + mask) for which the stride-2 form is faster

# The stride-2, padding-1, 4×4 transposed convolution as a 3×3 convolution to 4·C_out channels
# and a pixel shuffle (Shi et al. 2016, "sub-pixel convolution"): output row 2m + a takes kernel
# rows {3, 1} from input rows m − 1, m (a = 0) and {2, 0} from rows m, m + 1 (a = 1). Row a of
# TAPS gives, for the 3×3 window's rows m − 1, m, m + 1, the kernel row used (4: none, a zero).
TAPS = torch.tensor([[3, 1, 4], [4, 2, 0]])


def subpixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """The 3×3 convolution weight (4·C_out, C_in, 3, 3) whose output, pixel-shuffled by 2, is the
    stride-2, padding-1 transposed convolution with `weight` (C_in, C_out, 4, 4); channel
    4·c + 2·a + b of it is output channel c at row phase a and column phase b.
    """
    c_in, c_out = weight.shape[:2]
    padded = F.pad(weight, (0, 1, 0, 1))  # kernel index 4 is zero
    taps = TAPS.to(weight.device)
    picked = padded[:, :, taps][..., taps]  # (C_in, C_out, a, dy, b, dx)
    return picked.permute(1, 2, 4, 0, 3, 5).reshape(4 * c_out, c_in, 3, 3)


def transposed_by_subpixel(x: torch.Tensor, subpixel: torch.Tensor) -> torch.Tensor:
    """conv_transpose2d(x, W, stride=2, padding=1) for a 4×4 W, given subpixel = subpixel_weight(W):
    (B, C_in, H, W) → (B, C_out, 2H, 2W), as a convolution and a pixel shuffle."""
    return F.pixel_shuffle(F.conv2d(x, subpixel, padding=1), 2)


class StrideTwoPair(torch.autograd.Function):
    """A stride-2, padding-1, 4×4 convolution and its transpose are each other's adjoint, so each
    direction's input gradient is the other's forward; this runs both on the fast form (the
    convolution natively, the transposed one by sub-pixel convolution, given subpixel_weight of
    the weight) and the weight gradient natively. x and the weights share one dtype (the caller
    applies autocast)."""

    @staticmethod
    def forward(ctx, x, weight, subpixel, transposed: bool):
        ctx.save_for_backward(x, weight, subpixel)
        ctx.transposed = transposed
        return transposed_by_subpixel(x, subpixel) if transposed else F.conv2d(x, weight, stride=2, padding=1)

    @staticmethod
    def backward(ctx, grad):
        x, weight, subpixel = ctx.saved_tensors
        grad = grad.contiguous(memory_format=layout_of(x))
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = (F.conv2d(grad, weight, stride=2, padding=1) if ctx.transposed
                      else transposed_by_subpixel(grad, subpixel))
        if ctx.needs_input_grad[1]:
            grad_weight = torch.ops.aten.convolution_backward(
                grad, x, weight, None, (2, 2), (1, 1), (1, 1), ctx.transposed, (0, 0), 1, (False, True, False))[1]
        return grad_x, grad_weight, None, None


def layout_of(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a convolution of x runs in: autocast's where it is on, else x's."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


def with_bias(y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return y if bias is None else y + bias.to(y.dtype).view(1, -1, 1, 1)


class StrideTwo:
    """What the two sub-pixel layers share: the forward on StrideTwoPair, and the sub-pixel
    weight in x's dtype and layout, kept while the weight is frozen (as in the search's copies)
    and made anew every call while it trains."""

    cached = None  # (key, sub-pixel weight)

    def stride_two(self, x: torch.Tensor, transposed: bool) -> torch.Tensor:
        dtype = compute_dtype(x)
        # Keyed on the layer's own weight (a cast copy may reuse a freed copy's address).
        key = (self.weight.data_ptr(), self.weight._version, dtype, x.device, layout_of(x))
        x, weight = x.to(dtype), self.weight.to(dtype)
        if self.weight.requires_grad or self.cached is None or self.cached[0] != key:
            subpixel = subpixel_weight(weight.detach()).contiguous(memory_format=layout_of(x))
            self.cached = None if self.weight.requires_grad else (key, subpixel)
        else:
            subpixel = self.cached[1]
        return with_bias(StrideTwoPair.apply(x, weight, subpixel, transposed), self.bias)


class SubpixelConv2d(StrideTwo, nn.Conv2d):
    """Conv2d, 4×4, stride 2, padding 1, from few channels: its input gradient by sub-pixel
    convolution (StrideTwoPair). (B, C_in, H, W) → (B, C_out, H/2, W/2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stride_two(x, transposed=False)


class SubpixelConvTranspose2d(StrideTwo, nn.ConvTranspose2d):
    """ConvTranspose2d, 4×4, stride 2, padding 1, to few channels, by sub-pixel convolution
    (StrideTwoPair). (B, C_in, H, W) → (B, C_out, 2H, 2W)."""

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if output_size is not None:
            return super().forward(x, output_size)
        return self.stride_two(x, transposed=True)


class MatrixConv2d(nn.Conv2d):
    """Conv2d, padding 0, as one matrix product when its kernel covers the input
    ((B, C_in, k, k) → (B, C_out, 1, 1): D's last layer); the usual convolution on other sizes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.kernel_size:
            return super().forward(x)
        weight = self.weight.permute(0, 2, 3, 1).reshape(self.out_channels, -1)  # channels-last order
        y = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1) @ weight.T
        return with_bias(y.view(x.shape[0], -1, 1, 1), self.bias)


class MatrixConvTranspose2d(nn.ConvTranspose2d):
    """ConvTranspose2d, padding 0, as one matrix product on a 1×1 input ((B, C_in, 1, 1) →
    (B, C_out, k, k): G's first layer, on z); the usual transposed convolution on other sizes."""

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if x.shape[-2:] != (1, 1) or output_size is not None:
            return super().forward(x, output_size)
        weight = self.weight.permute(0, 2, 3, 1).reshape(self.in_channels, -1)  # (C_in, k·k·C_out)
        y = (x.flatten(1) @ weight).view(x.shape[0], *self.kernel_size, self.out_channels)
        return with_bias(y.permute(0, 3, 1, 2), self.bias)


def plain(layer: nn.Module) -> bool:
    """A convolution with no groups, dilation, output padding or non-zero padding mode."""
    return (layer.groups == 1 and layer.dilation == (1, 1) and layer.padding_mode == "zeros"
            and getattr(layer, "output_padding", (0, 0)) == (0, 0))


def fast_class(layer: nn.Module) -> type | None:
    """The class of this module that computes `layer` faster, or None when it has none."""
    if type(layer) not in (nn.Conv2d, nn.ConvTranspose2d) or not plain(layer):
        return None  # (a parametrised layer, e.g. spectral norm, has a class of its own)
    if layer._forward_hooks or layer._forward_pre_hooks or not isinstance(layer.weight, nn.Parameter):
        return None  # hooks (e.g. the old weight norm) would be lost in the swap
    transposed = isinstance(layer, nn.ConvTranspose2d)
    image_channels = layer.out_channels if transposed else layer.in_channels
    if (layer.kernel_size, layer.stride, layer.padding) == ((4, 4), (2, 2), (1, 1)) and image_channels <= FEW_CHANNELS:
        return SubpixelConvTranspose2d if transposed else SubpixelConv2d
    if layer.padding == (0, 0):
        return MatrixConvTranspose2d if transposed else MatrixConv2d
    return None


def fast_form(layer: nn.Module) -> nn.Module | None:
    """`layer` as its fast class, sharing its parameters (and so its state_dict and any optimiser
    that holds them), or None when it has none."""
    cls = fast_class(layer)
    if cls is None:
        return None
    fast = cls(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
               padding=layer.padding, bias=layer.bias is not None, device="meta")
    fast.weight, fast.bias = layer.weight, layer.bias
    return fast.train(layer.training)


def speed_up_layers(network: nn.Module) -> nn.Module:
    """Replace, in place, every convolution of `network` that has a fast form here; returns it."""
    for parent in list(network.modules()):
        for name, child in parent.named_children():
            replacement = fast_form(child)
            if replacement is not None:
                setattr(parent, name, replacement)
    return network
