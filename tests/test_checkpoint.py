import json
import os
import stat

import pytest
import torch
from safetensors.torch import save_file

from seminpaint.errors import InpaintError
from seminpaint.networks.checkpoint import load_model, read_checkpoint, save_checkpoint
from seminpaint.networks.dcgan import Discriminator, Generator

from conftest import TINY, tiny_model


def test_round_trip_rebuilds_the_model_from_the_file_alone(tmp_path):
    model = tiny_model()
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, TINY, model.generator, model.discriminator)
    loaded = load_model(path)
    assert loaded.latent_dim == TINY.latent_dim and loaded.image_shape == (3, 16, 16)
    z = torch.rand(4, TINY.latent_dim) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.generator(z), model.generator(z))
        assert torch.equal(loaded.discriminator(model.generator(z)), model.discriminator(model.generator(z)))
    assert not loaded.generator.training


def test_half_precision_weights_load_as_float32(tmp_path):
    model = tiny_model()
    path = tmp_path / "half.safetensors"
    save_checkpoint(path, TINY, model.generator, model.discriminator, dtype=torch.float16)
    assert read_checkpoint(path).tensors["generator.net.0.weight"].dtype == torch.float16
    loaded = load_model(path)
    assert next(loaded.generator.parameters()).dtype == torch.float32
    z = torch.rand(2, TINY.latent_dim)
    with torch.no_grad():
        torch.testing.assert_close(loaded.generator(z), model.generator(z), atol=2e-2, rtol=0)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(InpaintError, match="checkpoint not found"):
        load_model(tmp_path / "nope.safetensors")


def test_truncated_checkpoint_is_refused(tmp_path):
    model = tiny_model()
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, TINY, model.generator, model.discriminator)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InpaintError, match="corrupt or not a safetensors file"):
        load_model(path)


def test_garbage_and_pickle_files_are_refused_never_executed(tmp_path):
    path = tmp_path / "evil.safetensors"
    # A pickle payload that would create a file if it were ever unpickled.
    marker = tmp_path / "executed"
    path.write_bytes(b"\x80\x04cos\nsystem\n(V touch " + str(marker).encode() + b"\ntR.")
    with pytest.raises(InpaintError, match="corrupt or not a safetensors file"):
        load_model(path)
    assert not marker.exists()


def test_foreign_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, str(path))
    with pytest.raises(InpaintError, match="not a seminpaint model"):
        load_model(path)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    path = tmp_path / "bad.safetensors"
    generator, discriminator = Generator(TINY), Discriminator(TINY)
    tensors = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    tensors.update({f"discriminator.{k}": v for k, v in discriminator.state_dict().items()})
    tensors["generator.net.0.weight"] = torch.zeros(1)
    config = json.dumps(TINY.to_dict())
    save_file(tensors, str(path), metadata={"format": "seminpaint-dcgan", "config": config})
    with pytest.raises(InpaintError, match="do not fit its configuration"):
        load_model(path)


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    model = tiny_model()
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, TINY, model.generator, model.discriminator)
    save_checkpoint(path, TINY, model.generator, model.discriminator)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_get_the_permissions_of_a_plainly_created_file(tmp_path, umask):
    # the write goes through a temporary file, which starts owner-only (0o600)
    model = tiny_model()
    previous = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "model.safetensors", TINY, model.generator, model.discriminator)
        plain = tmp_path / "plain"
        plain.write_bytes(b"")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "model.safetensors").stat().st_mode)
    assert mode == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask
