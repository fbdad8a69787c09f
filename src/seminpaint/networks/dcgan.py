"""The DCGAN of the paper (section 3.4, after Radford et al.): a generator G and a discriminator D.

G maps z ∈ U[-1, 1]^latent_dim to an image in [-1, 1] of shape (channels, image_size, image_size);
D mirrors it (strided convolutions, channels doubling as the image halves) and returns one logit
per image, the paper's two-class softmax written as a single sigmoid logit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Integral

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as spectrally_normalised

from ..errors import InpaintError

MAX_IMAGE_SIZE = 256
MAX_LATENT_DIM = 8192
MAX_FEATURES = 1024
MAX_PARAMETERS = 100_000_000
"""Limits of every network configuration (DCGANConfig, encoder.EncoderConfig,
context_encoder.ContextEncoderConfig), checked when the configuration is made: before any network
is built, so that a checkpoint's header cannot make the loader allocate what it likes. Sides up to
MAX_IMAGE_SIZE, latent (and bottleneck) sizes up to MAX_LATENT_DIM, widths up to MAX_FEATURES, and
at most MAX_PARAMETERS parameters and buffers in each network (400 MB in float32; the paper's
64×64 G has 3.6 M, D 2.8 M)."""


def check_whole(name: str, value, low: int, high: int) -> None:
    """value must be an integer (not a bool) in [low, high]; else InpaintError naming it."""
    if not isinstance(value, Integral) or isinstance(value, bool) or not low <= value <= high:
        raise InpaintError(f"{name} must be a whole number from {low} to {high}, got {value!r:.40}")


def check_image(image_size, channels, latent_dim) -> None:
    """image_size a power of two from 8 to MAX_IMAGE_SIZE, channels 1 or 3, latent_dim from 1 to
    MAX_LATENT_DIM, all integers (not bools); else InpaintError naming the first that is not."""
    if (not isinstance(image_size, Integral) or isinstance(image_size, bool) or not 8 <= image_size <= MAX_IMAGE_SIZE
            or image_size & (image_size - 1)):
        raise InpaintError(f"image_size must be a power of two from 8 to {MAX_IMAGE_SIZE}, got {image_size!r:.40}")
    if not isinstance(channels, Integral) or isinstance(channels, bool) or channels not in (1, 3):
        raise InpaintError(f"channels must be 1 or 3, got {channels!r:.40}")
    check_whole("latent_dim", latent_dim, 1, MAX_LATENT_DIM)


def upsamplings(image_size: int) -> int:
    """Stride-2 layers between 4×4 and image_size (3 for 64×64, 2 for 32×32)."""
    return int(math.log2(image_size)) - 3


def check_network_size(what: str, size: int) -> None:
    """InpaintError when a network of `size` parameters and buffers (elements) is over MAX_PARAMETERS."""
    if size > MAX_PARAMETERS:
        raise InpaintError(f"{what} would have {size:,} parameters, more than the {MAX_PARAMETERS:,} "
                           "a network may have here")


def conv_size(channels_in: int, channels_out: int, spectral_norm: bool) -> int:
    """Parameters and buffers of a bias-free 4×4 conv, with spectral_norm also its power
    iteration's u (channels_out) and v (channels_in · 16)."""
    return channels_in * channels_out * 16 + ((channels_out + channels_in * 16) if spectral_norm else 0)


def trunk_size(in_channels: int, features: int, downsamplings: int, *,
               spectral_norm: bool = False) -> tuple[int, int]:
    """(parameters and buffers, output width) of discriminator_trunk(in_channels, features,
    downsamplings, spectral_norm=…), counted from the numbers alone (nothing is built)."""
    width, size = features, conv_size(in_channels, features, spectral_norm)
    for _ in range(downsamplings):
        size += conv_size(width, 2 * width, spectral_norm)
        size += 0 if spectral_norm else 4 * (2 * width) + 1  # BN weight, bias, running mean, var, count
        width *= 2
    return size, width


def generator_size(config: "DCGANConfig") -> int:
    """Parameters and buffers of Generator(config), counted from the numbers alone."""
    width = config.generator_features * 2**config.upsamplings
    size = config.latent_dim * width * 16 + 4 * width + 1
    for _ in range(config.upsamplings):
        size += width * (width // 2) * 16 + 4 * (width // 2) + 1
        width //= 2
    return size + width * config.channels * 16


def discriminator_size(config: "DCGANConfig") -> int:
    """Parameters and buffers of Discriminator(config), counted from the numbers alone."""
    size, width = trunk_size(config.channels, config.discriminator_features, config.upsamplings,
                             spectral_norm=config.spectral_norm)
    return size + conv_size(width, 1, config.spectral_norm)


@dataclass(frozen=True)
class DCGANConfig:
    """Everything needed to rebuild the networks; stored beside the weights in every checkpoint.

    image_size: 32 or 64 (any power of two from 8 to MAX_IMAGE_SIZE works); channels: 1 (gray) or 3 (RGB).
    generator_features / discriminator_features: width of the layer nearest the image
    (the paper's 64, at most MAX_FEATURES); the width doubles at every halving of the resolution.
    latent_dim: at most MAX_LATENT_DIM. G and D may have at most MAX_PARAMETERS parameters each.
    spectral_norm: D's convolutions spectrally normalised and its BatchNorm left out (SN-GAN,
    Miyato et al. 2018; not the paper's, which is False).
    Every limit is checked here, before any network is built (InpaintError).
    """

    latent_dim: int = 100
    image_size: int = 64
    channels: int = 3
    generator_features: int = 64
    discriminator_features: int = 64
    spectral_norm: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.spectral_norm, bool):
            raise InpaintError(f"spectral_norm must be true or false, got {self.spectral_norm!r}")
        check_image(self.image_size, self.channels, self.latent_dim)
        check_whole("generator_features", self.generator_features, 1, MAX_FEATURES)
        check_whole("discriminator_features", self.discriminator_features, 1, MAX_FEATURES)
        check_network_size("the generator", generator_size(self))
        check_network_size("the discriminator", discriminator_size(self))

    @property
    def upsamplings(self) -> int:
        """Number of stride-2 layers between 4×4 and image_size (3 for 64×64, 2 for 32×32)."""
        return upsamplings(self.image_size)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DCGANConfig":
        return cls(**known_fields(cls, values))


