"""Shared fixtures: tiny models and images, and the location of the real data (may be absent)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seminpaint.networks.checkpoint import CONTEXT_ENCODER_FORMAT, write_checkpoint
from seminpaint.networks.context_encoder import ContextEncoder, ContextEncoderConfig
from seminpaint.networks.dcgan import DCGANConfig, Discriminator, Generator, init_weights
from seminpaint.networks.encoder import EncoderConfig, LatentEncoder
from seminpaint.networks.model import GenerativeModel

# Tiny models run fastest on one thread, and a busy machine does not make threads wait on each other.
torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CELEBA = SHARED_DATA / "celeba"

TINY = DCGANConfig(latent_dim=8, image_size=16, channels=3, generator_features=8, discriminator_features=8)
TINY_CE = ContextEncoderConfig(image_size=16, channels=3, features=8, bottleneck=16)


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run slow checks on real data")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def tiny_model(seed: int = 0, config: DCGANConfig = TINY) -> GenerativeModel:
    """A randomly initialised tiny DCGAN (16×16) wrapped as a GenerativeModel."""
    generator, discriminator = Generator(config), Discriminator(config)
    init_generator = torch.Generator().manual_seed(seed)
    init_weights(generator, generator=init_generator)
    init_weights(discriminator, generator=init_generator)
    return GenerativeModel(generator.eval(), discriminator.eval(), latent_dim=config.latent_dim)


def lively_model(seed: int = 0):
    """A tiny DCGAN whose G(z) varies with z (conv weights ×10: DCGAN's N(0, 0.02) start makes a
    nearly constant G), so that the search objective has somewhere to go."""
    model = tiny_model(seed)
    with torch.no_grad():
        for parameter in model.generator.parameters():
            if parameter.ndim == 4:
                parameter.mul_(10)
    return model


def tiny_model_with_encoder(seed: int = 0) -> GenerativeModel:
    """tiny_model with a randomly initialised latent encoder E(y, M) of the same size."""
    model = tiny_model(seed)
    model.encoder = LatentEncoder(EncoderConfig(image_size=16, channels=3, latent_dim=TINY.latent_dim,
                                                features=8)).eval()
    return model


def tiny_context_encoder(path: Path, config: ContextEncoderConfig = TINY_CE, seed: int = 0) -> Path:
    """Write a randomly initialised tiny Context Encoder (a checkpoint the baseline loads) to `path`."""
    network = ContextEncoder(config)
    init_weights(network, generator=torch.Generator().manual_seed(seed))
    write_checkpoint(path, config, {"context_encoder": network}, format=CONTEXT_ENCODER_FORMAT)
    return path


def interrupt_on_call(monkeypatch, target, name: str, call: int):
    """Make target.<name> raise KeyboardInterrupt on its `call`-th call, as if the run were killed
    there (mid-step); returns the original, for putting back with monkeypatch.setattr."""
    original = getattr(target, name)
    calls = {"count": 0}

    def dying(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, dying)
    return original


@pytest.fixture
def model() -> GenerativeModel:
    return tiny_model()


def wave_photo(height: int = 40, width: int = 56, channels: int = 3, frequencies: tuple[int, int] = (5, 3)) -> np.ndarray:
    """A uint8 (height, width, channels) image of smooth waves, different in each channel."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    across, down = frequencies
    planes = [0.5 + 0.4 * np.sin(across * x + k) * np.cos(down * y - k) for k in range(channels)]
    return np.clip(np.rint(np.stack(planes, -1) * 255), 0, 255).astype(np.uint8)


def png(image: np.ndarray) -> bytes:
    """`image` encoded as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def smooth_image() -> np.ndarray:
    """A smooth 16×16×3 float image in [0, 1]."""
    y, x = np.mgrid[0:16, 0:16] / 15.0
    return np.stack([0.2 + 0.6 * x, 0.5 + 0.3 * np.sin(3 * y), 0.3 + 0.4 * x * y], axis=-1).astype(np.float32)


def require_celeba() -> Path:
    if not (CELEBA / "list_eval_partition.txt").is_file():
        pytest.skip(f"real CelebA data not found at {CELEBA}")
    return CELEBA
