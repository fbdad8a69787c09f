"""The latent encoder E(y, M) → z: the network, its place in model files, the search's encoder start,
and its training (the amortised search objective, exact resume, refusals). Tiny 16×16 networks."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
import torch
from conftest import TINY, interrupt_on_call, lively_model, tiny_model

import seminpaint.training.loop as loop_module
from seminpaint import load_model, search
from seminpaint.cli import main
from seminpaint.errors import InpaintError
from seminpaint.masks import training_masks
from seminpaint.networks.checkpoint import read_checkpoint, save_checkpoint
from seminpaint.networks.dcgan import init_weights
from seminpaint.networks.encoder import EncoderConfig, LatentEncoder
from seminpaint.settings import PAPER, PRESETS
from seminpaint.training import CHECKPOINT_NAME
from seminpaint.training.latent_encoder import (
    ENCODER_STREAM,
    EncoderTrainConfig,
    amortised_loss,
    model_digest,
    train_encoder,
)

TINY_E = EncoderConfig(image_size=16, channels=3, latent_dim=TINY.latent_dim, features=8)
CONFIG = EncoderTrainConfig(epochs=2, batch_size=8, checkpoint_every=3, precision="fp32")


def encoder(seed: int = 0, config: EncoderConfig = TINY_E) -> LatentEncoder:
    network = LatentEncoder(config)
    init_weights(network, generator=torch.Generator().manual_seed(seed))
    return network.eval()


def generated_faces(model, count: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 (count, 16, 16, 3): images the tiny G makes, so that some z explains each exactly."""
    z = torch.rand(count, TINY.latent_dim, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    with torch.no_grad():
        images = model.generator(z)
    return np.rint((images.permute(0, 2, 3, 1).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)


def as_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


# -- the network ----------------------------------------------------------------------------------

def test_output_shape_range_and_the_hole_is_ignored():
    net = encoder()
    image, mask = torch.rand(5, 3, 16, 16) * 2 - 1, torch.rand(5, 16, 16) < 0.5
    z = net(image, mask)
    assert z.shape == (5, TINY.latent_dim) and z.dtype == torch.float32
    assert z.abs().max() < 1
    changed = torch.where(mask[:, None], torch.rand_like(image), image)  # other values in the hole
    assert torch.equal(net(changed, mask), z)
    assert not torch.equal(net(image, ~mask), z)  # the mask itself is an input


def test_latent_range_is_respected():
    net = encoder(config=EncoderConfig(image_size=16, latent_dim=4, features=4, latent_range=(0.0, 2.0)))
    z = net(torch.rand(64, 3, 16, 16) * 2 - 1, torch.zeros(64, 16, 16, dtype=torch.bool))
    assert z.min() > 0 and z.max() < 2


def test_bad_configs():
    with pytest.raises(InpaintError, match="power of two"):
        EncoderConfig(image_size=12)
    with pytest.raises(InpaintError, match="features"):
        EncoderConfig(features=0)
    with pytest.raises(InpaintError, match="low < high"):
        EncoderConfig(latent_range=(1.0, -1.0))
    assert EncoderConfig.from_dict(json.loads(json.dumps(TINY_E.to_dict()))) == TINY_E


# -- model files ----------------------------------------------------------------------------------

def test_a_model_file_carries_its_encoder_and_export_keeps_it(tmp_path):
    model, net = tiny_model(), encoder()
    path = tmp_path / "with_encoder.safetensors"
    save_checkpoint(path, TINY, model.generator, model.discriminator, encoder=net)
    loaded = load_model(path)
    image, mask = torch.rand(3, 3, 16, 16) * 2 - 1, torch.rand(3, 16, 16) < 0.5
    assert torch.equal(loaded.encoder(image, mask), net(image, mask))
    assert read_checkpoint(path).encoder_config == TINY_E

    half = tmp_path / "half.safetensors"
    assert main(["export", "--checkpoint", str(path), "--out", str(half), "--half"]) == 0
    exported = load_model(half)
    assert exported.encoder is not None
    assert torch.allclose(exported.encoder(image, mask), net(image, mask), atol=2e-2)

    plain = tmp_path / "plain.safetensors"
    save_checkpoint(plain, TINY, model.generator, model.discriminator)
    assert load_model(plain).encoder is None


# -- the search's start ---------------------------------------------------------------------------

def model_with_encoder():
    model = tiny_model()
    model.encoder = encoder()
    return model


def test_the_encoder_start_is_where_zero_steps_stay():
    model = model_with_encoder()
    image, mask = torch.rand(3, 3, 16, 16) * 2 - 1, torch.rand(3, 16, 16) < 0.6
    result = search(model, image, mask, PAPER.with_options(iterations=0, start="encoder", precision="fp32"))
    with torch.no_grad():
        assert torch.allclose(result.z, model.encoder(image, mask))


def test_auto_is_random_without_an_encoder_and_encoder_says_what_is_missing():
    model = tiny_model()
    image, mask = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 16, 16) < 0.6
    settings = PAPER.with_options(iterations=3, precision="fp32")
    auto = search(model, image, mask, settings.with_options(start="auto"), generator=torch.Generator().manual_seed(1))
    plain = search(model, image, mask, settings, generator=torch.Generator().manual_seed(1))
    assert torch.equal(auto.z, plain.z)
    with pytest.raises(InpaintError, match="has none; train one with `seminpaint train-encoder`"):
        search(model, image, mask, settings.with_options(start="encoder"))
    with pytest.raises(InpaintError, match="start must be one of"):
        PAPER.with_options(start="zero")
    assert PAPER.start == "random"  # the paper's setting
    assert PRESETS["fast"].start == PRESETS["enhanced"].start == "auto"


def test_a_screen_keeps_the_encoder_start_among_its_candidates():
    model = model_with_encoder()
    image, mask = torch.rand(3, 3, 16, 16) * 2 - 1, torch.rand(3, 16, 16) < 0.6
    settings = PAPER.with_options(iterations=0, start="encoder", precision="fp32")
    alone = search(model, image, mask, settings).loss
    screened = search(model, image, mask, settings.with_options(screen=16), generator=torch.Generator().manual_seed(2))
    assert (screened.loss <= alone + 1e-5).all()  # the screen never starts worse than the encoder


# -- training -------------------------------------------------------------------------------------

def objective(net, model, images, masks) -> float:
    """Mean Eq. 2 objective (context + prior, the paper's λ) at z = net(images, masks)."""
    with torch.no_grad():
        context, prior = amortised_loss(net, model.generator, model.discriminator, images, masks, PAPER,
                                        contextlib.nullcontext, torch.float32)
    return (context + prior).mean().item()


def test_training_lowers_the_search_objective_below_random_starts(tmp_path):
    """Trained on images that G can make, E's z has a lower Eq. 2 objective on unseen ones than a
    random z, and than the untrained E."""
    model = lively_model()
    config = EncoderTrainConfig(epochs=6, batch_size=16, precision="fp32", learning_rate=2e-3)
    path = train_encoder(generated_faces(model, 256, seed=0), model, tmp_path, config=config, features=8,
                         progress=False)
    trained = load_model(path).encoder
    held_out = as_tensor(generated_faces(model, 64, seed=1))
    masks = torch.from_numpy(training_masks(64, 16, 16, np.random.default_rng(5)))
    random = search(model, held_out, masks, PAPER.with_options(iterations=0, precision="fp32"),
                    generator=torch.Generator().manual_seed(3)).loss.mean().item()
    assert objective(trained, model, held_out, masks) < 0.8 * random
    assert objective(trained, model, held_out, masks) < 0.8 * objective(encoder(config.seed), model, held_out, masks)


def test_run_folder_outputs(tmp_path):
    model = tiny_model()
    path = train_encoder(generated_faces(model), model, tmp_path, config=CONFIG, features=8, progress=False)
    assert path == tmp_path / "epochs" / "epoch_002.safetensors"
    loaded = load_model(path)
    assert loaded.encoder is not None and loaded.encoder.config == TINY_E
    assert torch.equal(loaded.generator.net[0].weight, model.generator.net[0].weight)  # G and D untouched
    saved = read_checkpoint(tmp_path / CHECKPOINT_NAME, format="seminpaint-latent-encoder", config_class=EncoderConfig)
    assert saved.training["model_digest"] == model_digest(model) and saved.training["epoch"] == 2
    entries = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert {"context", "prior", "loss", "images_per_second"} <= set(entries[-1])
    with pytest.raises(InpaintError, match="training run, not a DCGAN.*epochs/epoch_NNN"):  # the run's checkpoint is not a model
        read_checkpoint(tmp_path / CHECKPOINT_NAME)
    # Done: calling again trains nothing and returns the last epoch's model.
    assert train_encoder(generated_faces(model), model, tmp_path, config=CONFIG, features=8, progress=False) == path


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_killed_run_resumes_exactly(tmp_path, monkeypatch, precision):
    config = EncoderTrainConfig(epochs=2, batch_size=8, checkpoint_every=3, precision=precision)
    model, images = tiny_model(), generated_faces(tiny_model())

    def weights(path):
        tensors = read_checkpoint(path, format="seminpaint-latent-encoder", config_class=EncoderConfig).tensors
        return {name: value for name, value in tensors.items() if name.startswith(("latent_encoder.", "optimizer."))}

    train_encoder(images, model, tmp_path / "straight", config=config, features=8, progress=False)
    reference = weights(tmp_path / "straight" / CHECKPOINT_NAME)
    # Kill the run in its 8th step (2 epochs × 4 steps; checkpoints after steps 3, 4 and 6).
    interrupt_on_call(monkeypatch, loop_module, "training_masks", 8)
    with pytest.raises(KeyboardInterrupt):
        train_encoder(images, model, tmp_path / "killed", config=config, features=8, progress=False)
    monkeypatch.setattr(loop_module, "training_masks", training_masks)
    last = read_checkpoint(tmp_path / "killed" / CHECKPOINT_NAME, format="seminpaint-latent-encoder",
                           config_class=EncoderConfig)
    assert last.training["step"] == 6
    train_encoder(images, model, tmp_path / "killed", config=config, features=8, progress=False)
    resumed = weights(tmp_path / "killed" / CHECKPOINT_NAME)
    assert len(reference) > 20 and reference.keys() == resumed.keys()
    for name in reference:
        assert torch.equal(reference[name], resumed[name]), name


def test_refusals(tmp_path):
    model = tiny_model()
    images = generated_faces(model)
    train_encoder(images, model, tmp_path, config=CONFIG.__class__(epochs=1, batch_size=8, precision="fp32"),
                  features=8, progress=False)
    with pytest.raises(InpaintError, match="trained for another G and D"):
        train_encoder(images, tiny_model(seed=1), tmp_path, config=CONFIG, features=8, progress=False)
    with pytest.raises(InpaintError, match="different encoder"):
        train_encoder(images, model, tmp_path, config=CONFIG, features=4, progress=False)
    with pytest.raises(InpaintError, match="images are 8×8×3 but the model makes 16×16×3"):
        train_encoder(images[:, ::2, ::2], model, tmp_path / "other", config=CONFIG, features=8, progress=False)
    with pytest.raises(InpaintError, match="at least one batch"):
        train_encoder(images[:4], model, tmp_path / "other", config=CONFIG, features=8, progress=False)
    no_prior = tiny_model()
    no_prior.discriminator = None
    with pytest.raises(InpaintError, match="prior loss needs a discriminator"):
        train_encoder(images, no_prior, tmp_path / "other", config=CONFIG, features=8, progress=False)
    assert ENCODER_STREAM != 0


def test_the_command(tmp_path, capsys):
    from PIL import Image

    model = tiny_model()
    model_path = tmp_path / "tiny.safetensors"
    save_checkpoint(model_path, TINY, model.generator, model.discriminator)
    folder = tmp_path / "faces"
    folder.mkdir()
    for index, image in enumerate(generated_faces(model, 16)):
        Image.fromarray(image).save(folder / f"{index:02d}.png")
    argv = ["train-encoder", "--model", str(model_path), "--dataset", "folder", "--root", str(folder),
            "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8", "--precision", "fp32"]
    assert main(argv) == 0
    assert "model with its encoder" in capsys.readouterr().out
    with_encoder = tmp_path / "run" / "epochs" / "epoch_001.safetensors"
    assert load_model(with_encoder).encoder is not None
    image = tmp_path / "face.png"
    Image.fromarray(generated_faces(model, 1, seed=9)[0]).save(image)
    inpaint = ["inpaint", "--model", str(with_encoder), "--image", str(image), "--mask", "center",
               "--output", str(tmp_path / "out.png"), "--iterations", "2", "--start", "encoder"]
    assert main(inpaint) == 0
    assert main(inpaint[:2] + [str(model_path)] + inpaint[3:-6] + ["--output", str(tmp_path / "b.png"),
                "--iterations", "2", "--start", "encoder"]) == 2
    assert "has none" in capsys.readouterr().err
    assert main(argv[:2] + [str(tmp_path / "missing.safetensors")] + argv[3:]) == 2


def test_the_encoder_counts_in_a_models_fingerprint():
    from seminpaint.evaluation import model_fingerprint

    plain, with_encoder = tiny_model(), model_with_encoder()
    assert model_fingerprint(plain) == model_digest(plain)  # unchanged for a model without an encoder
    assert model_fingerprint(with_encoder) != model_fingerprint(plain)
    assert model_digest(with_encoder) == model_digest(plain)  # the encoder's trainer looks at G and D only


def test_the_command_keeps_the_models_own_epoch_in_its_epoch_files(tmp_path):
    from PIL import Image

    from seminpaint.networks.checkpoint import checkpoint_training

    model = tiny_model()
    model_path = tmp_path / "tiny.safetensors"
    save_checkpoint(model_path, TINY, model.generator, model.discriminator, training={"epoch": 3, "step": 9, "x": 1})
    assert checkpoint_training(model_path) == {"epoch": 3, "step": 9, "x": 1}
    folder = tmp_path / "faces"
    folder.mkdir()
    for index, image in enumerate(generated_faces(model, 8)):
        Image.fromarray(image).save(folder / f"{index}.png")
    assert main(["train-encoder", "--model", str(model_path), "--dataset", "folder", "--root", str(folder),
                 "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8", "--precision", "fp32"]) == 0
    assert checkpoint_training(tmp_path / "run" / "epochs" / "epoch_001.safetensors") == {
        "epoch": 3, "step": 9, "encoder_epoch": 1, "encoder_step": 1}
