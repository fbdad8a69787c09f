"""DCGAN training (paper, section 3.4; Radford et al.): Adam 2e-4, β1 0.5, random horizontal flips,
z ~ U[-1, 1]. Checkpoints are atomic and carry the optimiser and random-number state, so a run that
is killed resumes exactly where its last checkpoint left it.

Run directory layout:
    checkpoint.safetensors     latest training checkpoint (G, D, Adam states, RNG, progress; with
                               ema_decay > 0 also the moving average of G's weights)
    epochs/epoch_NNN.safetensors   G and D after each epoch (for choosing the best epoch); with
                               ema_decay > 0 the G there is the average (averaging.py)
    samples/step_NNNNNNN.png   8×8 grid of G(z) for a fixed z, written with each checkpoint

Several processes (torchrun, see docs/distributed.md): with a global batch of B images and N
processes, every process draws the same epoch permutation, flips and z for the whole batch (from
the same seeds), and process r trains on rows [r·B/N, (r+1)·B/N) of it. G and D are wrapped in
DistributedDataParallel, which averages the gradients of the per-process mean losses, i.e. the
gradient of the mean loss over the global batch, and their BatchNorm layers normalise with the
global batch's statistics (distributed.GlobalBatchNorm2d). One step is thus one step of the
single-process recipe (same batch, same learning rate, same random numbers) up to floating-point
rounding. Rank 0 alone writes the run folder; every rank resumes from its checkpoint, so the
folder must be on storage every machine sees, and a run may be resumed with another N.
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
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import distributed
from .averaging import check_decay, standing_statistics, update_average
from .checkpoint import Checkpoint, build_networks, load_weights, read_checkpoint, save_checkpoint
from .dcgan import DCGANConfig, Discriminator, Generator, init_weights, sample_latent
from .errors import InpaintError
from .fast_layers import speed_up_layers
from .images import from_tensor, make_grid, save_image
from .masks import training_masks
from .precision import autocast, check_precision, is_fast, layout, resolve_precision

CHECKPOINT_NAME = "checkpoint.safetensors"
AVERAGE = "average.generator"  # the checkpoint's tensors of the moving average of G


@dataclass(frozen=True)
class TrainConfig:
    """Training settings. The defaults are the paper's recipe (Radford et al.'s Adam settings)."""

    epochs: int = 25
    batch_size: int = 64
    learning_rate: float = 2e-4
    beta1: float = 0.5
    seed: int = 0
    precision: str = "auto"  # precision.py: "auto", "bf16", "fp32-fast" or "fp32" (the plain loop)
    checkpoint_every: int = 200  # steps between checkpoints (and at every epoch end)
    sample_count: int = 64
    ema_decay: float = 0.0  # β of a moving average of G's weights, kept in the epoch files (0: none, the paper)

    def __post_init__(self) -> None:
        check_precision(self.precision)
        check_decay(self.ema_decay)
        if self.batch_size < 1 or self.epochs < 0 or self.checkpoint_every < 1:
            raise InpaintError("batch_size and checkpoint_every must be positive, epochs non-negative")

    def on(self, device: torch.device | str):
        """This config with its precision resolved for `device` ("auto" → "bf16" or "fp32-fast"),
        as a run records it."""
        return replace(self, precision=resolve_precision(self.precision, device))


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


def masked_batch(data: torch.Tensor, index: torch.Tensor, rng: np.random.Generator, *,
                 memory_format: torch.memory_format, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of a network that learns to fill holes: the images data[index] (uint8 (N, C, H, W))
    as float (B, C, H, W) in [-1, 1] in `memory_format`, each flipped horizontally with
    probability ½, and fresh masks bool (B, H, W), True = missing, of kinds uniform over the four
    (masks.training_masks); flips then masks are drawn from `rng`."""
    real = data[index].to(device).float().div_(127.5).sub_(1.0)
    flip = torch.from_numpy(rng.random(len(index)) < 0.5).to(device)
    real[flip] = real[flip].flip(-1)
    masks = training_masks(len(index), real.shape[-2], real.shape[-1], rng)
    return real.contiguous(memory_format=memory_format), torch.from_numpy(masks).to(device)


