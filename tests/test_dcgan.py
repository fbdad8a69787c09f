import pytest
import torch
from torch import nn

from seminpaint.errors import InpaintError
from seminpaint.networks.dcgan import (
    DCGANConfig, Discriminator, Generator, discriminator_size, generator_size, init_weights, sample_latent,
)


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_paper_sizes_match_the_measured_network():
    # The model card (src/seminpaint/weights/README.md): G 3.58 M parameters, D 2.77 M for the paper's 64×64×3 DCGAN.
    assert count(Generator()) == pytest.approx(3.58e6, rel=0.01)
    assert count(Discriminator()) == pytest.approx(2.77e6, rel=0.01)


@pytest.mark.parametrize("size,channels", [(64, 3), (32, 3), (32, 1), (64, 1)])
def test_shapes_and_ranges(size, channels):
    config = DCGANConfig(image_size=size, channels=channels, generator_features=8, discriminator_features=8)
    generator, discriminator = Generator(config).eval(), Discriminator(config).eval()
    z = sample_latent(5, config.latent_dim, generator=torch.Generator().manual_seed(0))
    images = generator(z)
    assert images.shape == (5, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1  # tanh output
    assert discriminator(images).shape == (5,)


def test_sample_latent_is_uniform_in_range():
    z = sample_latent(20000, 4, generator=torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1
    assert z.mean().abs() < 0.02 and (z.var() - 1 / 3).abs() < 0.01  # U[-1, 1]: mean 0, var 1/3


@pytest.mark.parametrize("field,value,message", [
    ("image_size", 48, "power of two"), ("channels", 2, "channels must be 1 or 3"), ("latent_dim", 0, "latent_dim"),
    ("spectral_norm", "yes", "spectral_norm must be true or false"),
])
def test_bad_config(field, value, message):
    with pytest.raises(InpaintError, match=message):
        DCGANConfig(**{field: value})


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_sizes_counted_from_the_numbers_match_the_built_networks(spectral_norm):
    config = DCGANConfig(image_size=32, generator_features=12, discriminator_features=8, spectral_norm=spectral_norm)
    for network, counted in ((Generator(config), generator_size(config)),
                             (Discriminator(config), discriminator_size(config))):
        assert counted == sum(t.numel() for t in [*network.parameters(), *network.buffers()])


def test_spectral_normalisation_makes_every_convolution_of_d_one_lipschitz():
    config = DCGANConfig(image_size=16, discriminator_features=8, spectral_norm=True)
    torch.manual_seed(0)  # the power iteration's starting u and v
    discriminator = Discriminator(config)
    init_weights(discriminator, generator=torch.Generator().manual_seed(0))
    assert not any(isinstance(module, nn.BatchNorm2d) for module in discriminator.modules())
    convolutions = [module for module in discriminator.modules() if isinstance(module, nn.Conv2d)]
    assert len(convolutions) == config.upsamplings + 2  # the first, one per halving, the 4×4 → 1×1
    with torch.no_grad():
        for _ in range(300):  # every forward in training mode is one power iteration per convolution
            discriminator(torch.randn(2, 3, 16, 16))
    discriminator.eval()
    for conv in convolutions:
        stored = conv.parametrizations.weight.original  # N(0, 0.02): its largest singular value is far from 1
        used = conv.weight  # W / σ(W), the weight the convolution applies
        assert torch.linalg.matrix_norm(stored.reshape(len(stored), -1), ord=2) < 0.7
        assert torch.linalg.matrix_norm(used.reshape(len(used), -1), ord=2).item() == pytest.approx(1.0, abs=0.01)
