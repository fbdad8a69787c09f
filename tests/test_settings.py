"""Presets carry everything, the paper's is the paper's, and one default reaches every entry point."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import seminpaint.api as api
from seminpaint import settings
from seminpaint.cli import build_parser, main, search_settings
from seminpaint.errors import InpaintError
from seminpaint.masks import make_mask
from seminpaint.networks.checkpoint import save_checkpoint
from seminpaint.settings import DEFAULT, ENHANCED, MIRRORED, PAPER, PRESETS, WITHOUT_ENCODER, SearchSettings

from conftest import TINY, tiny_model
from conftest import tiny_model_with_encoder as model_with_encoder


def test_the_paper_preset_is_the_paper_setting_to_the_letter():
    paper = PRESETS["paper"]
    assert paper is PAPER
    assert (paper.iterations, paper.prior_weight, paper.prior_form, paper.window) == (1500, 0.003, "paper", 7)
    assert (paper.start, paper.restarts, paper.screen, paper.patience) == ("random", 1, 0, 0)
    assert paper.blend == "poisson"
    args = build_parser().parse_args(["inpaint", "--image", "a.png", "--mask", "center", "--output", "b.png",
                                      "--preset", "paper"])
    assert search_settings(args, model_with_encoder()) is PAPER


def test_the_command_line_turns_mirrored_candidates_on_and_off():
    def parsed(*extra):
        return build_parser().parse_args(["inpaint", "--image", "a.png", "--mask", "center", "--output", "b.png",
                                          *extra])

    model = model_with_encoder()
    on = search_settings(parsed("--preset", "fast", "--candidates", "2", "--mirror"), model)
    assert on == PRESETS["fast"].with_options(candidates=2, mirror=True)
    off = search_settings(parsed("--preset", "quality", "--no-mirror"), model)
    assert off == PRESETS["quality"].with_options(mirror=False)


def test_the_default_is_the_mirrored_preset_and_it_carries_its_blend():
    assert DEFAULT is PRESETS[settings.DEFAULT_PRESET] is MIRRORED
    assert (DEFAULT.start, DEFAULT.iterations, DEFAULT.blend, DEFAULT.learning_rate) == ("auto", 25, "hybrid", 0.08)
    assert (DEFAULT.candidates, DEFAULT.mirror) == (2, True)
    # ENHANCED's 50 steps split over the image and its mirror image; nothing else differs.
    assert DEFAULT.with_options(candidates=1, mirror=False, iterations=50, learning_rate=0.04) == ENHANCED
    assert WITHOUT_ENCODER.start == "random" and WITHOUT_ENCODER.blend == DEFAULT.blend
    # The validated setting for a random start (docs/results/beyond_paper.md, "Mirrored candidates").
    assert (WITHOUT_ENCODER.screen, WITHOUT_ENCODER.iterations, WITHOUT_ENCODER.learning_rate) == (64, 100, 0.02)
    assert (WITHOUT_ENCODER.candidates, WITHOUT_ENCODER.mirror) == (2, True)


def test_the_quality_preset_is_enhanced_mirrored_and_tuned():
    quality = PRESETS["quality"]
    assert (quality.candidates, quality.mirror) == (2, True)
    assert quality.tune_steps == 30 and quality.tune_target == "features"
    assert quality.with_options(candidates=1, mirror=False, tune_steps=0, tune_learning_rate=1e-4,
                                tune_target="weights") == ENHANCED  # nothing else differs
    assert settings.default_settings(has_encoder=True) is DEFAULT
    assert settings.default_settings(has_encoder=False) is WITHOUT_ENCODER


@pytest.mark.parametrize("with_encoder", [True, False])
def test_every_entry_point_runs_the_same_default_object(tmp_path, monkeypatch, with_encoder):
    import seminpaint.demo as demo_module
    import seminpaint.web.app as app_module

    model = model_with_encoder() if with_encoder else tiny_model()
    expected = DEFAULT if with_encoder else WITHOUT_ENCODER
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, TINY, model.generator, model.discriminator, encoder=model.encoder)

    # Python: inpaint(settings=None) hands the search exactly that object. (Only this thread's calls
    # count: a web server left by another test may still be searching in its worker thread.)
    seen, here = [], threading.get_ident()
    search = api.search_candidates
    monkeypatch.setattr(api, "search_candidates",
                        lambda *a, **k: (threading.get_ident() == here and seen.append(a[3])) or search(*a, **k))
    image = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    api.inpaint(image, make_mask("center", 16, 16), model=model, settings=None,
                generator=torch.Generator().manual_seed(0))
    assert seen == [expected] and seen[0] is expected

    # The command line: inpaint, demo and serve.
    args = build_parser().parse_args(["inpaint", "--image", "a.png", "--mask", "center", "--output", "b.png"])
    assert search_settings(args, model) is expected
    monkeypatch.setattr(demo_module, "run_demo", lambda out, settings, **_: seen.append(settings))
    assert main(["demo", "--model", str(path), "--out", str(tmp_path / "demo")]) == 0
    assert seen[-1] is expected
    monkeypatch.setattr(app_module, "serve", lambda model, config, **_: seen.append(config.settings))
    assert main(["serve", "--model", str(path)]) == 0
    assert seen[-1] is expected

    # The web page: every job of ours runs the app's settings, and the page offers their steps.
    app = app_module.create_app(model, samples={})
    config = app.extensions["seminpaint"]["config"]
    assert config.settings is expected and config.default_iterations == expected.iterations
    assert app.test_client().get("/api/info").json["settings"] == api.describe(expected, model)  # the page says so


def test_an_explicit_blend_or_smoothness_replaces_the_preset_s():
    model = tiny_model()
    assert api.resolve_settings("enhanced", model, blend="poisson") == ENHANCED.with_options(blend="poisson")
    assert api.resolve_settings("paper", model, smoothness=3.0).smoothness == 3.0
    assert api.resolve_settings(PAPER, model) is PAPER


@pytest.mark.parametrize("options, message", [
    ({"blend": "alpha"}, "blend must be one of poisson, hybrid, overlay, got 'alpha'"),
    ({"smoothness": -1.0}, "smoothness must be a finite number ≥ 0"),
    ({"smoothness": float("nan")}, "smoothness must be a finite number ≥ 0"),
    ({"start": "middle"}, "start must be one of random, encoder, auto"),
    ({"precision": "fp8"}, "precision must be one of auto, bf16, fp32-fast, fp32"),
    ({"prior_form": "wgan"}, "prior_form must be one of paper, non_saturating"),
    ({"colour": 1}, "unknown option(s): colour"),
])
def test_bad_settings_are_refused_with_one_line(options, message):
    with pytest.raises(InpaintError) as error:
        PAPER.with_options(**options)
    assert message in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(InpaintError, match="unknown preset 'best'; choose one of: paper, fast, enhanced"):
        api.resolve_settings("best", tiny_model())


def test_describe_names_the_preset_and_what_it_runs():
    text = api.describe(ENHANCED, model_with_encoder())
    assert text.startswith("preset enhanced: at most 50 Adam steps (lr 0.04) from the latent encoder's z")
    assert "hybrid (μ = 1) blend" in text
    assert ", 2 candidates per image, every second one of the image mirrored (their mean)" in api.describe(
        DEFAULT, model_with_encoder())
    assert api.describe(WITHOUT_ENCODER, tiny_model()).startswith("the default for a model without a latent encoder")
    assert api.describe(SearchSettings(iterations=3), tiny_model()).startswith("custom settings")