def known_fields(config_class: type, values: dict, what: str = "the configuration") -> dict:
    """The entries of `values` (a config read from JSON) that are fields of the dataclass
    `config_class`; others are ignored. InpaintError, naming `what`, unless `values` is a dict."""
    if not isinstance(values, dict):
        raise InpaintError(f"{what} must be a JSON object, got {type(values).__name__}")
    return {field: values[field] for field in config_class.__dataclass_fields__ if field in values}



class Generator(nn.Module):
    """G: z (B, latent_dim) in [-1, 1] → image (B, channels, size, size) in [-1, 1].

    For the paper's 64×64×3 with 64 features:
        z (B,100) → (B,100,1,1)
        ConvT 4×4 s1 → (B,512,4,4)   BN ReLU
        ConvT 4×4 s2 → (B,256,8,8)   BN ReLU
        ConvT 4×4 s2 → (B,128,16,16) BN ReLU
        ConvT 4×4 s2 → (B,64,32,32)  BN ReLU
        ConvT 4×4 s2 → (B,3,64,64)   tanh
    """

    latent_range = (-1.0, 1.0)

    def __init__(self, config: DCGANConfig = DCGANConfig()) -> None:
        super().__init__()
        self.config = config
        self.latent_dim = config.latent_dim
        width = config.generator_features * 2**config.upsamplings
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(config.latent_dim, width, 4, 1, 0, bias=False),  # → 4×4
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        for _ in range(config.upsamplings):  # each doubles the size, halves the width
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(inplace=True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, config.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    """D: image (B, channels, size, size) in [-1, 1] → one logit per image, shape (B,).

    D(x) = sigmoid(logit) is the probability that x is real. For 64×64×3 with 64 features:
        (B,3,64,64) → Conv 4×4 s2 → (B,64,32,32)  LeakyReLU(0.2)
        → Conv s2 → (B,128,16,16) BN LReLU → (B,256,8,8) BN LReLU → (B,512,4,4) BN LReLU
        → Conv 4×4 s1 → (B,1,1,1) → logit (B,)
    """

    def __init__(self, config: DCGANConfig = DCGANConfig()) -> None:
        super().__init__()
        self.config = config
        layers, width = discriminator_trunk(config.channels, config.discriminator_features, config.upsamplings,
                                            spectral_norm=config.spectral_norm)
        layers.append(normalised(nn.Conv2d(width, 1, 4, 1, 0, bias=False), config.spectral_norm))  # 4×4 → 1×1
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).reshape(image.shape[0])


def normalised(conv: nn.Conv2d, spectral_norm: bool) -> nn.Module:
    """`conv` itself, or with spectral_norm its weight W applied as W / σ(W) (σ: largest singular
    value, estimated by one power iteration per training-mode forward; Miyato et al. 2018)."""
    return spectrally_normalised(conv) if spectral_norm else conv


def discriminator_trunk(in_channels: int, features: int, downsamplings: int, *,
                        spectral_norm: bool = False) -> tuple[list[nn.Module], int]:
    """D's layers up to its 4×4 feature map, and that map's width: (B, in_channels, S, S) → (B, width, 4, 4).

    A 4×4 stride-2 conv to `features` channels with LeakyReLU(0.2), then `downsamplings` times a 4×4
    stride-2 conv doubling the width, BN, LeakyReLU(0.2); S = 2**(downsamplings + 3). With
    spectral_norm every conv's weight is divided by its largest singular value (one power iteration
    per training step) and there is no BN. Shared by D and the Context Encoder's encoder
    (context_encoder.py).
    """
    def conv(channels_in: int, channels_out: int) -> nn.Module:
        return normalised(nn.Conv2d(channels_in, channels_out, 4, 2, 1, bias=False), spectral_norm)

    width = features
    layers: list[nn.Module] = [conv(in_channels, width), nn.LeakyReLU(0.2, inplace=True)]
    for _ in range(downsamplings):
        layers.append(conv(width, width * 2))
        if not spectral_norm:
            layers.append(nn.BatchNorm2d(width * 2))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        width *= 2
    return layers, width


def init_weights(network: nn.Module, *, generator: torch.Generator | None = None) -> None:
    """DCGAN initialisation (Radford et al.): conv weights N(0, 0.02), BN weights N(1, 0.02), in place."""
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            # a spectrally normalised weight is computed from the stored one; initialise that
            weight = (module.parametrizations.weight.original if parametrize.is_parametrized(module, "weight")
                      else module.weight)
            nn.init.normal_(weight, 0.0, 0.02, generator=generator)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(module.bias)


def sample_latent(
    count: int, latent_dim: int, *, generator: torch.Generator | None = None,
    low: float = -1.0, high: float = 1.0, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """z ~ U[low, high]^latent_dim, shape (count, latent_dim): the paper's uniform prior p_z."""
    z = torch.rand(count, latent_dim, generator=generator, device=device)
    return z * (high - low) + low
