"""Checkpoints: tensors in one safetensors file, the model's configuration as JSON in its header.

A file alone rebuilds the model, and loading never unpickles anything. Tensor names of a DCGAN
("format" = "seminpaint-dcgan"):
    generator.*         G's state dict          discriminator.*     D's state dict
    optimizer.generator.*, optimizer.discriminator.*, rng.*   training state (training checkpoints only)
optionally encoder.* with "encoder" = the EncoderConfig as JSON in the header: a latent encoder
(encoder.py) that gives the search its start (SearchSettings.start); and of a latent encoder's training
run ("format" = "seminpaint-latent-encoder", training/latent_encoder.py): latent_encoder.*,
optimizer.latent_encoder.*;
and of a Context Encoder ("format" = "seminpaint-context-encoder", context_encoder.py):
    context_encoder.*   the network's state dict    discriminator.*   its adversarial D (training only)
    optimizer.context_encoder.*, optimizer.discriminator.*       training state (training checkpoints only)
Header metadata (strings): "format" (above), "config" = the DCGANConfig (ContextEncoderConfig, EncoderConfig) as JSON,
"training" = JSON of the training progress (epoch, step, ...), when present, and "sha256" = the
content digest (content_digest) of every tensor and the other metadata: a file changed after it was
written — truncated, bytes flipped, config edited — is refused on reading; a file without a digest
is read without this check. The digest guards against corruption and
accidental edits, not against someone who rewrites it too; loading executes nothing either way.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import InpaintError
from .dcgan import DCGANConfig, Discriminator, Generator
from .encoder import EncoderConfig, LatentEncoder
from .model import GenerativeModel

FORMAT = "seminpaint-dcgan"
CONTEXT_ENCODER_FORMAT = "seminpaint-context-encoder"
ENCODER_FORMAT = "seminpaint-latent-encoder"
FORMAT_NAMES = {FORMAT: "a DCGAN (G and D)", CONTEXT_ENCODER_FORMAT: "a Context Encoder",
                ENCODER_FORMAT: "a latent encoder's training run"}
HEADER_KEYS = {"format", "config", "training", "encoder"}
DIGEST_KEY = "sha256"


def content_digest(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """SHA-256 over the metadata (all but the digest itself) and every tensor's name, dtype, shape
    and bytes, in name order: independent of how the file lays them out."""
    digest = hashlib.sha256()
    for key in sorted(k for k in metadata if k != DIGEST_KEY):
        digest.update(f"{key}={metadata[key]}\n".encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


@dataclass
class Checkpoint:
    """What a checkpoint file holds: the config (a DCGANConfig, or the config class read_checkpoint
    was given), every tensor, and the training progress."""

    config: DCGANConfig
    tensors: dict[str, torch.Tensor]
    training: dict = field(default_factory=dict)
    encoder_config: EncoderConfig | None = None  # a DCGAN file's latent encoder, when it has one

    def state_dict(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors whose names start with `prefix + '.'`, with the prefix removed."""
        start = prefix + "."
        return {k[len(start):]: v for k, v in self.tensors.items() if k.startswith(start)}


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write) -> None:
    """Call write(temporary_path), then rename it onto `path`: a reader never sees half a file.

    The file gets the permissions of a plainly created one (0o666 less the umask), not the
    owner-only mode of the temporary file it starts as."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: str | Path,
    config: DCGANConfig,
    generator: nn.Module,
    discriminator: nn.Module,
    *,
    encoder: LatentEncoder | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    training: dict | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Write G and D (and optional latent encoder and training state) to `path` atomically.

    dtype: cast floating-point weights (e.g. torch.float16 for a shipped model); None keeps them.
    """
    networks = {"generator": generator, "discriminator": discriminator}
    metadata = None
    if encoder is not None:
        networks["encoder"] = encoder
        metadata = {"encoder": json.dumps(encoder.config.to_dict())}
    write_checkpoint(path, config, networks, extra_tensors=extra_tensors, training=training, dtype=dtype,
                     metadata=metadata)


