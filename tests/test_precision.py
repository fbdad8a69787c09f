import pytest
import torch

import seminpaint.runtime.precision as precision_module
from seminpaint.errors import InpaintError
from seminpaint.latent import search_networks
from seminpaint.runtime.precision import PRECISIONS, is_fast, native_bf16, resolve_precision
from seminpaint.settings import PAPER, PRESETS, SearchSettings
from seminpaint.training import TrainConfig

from conftest import tiny_model


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32-fast")])
def test_auto_is_bf16_only_where_the_device_computes_it(monkeypatch, native, expected):
    monkeypatch.setattr(precision_module, "native_bf16", lambda device: native)
    assert resolve_precision("auto", "cpu") == expected
    assert TrainConfig().on("cpu").precision == expected
    for explicit in ("bf16", "fp32-fast", "fp32"):  # an explicit choice is kept on any device
        assert resolve_precision(explicit, "cpu") == explicit


def test_auto_is_every_default():
    assert SearchSettings().precision == TrainConfig().precision == "auto"
    assert all(settings.precision == "auto" for settings in PRESETS.values())


def test_native_bf16_answers_for_this_cpu():
    assert native_bf16("cpu") in (True, False)
    assert native_bf16("meta") is False


def test_only_the_plain_loop_is_not_fast():
    assert [is_fast(name) for name in PRECISIONS if name != "auto"] == [True, True, False]


def test_unknown_precisions_are_refused():
    for make in (lambda: resolve_precision("fp16", "cpu"), lambda: SearchSettings(precision="fp16"),
                 lambda: TrainConfig(precision="fp16")):
        with pytest.raises(InpaintError, match="precision must be one of auto, bf16, fp32-fast, fp32"):
            make()


@pytest.mark.parametrize("native, dtype", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_search_runs_folded_copies_in_the_resolved_dtype(monkeypatch, native, dtype):
    monkeypatch.setattr(precision_module, "native_bf16", lambda device: native)
    model = tiny_model()
    generator, discriminator, _, z_dtype = search_networks(model, PAPER.precision)
    assert z_dtype == dtype and generator is not model.generator and discriminator is not model.discriminator
    assert all(parameter.dtype == dtype for parameter in generator.parameters())
    assert not any(isinstance(layer, torch.nn.BatchNorm2d) for layer in generator.modules())
    plain = search_networks(model, "fp32")
    assert plain[0] is model.generator and plain[3] == torch.float32
