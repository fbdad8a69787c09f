"""Shared fixtures: tiny models and images, and the location of the real data (may be absent)."""

from __future__ import annotations

import http.client
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seminpaint.networks.checkpoint import CONTEXT_ENCODER_FORMAT, save_checkpoint, write_checkpoint
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


@pytest.fixture
def files(tmp_path, smooth_image) -> tuple[Path, Path, Path]:
    """(folder, a tiny model's checkpoint, a 16×16 PNG face) in a fresh folder, for command-line tests."""
    model = tiny_model()
    checkpoint = tmp_path / "tiny.safetensors"
    save_checkpoint(checkpoint, TINY, model.generator, model.discriminator)
    image = tmp_path / "face.png"
    Image.fromarray(np.rint(smooth_image * 255).astype(np.uint8)).save(image)
    return tmp_path, checkpoint, image


def require_celeba() -> Path:
    if not (CELEBA / "list_eval_partition.txt").is_file():
        pytest.skip(f"real CelebA data not found at {CELEBA}")
    return CELEBA


class ServerProcess:
    """`python -m seminpaint.cli serve --port 0` in a child process on 127.0.0.1, serving the tiny model
    (written to `folder`) with 20 Adam steps by default and the `extra` options, from this checkout's
    src. Its stderr goes to folder/server.log. `port` and `url` say where it listens; stop() ends it."""

    def __init__(self, folder: Path, *extra: str, start_timeout: float = 90.0):
        model = tiny_model()
        checkpoint = folder / "tiny.safetensors"
        save_checkpoint(checkpoint, TINY, model.generator, model.discriminator)
        source = str(Path(__file__).resolve().parents[1] / "src")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.log = open(folder / "server.log", "w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "seminpaint.cli", "serve", "--model", str(checkpoint), "--host", "127.0.0.1",
             "--port", "0", "--iterations", "20", *extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        line = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(start_timeout)
        if not line or "serving on http://127.0.0.1:" not in line[0]:
            self.stop()
            raise RuntimeError(f"the server did not start: {line!r}; log: {self.log_text()}")
        self.port = int(line[0].split("127.0.0.1:")[1].split("/")[0])
        self.url = f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        """The last 3,000 characters of the server's stderr."""
        if self.log.closed:
            return (Path(self.log.name)).read_text()[-3000:]
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 60.0) -> tuple[int, bytes]:
        """One HTTP request on a fresh connection → (status, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def json(self, method: str, path: str, payload: dict | None = None, timeout: float = 60.0) -> tuple[int, dict]:
        """A request with a JSON body (or none) → (status, the JSON answer)."""
        body = json.dumps(payload).encode() if payload is not None else None
        status, data = self.request(method, path, body, {"Content-Type": "application/json"}, timeout)
        return status, json.loads(data)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