def write_checkpoint(
    path: str | Path,
    config,
    networks: dict[str, nn.Module],
    *,
    format: str = FORMAT,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    training: dict | None = None,
    dtype: torch.dtype | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write networks {prefix: module} (and optional training state) to `path` atomically, in `format`.

    config: any configuration with to_dict() (DCGANConfig, ContextEncoderConfig, EncoderConfig); each
    network's state dict is stored under "<prefix>.*". dtype as for save_checkpoint. metadata: more
    header entries (of HEADER_KEYS).
    """
    tensors: dict[str, torch.Tensor] = {}
    for prefix, network in networks.items():
        for name, value in network.state_dict().items():
            value = value.detach().cpu()
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
            tensors[f"{prefix}.{name}"] = value.contiguous()
    for name, value in (extra_tensors or {}).items():
        tensors[name] = value.detach().cpu().contiguous()
    metadata = {**(metadata or {}), "format": format, "config": json.dumps(config.to_dict())}
    if training:
        metadata["training"] = json.dumps(training)
    metadata[DIGEST_KEY] = content_digest(tensors, metadata)
    atomic_write(Path(path), lambda temporary: save_file(tensors, temporary, metadata=metadata))


def _read(path: Path, *, tensors: bool = True) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """(header metadata, tensors) of a safetensors file; only the header when tensors=False."""
    if not path.is_file():
        raise InpaintError(f"checkpoint not found: {path}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return metadata, load_file(str(path)) if tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise InpaintError(f"checkpoint {path} is corrupt or not a safetensors file ({error})") from None


def checkpoint_format(path: str | Path) -> str | None:
    """The "format" entry of a checkpoint's header (FORMAT, CONTEXT_ENCODER_FORMAT), None without one.

    Reads the header alone; a missing or non-safetensors file raises InpaintError.
    """
    return _read(Path(path), tensors=False)[0].get("format")


def checkpoint_training(path: str | Path) -> dict:
    """The "training" entry of a checkpoint's header (its epoch, step, ...), {} without one.

    Reads the header alone, unverified: for a file that was just loaded (and checked) in full."""
    try:
        return json.loads(_read(Path(path), tensors=False)[0].get("training", "{}"))
    except json.JSONDecodeError as error:
        raise InpaintError(f"checkpoint {path} has a corrupt configuration ({error})") from None


def read_checkpoint(path: str | Path, *, format: str = FORMAT, config_class: type = DCGANConfig) -> Checkpoint:
    """Read a checkpoint written by save_checkpoint (or write_checkpoint in `format`, whose config is
    rebuilt with config_class.from_dict); a missing, foreign or corrupt file raises InpaintError."""
    path = Path(path)
    metadata, tensors = _read(path)
    found = metadata.get("format")
    if found != format and found in FORMAT_NAMES and "config" in metadata:
        hint = {CONTEXT_ENCODER_FORMAT: "; it is the context_encoder method's network (--method context_encoder)",
                ENCODER_FORMAT: "; the model with this encoder is its run folder's epochs/epoch_NNN.safetensors",
                }.get(found, "")
        raise InpaintError(f"checkpoint {path} holds {FORMAT_NAMES[found]}, not {FORMAT_NAMES[format]}{hint}")
    if found != format or "config" not in metadata:
        raise InpaintError(f"checkpoint {path} is not a seminpaint model (no configuration in its header)")
    unknown = set(metadata) - HEADER_KEYS - {DIGEST_KEY}
    if unknown:  # e.g. a damaged digest key: refuse rather than skip the check
        raise InpaintError(f"checkpoint {path} has unexpected header entries ({', '.join(sorted(unknown))}): "
                           "it was changed after it was written")
    if DIGEST_KEY in metadata and content_digest(tensors, metadata) != metadata[DIGEST_KEY]:
        raise InpaintError(f"checkpoint {path} was changed after it was written (its SHA-256 content digest "
                           "does not match): refusing it; use an intact copy")
    try:  # each configuration checks its limits (dcgan.MAX_*) as it is made, before any network is built
        config = config_class.from_dict(json.loads(metadata["config"]))
        training = json.loads(metadata.get("training", "{}"))
        encoder_config = EncoderConfig.from_dict(json.loads(metadata["encoder"])) if "encoder" in metadata else None
    except InpaintError as error:
        raise InpaintError(f"checkpoint {path} has a configuration this package will not build: {error}") from None
    except (json.JSONDecodeError, TypeError, RecursionError) as error:
        raise InpaintError(f"checkpoint {path} has a corrupt configuration ({type(error).__name__}: "
                           f"{str(error).splitlines()[0][:100]})") from None
    return Checkpoint(config=config, tensors=tensors, training=training, encoder_config=encoder_config)


def shape_text(shape) -> str:
    """A tensor shape as messages write it: 8×64×4×4, or "a scalar"."""
    return "×".join(str(side) for side in shape) if len(shape) else "a scalar"


def weight_mismatches(network: nn.Module, state: dict[str, torch.Tensor], prefix: str) -> list[str]:
    """What keeps `state` (a file's "<prefix>.*" tensors, prefix removed) from loading into `network`,
    one phrase per tensor naming it and both shapes (the file's, the network's): wrong shapes first,
    then a floating-point tensor stored as another dtype, then missing and unexpected tensors."""
    expected = network.state_dict()
    kind = type(network).__name__
    wrong, dtypes = [], []
    for name, tensor in expected.items():
        found = state.get(name)
        if found is None:
            continue
        if tuple(found.shape) != tuple(tensor.shape):
            wrong.append(f"tensor {prefix}.{name} is {shape_text(found.shape)} in the file, but the {kind} "
                         f"built from its configuration needs {shape_text(tensor.shape)}")
        elif tensor.is_floating_point() != found.is_floating_point() or found.is_complex():
            dtypes.append(f"tensor {prefix}.{name} is {str(found.dtype).removeprefix('torch.')} in the file, but the "
                          f"{kind} needs {str(tensor.dtype).removeprefix('torch.')} (shape {shape_text(tensor.shape)})")
    missing = [f"tensor {prefix}.{name} ({shape_text(tensor.shape)}, needed by the {kind}) is not in the file"
               for name, tensor in expected.items() if name not in state]
    unexpected = [f"tensor {prefix}.{name} ({shape_text(tensor.shape)}) in the file is not part of the {kind}"
                  for name, tensor in state.items() if name not in expected]
    return wrong + dtypes + missing + unexpected


def load_weights(network: nn.Module, checkpoint: Checkpoint, prefix: str) -> nn.Module:
    """Put the checkpoint's "<prefix>.*" tensors into `network` as float32 and return it. Tensors that
    do not fit raise InpaintError naming the first of them and both shapes (the file's and the
    network's), and how many more there are."""
    state = checkpoint.state_dict(prefix)
    problems = weight_mismatches(network, state, prefix)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InpaintError(f"checkpoint weights do not fit its configuration: {problems[0]}{more}")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        network.load_state_dict(state)
    except RuntimeError as error:  # anything weight_mismatches does not know of
        first_line = str(error).strip().splitlines()[0]
        raise InpaintError(f"checkpoint weights do not fit its configuration: {first_line}") from None
    return network


def build_networks(checkpoint: Checkpoint) -> tuple[Generator, Discriminator]:
    """G and D with the checkpoint's weights, in float32; mismatching tensors raise InpaintError."""
    return (load_weights(Generator(checkpoint.config), checkpoint, "generator"),
            load_weights(Discriminator(checkpoint.config), checkpoint, "discriminator"))


def build_encoder(checkpoint: Checkpoint) -> LatentEncoder | None:
    """The checkpoint's latent encoder in float32, or None when it has none."""
    if checkpoint.encoder_config is None:
        return None
    return load_weights(LatentEncoder(checkpoint.encoder_config), checkpoint, "encoder")


def load_model(path: str | Path, *, device: torch.device | str = "cpu") -> GenerativeModel:
    """Load a DCGAN checkpoint as a GenerativeModel on `device`, networks in eval mode (with its
    latent encoder, when the file has one)."""
    checkpoint = read_checkpoint(path)
    generator, discriminator = build_networks(checkpoint)
    encoder = build_encoder(checkpoint)
    model = GenerativeModel(
        generator=generator.eval(), discriminator=discriminator.eval(),
        latent_dim=checkpoint.config.latent_dim, latent_range=Generator.latent_range,
        name=Path(path).stem, encoder=encoder.eval() if encoder is not None else None,
    )
    return model.to(device)
