"""The loop every trainer runs: a run folder, resumed exactly from its checkpoint, and its epochs.

Run directory layout (each trainer's docstring names its own files):
    checkpoint.safetensors         the latest training checkpoint: the trained networks, their Adam
                                   states (optimizer.<network>.*), the position (epoch, step in
                                   epoch, step) and the TrainConfig, and what the trainer adds
    epochs/epoch_NNN.safetensors   what the trainer keeps of each epoch NNN (1, 2, …)
    samples/                       the trainer's sample grids
    log.jsonl                      one line per epoch or per checkpoint: the mean of each of the
                                   step's values since the last line, seconds, images per second

A run is a Run: Run(...) resumes from the folder's checkpoint (or starts), train() hands it the
networks and returns their Adam optimisers, loop() runs the epochs with the trainer's step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import asdict, astuple, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .. import distributed
from ..errors import InpaintError
from ..masks import training_masks
from ..networks.checkpoint import FORMAT, Checkpoint, load_weights, read_checkpoint, write_checkpoint
from ..runtime.fast_layers import speed_up_layers
from ..runtime.precision import autocast, check_precision, is_fast, layout, resolve_precision
from .averaging import check_decay
from .data_parallel import data_parallel

CHECKPOINT_NAME = "checkpoint.safetensors"


@dataclass(frozen=True)
class TrainConfig:
    """Training settings. The defaults are the paper's recipe (Radford et al.'s Adam settings)."""

    epochs: int = 25
    batch_size: int = 64
    learning_rate: float = 2e-4
    beta1: float = 0.5
    seed: int = 0
    precision: str = "auto"  # runtime/precision.py: "auto", "bf16", "fp32-fast" or "fp32" (the plain loop)
    checkpoint_every: int = 200  # steps between checkpoints (and at every epoch end)
    sample_count: int = 64
    ema_decay: float = 0.0  # β of a moving average of G's weights, kept in the epoch files (0: none, the paper)
    # D's own Adam rate (the two time-scale update rule, Heusel et al. 2017); None: learning_rate, the paper
    discriminator_learning_rate: float | None = None

    def __post_init__(self) -> None:
        check_precision(self.precision)
        check_decay(self.ema_decay)
        if self.batch_size < 1 or self.epochs < 0 or self.checkpoint_every < 1:
            raise InpaintError("batch_size and checkpoint_every must be positive, epochs non-negative")
        for name in ("learning_rate", "discriminator_learning_rate"):
            rate = getattr(self, name)
            if rate is not None and not (isinstance(rate, (int, float)) and 0 < rate < 1):
                raise InpaintError(f"{name} must be a number between 0 and 1, got {rate!r}")

    def on(self, device: torch.device | str):
        """This config with its precision resolved for `device` ("auto" → "bf16" or "fp32-fast"),
        as a run records it."""
        return replace(self, precision=resolve_precision(self.precision, device))


@dataclass
class Position:
    """Where a training run stands: epochs done, steps into the current epoch, steps in all."""

    epoch: int = 0
    step_in_epoch: int = 0
    step: int = 0

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> "Position":
        return cls(*(checkpoint.training[k] for k in ("epoch", "step_in_epoch", "step")))


def optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Adam's per-parameter state as flat named tensors (safetensors holds no Python objects)."""
    tensors = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"{prefix}.{index}.{key}"] = torch.as_tensor(value).reshape(-1) if key == "step" else value
    return tensors


