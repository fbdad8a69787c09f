"""Training the latent encoder E (networks/encoder.py): the search of Eq. 2, amortised over a dataset (ours).

For a frozen G and D, E is trained to minimise the search's own objective at its output,

    L(E) = mean over the batch of  L_c(E(y, M) | y, M) + L_p(E(y, M))        (Eq. 4 and Eq. 5)

with y a training image, M a fresh mask whose kind is uniform over the four test kinds (center,
pattern, random_pixels, half), Eq. 3's weights with the search's window, and the search's λ and
prior form (SearchSettings). E thus learns where the search would go; the search then starts
there (SearchSettings.start = "encoder") and only refines. G and D are never changed: they run as
the search runs them (latent.search_networks: copies with BatchNorm folded in bf16 or fp32-fast,
or the plain fp32 networks).
Adam 2e-4, β1 0.5, batch 64, random horizontal flips. The flips and masks of step s of epoch e come
from masks.training_rng(seed, e, s, ENCODER_STREAM), so a checkpoint needs no random-number state.

Run directory layout (loop.py), with:
    checkpoint.safetensors          E, its Adam state, and the digest of the G and D it was trained for
    epochs/epoch_NNN.safetensors    the model (G, D) with E after each epoch: a DCGAN file that
                                    `--model` takes and `seminpaint export --half` ships
    log.jsonl                       per checkpoint: mean context, prior and total loss, images/s

Mask convention: True / 1 = missing, to be filled.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InpaintError
from ..latent import search_networks
from ..losses import importance_weights, objective
from ..masks import training_rng
from ..networks.checkpoint import ENCODER_FORMAT, save_checkpoint
from ..networks.dcgan import DCGANConfig, init_weights
from ..networks.encoder import EncoderConfig, LatentEncoder
from ..networks.model import GenerativeModel, weights_digest
from ..settings import PAPER, SearchSettings
from .loop import Run, TrainConfig, check_training_images, masked_batch

ENCODER_STREAM = 0xE2  # last entropy word of the training masks' RNG (≠ the Context Encoder's 0xCE)


@dataclass(frozen=True)
class EncoderTrainConfig(TrainConfig):
    """TrainConfig (Adam 2e-4, β1 0.5, batch 64, precision auto) with 10 epochs by default."""

    epochs: int = 10


def model_digest(model: GenerativeModel) -> str:
    """SHA-256 of G's and D's weights: which model an encoder was trained for."""
    return weights_digest(model.generator, model.discriminator)


def amortised_loss(encoder: LatentEncoder, generator, discriminator, images: torch.Tensor, mask: torch.Tensor,
                   search: SearchSettings, autocast, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_c, L_p) per image, (B,) each, of the search's objective at z = E(y, M).

    images: y, (B, C, H, W) in [-1, 1]; mask: bool (B, H, W), True = missing; generator and
    discriminator (None: no prior) as latent.search_networks gives them.
    """
    weights = importance_weights(mask, search.window)
    with autocast():
        z = encoder(images, mask)
        generated = generator(z.to(dtype))
        logits = discriminator(generated) if discriminator is not None else None
    return objective(generated, images, weights, logits, prior_weight=search.prior_weight,
                     prior_form=search.prior_form)


def encoder_step(encoder: LatentEncoder, optimizer: torch.optim.Optimizer, generator, discriminator,
                 images: torch.Tensor, mask: torch.Tensor, search: SearchSettings, autocast,
                 dtype) -> dict[str, torch.Tensor]:
    """One Adam step of E on the batch's mean amortised_loss; returns its mean context and prior loss."""
    context, prior = amortised_loss(encoder, generator, discriminator, images, mask, search, autocast, dtype)
    loss = (context + prior).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return dict(context=context.detach().mean(), prior=prior.detach().mean())


def log_entry(means: dict[str, float]) -> dict[str, float]:
    """A log line's losses: context, prior and their sum."""
    context, prior = means["context"], means["prior"]
    return dict(context=round(context, 3), prior=round(prior, 5), loss=round(context + prior, 3))


def train_encoder(
    images: np.ndarray,
    model: GenerativeModel,
    run_dir: str | Path,
    *,
    config: EncoderTrainConfig = EncoderTrainConfig(),
    search: SearchSettings = PAPER,
    features: int = 64,
    model_training: dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Train a latent encoder for `model` on uint8 images (N, H, W, C), on the model's device;
    resume from run_dir's checkpoint if there is one. Returns the last epoch's model file (G, D and
    E), or the checkpoint when no epoch has finished.

    search: whose objective E amortises (window, λ, prior form; the paper's by default).
    model_training: the model file's own training progress (its "epoch" and "step"), kept beside
    the encoder's in every epoch file.
    The images must have the model's size and channels; a checkpoint trained for another G and D
    (or another encoder size) is refused, as is resuming with overwrite=False into a different run.
    """
    if not isinstance(getattr(model.generator, "config", None), DCGANConfig):
        raise InpaintError("train_encoder writes a DCGAN file with the encoder: give a seminpaint DCGAN (load_model)")
    channels, height, width = model.image_shape
    if height != width:
        raise InpaintError(f"the latent encoder needs a square generator, got {height}×{width}")
    encoder_config = EncoderConfig(image_size=height, channels=channels, latent_dim=model.latent_dim,
                                   features=features, latent_range=tuple(model.latent_range))
    check_training_images(images, encoder_config, config.batch_size, default=EncoderConfig,
                          network="the model makes")
    use_prior = search.prior_weight > 0
    if use_prior and model.discriminator is None:
        raise InpaintError("the prior loss needs a discriminator; give one or set prior_weight=0")
    device, digest = model.device, model_digest(model)

    run = Run(images, run_dir, config, device, model_config=encoder_config, format=ENCODER_FORMAT, what="encoder",
              record=dict(model_digest=digest, search=asdict(search)), overwrite=overwrite, progress=progress)
    if run.checkpoint is not None and run.checkpoint.training.get("model_digest") != digest:
        raise InpaintError(f"{run.checkpoint_path} was trained for another G and D; "
                           "use the same --model, another run folder, or overwrite")
    config = run.config
    encoder = LatentEncoder(encoder_config)
    init_weights(encoder, generator=torch.Generator().manual_seed(config.seed))
    (optimizer,) = run.train({"latent_encoder": encoder})

    def save_epoch(epoch: int) -> None:
        encoder.eval()
        save_checkpoint(run.epoch_path(epoch), model.generator.config, model.generator, model.discriminator,
                        encoder=encoder,
                        training={**(model_training or {}), "encoder_epoch": epoch, "encoder_step": run.position.step})
        encoder.train()

    with model.frozen():
        generator, discriminator, _, dtype = search_networks(model, config.precision, use_prior)

        def step(index: torch.Tensor) -> dict[str, torch.Tensor]:
            rng = training_rng(config.seed, run.position.epoch, run.position.step_in_epoch, ENCODER_STREAM)
            real, mask = masked_batch(run.data, index, rng, memory_format=run.memory_format, device=device)
            return encoder_step(encoder, optimizer, generator, discriminator, real, mask, search, run.autocast, dtype)

        run.loop(step, end_epoch=save_epoch, log=log_entry)
    return run.epoch_path(run.position.epoch) if run.position.epoch > 0 else run.checkpoint_path
