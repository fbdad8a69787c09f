import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from seminpaint.networks.dcgan import DCGANConfig, Discriminator, Generator, init_weights
from seminpaint.runtime.folding import fold_batchnorm, search_copy


def trained_like(network: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics far from the identity, in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    init_weights(network, generator=generator)
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            channels = module.num_features
            module.running_mean.copy_(torch.randn(channels, generator=generator))
            module.running_var.copy_(torch.rand(channels, generator=generator) * 3 + 0.1)
            module.weight.data.copy_(torch.randn(channels, generator=generator))
            module.bias.data.copy_(torch.randn(channels, generator=generator))
    return network.eval()


@pytest.mark.parametrize("conv", [
    nn.Conv2d(3, 5, 4, 2, 1, bias=False), nn.Conv2d(3, 5, 3, 1, 1, bias=True),
    nn.ConvTranspose2d(3, 5, 4, 2, 1, bias=False), nn.ConvTranspose2d(3, 5, 4, 2, 1, bias=True),
])
def test_folding_batchnorm_keeps_the_function_and_removes_the_layer(conv):
    network = trained_like(nn.Sequential(conv, nn.BatchNorm2d(5), nn.ReLU()))
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = network(x)
        folded = fold_batchnorm(copy.deepcopy(network))
        got = folded(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_a_batchnorm_without_a_convolution_before_it_is_kept():
    network = trained_like(nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3)))
    assert isinstance(fold_batchnorm(network)[1], nn.BatchNorm2d)


def test_search_copy_of_the_dcgan_matches_it_and_leaves_it_untouched():
    config = DCGANConfig(image_size=16, generator_features=8, discriminator_features=8, latent_dim=12)
    generator, discriminator = trained_like(Generator(config)), trained_like(Discriminator(config), seed=1)
    generator.train()  # the copy is in eval mode whatever the original's mode
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    fast_g, fast_d = search_copy(generator, torch.float32), search_copy(discriminator, torch.bfloat16)
    assert generator.training  # the original keeps its mode
    z = torch.rand(3, 12, generator=torch.Generator().manual_seed(2)) * 2 - 1
    generator.eval()
    with torch.no_grad():
        image = generator(z)
        assert torch.allclose(fast_g(z), image, atol=1e-5)
        logits = discriminator(image)
        fast_logits = fast_d(image.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)).float()
    assert (fast_logits - logits).abs().max() < 0.05 * logits.abs().max() + 0.05  # bf16 rounding only
    assert all(torch.equal(before[k], v) for k, v in generator.state_dict().items())
    assert all(p.requires_grad for p in generator.parameters())
    assert next(generator.parameters()).is_contiguous()  # the original's layout is not changed either
    assert all(not p.requires_grad for p in fast_g.parameters())
    assert next(fast_d.parameters()).dtype == torch.bfloat16


def test_the_float32_search_copy_gives_the_dcgans_gradient_for_z():
    """BatchNorm folded and the thin layers swapped for their fast forms: the same dL/dz."""
    config = DCGANConfig(image_size=16, generator_features=8, discriminator_features=8, latent_dim=12)
    generator, discriminator = trained_like(Generator(config)), trained_like(Discriminator(config), seed=1)
    fast_g, fast_d = search_copy(generator, torch.float32), search_copy(discriminator, torch.float32)
    kinds = {type(module).__name__ for module in [*fast_g.modules(), *fast_d.modules()]}
    assert {"MatrixConv2d", "MatrixConvTranspose2d", "SubpixelConv2d", "SubpixelConvTranspose2d"} <= kinds
    target = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1

    def gradient(g, d):
        z = (torch.rand(3, 12, generator=torch.Generator().manual_seed(2)) * 2 - 1).requires_grad_(True)
        image = g(z)
        loss = (image - target).abs().sum() - 0.1 * nn.functional.softplus(d(image)).sum()
        return torch.autograd.grad(loss, z)[0]

    generator.requires_grad_(False), discriminator.requires_grad_(False)
    torch.testing.assert_close(gradient(fast_g, fast_d), gradient(generator, discriminator), rtol=1e-4, atol=1e-5)


def test_search_copy_of_a_spectrally_normalised_d_fixes_its_weights_and_keeps_its_logits():
    discriminator = Discriminator(DCGANConfig(image_size=16, discriminator_features=8, spectral_norm=True))
    init_weights(discriminator, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for _ in range(5):
            discriminator(torch.randn(2, 3, 16, 16))  # power iterations: u and v move
    discriminator.eval()
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    fast = search_copy(discriminator, torch.float32, fast_layers=False, memory_format=torch.contiguous_format)
    assert not any(parametrize.is_parametrized(module) for module in fast.modules())
    assert any(parametrize.is_parametrized(module) for module in discriminator.modules())  # the original keeps it
    with torch.no_grad():
        assert torch.allclose(fast(images), discriminator(images), atol=1e-6)
