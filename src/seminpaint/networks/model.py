"""A trained generative model as the latent search sees it: G, D, the latent size and z's range.

The method is independent of the architecture (paper, section 3.4): any PyTorch generator that
maps z of shape (B, latent_dim) to images (B, C, H, W) in [-1, 1], and any discriminator that maps
such images to one logit per image (B,), can be wrapped here and searched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from ..faces import FaceModel


@dataclass(eq=False)
class GenerativeModel:
    """A generator/discriminator pair with a stated latent size and z range.

    generator: z (B, latent_dim) → image (B, C, H, W) in [-1, 1].
    discriminator: image (B, C, H, W) → logit (B,) with D = sigmoid(logit) = P(real); may be
        None, in which case the prior loss (Eq. 5) cannot be used.
    latent_range: z is drawn from U[low, high] and clipped to it after every search step.
    encoder: optional latent encoder, (image (B, C, H, W) in [-1, 1], mask (B, H, W) bool, True =
        missing) → z (B, latent_dim) in the latent range: the search's learned start
        (SearchSettings.start, encoder.py).
    faces: for a model of faces, a faces.FaceModel: how its training faces were framed (holes in
        larger photos are searched in the face, framed so) and when a completion is unlikely to be
        a face; None (the default) takes images as they come. The shipped model has one.
    """

    generator: nn.Module
    discriminator: nn.Module | None
    latent_dim: int
    latent_range: tuple[float, float] = (-1.0, 1.0)
    name: str = field(default="custom")
    encoder: nn.Module | None = None
    faces: "FaceModel | None" = None

    @cached_property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the generator's output, found by running it once on z = 0."""
        parameter = next(self.generator.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        was_training = self.generator.training
        self.generator.eval()
        with torch.no_grad():
            out = self.generator(torch.zeros(1, self.latent_dim, device=device))
        self.generator.train(was_training)
        return tuple(out.shape[1:])

    @property
    def device(self) -> torch.device:
        parameter = next(self.generator.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    def to(self, device: torch.device | str) -> "GenerativeModel":
        """Move the networks to `device` (in place) and return self."""
        for network in (self.generator, self.discriminator, self.encoder):
            if network is not None:
                network.to(device)
        return self

    @contextmanager
    def frozen(self) -> Iterator["GenerativeModel"]:
        """Within the block, G, D (and the encoder) are in eval mode with no parameter gradients.

        Eval mode makes BatchNorm use its running statistics, so an image's search does not
        depend on its batch mates; the networks' previous modes are restored afterwards.
        """
        networks = [n for n in (self.generator, self.discriminator, self.encoder) if n is not None]
        saved = [(n.training, [p.requires_grad for p in n.parameters()]) for n in networks]
        for network in networks:
            network.eval()
            network.requires_grad_(False)
        try:
            yield self
        finally:
            for network, (training, flags) in zip(networks, saved):
                network.train(training)
                for parameter, flag in zip(network.parameters(), flags):
                    parameter.requires_grad_(flag)


def weights_digest(*networks: nn.Module | None) -> str:
    """SHA-256 over the networks' state dicts in order (each tensor's name and bytes; None skipped):
    which weights made a result, e.g. the G and D an encoder was trained for."""
    digest = hashlib.sha256()
    for network in networks:
        if network is None:
            continue
        for name, tensor in network.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
