"""Training the latent encoder E (encoder.py): the search of Eq. 2, amortised over a dataset (ours).

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

Run directory layout:
    checkpoint.safetensors          latest training checkpoint (E, its Adam state, progress, and
                                    the digest of the G and D it was trained for)
    epochs/epoch_NNN.safetensors    the model (G, D) with E after each epoch: a DCGAN file that
                                    `--model` takes and `seminpaint export --half` ships
    log.jsonl                       per checkpoint: mean context, prior and total loss, images/s

Mask convention: True / 1 = missing, to be filled.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import (
    ENCODER_FORMAT,
    load_weights,
    read_checkpoint,
    save_checkpoint,
    write_checkpoint,
)
from .dcgan import DCGANConfig, init_weights
from .encoder import EncoderConfig, LatentEncoder
from .errors import InpaintError
from .latent import search_networks
from .settings import PAPER, SearchSettings
from .losses import context_loss, importance_weights, prior_loss
from .masks import training_rng
from .model import GenerativeModel, weights_digest
from .precision import is_fast
from .train import (
    CHECKPOINT_NAME,
    Position,
    TrainConfig,
    check_training_images,
    masked_batch,
    optimizer_tensors,
    precision_setup,
    restore_optimizer,
    run_epochs,
    start_log,
    training_network,
)

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
    context = context_loss(generated.float(), images, weights)
    prior = (prior_loss(logits.float(), weight=search.prior_weight, form=search.prior_form)
             if logits is not None else torch.zeros_like(context))
    return context, prior


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
    run_dir = Path(run_dir)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    config = config.on(model.device)  # "auto" precision → what this device runs fast
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

    encoder = LatentEncoder(encoder_config)
    init_weights(encoder, generator=torch.Generator().manual_seed(config.seed))
    position = Position()
    checkpoint = None
    if checkpoint_path.exists() and not overwrite:
        checkpoint = read_checkpoint(checkpoint_path, format=ENCODER_FORMAT, config_class=EncoderConfig)
        if checkpoint.config != encoder_config:
            raise InpaintError(f"{checkpoint_path} holds a different encoder ({checkpoint.config}); "
                               "use another run folder or overwrite")
        if checkpoint.training.get("model_digest") != digest:
            raise InpaintError(f"{checkpoint_path} was trained for another G and D; "
                               "use the same --model, another run folder, or overwrite")
        load_weights(encoder, checkpoint, "latent_encoder")
        position = Position.of(checkpoint)
    memory_format, autocast = precision_setup(config.precision, device)
    training_network(encoder, config.precision, device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.learning_rate, betas=(config.beta1, 0.999),
                                 fused=is_fast(config.precision))
    if checkpoint is not None:
        restore_optimizer(optimizer, checkpoint, "optimizer.latent_encoder")
        if progress:
            print(f"resuming {checkpoint_path} at epoch {position.epoch + 1}, step {position.step}")

    data = torch.from_numpy(images).permute(0, 3, 1, 2)  # uint8 (N, C, H, W)
    count = len(images)
    log_path = start_log(run_dir, overwrite)
    sums, logged, since = np.zeros(2), 0, time.perf_counter()

    def save() -> None:
        nonlocal sums, logged, since
        state = dict(**asdict(position), model_digest=digest,
                     train_config=asdict(config), search=asdict(search), images=count)
        write_checkpoint(checkpoint_path, encoder_config, {"latent_encoder": encoder}, format=ENCODER_FORMAT,
                         extra_tensors=optimizer_tensors("optimizer.latent_encoder", optimizer), training=state)
        if logged:
            seconds = time.perf_counter() - since
            context, prior = sums / logged
            with log_path.open("a") as log:
                log.write(json.dumps(dict(epoch=position.epoch, step=position.step, seconds=round(seconds, 1),
                                          images_per_second=round(logged * config.batch_size / seconds, 1),
                                          context=round(context, 3), prior=round(prior, 5),
                                          loss=round(context + prior, 3))) + "\n")
        sums, logged, since = np.zeros(2), 0, time.perf_counter()

    def epoch_path(epoch_: int) -> Path:
        return run_dir / "epochs" / f"epoch_{epoch_:03d}.safetensors"

    def save_epoch(epoch_: int) -> None:
        encoder.eval()
        save_checkpoint(epoch_path(epoch_), model.generator.config, model.generator, model.discriminator, encoder=encoder,
                        training={**(model_training or {}), "encoder_epoch": epoch_, "encoder_step": position.step})
        encoder.train()

    with model.frozen():
        generator_net, discriminator_net, _, dtype = search_networks(model, config.precision, use_prior)

        def step(index: torch.Tensor) -> dict:
            nonlocal sums, logged
            rng = training_rng(config.seed, position.epoch, position.step_in_epoch, ENCODER_STREAM)
            real, mask = masked_batch(data, index, rng, memory_format=memory_format, device=device)
            context, prior = amortised_loss(encoder, generator_net, discriminator_net, real, mask,
                                            search, autocast, dtype)
            loss = (context + prior).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            values = torch.stack([context.detach().mean(), prior.detach().mean()]).float().cpu().numpy()
            sums, logged = sums + values, logged + 1
            return dict(context=f"{values[0]:.2f}")

        def end_epoch(seconds: float, images_done: int) -> None:
            save()
            save_epoch(position.epoch)

        run_epochs(position, epochs=config.epochs, count=count, batch_size=config.batch_size, seed=config.seed,
                   checkpoint_every=config.checkpoint_every, step=step, save=save, end_epoch=end_epoch,
                   checkpoint_path=checkpoint_path, progress=progress)
    return epoch_path(position.epoch) if position.epoch > 0 else checkpoint_path
