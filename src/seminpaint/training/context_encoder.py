"""Training the Context Encoder baseline (Pathak et al. 2016; the network: seminpaint.networks.context_encoder).

Pathak's joint loss for the network F and an adversarial D (the DCGAN Discriminator) that sees the
completed image x̂ = M ⊙ F(x) + (1 − M) ⊙ x (M = 1 missing):
    L = λ_rec · mean over the hole pixels of (F(x) − x)²  +  λ_adv · BCE(D(x̂), real)
with λ_rec = 0.999, λ_adv = 0.001, D trained with BCE on real images and on x̂ (non-saturating form
for F), Adam 2e-4, β1 0.5 for both, batch 64, random horizontal flips (context_encoder_step). Every
training image draws a fresh mask whose kind is uniform over the four test kinds (center, pattern,
random_pixels, half), as the paper trained its CE with the test mask kinds. The flips, kinds and
masks of step s of epoch e come from np.random.default_rng([seed, e, s, MASK_STREAM]): a function of
where the run is, so a checkpoint needs no random-number state, and never the stream of an
evaluation mask (masks.make_masks draws mask i from default_rng([seed, i]), which is
default_rng([seed, i, 0, 0]); MASK_STREAM ≠ 0 keeps them apart). Masks are drawn fresh for every
batch rather than from a bank: pattern masks, the slowest kind, cost little beside a training step.

Run directory layout (loop.py), with:
    checkpoint.safetensors         the network, D and their Adam states
    epochs/epoch_NNN.safetensors   the network after each epoch (what the baseline loads)
    samples/epoch_NNN.png          completions of the first training images, one row pair per mask kind
    log.jsonl                      per checkpoint: mean hole L2, adversarial loss, D loss, D(x̂), images/s

Mask convention: True / 1 = missing, to be filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InpaintError
from ..figures import labelled_grid, show_hole
from ..images import from_tensor, save_image, to_tensor
from ..masks import MASK_KINDS, make_masks, training_rng
from ..networks.checkpoint import CONTEXT_ENCODER_FORMAT, write_checkpoint
from ..networks.context_encoder import ContextEncoder, ContextEncoderConfig, complete
from ..networks.dcgan import Discriminator, init_weights
from .loop import Run, TrainConfig, check_training_images, masked_batch, rounded

MASK_STREAM = 0xCE  # last entropy word of the training masks' RNG; evaluation masks have 0 there
LOG_DIGITS = {"l2_hole": 5, "adversarial": 4, "loss_d": 4, "d_of_completed": 4}


def step_rng(seed: int, epoch: int, step_in_epoch: int) -> np.random.Generator:
    """The flips' and masks' random numbers of one training step (see the module docstring)."""
    return training_rng(seed, epoch, step_in_epoch, MASK_STREAM)


@dataclass(frozen=True)
class ContextEncoderTrainConfig(TrainConfig):
    """TrainConfig with Pathak's loss weights; sample_count: training images shown in each epoch's figure."""

    reconstruction_weight: float = 0.999  # λ_rec
    adversarial_weight: float = 0.001  # λ_adv
    sample_count: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 2:  # the 1×1 bottleneck's BatchNorm needs two images
            raise InpaintError(f"a Context Encoder trains on batches of at least 2 images, got {self.batch_size}")
        for name in ("reconstruction_weight", "adversarial_weight"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise InpaintError(f"{name} must be a finite number ≥ 0, got {value!r}")


def context_encoder_step(network: ContextEncoder, discriminator: Discriminator, optimizer_n: torch.optim.Optimizer,
                         optimizer_d: torch.optim.Optimizer, real: torch.Tensor, hole: torch.Tensor, *,
                         autocast, reconstruction_weight: float,
                         adversarial_weight: float) -> dict[str, torch.Tensor]:
    """One step of Pathak's joint loss: a D step on real against completed images, then a network step.

    real: x, (B, C, H, W) in [-1, 1]; hole: bool (B, 1, H, W), True = missing. Returns the batch's
    l2_hole, adversarial, loss_d and D(x̂) (its mean), detached.
    """
    real_label = torch.ones(len(real), device=real.device)
    fake_label = torch.zeros(len(real), device=real.device)
    weight = hole.float()
    # D step: real images against completed ones
    with autocast():
        output = network(real, hole)
        completed = torch.where(hole, output.to(real.dtype), real)
        loss_d = (F.binary_cross_entropy_with_logits(discriminator(real).float(), real_label)
                  + F.binary_cross_entropy_with_logits(discriminator(completed.detach()).float(), fake_label))
    optimizer_d.zero_grad(set_to_none=True)
    loss_d.backward()
    optimizer_d.step()
    # Network step: Pathak's joint loss, L2 over the hole pixels + non-saturating adversarial
    with autocast():
        logit = discriminator(completed).float()
        adversarial = F.binary_cross_entropy_with_logits(logit, real_label)
    l2_hole = ((output.float() - real) ** 2 * weight).sum() / (weight.sum() * real.shape[1])
    loss = reconstruction_weight * l2_hole + adversarial_weight * adversarial
    optimizer_n.zero_grad(set_to_none=True)
    loss.backward()
    optimizer_n.step()
    return dict(l2_hole=l2_hole.detach(), adversarial=adversarial.detach(), loss_d=loss_d.detach(),
                d_of_completed=torch.sigmoid(logit.detach()).mean())


def completion_figure(network: ContextEncoder, images: np.ndarray, masks: dict[str, np.ndarray], device) -> np.ndarray:
    """Rows of the inputs (hole in white) and the network's completions, a row pair per mask kind.

    images: uint8 (N, H, W, C); masks: {kind: bool (N, H, W)}, True = missing."""
    network.eval()
    rows, titles = [], []
    with torch.no_grad():
        for kind, kind_masks in masks.items():
            filled = from_tensor(complete(network, to_tensor(images).to(device),
                                          torch.from_numpy(kind_masks).to(device)))
            rows += [[show_hole(image, mask) for image, mask in zip(images / 255.0, kind_masks)], list(filled)]
            titles += [kind, "CE"]
    network.train()
    return labelled_grid(rows, row_titles=titles, scale=max(1, 128 // network.config.image_size))


def train_context_encoder(
    images: np.ndarray,
    run_dir: str | Path,
    *,
    model_config: ContextEncoderConfig | None = None,
    config: ContextEncoderTrainConfig = ContextEncoderTrainConfig(),
    overwrite: bool = False,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> Path:
    """Train a Context Encoder on uint8 images (N, H, W, C); resume from run_dir's checkpoint if there is one.

    Returns the path of the latest checkpoint. With overwrite=True an existing run is started over.
    The image size and channel count of `model_config` (default: the images', features 64,
    bottleneck 512) must match the images. One process (no torchrun).
    """
    model_config = check_training_images(images, model_config, config.batch_size, default=ContextEncoderConfig,
                                         network="the Context Encoder fills")
    run = Run(images, run_dir, config, device, model_config=model_config, format=CONTEXT_ENCODER_FORMAT,
              overwrite=overwrite, progress=progress)
    config = run.config
    network, discriminator = ContextEncoder(model_config), Discriminator(model_config.dcgan)
    init_generator = torch.Generator().manual_seed(config.seed)
    init_weights(network, generator=init_generator)
    init_weights(discriminator, generator=init_generator)
    # fused=False: this trainer's Adam is the plain loop in every precision.
    optimizer_n, optimizer_d = run.train({"context_encoder": network, "discriminator": discriminator}, fused=False)
    shown = min(config.sample_count, run.count)  # the figure's images: the first training images
    height, width = images.shape[1:3]
    sample_masks = {kind: make_masks(kind, shown, height, width, seed=config.seed) for kind in MASK_KINDS}

    def step(index: torch.Tensor) -> dict[str, torch.Tensor]:
        rng = step_rng(config.seed, run.position.epoch, run.position.step_in_epoch)
        real, hole = masked_batch(run.data, index, rng, memory_format=run.memory_format, device=device)
        return context_encoder_step(network, discriminator, optimizer_n, optimizer_d, real, hole[:, None],
                                    autocast=run.autocast, reconstruction_weight=config.reconstruction_weight,
                                    adversarial_weight=config.adversarial_weight)

    def save_epoch(epoch: int) -> None:
        write_checkpoint(run.epoch_path(epoch), model_config, {"context_encoder": network},
                         format=CONTEXT_ENCODER_FORMAT, training=dict(epoch=epoch, step=run.position.step))
        figure = completion_figure(network, images[:shown], sample_masks, device)
        save_image(run.dir / "samples" / f"epoch_{epoch:03d}.png", figure)

    run.loop(step, end_epoch=save_epoch, log=lambda means: rounded(means, LOG_DIGITS))
    return run.checkpoint_path