def restore_optimizer(optimizer: torch.optim.Optimizer, checkpoint: Checkpoint, prefix: str) -> None:
    """Inverse of optimizer_tensors: put the saved per-parameter state back into `optimizer`."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in checkpoint.state_dict(prefix).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value.reshape(()) if key == "step" else value
    saved = optimizer.state_dict()
    saved["state"] = state
    optimizer.load_state_dict(saved)
    # Give each moment tensor its parameter's memory layout (channels_last for bf16 training):
    # the fused Adam kernel updates wrong elements when the two differ.
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            values = optimizer.state.get(parameter, {})
            for key, value in values.items():
                if value.shape == parameter.shape:
                    values[key] = torch.empty_like(parameter).copy_(value)


def precision_setup(
    precision: str, device: torch.device | str,
) -> tuple[torch.memory_format, Callable[[], ContextManager]]:
    """(memory format, autocast context factory) of a training precision, resolved on `device`:
    "bf16" is channels_last with bfloat16 autocast on `device`'s type, "fp32-fast" and "fp32"
    contiguous float32 without autocast."""
    precision = resolve_precision(precision, device)
    return layout(precision), lambda: autocast(precision, device)


def training_network(network: nn.Module, precision: str, device: torch.device | str) -> nn.Module:
    """`network` moved to `device` in the precision's memory format (precision_setup), in training
    mode; the fast precisions ("bf16", "fp32-fast") also swap in the fast forms of its thin
    convolutions (fast_layers), which keep its parameters and state_dict. Returns it (changed in
    place)."""
    precision = resolve_precision(precision, device)
    network.to(device, memory_format=layout(precision)).train()
    return speed_up_layers(network) if is_fast(precision) else network


def batch_order(count: int, seed: int, epoch: int) -> torch.Tensor:
    """The epoch's shuffled image order, a function of (seed, epoch) alone, so resuming repeats it."""
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def image_batch(data: torch.Tensor, index: torch.Tensor, flip: torch.Tensor, *,
                memory_format: torch.memory_format, device) -> torch.Tensor:
    """The images data[index] (uint8 (N, C, H, W)) as float (B, C, H, W) in [-1, 1] on `device` in
    `memory_format`, those with flip (bool (B,)) True mirrored horizontally: the one augmentation."""
    real = data[index].to(device).float().div_(127.5).sub_(1.0)
    real[flip] = real[flip].flip(-1)
    return real.contiguous(memory_format=memory_format)


def masked_batch(data: torch.Tensor, index: torch.Tensor, rng: np.random.Generator, *,
                 memory_format: torch.memory_format, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of a network that learns to fill holes: image_batch with each image flipped with
    probability ½, and fresh masks bool (B, H, W), True = missing, of kinds uniform over the four
    (masks.training_masks); flips then masks are drawn from `rng`."""
    flip = torch.from_numpy(rng.random(len(index)) < 0.5).to(device)
    real = image_batch(data, index, flip, memory_format=memory_format, device=device)
    masks = training_masks(len(index), real.shape[-2], real.shape[-1], rng)
    return real, torch.from_numpy(masks).to(device)


def check_training_images(images: np.ndarray, model_config, batch_size: int, *, default, network: str):
    """Check training images against a network's config; return the config (default(image_size=H,
    channels=C) when model_config is None).

    images must be uint8 (N, H, W, C) with H = W = model_config.image_size, C = its channels and at
    least one batch; `network` words the mismatch ("the model makes" 32×32×3). Else InpaintError.
    """
    if images.ndim != 4 or images.dtype != np.uint8:
        raise InpaintError(f"training images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    count, height, width, channels = images.shape
    model_config = model_config or default(image_size=height, channels=channels)
    if (height, width, channels) != (model_config.image_size, model_config.image_size, model_config.channels):
        raise InpaintError(
            f"images are {height}×{width}×{channels} but {network} "
            f"{model_config.image_size}×{model_config.image_size}×{model_config.channels}"
        )
    if count < batch_size:
        raise InpaintError(f"need at least one batch of {batch_size} images, got {count}")
    return model_config


def rounded(means: dict[str, float], digits: int | dict[str, int] = 4) -> dict[str, float]:
    """A log line's values: each mean rounded to `digits` decimals (one number, or one per name)."""
    return {name: round(value, digits if isinstance(digits, int) else digits[name]) for name, value in means.items()}


class Meter:
    """The step's values since the last log line: their sums (float64), the steps, the time."""

    def __init__(self) -> None:
        self.sums: dict[str, np.float64] = {}
        self.steps, self.since = 0, time.perf_counter()

    def add(self, values: dict[str, np.float32]) -> None:
        self.sums = {name: self.sums.get(name, np.float64(0.0)) + value for name, value in values.items()}
        self.steps += 1

    def means(self) -> dict[str, np.float64]:
        return {name: total / self.steps for name, total in self.sums.items()}

    def seconds(self) -> float:
        return time.perf_counter() - self.since


