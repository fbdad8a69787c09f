import numpy as np
import pytest
import torch

import seminpaint.training.dcgan as train_module
from seminpaint.errors import InpaintError
from seminpaint.networks.checkpoint import read_checkpoint
from seminpaint.training import CHECKPOINT_NAME, TrainConfig, train

from conftest import TINY, interrupt_on_call


def images(count=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, 16, 16, 3), dtype=np.uint8)


CONFIG = TrainConfig(epochs=2, batch_size=8, checkpoint_every=3, precision="fp32", sample_count=16)


def weights(path):
    return read_checkpoint(path).tensors


def test_training_writes_checkpoint_samples_and_log(tmp_path):
    path = train(images(), tmp_path, model_config=TINY, config=CONFIG, progress=False)
    assert path == tmp_path / CHECKPOINT_NAME
    assert read_checkpoint(path).training["step"] == 8  # 2 epochs × 4 steps
    assert (tmp_path / "samples" / "step_0000008.png").is_file()
    assert (tmp_path / "epochs" / "epoch_002.safetensors").is_file()
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("precision", ["fp32", "fp32-fast", "bf16"])
def test_killed_run_resumes_exactly(tmp_path, monkeypatch, precision):
    config = TrainConfig(**{**CONFIG.__dict__, "precision": precision})  # bf16: the fused Adam's state too
    reference = weights(train(images(), tmp_path / "straight", model_config=TINY, config=config, progress=False))

    # Kill the second run in the middle of its 8th step (the 9th z draw: 1 fixed z + 8 steps).
    real_sample_latent = interrupt_on_call(monkeypatch, train_module, "sample_latent", 9)
    with pytest.raises(KeyboardInterrupt):
        train(images(), tmp_path / "killed", model_config=TINY, config=config, progress=False)
    assert read_checkpoint(tmp_path / "killed" / CHECKPOINT_NAME).training["step"] == 6  # last checkpoint
    monkeypatch.setattr(train_module, "sample_latent", real_sample_latent)

    resumed = weights(train(images(), tmp_path / "killed", model_config=TINY, config=config, progress=False))
    for name in (n for n in reference if n.startswith(("generator.", "discriminator."))):
        assert torch.equal(reference[name], resumed[name]), name


def test_more_epochs_continue_a_finished_run(tmp_path):
    one = TrainConfig(**{**CONFIG.__dict__, "epochs": 1})
    train(images(), tmp_path, model_config=TINY, config=one, progress=False)
    path = train(images(), tmp_path, model_config=TINY, config=CONFIG, progress=False)
    assert read_checkpoint(path).training["step"] == 8


def test_bad_training_inputs(tmp_path):
    with pytest.raises(InpaintError, match="images are 16×16×3 but the model makes 32×32×3"):
        train(images(), tmp_path, config=CONFIG, model_config=TINY.__class__(image_size=32), progress=False)
    with pytest.raises(InpaintError, match="need at least one batch"):
        train(images(4), tmp_path, model_config=TINY, config=CONFIG, progress=False)
    with pytest.raises(InpaintError, match="must be uint8"):
        train(images().astype(np.float32), tmp_path, model_config=TINY, config=CONFIG, progress=False)
    with pytest.raises(InpaintError, match="precision"):
        TrainConfig(precision="fp8")


@pytest.mark.parametrize("precision, tolerance", [("fp32-fast", 1e-3), ("bf16", 0.3)])
def test_the_fast_path_trains_like_the_plain_loop(tmp_path, precision, tolerance):
    """The fast layers, the fused Adam and no D weight gradients in the G step follow the fp32
    loop's trajectory up to rounding (float32's for fp32-fast, bf16's for bf16): after a few steps
    from the same start, the weights agree closely, and both moved away from the start."""
    from seminpaint.networks.dcgan import Discriminator, Generator, init_weights

    networks, seed = {"generator": Generator(TINY), "discriminator": Discriminator(TINY)}, torch.Generator()
    seed.manual_seed(CONFIG.seed)
    for network in networks.values():  # train()'s initialisation, G first
        init_weights(network, generator=seed)
    start = {f"{prefix}.{name}": value for prefix, network in networks.items()
             for name, value in network.state_dict().items()}
    few = {**CONFIG.__dict__, "epochs": 1}
    plain = weights(train(images(), tmp_path / "fp32", model_config=TINY, config=TrainConfig(**few), progress=False))
    fast = weights(train(images(), tmp_path / precision, model_config=TINY,
                         config=TrainConfig(**{**few, "precision": precision}), progress=False))
    for name in (n for n in plain if n.startswith(("generator.", "discriminator.")) and n.endswith("weight")):
        moved = (plain[name] - start[name]).norm()
        assert moved > 0, name
        assert (fast[name] - plain[name]).norm() < tolerance * moved, name