def start_log(run_dir: Path, overwrite: bool) -> Path:
    """Create the run folder and return its log.jsonl path, emptied when the run starts over."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "log.jsonl"
    if overwrite and log_path.exists():
        log_path.unlink()
    return log_path


@dataclass
class Position:
    """Where a training run stands: epochs done, steps into the current epoch, steps in all."""

    epoch: int = 0
    step_in_epoch: int = 0
    step: int = 0

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> "Position":
        return cls(*(checkpoint.training[k] for k in ("epoch", "step_in_epoch", "step")))


def run_epochs(position: Position, *, epochs: int, count: int, batch_size: int, seed: int, checkpoint_every: int,
               step: Callable[[torch.Tensor], dict], save: Callable[[], None], end_epoch: Callable[[float, int], None],
               checkpoint_path: Path, progress: bool = True, main: bool = True) -> None:
    """The epoch and step loop every trainer here shares, resumable mid-epoch from `position`.

    Each step calls step(index) with the image indices of its batch (the epoch's batch_order,
    batch_size at a time; the last partial batch is dropped) and shows the dict it returns on
    the progress bar beside the images per second; then `position` moves on. save() is called
    every checkpoint_every steps except at an epoch's last step, and end_epoch(seconds, images)
    after each epoch, with `position` already at the next one. On Ctrl-C nothing is saved (a
    step may be half done: the last checkpoint is consistent), the way to resume is printed
    (when `main`) and the KeyboardInterrupt goes on.
    """
    steps_per_epoch = count // batch_size
    try:
        while position.epoch < epochs:
            order = batch_order(count, seed, position.epoch)
            bar = tqdm(total=steps_per_epoch, initial=position.step_in_epoch, disable=not progress,
                       desc=f"epoch {position.epoch + 1}/{epochs}", unit="step")
            started, done_images = time.perf_counter(), 0
            while position.step_in_epoch < steps_per_epoch:
                first = position.step_in_epoch * batch_size
                shown = step(order[first:first + batch_size])
                position.step += 1
                position.step_in_epoch += 1
                done_images += batch_size
                bar.update(1)
                bar.set_postfix(img_s=f"{done_images / (time.perf_counter() - started):.0f}", **shown)
                if position.step % checkpoint_every == 0 and position.step_in_epoch < steps_per_epoch:
                    save()
            bar.close()
            position.epoch, position.step_in_epoch = position.epoch + 1, 0
            end_epoch(time.perf_counter() - started, done_images)
    except KeyboardInterrupt:
        if main:
            print(f"\ninterrupted at step {position.step}; run the same command to resume from {checkpoint_path}")
        raise


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


def train(
    images: np.ndarray,
    run_dir: str | Path,
    *,
    model_config: DCGANConfig | None = None,
    config: TrainConfig = TrainConfig(),
    overwrite: bool = False,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> Path:
    """Train a DCGAN on uint8 images (N, H, W, C); resume from run_dir's checkpoint if there is one.

    Returns the path of the latest checkpoint. With overwrite=True an existing run is started over.
    The image size and channel count of `model_config` must match the images.

    Inside a process group of N > 1 processes (distributed.init(), e.g. under torchrun) every
    process calls train() with the same images and arguments; each trains on its B/N rows of
    every global batch of B = config.batch_size images (B must be divisible by N), and rank 0
    alone writes checkpoints, samples and the log. `device` is this process's device.
    """
    run_dir = Path(run_dir)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    config = config.on(device)  # "auto" precision → what this device runs fast
    model_config = check_training_images(images, model_config, config.batch_size, default=DCGANConfig,
                                         network="the model makes")
    count = len(images)
    world, rank = distributed.world_size(), distributed.rank()
    if config.batch_size % world:
        raise InpaintError(f"the batch of {config.batch_size} images does not split evenly over {world} "
                           f"processes; choose a batch size divisible by {world}")
    local_batch = config.batch_size // world  # this process's rows of every global batch
    rows = slice(rank * local_batch, (rank + 1) * local_batch)
    main = rank == 0
    progress = progress and main

    generator, discriminator = Generator(model_config), Discriminator(model_config)
    init_generator = torch.Generator().manual_seed(config.seed)
    init_weights(generator, generator=init_generator)
    init_weights(discriminator, generator=init_generator)
    rng = torch.Generator().manual_seed(config.seed)  # flips and z during training
    position = Position()
    checkpoint = None
    if checkpoint_path.exists() and not overwrite:
        checkpoint = read_checkpoint(checkpoint_path)
        if checkpoint.config != model_config:
            raise InpaintError(f"{checkpoint_path} holds a different model ({checkpoint.config}); "
                               "use another run folder or overwrite")
        generator, discriminator = build_networks(checkpoint)
        rng.set_state(checkpoint.tensors["rng.train"])
        position = Position.of(checkpoint)
        if progress:
            print(f"resuming {checkpoint_path} at epoch {position.epoch + 1}, step {position.step}")
    # Every rank must start from the same place (the run folder must be shared by all machines);
    # this also keeps rank 0 from writing a checkpoint before the others have read theirs.
    distributed.all_equal(astuple(position), f"where to start (epoch, step in epoch, step) "
                          f"from {checkpoint_path}; is the run folder on storage every machine sees?")

    memory_format, autocast = precision_setup(config.precision, device)
    training_network(generator, config.precision, device)
    training_network(discriminator, config.precision, device)
    # The optimisers come after the move, so that their state lives on the parameters' device and
    # in their layout. The fast paths ("bf16", "fp32-fast") also run Adam as one fused kernel (the
    # same update) and spare the G step the gradients of D's weights, which it never uses; "fp32"
    # is the plain loop throughout.
    fast = is_fast(config.precision)
    adam = dict(lr=config.learning_rate, betas=(config.beta1, 0.999), fused=fast)
    optimizer_g = torch.optim.Adam(generator.parameters(), **adam)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), **adam)
    if checkpoint is not None:
        restore_optimizer(optimizer_g, checkpoint, "optimizer.generator")
        restore_optimizer(optimizer_d, checkpoint, "optimizer.discriminator")
    average = None  # the moving average of G's weights, when asked for
    if config.ema_decay > 0:
        average = Generator(model_config).to(device).requires_grad_(False)
        average.load_state_dict(generator.state_dict())  # starts at G (a run that had none starts here)
        if checkpoint is not None and checkpoint.state_dict(AVERAGE):
            load_weights(average, checkpoint, AVERAGE)
    run_generator, run_discriminator = generator, discriminator  # what the steps call
    if world > 1:  # BatchNorm over the global batch; the optimisers hold the same Parameter objects
        run_generator = distributed.data_parallel(generator, device)
        run_discriminator = distributed.data_parallel(discriminator, device)
    data = torch.from_numpy(images).permute(0, 3, 1, 2)  # uint8 (N, C, H, W)
    fixed_z = sample_latent(config.sample_count, model_config.latent_dim,
                            generator=torch.Generator().manual_seed(config.seed + 1)).to(device)

    def save() -> None:
        if not main:
            return
        extra = {**optimizer_tensors("optimizer.generator", optimizer_g),
                 **optimizer_tensors("optimizer.discriminator", optimizer_d),
                 "rng.train": rng.get_state()}
        if average is not None:
            extra.update({f"{AVERAGE}.{name}": value for name, value in average.state_dict().items()})
        progress_state = dict(**asdict(position), train_config=asdict(config), images=count, processes=world)
        save_checkpoint(checkpoint_path, model_config, generator, discriminator,
                        extra_tensors=extra, training=progress_state)
        generator.eval()
        with torch.no_grad():
            samples = from_tensor(generator(fixed_z))
        generator.train()
        save_image(run_dir / "samples" / f"step_{position.step:07d}.png", make_grid(samples))

    real_label = torch.ones(local_batch, device=device)
    fake_label = torch.zeros(local_batch, device=device)
    log_path = start_log(run_dir, overwrite) if main else None
    sums, steps_summed = np.zeros(3), 0  # the epoch's loss_d, loss_g and D(G(z))

    def step(index: torch.Tensor) -> dict:
        nonlocal sums, steps_summed
        # The global batch's images, flips and z, drawn alike on every rank; this rank's rows.
        real = data[index[rows]].to(device).float().div_(127.5).sub_(1.0)
        flip = (torch.rand(config.batch_size, generator=rng) < 0.5)[rows]  # random horizontal flips
        real[flip] = real[flip].flip(-1)
        real = real.contiguous(memory_format=memory_format)
        z = sample_latent(config.batch_size, model_config.latent_dim, generator=rng)[rows].to(device)

        # D step: maximise log D(x) + log(1 − D(G(z)))   (Eq. 1)
        with autocast():
            fake = run_generator(z)
            loss_d = (F.binary_cross_entropy_with_logits(run_discriminator(real).float(), real_label)
                      + F.binary_cross_entropy_with_logits(run_discriminator(fake.detach()).float(), fake_label))
        optimizer_d.zero_grad(set_to_none=True)
        loss_d.backward()
        optimizer_d.step()
        # G step: the non-saturating form, maximise log D(G(z)) (Goodfellow et al.)
        # D is called without its DDP wrapper: only G's gradients are wanted (and averaged).
        discriminator.requires_grad_(not fast)
        with autocast():
            logit_fake = discriminator(fake).float()
            loss_g = F.binary_cross_entropy_with_logits(logit_fake, real_label)
        optimizer_g.zero_grad(set_to_none=True)
        loss_g.backward()
        discriminator.requires_grad_(True)
        optimizer_g.step()
        if average is not None:
            update_average(average, generator, config.ema_decay)

        values = torch.stack([loss_d.detach(), loss_g.detach(), torch.sigmoid(logit_fake.detach()).mean()])
        values = distributed.mean_over_ranks(values.float()).cpu().numpy()  # the global batch's
        sums, steps_summed = sums + values, steps_summed + 1
        return dict(loss_d=f"{values[0]:.3f}", loss_g=f"{values[1]:.3f}")

    def end_epoch(seconds: float, images_done: int) -> None:
        nonlocal sums, steps_summed
        mean, sums, steps_summed = sums / max(1, steps_summed), np.zeros(3), 0
        if not main:
            return
        save()
        kept, training = generator, dict(epoch=position.epoch, step=position.step)
        if average is not None:  # the average, with BatchNorm statistics of its own
            kept = standing_statistics(average, model_config.latent_dim, seed=config.seed)
            training.update(generator="moving average of the weights", ema_decay=config.ema_decay)
        save_checkpoint(run_dir / "epochs" / f"epoch_{position.epoch:03d}.safetensors",
                        model_config, kept, discriminator, training=training)
        with log_path.open("a") as log:
            log.write(json.dumps(dict(epoch=position.epoch, step=position.step, seconds=round(seconds, 1),
                                      images_per_second=round(images_done / seconds, 1),
                                      loss_d=round(mean[0], 4), loss_g=round(mean[1], 4),
                                      d_of_fake=round(mean[2], 4))) + "\n")

    run_epochs(position, epochs=config.epochs, count=count, batch_size=config.batch_size, seed=config.seed,
               checkpoint_every=config.checkpoint_every, step=step, save=save, end_epoch=end_epoch,
               checkpoint_path=checkpoint_path, progress=progress, main=main)
    return checkpoint_path
