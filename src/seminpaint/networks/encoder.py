"""A latent encoder E: (y, M) → z, a learned starting point for the search of Eq. 2 (ours, not the paper's).

The paper starts every search from a random z and needs 1500 Adam steps. E is trained
(training/latent_encoder.py) to *amortise* that search: to output, in one forward pass, a z with
low search objective L_c(z | y, M) + L_p(z) for the corrupted image y and its mask M. The search
then starts from E(y, M) instead of a random z and needs far fewer steps (SearchSettings.start,
docs/results/README.md).

Network, for 64×64×3 with features 64 and latent_dim 100:
    image (B,3,64,64) in [-1, 1], hole set to 0, and the mask (1 = missing) → (B,4,64,64)
    → the DCGAN discriminator's trunk (dcgan.discriminator_trunk) on C + 1 channels → (B,512,4,4)
    → Conv 4×4 → (B,100,1,1) → tanh, scaled to the latent range → z (B,100) in (low, high)
The tanh keeps z inside the range the search clips it to.

Mask convention: True / 1 = missing, to be filled.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Real

import torch
from torch import nn

from ..errors import InpaintError
from .dcgan import (
    MAX_FEATURES, DCGANConfig, check_image, check_network_size, check_whole, discriminator_trunk, known_fields,
    trunk_size, upsamplings,
)

MAX_LATENT_RANGE = 1e6  # |low| and |high| of latent_range at most


@dataclass(frozen=True)
class EncoderConfig:
    """Everything needed to rebuild a latent encoder; stored beside its weights.

    image_size, channels, latent_dim: those of the generator it serves (DCGANConfig's rules);
    features: width of the layer nearest the image, doubling at every halving (as in D; at most
    dcgan.MAX_FEATURES); latent_range: (low, high) of z, the generator's: finite, low < high, each
    within ±MAX_LATENT_RANGE. The network may have at most dcgan.MAX_PARAMETERS parameters. Every
    limit is checked here, before any network is built (InpaintError).
    """

    image_size: int = 64
    channels: int = 3
    latent_dim: int = 100
    features: int = 64
    latent_range: tuple[float, float] = (-1.0, 1.0)

    def __post_init__(self) -> None:
        check_whole("features", self.features, 1, MAX_FEATURES)
        bounds = self.latent_range
        if (not isinstance(bounds, tuple) or len(bounds) != 2
                or not all(isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)
                           and abs(v) <= MAX_LATENT_RANGE for v in bounds)
                or not bounds[0] < bounds[1]):
            raise InpaintError(f"latent_range must be (low, high), two finite numbers within ±{MAX_LATENT_RANGE:g} "
                               f"with low < high, got {bounds!r:.60}")
        check_image(self.image_size, self.channels, self.latent_dim)
        check_network_size("the latent encoder", encoder_size(self))

    @property
    def dcgan(self) -> DCGANConfig:
        """The DCGAN configuration with this image size, channel count and latent size."""
        return DCGANConfig(latent_dim=self.latent_dim, image_size=self.image_size, channels=self.channels)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "EncoderConfig":
        known = known_fields(cls, values, "the encoder's configuration")
        if isinstance(known.get("latent_range"), list):
            known["latent_range"] = tuple(known["latent_range"])
        return cls(**known)


def encoder_size(config: EncoderConfig) -> int:
    """Parameters and buffers of LatentEncoder(config), counted from the numbers alone (nothing is built)."""
    trunk, width = trunk_size(config.channels + 1, config.features, upsamplings(config.image_size))
    return trunk + width * config.latent_dim * 16 + config.latent_dim + 2  # code conv and bias; centre, half_width


class LatentEncoder(nn.Module):
    """E: (image, mask) → z. image (B, C, H, W) in [-1, 1] (the hole's values are ignored: set to 0),
    mask (B, H, W) or (B, 1, H, W), bool or 0/1, True = missing → z (B, latent_dim) in (low, high)."""

    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        super().__init__()
        self.config = config
        layers, width = discriminator_trunk(config.channels + 1, config.features, upsamplings(config.image_size))
        code = nn.Conv2d(width, config.latent_dim, 4, 1, 0)  # 4×4 → 1×1
        nn.init.zeros_(code.bias)  # (dcgan.init_weights sets the weights; the bias starts at the range's centre)
        self.net = nn.Sequential(*layers, code)
        low, high = config.latent_range
        self.register_buffer("centre", torch.tensor((high + low) / 2), persistent=False)
        self.register_buffer("half_width", torch.tensor((high - low) / 2), persistent=False)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if mask.ndim == 3:
            mask = mask[:, None]
        hole = mask.to(device=image.device, dtype=torch.bool)
        inputs = torch.cat([image.masked_fill(hole, 0.0), hole.to(image.dtype)], dim=1)
        if image.is_contiguous(memory_format=torch.channels_last):
            inputs = inputs.contiguous(memory_format=torch.channels_last)  # bf16 training keeps channels_last
        code = self.net(inputs).reshape(image.shape[0], -1)
        return (torch.tanh(code.float()) * self.half_width + self.centre).to(image.dtype)