class Run:
    """One training run in its folder: resumed from its checkpoint when it has one, its networks on
    the device in the run's precision with their Adam optimisers, and the loop over the epochs.

    images: uint8 (N, H, W, C), checked (check_training_images). model_config: the trained
    network's configuration, written in every checkpoint; a checkpoint of `format` with another
    configuration is refused (InpaintError naming `what`). record: more entries of the checkpoint's
    "training" header. processes: whether the run may span a torchrun group; then each process
    trains on its rows of every global batch of B = config.batch_size images (shard()), the
    networks run inside DistributedDataParallel (parallel()), the step's values are averaged over
    the ranks, and rank 0 alone writes. Without it every process is a run of its own.
    """

    def __init__(self, images: np.ndarray, run_dir: str | Path, config: TrainConfig, device: torch.device | str, *,
                 model_config, format: str = FORMAT, what: str = "model", record: dict | None = None,
                 overwrite: bool = False, progress: bool = True, processes: bool = False) -> None:
        self.dir = Path(run_dir)
        self.checkpoint_path = self.dir / CHECKPOINT_NAME
        self.config = config.on(device)  # "auto" precision → what this device runs fast
        self.device, self.model_config, self.format = device, model_config, format
        self.count = len(images)
        self.data = torch.from_numpy(images).permute(0, 3, 1, 2)  # uint8 (N, C, H, W)
        self.world, rank = (distributed.world_size(), distributed.rank()) if processes else (1, 0)
        if self.config.batch_size % self.world:
            raise InpaintError(f"the batch of {self.config.batch_size} images does not split evenly over "
                               f"{self.world} processes; choose a batch size divisible by {self.world}")
        rows = self.config.batch_size // self.world  # this process's rows of every global batch
        self.rows = slice(rank * rows, (rank + 1) * rows)
        self.main = rank == 0
        self.progress = progress and self.main
        self.record = {"processes": self.world} if processes else {}
        self.record.update(record or {})
        self.memory_format, self.autocast = precision_setup(self.config.precision, device)
        self.fast = is_fast(self.config.precision)
        self.position, self.checkpoint = Position(), None
        if self.checkpoint_path.exists() and not overwrite:
            self.checkpoint = read_checkpoint(self.checkpoint_path, format=format, config_class=type(model_config))
            if self.checkpoint.config != model_config:
                raise InpaintError(f"{self.checkpoint_path} holds a different {what} ({self.checkpoint.config}); "
                                   "use another run folder or overwrite")
            self.position = Position.of(self.checkpoint)
            if self.progress:
                print(f"resuming {self.checkpoint_path} at epoch {self.position.epoch + 1}, step {self.position.step}")
        if processes:
            # Every rank must start from the same place (the run folder must be shared by all machines);
            # this also keeps rank 0 from writing a checkpoint before the others have read theirs.
            distributed.all_equal(astuple(self.position), f"where to start (epoch, step in epoch, step) from "
                                  f"{self.checkpoint_path}; is the run folder on storage every machine sees?")
        self.log_path = self.dir / "log.jsonl"
        if self.main:
            self.dir.mkdir(parents=True, exist_ok=True)
            if overwrite and self.log_path.exists():
                self.log_path.unlink()
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    def train(self, networks: dict[str, nn.Module], *, fused: bool | None = None) -> list[torch.optim.Optimizer]:
        """Take the networks to train, {checkpoint prefix: network}: each gets the checkpoint's
        weights when the run resumes, moves to the device in the run's precision (training_network)
        and gets an Adam optimiser (the config's learning rate — discriminator_learning_rate, when set,
        for the network under the prefix "discriminator" — and β1, β2 0.999; fused: one fused
        kernel, the same update, by default in the fast precisions), restored from the checkpoint's
        optimizer.<prefix> tensors. Returns the optimisers in the order of `networks`."""
        config = self.config
        fused = self.fast if fused is None else fused
        for prefix, network in networks.items():
            if self.checkpoint is not None:
                load_weights(network, self.checkpoint, prefix)
            training_network(network, config.precision, self.device)
        # The optimisers come after the move, so that their state lives on the parameters' device and layout.
        for prefix, network in networks.items():
            rate = (config.discriminator_learning_rate
                    if prefix == "discriminator" and config.discriminator_learning_rate is not None
                    else config.learning_rate)
            optimizer = torch.optim.Adam(network.parameters(), lr=rate, betas=(config.beta1, 0.999), fused=fused)
            if self.checkpoint is not None:
                restore_optimizer(optimizer, self.checkpoint, f"optimizer.{prefix}")
            self.optimizers[prefix] = optimizer
        self.networks.update(networks)
        return [self.optimizers[prefix] for prefix in networks]

    def shard(self, values: torch.Tensor) -> torch.Tensor:
        """This process's rows of a global batch's tensor (all of it in one process)."""
        return values[self.rows]

    def parallel(self, network: nn.Module) -> nn.Module:
        """What a step calls for `network`: it inside DistributedDataParallel with BatchNorm over the
        global batch (data_parallel.data_parallel) in a group of several processes, else itself."""
        return data_parallel(network, self.device) if self.world > 1 else network

    def epoch_path(self, epoch: int) -> Path:
        """RUN/epochs/epoch_NNN.safetensors."""
        return self.dir / "epochs" / f"epoch_{epoch:03d}.safetensors"

    def save(self, extra_tensors: dict[str, torch.Tensor] | None = None) -> None:
        """Write the training checkpoint (rank 0): the networks, their Adam states, `extra_tensors`,
        and in its header the position, the config, the image count and the record."""
        if not self.main:
            return
        tensors = {}
        for prefix, optimizer in self.optimizers.items():
            tensors.update(optimizer_tensors(f"optimizer.{prefix}", optimizer))
        tensors.update(extra_tensors or {})
        training = dict(**asdict(self.position), train_config=asdict(self.config), images=self.count, **self.record)
        write_checkpoint(self.checkpoint_path, self.model_config, self.networks, format=self.format,
                         extra_tensors=tensors, training=training)

    def global_values(self, values: dict[str, torch.Tensor]) -> dict[str, np.float32]:
        """A step's values (scalar tensors) as numbers, each the mean over the ranks in a group."""
        stacked = torch.stack([value.detach() for value in values.values()]).float()
        if self.world > 1:
            stacked = distributed.mean_over_ranks(stacked)  # the global batch's
        return dict(zip(values, stacked.cpu().numpy()))

    def write_log(self, entry: dict) -> None:
        """Append {epoch, step, **entry} to log.jsonl (rank 0)."""
        if self.main:
            with self.log_path.open("a") as file:
                file.write(json.dumps(dict(epoch=self.position.epoch, step=self.position.step, **entry)) + "\n")

    def loop(
        self, step: Callable[[torch.Tensor], dict[str, torch.Tensor]], *,
        extra_tensors: Callable[[], dict[str, torch.Tensor]] = dict,
        after_checkpoint: Callable[[], None] | None = None,
        end_epoch: Callable[[int], None] | None = None,
        log: Callable[[dict[str, float]], dict] = rounded,
        log_every: str = "checkpoint",
    ) -> None:
        """Run the epochs from the position the run stands at, mid-epoch included.

        Each step calls step(index) with the image indices of the global batch (the epoch's
        batch_order, batch_size at a time; the last partial batch is dropped) and takes the dict of
        scalar tensors it returns; then the position moves on. A checkpoint (save() with
        extra_tensors(), then after_checkpoint()) is written every checkpoint_every steps and at each
        epoch's end, where end_epoch(epochs done) follows (on rank 0 only, both). log.jsonl gets a
        line at each checkpoint (log_every="checkpoint") or epoch end ("epoch"): epoch, step,
        seconds and images per second since the last line, and log(means of the step's values).
        On Ctrl-C nothing is saved (a step may be half done: the last checkpoint is consistent), the
        way to resume is printed and the KeyboardInterrupt goes on.
        """
        config, position = self.config, self.position
        steps_per_epoch = self.count // config.batch_size
        meter = Meter()

        def checkpoint(epoch_end: bool) -> None:
            nonlocal meter
            seconds = meter.seconds()  # the steps' time: the writing below is not counted
            self.save(extra_tensors())
            if self.main and after_checkpoint is not None:
                after_checkpoint()
            if self.main and epoch_end and end_epoch is not None:
                end_epoch(position.epoch)
            if epoch_end or log_every == "checkpoint":
                if self.main and meter.steps:
                    self.write_log(dict(seconds=round(seconds, 1),
                                        images_per_second=round(meter.steps * config.batch_size / seconds, 1),
                                        **log(meter.means())))
                meter = Meter()

        try:
            while position.epoch < config.epochs:
                order = batch_order(self.count, config.seed, position.epoch)
                bar = tqdm(total=steps_per_epoch, initial=position.step_in_epoch, disable=not self.progress,
                           desc=f"epoch {position.epoch + 1}/{config.epochs}", unit="step")
                started, done = time.perf_counter(), 0
                while position.step_in_epoch < steps_per_epoch:
                    first = position.step_in_epoch * config.batch_size
                    values = self.global_values(step(order[first:first + config.batch_size]))
                    meter.add(values)
                    position.step += 1
                    position.step_in_epoch += 1
                    done += config.batch_size
                    bar.update(1)
                    bar.set_postfix(img_s=f"{done / (time.perf_counter() - started):.0f}",
                                    **{name: f"{value:.4g}" for name, value in values.items()})
                    if position.step % config.checkpoint_every == 0 and position.step_in_epoch < steps_per_epoch:
                        checkpoint(epoch_end=False)
                bar.close()
                position.epoch, position.step_in_epoch = position.epoch + 1, 0
                checkpoint(epoch_end=True)
        except KeyboardInterrupt:
            if self.main:
                print(f"\ninterrupted at step {position.step}; run the same command to resume from "
                      f"{self.checkpoint_path}")
            raise
