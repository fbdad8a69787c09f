"""The DCGAN of the paper (section 3.4, after Radford et al.): a generator G and a discriminator D.

G maps z ∈ U[-1, 1]^latent_dim to an image in [-1, 1] of shape (channels, image_size, image_size);
D mirrors it (strided convolutions, channels doubling as the image halves) and returns one logit
per image, the paper's two-class softmax written as a single sigmoid logit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .errors import InpaintError


@dataclass(frozen=True)
class DCGANConfig:
    """Everything needed to rebuild the networks; stored beside the weights in every checkpoint.

    image_size: 32 or 64 (any power of two ≥ 8 works); channels: 1 (gray) or 3 (RGB).
    generator_features / discriminator_features: width of the layer nearest the image
    (the paper's 64); the width doubles at every halving of the resolution.
    """

    latent_dim: int = 100
    image_size: int = 64
    channels: int = 3
    generator_features: int = 64
    discriminator_features: int = 64

    def __post_init__(self) -> None:
        if self.image_size < 8 or self.image_size & (self.image_size - 1):
            raise InpaintError(f"image_size must be a power of two ≥ 8, got {self.image_size}")
        if self.channels not in (1, 3):
            raise InpaintError(f"channels must be 1 or 3, got {self.channels}")
        if self.latent_dim < 1:
            raise InpaintError(f"latent_dim must be positive, got {self.latent_dim}")

    @property
    def upsamplings(self) -> int:
        """Number of stride-2 layers between 4×4 and image_size (3 for 64×64, 2 for 32×32)."""
        return int(math.log2(self.image_size)) - 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DCGANConfig":
        known = {field: values[field] for field in cls.__dataclass_fields__ if field in values}
        return cls(**known)


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
        layers, width = discriminator_trunk(config.channels, config.discriminator_features, config.upsamplings)
        layers.append(nn.Conv2d(width, 1, 4, 1, 0, bias=False))  # 4×4 → 1×1
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).reshape(image.shape[0])


def discriminator_trunk(in_channels: int, features: int, downsamplings: int) -> tuple[list[nn.Module], int]:
    """D's layers up to its 4×4 feature map, and that map's width: (B, in_channels, S, S) → (B, width, 4, 4).

    A 4×4 stride-2 conv to `features` channels with LeakyReLU(0.2), then `downsamplings` times a 4×4
    stride-2 conv doubling the width, BN, LeakyReLU(0.2); S = 2**(downsamplings + 3). Shared by D
    and the Context Encoder's encoder (context_encoder.py).
    """
    width = features
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, width, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
    ]
    for _ in range(downsamplings):
        layers += [
            nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width * 2),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width *= 2
    return layers, width


def init_weights(network: nn.Module, *, generator: torch.Generator | None = None) -> None:
    """DCGAN initialisation (Radford et al.): conv weights N(0, 0.02), BN weights N(1, 0.02), in place."""
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, 0.02, generator=generator)
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
