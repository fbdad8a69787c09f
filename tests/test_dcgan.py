import pytest
import torch

from seminpaint.errors import InpaintError
from seminpaint.networks.dcgan import DCGANConfig, Discriminator, Generator, sample_latent


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
])
def test_bad_config(field, value, message):
    with pytest.raises(InpaintError, match=message):
        DCGANConfig(**{field: value})
