"""The Context Encoder baseline (Pathak et al., the paper's CE): network, completion, training with exact
resume, the baseline wrapper, export, the CLI and evaluation. Tiny 16×16 networks keep it fast."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import seminpaint.training.loop as loop_module
from seminpaint import baselines, load_model
from seminpaint.baselines import context_encoder as ce_baseline
from seminpaint.cli import main
from seminpaint.errors import InpaintError
from seminpaint.evaluation import evaluate
from seminpaint.images import read_image
from seminpaint.masks import MASK_KINDS, center_mask, make_mask, training_masks
from seminpaint.networks.checkpoint import read_checkpoint, save_checkpoint
from seminpaint.networks.context_encoder import (
    ContextEncoder, ContextEncoderConfig, complete, export, load_context_encoder,
)
from seminpaint.networks.dcgan import init_weights
from seminpaint.training import CHECKPOINT_NAME
from seminpaint.training.context_encoder import (
    MASK_STREAM, ContextEncoderTrainConfig, step_rng, train_context_encoder,
)

from conftest import TINY, TINY_CE, interrupt_on_call, tiny_context_encoder, tiny_model

Y, X = np.mgrid[0:16, 0:16] / 15.0
TEMPLATE = np.stack([0.1 + 0.8 * X, 0.5 + 0.4 * np.sin(3 * Y), 0.9 - 0.7 * X * Y], axis=-1)


def smooth_images(count: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 (count, 16, 16, 3): one smooth image, each copy shifted by its own colour (±0.1)."""
    offsets = np.random.default_rng(seed).uniform(-0.1, 0.1, size=(count, 1, 1, 3))
    return np.rint(np.clip(TEMPLATE + offsets, 0, 1) * 255).astype(np.uint8)


CONFIG = ContextEncoderTrainConfig(epochs=2, batch_size=8, checkpoint_every=3, precision="fp32", sample_count=4)


def network(config: ContextEncoderConfig = TINY_CE, seed: int = 0) -> ContextEncoder:
    net = ContextEncoder(config)
    init_weights(net, generator=torch.Generator().manual_seed(seed))
    return net.eval()


@pytest.fixture
def checkpoint(tmp_path):
    return tiny_context_encoder(tmp_path / "ce.safetensors")


# -- the network ----------------------------------------------------------------------------------

def test_shapes_and_architecture():
    net = network()
    image, mask = torch.rand(5, 3, 16, 16) * 2 - 1, torch.rand(5, 16, 16) < 0.5
    output = net(image, mask)
    assert output.shape == (5, 3, 16, 16) and output.abs().max() <= 1.0
    assert net.encoder(torch.zeros(2, 4, 16, 16)).shape == (2, 16, 1, 1)  # C + 1 channels in, 1×1 code out
    assert net.encoder[0].in_channels == 4 and net.decoder.latent_dim == 16
    assert net(image, mask[:, None]).shape == output.shape  # (B, 1, H, W) masks too
    gray = network(ContextEncoderConfig(image_size=32, channels=1, features=8, bottleneck=16))
    assert gray(torch.zeros(2, 1, 32, 32), torch.ones(2, 32, 32, dtype=torch.bool)).shape == (2, 1, 32, 32)
    full = ContextEncoder()  # the paper's 64×64×3: encoder widths 64 … 512, bottleneck 512
    assert [m.out_channels for m in full.encoder if isinstance(m, torch.nn.Conv2d)] == [64, 128, 256, 512, 512]


def test_complete_keeps_the_known_pixels_and_ignores_the_hole():
    net = network()
    image = torch.rand(3, 3, 16, 16) * 2 - 1
    mask = torch.from_numpy(np.stack([make_mask(kind, 16, 16, rng=1) for kind in MASK_KINDS[:3]]))
    filled = complete(net, image, mask)
    known = ~mask[:, None].expand_as(image)
    assert torch.equal(filled[known], image[known])
    scrambled = torch.where(mask[:, None], torch.rand_like(image), image)
    assert torch.equal(complete(net, scrambled, mask), filled)  # the hole's values are never read
    assert torch.equal(complete(net, torch.where(mask[:, None], torch.nan, image), mask), filled)


# -- training -------------------------------------------------------------------------------------

