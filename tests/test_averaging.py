import numpy as np
import pytest
import torch

import seminpaint.training.dcgan as train_module
from seminpaint.errors import InpaintError
from seminpaint.networks.checkpoint import build_networks, read_checkpoint
from seminpaint.networks.dcgan import Generator, init_weights, sample_latent
from seminpaint.training import CHECKPOINT_NAME, TrainConfig, train
from seminpaint.training.averaging import standing_statistics, update_average
from seminpaint.training.dcgan import AVERAGE

from conftest import TINY, interrupt_on_call

CONFIG = TrainConfig(epochs=2, batch_size=8, checkpoint_every=3, precision="fp32", sample_count=4, ema_decay=0.8)


def images(count=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, 16, 16, 3), dtype=np.uint8)


def generator(seed=0):
    network = Generator(TINY)
    init_weights(network, generator=torch.Generator().manual_seed(seed))
    return network


def test_average_of_a_fixed_network_closes_in_geometrically():
    """θ̄_k = θ + β^k (θ̄_0 − θ) for a network that stays at θ; buffers are copied."""
    average, network, decay = generator(0), generator(1), 0.9
    start = {name: value.clone() for name, value in average.named_parameters()}
    network.net[1].running_mean.fill_(0.25)
    for _ in range(5):
        update_average(average, network, decay)
    for name, value in network.named_parameters():
        torch.testing.assert_close(dict(average.named_parameters())[name],
                                   value + decay**5 * (start[name] - value), rtol=1e-5, atol=1e-6)
    assert torch.equal(average.net[1].running_mean, network.net[1].running_mean)


def test_standing_statistics_fit_the_weights():
    """After re-estimation, each BatchNorm's input over fresh z is standardised in eval mode,
    as it is in training mode, though the weights were rescaled after the old statistics; the
    network itself keeps its statistics."""
    network = generator().eval()
    with torch.no_grad():
        network.net[0].weight.mul_(3.0)  # the first layer's output is 3× what its statistics say
    old = network.net[1].running_var.clone()
    estimate = standing_statistics(network, TINY.latent_dim, batches=8, batch_size=64)
    seen = []  # the hook returns None (a value would replace the output), and copies (ReLU is in place)
    estimate.net[1].register_forward_hook(lambda module, inputs, output: seen.append(output.clone()))
    with torch.no_grad():
        estimate(sample_latent(256, TINY.latent_dim, generator=torch.Generator().manual_seed(9)))
    out = seen[0]
    assert out.mean(dim=(0, 2, 3)).abs().max() < 0.1
    torch.testing.assert_close(out.var(dim=(0, 2, 3)), torch.ones(out.shape[1]), rtol=0.15, atol=0.0)
    assert torch.equal(network.net[1].running_var, old) and not estimate.training


def test_epoch_files_hold_the_average_and_the_checkpoint_both(tmp_path):
    path = train(images(), tmp_path, model_config=TINY, config=CONFIG, progress=False)
    checkpoint, epoch = read_checkpoint(path), read_checkpoint(tmp_path / "epochs" / "epoch_002.safetensors")
    average = checkpoint.state_dict(AVERAGE)
    for name, value in epoch.state_dict("generator").items():
        if name.endswith(("weight", "bias")):  # the parameters are the average's; the statistics its own
            assert torch.equal(value, average[name]), name
            assert not torch.equal(value, checkpoint.tensors[f"generator.{name}"]), name
    assert epoch.training["ema_decay"] == 0.8
    generated = build_networks(epoch)[0].eval()(sample_latent(4, TINY.latent_dim))
    assert torch.isfinite(generated).all()


def test_killed_run_resumes_the_average_exactly(tmp_path, monkeypatch):
    reference = read_checkpoint(train(images(), tmp_path / "straight", model_config=TINY, config=CONFIG,
                                      progress=False)).tensors
    real_sample_latent = interrupt_on_call(monkeypatch, train_module, "sample_latent", 9)
    with pytest.raises(KeyboardInterrupt):
        train(images(), tmp_path / "killed", model_config=TINY, config=CONFIG, progress=False)
    monkeypatch.setattr(train_module, "sample_latent", real_sample_latent)
    resumed = read_checkpoint(train(images(), tmp_path / "killed", model_config=TINY, config=CONFIG,
                                    progress=False)).tensors
    names = [name for name in reference if name.startswith(AVERAGE + ".")]
    assert names and all(torch.equal(reference[name], resumed[name]) for name in names)
    assert read_checkpoint(tmp_path / "killed" / CHECKPOINT_NAME).training["step"] == 8


def test_bad_decays_are_refused():
    for decay in (-0.1, 1.0, 2.0):
        with pytest.raises(InpaintError, match=r"decay must be in \[0, 1\)"):
            TrainConfig(ema_decay=decay)
