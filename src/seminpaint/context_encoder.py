"""The Context Encoder of Pathak et al. 2016 (the paper's [30], its "CE" baseline): a network that maps
an image with a hole to the whole image in one forward pass, trained with a reconstruction loss on
the hole plus an adversarial loss.

Network (ContextEncoder), for 64×64×3 with features 64 and bottleneck 512:
    image (B,3,64,64) in [-1, 1], hole set to 0, and the mask (1 = missing) → (B,4,64,64)
    → Conv 4×4 s2 → (B,64,32,32) LReLU → (B,128,16,16) → (B,256,8,8) → (B,512,4,4), BN LReLU 0.2
      (the DCGAN discriminator's trunk, dcgan.discriminator_trunk, with C + 1 input channels)
    → Conv 4×4 → (B,512,1,1) BN LReLU 0.2                   (Pathak's bottleneck)
    → dcgan.Generator with latent_dim = 512, reused as is    (Pathak's decoder is the DCGAN G)
    → (B,3,64,64) in [-1, 1]
The mask channel is our addition to Pathak's network, which saw only the image, its holes filled
with the mean colour: with 80 % of the pixels missing at random, a network without it cannot tell a
missing pixel from a grey one. complete() keeps the known pixels and takes the hole from the output.

Training (train_context_encoder), Pathak's joint loss for the network F and an adversarial D (the
DCGAN Discriminator) that sees the completed image x̂ = M ⊙ F(x) + (1 − M) ⊙ x (M = 1 missing):
    L = λ_rec · mean over the hole pixels of (F(x) − x)²  +  λ_adv · BCE(D(x̂), real)
with λ_rec = 0.999, λ_adv = 0.001, D trained with BCE on real images and on x̂ (non-saturating form
for F), Adam 2e-4, β1 0.5 for both, batch 64, random horizontal flips. Every training image draws a
fresh mask whose kind is uniform over the four test kinds (center, pattern, random_pixels, half),
as the paper trained its CE with the test mask kinds. The flips, kinds and masks of step s of epoch
e come from np.random.default_rng([seed, e, s, MASK_STREAM]): a function of where the run is, so a
checkpoint needs no random-number state, and never the stream of an evaluation mask
(masks.make_masks draws mask i from default_rng([seed, i]), which is default_rng([seed, i, 0, 0]);
MASK_STREAM ≠ 0 keeps them apart). Drawing masks costs about 20 ms per batch of 64 (pattern masks,
~1 ms each, dominate), small beside a training step, so they are drawn fresh rather than from a bank.

Run directory layout (as for train.py):
    checkpoint.safetensors         latest training checkpoint (network, D, Adam states, progress)
    epochs/epoch_NNN.safetensors   the network after each epoch (what the baseline loads)
    samples/epoch_NNN.png          completions of the first training images, one row pair per mask kind
    log.jsonl                      per checkpoint: mean hole L2, adversarial loss, D loss, images/s

Mask convention: True / 1 = missing, to be filled.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import CONTEXT_ENCODER_FORMAT, load_weights, read_checkpoint, write_checkpoint
from .dcgan import (
    MAX_FEATURES, MAX_LATENT_DIM, DCGANConfig, Discriminator, Generator, check_network_size, check_whole,
    discriminator_trunk, generator_size, init_weights, trunk_size,
)
from .errors import InpaintError
from .figures import labelled_grid, show_hole
from .images import from_tensor, save_image, to_tensor
from .masks import MASK_KINDS, make_masks, training_rng
from .train import (
    CHECKPOINT_NAME, Position, TrainConfig, check_training_images, masked_batch, optimizer_tensors,
    precision_setup, restore_optimizer, run_epochs, start_log, training_network,
)

MASK_STREAM = 0xCE  # last entropy word of the training masks' RNG; evaluation masks have 0 there


@dataclass(frozen=True)
class ContextEncoderConfig:
    """Everything needed to rebuild a Context Encoder; stored beside the weights in every checkpoint.

    image_size: a power of two ≥ 8 (64 for the paper); channels: 1 (gray) or 3 (RGB).
    features: width of the layers nearest the image (doubling at every halving, as in the DCGAN).
    bottleneck: channels of the 1×1 code between encoder and decoder (Pathak's 4000 for 128×128
    crops; 512 here, the DCGAN's widest layer at 64×64).
    Limits (dcgan.py): image_size up to MAX_IMAGE_SIZE, features up to MAX_FEATURES, bottleneck up to
    MAX_LATENT_DIM, at most MAX_PARAMETERS parameters in the network; all checked here, before any
    network is built (InpaintError).
    """

    image_size: int = 64
    channels: int = 3
    features: int = 64
    bottleneck: int = 512

    def __post_init__(self) -> None:
        check_whole("features", self.features, 1, MAX_FEATURES)
        check_whole("bottleneck", self.bottleneck, 1, MAX_LATENT_DIM)
        _ = self.dcgan  # building it checks image_size and channels, and the decoder's and D's sizes
        check_network_size("the context encoder", context_encoder_size(self))

    @property
    def dcgan(self) -> DCGANConfig:
        """The DCGAN configuration of the decoder (G, latent_dim = bottleneck) and of the adversarial D."""
        return DCGANConfig(latent_dim=self.bottleneck, image_size=self.image_size, channels=self.channels,
                           generator_features=self.features, discriminator_features=self.features)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ContextEncoderConfig":
        if not isinstance(values, dict):
            raise InpaintError(f"the configuration must be a JSON object, got {type(values).__name__}")
        known = {field: values[field] for field in cls.__dataclass_fields__ if field in values}
        return cls(**known)


def context_encoder_size(config: ContextEncoderConfig) -> int:
    """Parameters and buffers of ContextEncoder(config), counted from the numbers alone (nothing is built)."""
    trunk, width = trunk_size(config.channels + 1, config.features, config.dcgan.upsamplings)
    bottleneck = width * config.bottleneck * 16 + 4 * config.bottleneck + 1  # conv; BN
    return trunk + bottleneck + generator_size(config.dcgan)


def mask_channel(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A mask (B, H, W) or (B, 1, H, W), bool or 0/1, True = missing → float (B, 1, H, W) like `like`."""
    if mask.ndim == 3:
        mask = mask[:, None]
    return mask.to(device=like.device, dtype=like.dtype)


class ContextEncoder(nn.Module):
    """F: (image, mask) → image. image (B, C, H, W) in [-1, 1] (the hole's values are ignored: set to 0
    here), mask (B, H, W) or (B, 1, H, W), True/1 = missing → (B, C, H, W) in [-1, 1], the whole image.

    encoder: the DCGAN discriminator's trunk on C + 1 channels, then a 4×4 conv to (B, bottleneck, 1, 1),
    BN, LeakyReLU 0.2; decoder: dcgan.Generator(config.dcgan). See the module docstring.
    """

    def __init__(self, config: ContextEncoderConfig = ContextEncoderConfig()) -> None:
        super().__init__()
        self.config = config
        layers, width = discriminator_trunk(config.channels + 1, config.features, config.dcgan.upsamplings)
        layers += [
            nn.Conv2d(width, config.bottleneck, 4, 1, 0, bias=False),  # 4×4 → 1×1
            nn.BatchNorm2d(config.bottleneck),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        self.encoder = nn.Sequential(*layers)
        self.decoder = Generator(config.dcgan)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hole = mask_channel(mask, image)
        inputs = torch.cat([image.masked_fill(hole.bool(), 0.0), hole], dim=1)
        if image.is_contiguous(memory_format=torch.channels_last):  # bf16 training: keep channels_last
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return self.decoder(self.encoder(inputs))


def complete(network: ContextEncoder, corrupted: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the hole: corrupted (B, C, H, W) in [-1, 1], mask (B, H, W) or (B, 1, H, W), True = missing
    → (B, C, H, W) in [-1, 1] with the known pixels of `corrupted` and the hole from network(corrupted, mask)."""
    hole = mask_channel(mask, corrupted).bool()
    return torch.where(hole, network(corrupted, mask).to(corrupted.dtype), corrupted)


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
    run_dir = Path(run_dir)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    config = config.on(device)  # "auto" precision → what this device runs fast
    model_config = check_training_images(images, model_config, config.batch_size, default=ContextEncoderConfig,
                                         network="the Context Encoder fills")
    count, height, width, channels = images.shape

    network, discriminator = ContextEncoder(model_config), Discriminator(model_config.dcgan)
    init_generator = torch.Generator().manual_seed(config.seed)
    init_weights(network, generator=init_generator)
    init_weights(discriminator, generator=init_generator)
    position = Position()
    checkpoint = None
    if checkpoint_path.exists() and not overwrite:
        checkpoint = read_checkpoint(checkpoint_path, format=CONTEXT_ENCODER_FORMAT,
                                     config_class=ContextEncoderConfig)
        if checkpoint.config != model_config:
            raise InpaintError(f"{checkpoint_path} holds a different model ({checkpoint.config}); "
                               "use another run folder or overwrite")
        load_weights(network, checkpoint, "context_encoder")
        load_weights(discriminator, checkpoint, "discriminator")
        position = Position.of(checkpoint)
    memory_format, autocast = precision_setup(config.precision, device)
    training_network(network, config.precision, device)
    training_network(discriminator, config.precision, device)
    adam = dict(lr=config.learning_rate, betas=(config.beta1, 0.999))
    optimizer_n = torch.optim.Adam(network.parameters(), **adam)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), **adam)
    if checkpoint is not None:
        restore_optimizer(optimizer_n, checkpoint, "optimizer.context_encoder")
        restore_optimizer(optimizer_d, checkpoint, "optimizer.discriminator")
        if progress:
            print(f"resuming {checkpoint_path} at epoch {position.epoch + 1}, step {position.step}")

    data = torch.from_numpy(images).permute(0, 3, 1, 2)  # uint8 (N, C, H, W)
    shown = min(config.sample_count, count)  # the figure's images: the first training images
    sample_images = images[:shown]
    sample_masks = {kind: make_masks(kind, shown, height, width, seed=config.seed) for kind in MASK_KINDS}
    real_label = torch.ones(config.batch_size, device=device)
    fake_label = torch.zeros(config.batch_size, device=device)
    log_path = start_log(run_dir, overwrite)
    sums, logged_steps, since = np.zeros(4), 0, time.perf_counter()

    def save() -> None:
        nonlocal sums, logged_steps, since
        extra = {**optimizer_tensors("optimizer.context_encoder", optimizer_n),
                 **optimizer_tensors("optimizer.discriminator", optimizer_d)}
        progress_state = dict(**asdict(position), train_config=asdict(config), images=count)
        write_checkpoint(checkpoint_path, model_config, {"context_encoder": network, "discriminator": discriminator},
                         format=CONTEXT_ENCODER_FORMAT, extra_tensors=extra, training=progress_state)
        if logged_steps:
            seconds = time.perf_counter() - since
            mean = sums / logged_steps
            with log_path.open("a") as log:
                log.write(json.dumps(dict(
                    epoch=position.epoch, step=position.step, seconds=round(seconds, 1),
                    images_per_second=round(logged_steps * config.batch_size / seconds, 1),
                    l2_hole=round(mean[0], 5), adversarial=round(mean[1], 4), loss_d=round(mean[2], 4),
                    d_of_completed=round(mean[3], 4))) + "\n")
        sums, logged_steps, since = np.zeros(4), 0, time.perf_counter()

    def end_epoch(seconds: float, images_done: int) -> None:
        save()
        epoch = position.epoch
        write_checkpoint(run_dir / "epochs" / f"epoch_{epoch:03d}.safetensors", model_config,
                         {"context_encoder": network}, format=CONTEXT_ENCODER_FORMAT,
                         training=dict(epoch=epoch, step=position.step))
        network.eval()
        rows, titles = [], []
        with torch.no_grad():
            for kind in MASK_KINDS:
                masks = sample_masks[kind]
                filled = from_tensor(complete(network, to_tensor(sample_images).to(device),
                                              torch.from_numpy(masks).to(device)))
                rows += [[show_hole(image, mask) for image, mask in zip(sample_images / 255.0, masks)],
                         list(filled)]
                titles += [kind, "CE"]
        network.train()
        figure = labelled_grid(rows, row_titles=titles, scale=max(1, 128 // model_config.image_size))
        save_image(run_dir / "samples" / f"epoch_{epoch:03d}.png", figure)

    def step(index: torch.Tensor) -> dict:
        nonlocal sums, logged_steps
        real, hole = masked_batch(data, index, step_rng(config.seed, position.epoch, position.step_in_epoch),
                                  memory_format=memory_format, device=device)
        hole = hole[:, None]
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
        l2_hole = ((output.float() - real) ** 2 * weight).sum() / (weight.sum() * channels)
        loss = config.reconstruction_weight * l2_hole + config.adversarial_weight * adversarial
        optimizer_n.zero_grad(set_to_none=True)
        loss.backward()
        optimizer_n.step()

        values = torch.stack([l2_hole.detach(), adversarial.detach(), loss_d.detach(),
                              torch.sigmoid(logit.detach()).mean()]).float().cpu().numpy()
        sums, logged_steps = sums + values, logged_steps + 1
        return dict(l2=f"{values[0]:.4f}", adv=f"{values[1]:.3f}", loss_d=f"{values[2]:.3f}")

    run_epochs(position, epochs=config.epochs, count=count, batch_size=config.batch_size, seed=config.seed,
               checkpoint_every=config.checkpoint_every, step=step, save=save, end_epoch=end_epoch,
               checkpoint_path=checkpoint_path, progress=progress)
    return checkpoint_path


def load_context_encoder(path: str | Path, device: torch.device | str = "cpu") -> ContextEncoder:
    """A Context Encoder from a checkpoint (training, epoch or exported), float32, in eval mode on `device`.

    A missing, foreign (e.g. a DCGAN) or corrupt file raises InpaintError.
    """
    checkpoint = read_checkpoint(path, format=CONTEXT_ENCODER_FORMAT, config_class=ContextEncoderConfig)
    network = load_weights(ContextEncoder(checkpoint.config), checkpoint, "context_encoder")
    return network.eval().to(device)


def export(checkpoint_path: str | Path, out: str | Path, *, dtype: torch.dtype | None = torch.float16) -> None:
    """Write a Context Encoder checkpoint's network alone (no D, no optimiser state) to `out`, atomically,
    its floating-point weights cast to `dtype` (float16 to ship; None keeps float32), with its epoch and step."""
    checkpoint = read_checkpoint(checkpoint_path, format=CONTEXT_ENCODER_FORMAT, config_class=ContextEncoderConfig)
    network = load_weights(ContextEncoder(checkpoint.config), checkpoint, "context_encoder")
    training = {k: checkpoint.training[k] for k in ("epoch", "step") if k in checkpoint.training}
    write_checkpoint(out, checkpoint.config, {"context_encoder": network}, format=CONTEXT_ENCODER_FORMAT,
                     training=training, dtype=dtype)
