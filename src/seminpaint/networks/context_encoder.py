"""The Context Encoder of Pathak et al. 2016 (the paper's [30], its "CE" baseline): a network that maps
an image with a hole to the whole image in one forward pass, trained with a reconstruction loss on
the hole plus an adversarial loss.

Network (ContextEncoder), for 64×64×3 with features 64 and bottleneck 512:
    image (B,3,64,64) in [-1, 1], hole set to 0, and the mask (1 = missing) → (B,4,64,64)
    → Conv 4×4 s2 → (B,64,32,32) LReLU → (B,128,16,16) → (B,256,8,8) → (B,512,4,4), BN LReLU 0.2
      (the DCGAN discriminator's trunk, dcgan.discriminator_trunk, with C + 1 input channels)
    → Conv 4×4 → (B,512,1,1) BN LReLU 0.2                   (Pathak's bottleneck)
    → dcgan.Generator with latent_dim = 512, reused as is    (Pathak's decoder is the DCGAN G)
    → (B,3,64,64) in [-1, 1]
The mask channel is our addition to Pathak's network, which saw only the image, its holes filled
with the mean colour: with 80 % of the pixels missing at random, a network without it cannot tell a
missing pixel from a grey one. complete() keeps the known pixels and takes the hole from the output.

Training: seminpaint.training.context_encoder. Checkpoint files: checkpoint.py (CONTEXT_ENCODER_FORMAT).

Mask convention: True / 1 = missing, to be filled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .checkpoint import CONTEXT_ENCODER_FORMAT, load_weights, read_checkpoint, write_checkpoint
from .dcgan import (
    MAX_FEATURES, MAX_LATENT_DIM, DCGANConfig, Generator, check_network_size, check_whole, discriminator_trunk,
    generator_size, known_fields, trunk_size,
)


@dataclass(frozen=True)
class ContextEncoderConfig:
    """Everything needed to rebuild a Context Encoder; stored beside the weights in every checkpoint.

    image_size: a power of two ≥ 8 (64 for the paper); channels: 1 (gray) or 3 (RGB).
    features: width of the layers nearest the image (doubling at every halving, as in the DCGAN).
    bottleneck: channels of the 1×1 code between encoder and decoder (Pathak's 4000 for 128×128
    crops; 512 here, the DCGAN's widest layer at 64×64).
    Limits (dcgan.py): image_size up to MAX_IMAGE_SIZE, features up to MAX_FEATURES, bottleneck up to
    MAX_LATENT_DIM, at most MAX_PARAMETERS parameters in the network; all checked here, before any
    network is built (InpaintError).
    """

    image_size: int = 64
    channels: int = 3
    features: int = 64
    bottleneck: int = 512

    def __post_init__(self) -> None:
        check_whole("features", self.features, 1, MAX_FEATURES)
        check_whole("bottleneck", self.bottleneck, 1, MAX_LATENT_DIM)
        _ = self.dcgan  # building it checks image_size and channels, and the decoder's and D's sizes
        check_network_size("the context encoder", context_encoder_size(self))

    @property
    def dcgan(self) -> DCGANConfig:
        """The DCGAN configuration of the decoder (G, latent_dim = bottleneck) and of the adversarial D."""
        return DCGANConfig(latent_dim=self.bottleneck, image_size=self.image_size, channels=self.channels,
                           generator_features=self.features, discriminator_features=self.features)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ContextEncoderConfig":
        return cls(**known_fields(cls, values))


def context_encoder_size(config: ContextEncoderConfig) -> int:
    """Parameters and buffers of ContextEncoder(config), counted from the numbers alone (nothing is built)."""
    trunk, width = trunk_size(config.channels + 1, config.features, config.dcgan.upsamplings)
    bottleneck = width * config.bottleneck * 16 + 4 * config.bottleneck + 1  # conv; BN
    return trunk + bottleneck + generator_size(config.dcgan)


def mask_channel(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A mask (B, H, W) or (B, 1, H, W), bool or 0/1, True = missing → float (B, 1, H, W) like `like`."""
    if mask.ndim == 3:
        mask = mask[:, None]
    return mask.to(device=like.device, dtype=like.dtype)


class ContextEncoder(nn.Module):
    """F: (image, mask) → image. image (B, C, H, W) in [-1, 1] (the hole's values are ignored: set to 0
    here), mask (B, H, W) or (B, 1, H, W), True/1 = missing → (B, C, H, W) in [-1, 1], the whole image.

    encoder: the DCGAN discriminator's trunk on C + 1 channels, then a 4×4 conv to (B, bottleneck, 1, 1),
    BN, LeakyReLU 0.2; decoder: dcgan.Generator(config.dcgan). See the module docstring.
    """

    def __init__(self, config: ContextEncoderConfig = ContextEncoderConfig()) -> None:
        super().__init__()
        self.config = config
        layers, width = discriminator_trunk(config.channels + 1, config.features, config.dcgan.upsamplings)
        layers += [
            nn.Conv2d(width, config.bottleneck, 4, 1, 0, bias=False),  # 4×4 → 1×1
            nn.BatchNorm2d(config.bottleneck),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        self.encoder = nn.Sequential(*layers)
        self.decoder = Generator(config.dcgan)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hole = mask_channel(mask, image)
        inputs = torch.cat([image.masked_fill(hole.bool(), 0.0), hole], dim=1)
        if image.is_contiguous(memory_format=torch.channels_last):  # bf16 training: keep channels_last
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return self.decoder(self.encoder(inputs))


def complete(network: ContextEncoder, corrupted: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the hole: corrupted (B, C, H, W) in [-1, 1], mask (B, H, W) or (B, 1, H, W), True = missing
    → (B, C, H, W) in [-1, 1] with the known pixels of `corrupted` and the hole from network(corrupted, mask)."""
    hole = mask_channel(mask, corrupted).bool()
    return torch.where(hole, network(corrupted, mask).to(corrupted.dtype), corrupted)


def load_context_encoder(path: str | Path, device: torch.device | str = "cpu") -> ContextEncoder:
    """A Context Encoder from a checkpoint (training, epoch or exported), float32, in eval mode on `device`.

    A missing, foreign (e.g. a DCGAN) or corrupt file raises InpaintError.
    """
    checkpoint = read_checkpoint(path, format=CONTEXT_ENCODER_FORMAT, config_class=ContextEncoderConfig)
    network = load_weights(ContextEncoder(checkpoint.config), checkpoint, "context_encoder")
    return network.eval().to(device)


def export(checkpoint_path: str | Path, out: str | Path, *, dtype: torch.dtype | None = torch.float16) -> None:
    """Write a Context Encoder checkpoint's network alone (no D, no optimiser state) to `out`, atomically,
    its floating-point weights cast to `dtype` (float16 to ship; None keeps float32), with its epoch and step."""
    checkpoint = read_checkpoint(checkpoint_path, format=CONTEXT_ENCODER_FORMAT, config_class=ContextEncoderConfig)
    network = load_weights(ContextEncoder(checkpoint.config), checkpoint, "context_encoder")
    training = {k: checkpoint.training[k] for k in ("epoch", "step") if k in checkpoint.training}
    write_checkpoint(out, checkpoint.config, {"context_encoder": network}, format=CONTEXT_ENCODER_FORMAT,
                     training=training, dtype=dtype)
