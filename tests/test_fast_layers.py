"""The fast layers compute the same function and gradients as the layers they replace."""

import pytest
import torch
from torch import nn

from seminpaint.runtime.fast_layers import (
    MatrixConv2d, MatrixConvTranspose2d, SubpixelConv2d, SubpixelConvTranspose2d, speed_up_layers, subpixel_weight,
    transposed_by_subpixel,
)


def randomised(layer: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    for parameter in layer.parameters():
        parameter.data.normal_(0, 0.1)
    return layer.double()


def value_and_gradients(layer: nn.Module, x: torch.Tensor, seed: int = 1):
    """layer(x) and the gradients of <layer(x), R> (R fixed, random) for x and every parameter."""
    x = x.detach().requires_grad_(True)
    y = layer(x)
    weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    inputs = [x, *layer.parameters()]
    return (y, *torch.autograd.grad((y * weights).sum(), inputs))


CASES = [  # (layer, input shape, the fast class it becomes)
    (nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), (2, 64, 8, 8), SubpixelConvTranspose2d),  # G's last
    (nn.ConvTranspose2d(16, 1, 4, 2, 1), (2, 16, 5, 7), SubpixelConvTranspose2d),  # gray, with bias
    (nn.Conv2d(3, 64, 4, 2, 1, bias=False), (2, 3, 16, 16), SubpixelConv2d),  # D's first
    (nn.Conv2d(4, 8, 4, 2, 1), (2, 4, 6, 10), SubpixelConv2d),  # the latent encoder's first: RGB + mask
    (nn.ConvTranspose2d(10, 32, 4, 1, 0), (3, 10, 1, 1), MatrixConvTranspose2d),  # G's first, on z
    (nn.Conv2d(32, 1, 4, 1, 0, bias=False), (3, 32, 4, 4), MatrixConv2d),  # D's last
    (nn.Conv2d(32, 5, (4, 3), 2, 0), (3, 32, 4, 3), MatrixConv2d),  # any stride, a non-square kernel
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("layer, shape, kind", CASES)
def test_a_fast_layer_matches_the_original_forward_and_backward(layer, shape, kind, channels_last):
    layer = randomised(layer)
    fast = speed_up_layers(nn.Sequential(layer))[0]
    assert type(fast) is kind
    assert fast.weight is layer.weight and fast.bias is layer.bias  # shared: the optimiser's, the state_dict's
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    for got, expected in zip(value_and_gradients(fast, x), value_and_gradients(layer, x), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_fast_layers_follow_autocast_like_the_layers_they_replace():
    layer = nn.Sequential(nn.ConvTranspose2d(8, 3, 4, 2, 1), nn.Tanh(), nn.Conv2d(3, 2, 4, 2, 1), nn.Conv2d(2, 1, 4))
    randomised(layer).float()
    x = torch.randn(2, 8, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = layer(x)
        got = speed_up_layers(layer)(x)
    assert got.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected.float(), rtol=0.05, atol=0.05)  # bf16 rounding only


@pytest.mark.parametrize("layer, shape", [
    (nn.ConvTranspose2d(10, 32, 4, 1, 0), (2, 10, 3, 3)),  # not a 1×1 input
    (nn.Conv2d(32, 1, 4, 1, 0), (2, 32, 6, 6)),  # the kernel does not cover the input
])
def test_a_matrix_layer_convolves_inputs_of_other_sizes(layer, shape):
    layer = randomised(layer)
    fast = speed_up_layers(nn.Sequential(layer))[0]
    x = torch.randn(shape, dtype=torch.float64)
    for got, expected in zip(value_and_gradients(fast, x), value_and_gradients(layer, x), strict=True):
        torch.testing.assert_close(got, expected)


def test_the_subpixel_form_is_the_transposed_convolution():
    weight = torch.randn(5, 3, 4, 4, dtype=torch.float64)
    x = torch.randn(2, 5, 4, 6, dtype=torch.float64)
    assert subpixel_weight(weight).shape == (12, 5, 3, 3)
    torch.testing.assert_close(transposed_by_subpixel(x, subpixel_weight(weight)),
                               nn.functional.conv_transpose2d(x, weight, stride=2, padding=1))


@pytest.mark.parametrize("layer", [
    nn.Conv2d(64, 128, 4, 2, 1),  # wide on both sides: oneDNN's own kernel is faster
    nn.ConvTranspose2d(128, 64, 4, 2, 1),
    nn.ConvTranspose2d(64, 3, 4, 2, 1, output_padding=1),
    nn.Conv2d(3, 64, 4, 2, 1, dilation=2),
    nn.Conv2d(3, 64, 3, 1, 1),
    nn.Conv2d(4, 8, 1, 1, 0, groups=2),
])
def test_layers_without_a_fast_form_are_left_alone(layer):
    assert speed_up_layers(nn.Sequential(layer))[0] is layer


def test_layers_with_hooks_or_parametrisations_are_left_alone():
    hooked = nn.Conv2d(3, 8, 4, 2, 1)
    hooked.register_forward_pre_hook(lambda module, inputs: None)  # as the old weight norm does
    parametrised = nn.utils.parametrizations.spectral_norm(nn.ConvTranspose2d(8, 3, 4, 2, 1))
    network = speed_up_layers(nn.Sequential(hooked, parametrised))
    assert network[0] is hooked and network[1] is parametrised


def test_the_state_dict_keeps_its_keys():
    network = nn.Sequential(nn.ConvTranspose2d(10, 8, 4, 1, 0), nn.ReLU(), nn.ConvTranspose2d(8, 3, 4, 2, 1))
    keys = list(network.state_dict())
    assert list(speed_up_layers(network).state_dict()) == keys


def test_a_frozen_sub_pixel_layer_notices_its_weight_change():
    """The sub-pixel weight is kept between calls while the weight is frozen, but not past a change."""
    layer = randomised(nn.ConvTranspose2d(6, 3, 4, 2, 1)).requires_grad_(False)
    fast = speed_up_layers(nn.Sequential(layer))[0]
    x = torch.randn(1, 6, 5, 5, dtype=torch.float64)
    fast(x)
    with torch.no_grad():
        layer.weight.mul_(-2)  # in place, as load_state_dict and fold_batchnorm change weights
    torch.testing.assert_close(fast(x), layer(x))


def test_a_frozen_float32_sub_pixel_layer_under_autocast_notices_its_weight_change():
    """Under bf16 autocast the weight is cast anew every call; the kept sub-pixel weight follows the layer's own."""
    layer = randomised(nn.Conv2d(3, 8, 4, 2, 1)).float().requires_grad_(False)
    fast = speed_up_layers(nn.Sequential(layer))[0]
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast(x).sum().backward()
        with torch.no_grad():
            layer.weight.mul_(-2)
        expected = torch.autograd.grad(layer(x).sum(), x)[0]
        got = torch.autograd.grad(fast(x).sum(), x)[0]
    torch.testing.assert_close(got, expected, rtol=0.05, atol=0.05)  # bf16 rounding only
