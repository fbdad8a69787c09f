"""The fast layers compute the same function and input gradient as the layers they replace."""

import pytest
import torch
from torch import nn

from seminpaint.fast_layers import (
    MatrixConvolution,
    StrideTwoConvolution,
    speed_up_layers,
    subpixel_weight,
    transposed_by_subpixel,
)


def frozen(layer: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    for parameter in layer.parameters():
        parameter.data.normal_(0, 0.1)
    return layer.double().requires_grad_(False)


def value_and_input_gradient(layer: nn.Module, x: torch.Tensor, seed: int = 1):
    """layer(x) and the gradient of <layer(x), R> for a fixed random R."""
    x = x.detach().requires_grad_(True)
    y = layer(x)
    weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    (gradient,) = torch.autograd.grad((y * weights).sum(), x)
    return y, gradient


CASES = [  # (layer, input shape, the fast layer it becomes)
    (nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), (2, 64, 8, 8), StrideTwoConvolution),  # G's last
    (nn.ConvTranspose2d(16, 1, 4, 2, 1), (2, 16, 5, 7), StrideTwoConvolution),  # gray, with bias
    (nn.Conv2d(3, 64, 4, 2, 1, bias=False), (2, 3, 16, 16), StrideTwoConvolution),  # D's first
    (nn.Conv2d(1, 8, 4, 2, 1), (2, 1, 6, 10), StrideTwoConvolution),
    (nn.ConvTranspose2d(10, 32, 4, 1, 0), (3, 10, 1, 1), MatrixConvolution),  # G's first, on z
    (nn.Conv2d(32, 1, 4, 1, 0, bias=False), (3, 32, 4, 4), MatrixConvolution),  # D's last
    (nn.Conv2d(32, 5, (4, 3), 2, 0), (3, 32, 4, 3), MatrixConvolution),  # any stride, a non-square kernel
]


@pytest.mark.parametrize("layer, shape, kind", CASES)
def test_a_fast_layer_matches_the_original_forward_and_backward(layer, shape, kind):
    layer = frozen(layer)
    fast = speed_up_layers(nn.Sequential(layer))[0]
    assert isinstance(fast, kind)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected, expected_gradient = value_and_input_gradient(layer, x)
    value, gradient = value_and_input_gradient(fast, x)
    torch.testing.assert_close(value, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gradient, expected_gradient, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layer, shape", [
    (nn.ConvTranspose2d(10, 32, 4, 1, 0), (2, 10, 3, 3)),  # not a 1×1 input
    (nn.Conv2d(32, 1, 4, 1, 0), (2, 32, 6, 6)),  # the kernel does not cover the input
])
def test_a_matrix_convolution_runs_the_original_layer_on_other_input_sizes(layer, shape):
    layer = frozen(layer)
    fast = MatrixConvolution(layer)
    x = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(value_and_input_gradient(fast, x), value_and_input_gradient(layer, x))


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
    nn.Conv2d(3, 64, 4, 2, 1, groups=1, dilation=2),
    nn.Conv2d(3, 64, 3, 1, 1),
    nn.Conv2d(4, 8, 1, 1, 0, groups=2),
])
def test_layers_without_a_fast_form_are_left_alone(layer):
    layer = frozen(layer)
    assert speed_up_layers(nn.Sequential(layer))[0] is layer


def test_fast_layers_refuse_weights_that_would_train():
    with pytest.raises(ValueError, match="frozen"):
        speed_up_layers(nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1)))