def test_training_reduces_the_hole_l2(tmp_path):
    config = ContextEncoderTrainConfig(epochs=15, batch_size=8, checkpoint_every=4, precision="fp32",
                                       learning_rate=2e-3)
    train_context_encoder(smooth_images(), tmp_path, model_config=TINY_CE, config=config, progress=False)
    losses = [json.loads(line)["l2_hole"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 15  # one per checkpoint: every 4 steps = every epoch end
    assert losses[-1] < 0.5 * losses[0], losses  # measured 0.14–0.27 over six seeds


def test_training_writes_checkpoint_epochs_figures_and_log_in_bf16(tmp_path):
    config = ContextEncoderTrainConfig(epochs=1, batch_size=8, checkpoint_every=2, precision="bf16", sample_count=3)
    path = train_context_encoder(smooth_images(16), tmp_path, model_config=TINY_CE, config=config, progress=False)
    assert path == tmp_path / CHECKPOINT_NAME
    saved = read_checkpoint(path, format="seminpaint-context-encoder", config_class=ContextEncoderConfig)
    assert saved.config == TINY_CE and saved.training["step"] == 2
    assert any(name.startswith("optimizer.discriminator.") for name in saved.tensors)
    epoch = tmp_path / "epochs" / "epoch_001.safetensors"
    assert not any(name.startswith("discriminator.") for name in read_checkpoint(
        epoch, format="seminpaint-context-encoder", config_class=ContextEncoderConfig).tensors)
    assert load_context_encoder(epoch).config == TINY_CE
    with Image.open(tmp_path / "samples" / "epoch_001.png") as figure:
        assert figure.mode == "RGB" and figure.height > 8 * 16  # a row pair per mask kind
    entry = json.loads((tmp_path / "log.jsonl").read_text())
    assert {"l2_hole", "adversarial", "loss_d", "images_per_second"} <= set(entry)


def test_killed_run_resumes_exactly(tmp_path, monkeypatch):
    def weights(path):
        return read_checkpoint(path, format="seminpaint-context-encoder", config_class=ContextEncoderConfig).tensors

    reference = weights(train_context_encoder(smooth_images(), tmp_path / "straight", model_config=TINY_CE,
                                              config=CONFIG, progress=False))
    # Kill the second run in the middle of its 8th step (its 8th batch of masks); 2 epochs × 4 steps.
    interrupt_on_call(monkeypatch, loop_module, "training_masks", 8)
    with pytest.raises(KeyboardInterrupt):
        train_context_encoder(smooth_images(), tmp_path / "killed", model_config=TINY_CE, config=CONFIG,
                              progress=False)
    last = read_checkpoint(tmp_path / "killed" / CHECKPOINT_NAME, format="seminpaint-context-encoder",
                           config_class=ContextEncoderConfig)
    assert last.training["step"] == 6  # the last checkpoint
    monkeypatch.setattr(loop_module, "training_masks", training_masks)

    resumed = weights(train_context_encoder(smooth_images(), tmp_path / "killed", model_config=TINY_CE,
                                            config=CONFIG, progress=False))
    names = [n for n in reference if n.startswith(("context_encoder.", "discriminator.", "optimizer."))]
    assert len(names) > 40
    for name in names:
        assert torch.equal(reference[name], resumed[name]), name


def test_training_masks_are_every_kind_and_not_the_evaluation_masks():
    masks = training_masks(200, 16, 16, step_rng(0, 0, 0))
    assert masks.shape == (200, 16, 16) and masks.dtype == bool
    centre = center_mask(16, 16)
    assert any(np.array_equal(m, centre) for m in masks)  # center
    fractions = masks.mean(axis=(1, 2))
    assert np.any(np.isclose(fractions, 0.8, atol=0.01)) and np.any(fractions == 0.5)  # random_pixels, half
    assert np.any((fractions >= 0.2) & (fractions <= 0.3))  # pattern
    assert not np.array_equal(masks, training_masks(200, 16, 16, step_rng(0, 0, 1)))  # fresh every step
    # Evaluation mask i of seed s comes from default_rng([s, i]) (= [s, i, 0, 0]); training never does.
    for epoch in range(3):
        assert MASK_STREAM != 0
        assert step_rng(0, epoch, 0).random() != np.random.default_rng([0, epoch]).random()


def test_bad_configs_and_training_inputs(tmp_path):
    with pytest.raises(InpaintError, match="power of two"):
        ContextEncoderConfig(image_size=12)
    with pytest.raises(InpaintError, match="channels must be 1 or 3"):
        ContextEncoderConfig(channels=2)
    with pytest.raises(InpaintError, match="bottleneck must be a whole number from 1 to 8192, got 0"):
        ContextEncoderConfig(bottleneck=0)
    with pytest.raises(InpaintError, match="at least 2 images"):
        ContextEncoderTrainConfig(batch_size=1)
    with pytest.raises(InpaintError, match="adversarial_weight"):
        ContextEncoderTrainConfig(adversarial_weight=-1.0)
    with pytest.raises(InpaintError, match="images are 16×16×3 but the Context Encoder fills 32×32×3"):
        train_context_encoder(smooth_images(), tmp_path, model_config=ContextEncoderConfig(image_size=32),
                              config=CONFIG, progress=False)
    with pytest.raises(InpaintError, match="need at least one batch"):
        train_context_encoder(smooth_images(4), tmp_path, model_config=TINY_CE, config=CONFIG, progress=False)
    one = ContextEncoderTrainConfig(**{**CONFIG.__dict__, "epochs": 1})
    train_context_encoder(smooth_images(8), tmp_path, model_config=TINY_CE, config=one, progress=False)
    other = ContextEncoderConfig(image_size=16, features=8, bottleneck=8)
    with pytest.raises(InpaintError, match="holds a different model") as info:
        train_context_encoder(smooth_images(8), tmp_path, model_config=other, config=one, progress=False)
    assert "\n" not in str(info.value)


# -- loading, export, the baseline ----------------------------------------------------------------

def test_export_half_keeps_the_network_alone(tmp_path):
    config = ContextEncoderTrainConfig(epochs=1, batch_size=8, precision="fp32")
    run = train_context_encoder(smooth_images(8), tmp_path / "run", model_config=TINY_CE, config=config,
                                progress=False)
    export(run, tmp_path / "half.safetensors")
    saved = read_checkpoint(tmp_path / "half.safetensors", format="seminpaint-context-encoder",
                            config_class=ContextEncoderConfig)
    assert saved.training == {"epoch": 1, "step": 1}
    assert all(name.startswith("context_encoder.") for name in saved.tensors)
    assert saved.tensors["context_encoder.encoder.0.weight"].dtype == torch.float16
    full, half = load_context_encoder(run), load_context_encoder(tmp_path / "half.safetensors")
    image, mask = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 16, 16) < 0.5
    assert (complete(full, image, mask) - complete(half, image, mask)).abs().max() < 0.02


def test_baseline_fill_keeps_known_pixels(checkpoint):
    image = smooth_images(1)[0] / 255.0
    mask = make_mask("pattern", 16, 16, rng=3)
    result = baselines.fill("context_encoder", image, mask, model=checkpoint)
    assert result.shape == image.shape and result.dtype == image.dtype
    assert np.array_equal(result[~mask], image[~mask])
    assert result.min() >= 0.0 and result.max() <= 1.0 and not np.array_equal(result[mask], image[mask])
    with torch.no_grad():
        corrupted = torch.from_numpy(image.transpose(2, 0, 1))[None].float() * 2 - 1
        expected = complete(load_context_encoder(checkpoint), corrupted, torch.from_numpy(mask)[None])
    assert np.allclose(result, (expected[0].permute(1, 2, 0).numpy() + 1) / 2, atol=1e-6)
    assert ce_baseline.load(checkpoint)[0] is ce_baseline.load(str(checkpoint))[0]  # loaded once
    gray = baselines.fill("context_encoder", image[..., 1].astype(np.float32), mask, model=checkpoint)
    assert gray.shape == (16, 16) and gray.dtype == np.float32  # replicated into the RGB model, back as gray
    assert np.array_equal(gray[~mask], image[..., 1].astype(np.float32)[~mask])


def test_baseline_errors_are_one_line(checkpoint, tmp_path, monkeypatch):
    image, mask = smooth_images(1)[0] / 255.0, center_mask(16, 16)
    absent = tmp_path / "absent" / "context_encoder64.safetensors"
    monkeypatch.setattr(ce_baseline, "DEFAULT_MODEL", absent)
    cases = [
        (dict(), rf"no Context Encoder model at {absent}; train one with `seminpaint train-context-encoder"),
        (dict(model=tmp_path / "nope.safetensors"), r"no Context Encoder model at .*nope\.safetensors"),
        (dict(model=42), "model must be a checkpoint path"),
    ]
    dcgan = tmp_path / "dcgan.safetensors"
    generator = tiny_model()
    save_checkpoint(dcgan, TINY, generator.generator, generator.discriminator)
    cases.append((dict(model=dcgan), "holds a DCGAN .*, not a Context Encoder"))
    for options, message in cases:
        with pytest.raises(InpaintError, match=message) as info:
            baselines.fill("context_encoder", image, mask, **options)
        assert "\n" not in str(info.value)
    big = np.zeros((32, 32, 3))
    for bad_image, bad_mask, message in [
        (big, center_mask(32, 32), r"the model fills 16×16 images, got 32×32"),
        (np.zeros((16, 16, 2)), mask, "gray or RGB, got 2 channels"),
    ]:
        with pytest.raises(InpaintError, match=message) as info:
            baselines.fill("context_encoder", bad_image, bad_mask, model=checkpoint)
        assert "\n" not in str(info.value)
    with pytest.raises(InpaintError, match="holds a Context Encoder, not a DCGAN") as info:
        load_model(checkpoint)  # the other way round
    assert "\n" not in str(info.value)


# -- command line and evaluation -------------------------------------------------------------------

def test_cli_trains_exports_and_inpaints(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for index in range(8):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(data / f"{index}.png")
    run = tmp_path / "run"
    argv = ["train-context-encoder", "--dataset", "folder", "--root", str(data), "--out", str(run),
            "--image-size", "32", "--epochs", "1", "--batch-size", "4", "--precision", "fp32"]
    assert main(argv) == 0
    assert main(argv[:-5] + ["2"] + argv[-4:]) == 0  # a second epoch: resumes
    assert "resuming" in capsys.readouterr().out
    half = tmp_path / "ce.safetensors"
    assert main(["export", "--checkpoint", str(run / "epochs" / "epoch_002.safetensors"), "--out", str(half),
                 "--half"]) == 0
    assert read_checkpoint(half, format="seminpaint-context-encoder",
                           config_class=ContextEncoderConfig).config.image_size == 32
    image = tmp_path / "face.png"
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image)
    inpaint = ["inpaint", "--image", str(image), "--mask", "center", "--output", str(tmp_path / "out.png"),
               "--method", "context_encoder", "--model", str(half)]
    assert main(inpaint) == 0
    out, original = read_image(tmp_path / "out.png"), read_image(image)
    hole = center_mask(32, 32)
    assert np.array_equal(out[~hole], original[~hole]) and not np.array_equal(out[hole], original[hole])
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "small.png")
    assert main(inpaint[:2] + [str(tmp_path / "small.png")] + inpaint[3:-5] + [str(tmp_path / "out2.png")]
                + inpaint[-4:]) == 2
    assert "the model fills 32×32 images, got 24×20" in capsys.readouterr().err


