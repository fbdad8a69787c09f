"""The paper's Context Encoder baseline (CE, Pathak et al. 2016, the paper's [30]): one forward pass of a
trained encoder–decoder (seminpaint.networks.context_encoder) fills the hole.

The network has a fixed size (64×64 for the shipped model): the image must be that size. A gray
image given to an RGB model is fed with its channel repeated and the result comes back gray (luma);
an RGB image given to a gray model is fed as luma and comes back with the fill repeated in R, G, B.
Networks are loaded once per file (and reloaded when the file changes).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import torch

from ..errors import InpaintError
from ..geometry import to_model_channels
from ..images import from_tensor, to_tensor
from ..networks.context_encoder import complete, load_context_encoder
from ._common import baseline

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "weights" / "context_encoder64.safetensors"
TRAIN_COMMAND = "seminpaint train-context-encoder --root DIR --out RUN --epochs N"


def model_path(model: str | Path | None) -> Path:
    """The checkpoint a `model` option names (None: the shipped DEFAULT_MODEL); a missing file raises
    InpaintError naming it and the command that trains one."""
    if model is not None and not isinstance(model, (str, Path)):
        raise InpaintError(f"context_encoder: model must be a checkpoint path, got {type(model).__name__}")
    path = DEFAULT_MODEL if model is None else Path(model)
    if not path.is_file():
        raise InpaintError(f"no Context Encoder model at {path}; train one with `{TRAIN_COMMAND}` and export it "
                           f"there with `seminpaint export --checkpoint RUN/epochs/epoch_NNN.safetensors --out "
                           f"{path} --half`, or pass another as model=PATH (the command line: --model PATH, "
                           "or --method-option context_encoder.model=PATH to evaluate)")
    return path


@functools.lru_cache(maxsize=4)
def _load(path: str, modified: int, size: int):
    return load_context_encoder(path), hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load(model: str | Path | None = None):
    """(network, sha256 of its file) for a `model` option, loaded once per file version."""
    path = model_path(model).resolve()
    status = path.stat()
    return _load(str(path), status.st_mtime_ns, status.st_size)


def model_digest(model: str | Path | None = None) -> str:
    """sha256 of the checkpoint file a `model` option names: which network made a set of predictions."""
    return load(model)[1]


@baseline("context_encoder")
def fill(image: np.ndarray, mask: np.ndarray, *, model: str | Path | None = None) -> np.ndarray:
    """Fill the hole with a trained Context Encoder. model: its checkpoint (default: the shipped
    weights/context_encoder64.safetensors); the image must have the network's size."""
    network = load(model)[0]
    config = network.config
    height, width, channels = image.shape
    if (height, width) != (config.image_size, config.image_size):
        raise InpaintError(f"context_encoder: the model fills {config.image_size}×{config.image_size} images, "
                           f"got {width}×{height}; resize or crop the image to its size")
    if channels not in (1, 3):
        raise InpaintError(f"context_encoder: images must be gray or RGB, got {channels} channels")
    corrupted = to_tensor(to_model_channels(image[None], config.channels))
    with torch.no_grad():
        filled = from_tensor(complete(network, corrupted, torch.from_numpy(mask)[None]))
    return to_model_channels(filled, channels)[0]
