"""DCGAN training (paper, section 3.4; Radford et al.): Adam 2e-4, β1 0.5, random horizontal flips,
z ~ U[-1, 1], the minimax game of Eq. 1 (gan_step). The loop, its checkpoints and exact resume are
loop.py's; the random flips and z come from a seeded generator whose state the checkpoint keeps.

Run directory layout (loop.py), with:
    checkpoint.safetensors     G, D, their Adam states, the flips' and z's generator (rng.train); with
                               ema_decay > 0 also the moving average of G's weights (average.generator.*)
    epochs/epoch_NNN.safetensors   G and D after each epoch (for choosing the best epoch); with
                               ema_decay > 0 the G there is the average (averaging.py)
    samples/step_NNNNNNN.png   8×8 grid of G(z) for a fixed z, written with each checkpoint
    log.jsonl                  per epoch: mean loss_d, loss_g and D(G(z)), images/s

Several processes (torchrun, see docs/distributed.md): with a global batch of B images and N
processes, every process draws the same epoch permutation, flips and z for the whole batch (from
the same seeds), and process r trains on rows [r·B/N, (r+1)·B/N) of it. G and D are wrapped in
DistributedDataParallel, which averages the gradients of the per-process mean losses, i.e. the
gradient of the mean loss over the global batch, and their BatchNorm layers normalise with the
global batch's statistics (data_parallel.GlobalBatchNorm2d). One step is thus one step of the
single-process recipe (same batch, same learning rate, same random numbers) up to floating-point
rounding. Rank 0 alone writes the run folder; every rank resumes from its checkpoint, so the
folder must be on storage every machine sees, and a run may be resumed with another N.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..images import from_tensor, make_grid, save_image
from ..networks.checkpoint import Checkpoint, load_weights, save_checkpoint
from ..networks.dcgan import DCGANConfig, Discriminator, Generator, init_weights, sample_latent
from .averaging import standing_statistics, update_average
from .loop import Run, TrainConfig, check_training_images, image_batch

AVERAGE = "average.generator"  # the checkpoint's tensors of the moving average of G


def gan_step(generator: nn.Module, discriminator: nn.Module, optimizer_g: torch.optim.Optimizer,
             optimizer_d: torch.optim.Optimizer, real: torch.Tensor, z: torch.Tensor, *,
             autocast: Callable, fast: bool, run_generator: nn.Module | None = None,
             run_discriminator: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """One step of the game of Eq. 1, min_G max_D log D(x) + log(1 − D(G(z))): a D step, then a G step.

    real: x, (B, C, H, W) in [-1, 1]; z: (B, latent_dim) in [-1, 1]. The losses are means over the
    batch. run_generator, run_discriminator: what the D step calls (their DDP wrappers in a process
    group; default the networks). fast: spare the G step D's weight gradients, which it never uses.
    Returns the batch's loss_d, loss_g and D(G(z)) (its mean), detached.
    """
    run_generator = run_generator or generator
    run_discriminator = run_discriminator or discriminator
    real_label = torch.ones(len(real), device=real.device)
    fake_label = torch.zeros(len(real), device=real.device)
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
    return dict(loss_d=loss_d.detach(), loss_g=loss_g.detach(), d_of_fake=torch.sigmoid(logit_fake.detach()).mean())


def start_average(generator: Generator, checkpoint: Checkpoint | None, device) -> Generator:
    """The moving average of G's weights on `device`, without gradients: the checkpoint's (AVERAGE)
    when it has one, else G's weights (a run that had none starts here)."""
    average = Generator(generator.config).to(device).requires_grad_(False)
    average.load_state_dict(generator.state_dict())
    if checkpoint is not None and checkpoint.state_dict(AVERAGE):
        load_weights(average, checkpoint, AVERAGE)
    return average


def random_and_average_state(rng: torch.Generator, average: Generator | None) -> dict[str, torch.Tensor]:
    """What a checkpoint keeps beside the networks: the flips' and z's generator, the moving average."""
    extra = {"rng.train": rng.get_state()}
    if average is not None:
        extra.update({f"{AVERAGE}.{name}": value for name, value in average.state_dict().items()})
    return extra


def save_samples(generator: Generator, z: torch.Tensor, path: Path) -> None:
    """An 8×8 grid (for 64 z) of G(z), G in eval mode for it, as a PNG at `path`."""
    generator.eval()
    with torch.no_grad():
        grid = make_grid(from_tensor(generator(z)))
    generator.train()
    save_image(path, grid)


def save_generator(path: Path, generator: Generator, discriminator: Discriminator, average: Generator | None,
                   config: TrainConfig, training: dict) -> None:
    """An epoch file: G and D, or with a moving average of G's weights that average, with BatchNorm
    statistics of its own (averaging.standing_statistics), in G's place."""
    if average is not None:
        generator = standing_statistics(average, generator.latent_dim, seed=config.seed)
        training = dict(training, generator="moving average of the weights", ema_decay=config.ema_decay)
    save_checkpoint(path, generator.config, generator, discriminator, training=training)


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
    model_config = check_training_images(images, model_config, config.batch_size, default=DCGANConfig,
                                         network="the model makes")
    run = Run(images, run_dir, config, device, model_config=model_config, overwrite=overwrite, progress=progress,
              processes=True)
    config = run.config
    generator, discriminator = Generator(model_config), Discriminator(model_config)
    init_generator = torch.Generator().manual_seed(config.seed)
    init_weights(generator, generator=init_generator)
    init_weights(discriminator, generator=init_generator)
    optimizer_g, optimizer_d = run.train({"generator": generator, "discriminator": discriminator})
    rng = torch.Generator().manual_seed(config.seed)  # flips and z during training
    if run.checkpoint is not None:
        rng.set_state(run.checkpoint.tensors["rng.train"])
    average = start_average(generator, run.checkpoint, device) if config.ema_decay > 0 else None
    run_generator, run_discriminator = run.parallel(generator), run.parallel(discriminator)
    fixed_z = sample_latent(config.sample_count, model_config.latent_dim,
                            generator=torch.Generator().manual_seed(config.seed + 1)).to(device)

    def step(index: torch.Tensor) -> dict[str, torch.Tensor]:
        # The global batch's flips and z, drawn alike on every rank; this rank's rows.
        flip = run.shard(torch.rand(config.batch_size, generator=rng) < 0.5)
        real = image_batch(run.data, run.shard(index), flip, memory_format=run.memory_format, device=device)
        z = run.shard(sample_latent(config.batch_size, model_config.latent_dim, generator=rng)).to(device)
        values = gan_step(generator, discriminator, optimizer_g, optimizer_d, real, z, autocast=run.autocast,
                          fast=run.fast, run_generator=run_generator, run_discriminator=run_discriminator)
        if average is not None:
            update_average(average, generator, config.ema_decay)
        return values

    def samples() -> None:
        save_samples(generator, fixed_z, run.dir / "samples" / f"step_{run.position.step:07d}.png")

    def save_epoch(epoch: int) -> None:
        save_generator(run.epoch_path(epoch), generator, discriminator, average, config,
                       dict(epoch=epoch, step=run.position.step))

    run.loop(step, extra_tensors=lambda: random_and_average_state(rng, average), after_checkpoint=samples,
             end_epoch=save_epoch, log_every="epoch")
    return run.checkpoint_path