def test_evaluate_with_the_context_encoder(checkpoint, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for index, image in enumerate(smooth_images(3)):
        Image.fromarray(image).save(data / f"{index}.png")
    out = tmp_path / "eval"
    arguments = dict(dataset="folder", root=data, split="all", count=2, kinds=("center", "half"),
                     methods=("context_encoder", "mean"), out=out, progress=False,
                     method_options={"context_encoder": {"model": str(checkpoint)}})
    results = evaluate(**arguments).read_text()  # image size and channels: the network's (16, 3)
    assert "context_encoder" in results
    config = json.loads((out / "predictions" / "context_encoder" / "config.json").read_text())
    assert config["options"]["model_sha256"] == ce_baseline.model_digest(checkpoint)
    prediction = read_image(out / "predictions" / "context_encoder" / "center" / "00000.png")
    truth = read_image(out / "images" / "00000.png")
    assert np.array_equal(prediction[~center_mask(16, 16)], truth[~center_mask(16, 16)])
    # Another network at the same path: the old predictions are refused, not silently reused.
    tiny_context_encoder(checkpoint, seed=1)
    with pytest.raises(InpaintError, match="model_sha256"):
        evaluate(**arguments)
    # The command line passes the model as a method option.
    argv = ["evaluate", "--dataset", "folder", "--root", str(data), "--split", "all", "--count", "2",
            "--masks", "center", "--methods", "context_encoder", "--out", str(tmp_path / "cli"), "--quiet",
            "--method-option", f"context_encoder.model={checkpoint}"]
    assert main(argv) == 0
    assert "context_encoder" in capsys.readouterr().out
    assert main(argv[:-1] + [f"context_encoder.model={tmp_path / 'absent.safetensors'}"]) == 2
    assert "no Context Encoder model at" in capsys.readouterr().err


def test_the_shipped_context_encoder_fills_real_faces_far_better_than_the_mean_colour():
    from seminpaint.baselines import fill
    from seminpaint.demo import demo_faces
    from seminpaint.masks import make_mask

    faces, _ = demo_faces()
    ratios = []
    for face in faces.astype(np.float32) / 255.0:
        for kind in ("pattern", "random_pixels"):
            mask = make_mask(kind, 64, 64, rng=0)
            corrupted = np.where(mask[..., None], np.float32(0.0), face)
            filled = fill("context_encoder", corrupted, mask)  # model=None: the shipped one
            mean = fill("mean", corrupted, mask)
            ratios.append(((filled - face)[mask] ** 2).mean() / ((mean - face)[mask] ** 2).mean())
    # Measured: 0.23–0.52. (Centre holes on these faces, framed unlike CelebA's, give only 0.6–0.98:
    # the model card says so.)
    assert max(ratios) < 0.65, np.round(ratios, 2)
