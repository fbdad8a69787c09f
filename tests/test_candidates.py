"""Several completions per image (candidates.py) and G tuned to each image (tuning.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seminpaint import inpaint
from seminpaint.candidates import (candidate_starts, candidate_views, mean_and_spread, mirrored_candidates,
                                   pairwise_distance, search_candidates)
from seminpaint.cli import main
from seminpaint.errors import InpaintError
from seminpaint.images import read_image
from seminpaint.losses import context_loss, importance_weights
from seminpaint.masks import make_mask
from seminpaint.networks.model import weights_digest
from seminpaint.settings import ENHANCED, MAX_CANDIDATES, PAPER
from seminpaint.tuning import split_generator, tune_generator

from conftest import TINY, lively_model, tiny_model, tiny_model_with_encoder

FP32 = dict(precision="fp32")


def test_mean_and_spread_of_two_candidates_in_closed_form():
    hole = np.zeros((4, 5), dtype=bool)
    hole[1:3, 1:4] = True
    first = np.full((4, 5, 3), 0.3, dtype=np.float32)
    second = first.copy()
    first[hole], second[hole] = 0.0, 1.0
    mean, spread = mean_and_spread(np.stack([first, second]), hole)
    assert np.allclose(mean[hole], 0.5) and np.array_equal(mean[~hole], first[~hole])
    assert np.allclose(spread[hole], 0.5) and np.all(spread[~hole] == 0) and spread.shape == (4, 5)
    assert pairwise_distance(np.stack([first, second, first]), hole) == pytest.approx((1 + 0 + 1) / 3)


def test_candidates_give_k_completions_their_mean_and_spread():
    model = lively_model()
    model.encoder = tiny_model_with_encoder().encoder
    image = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    mask = make_mask("center", 16, 16)
    settings = ENHANCED.with_options(iterations=5, **FP32)
    one = inpaint(image, mask, model=model, settings=settings, generator=torch.Generator().manual_seed(0))
    many = inpaint(image, mask, model=model, settings=settings, candidates=3,
                   generator=torch.Generator().manual_seed(0))
    assert one.candidates is None and one.spread is None
    assert many.candidates.shape == (3, 16, 16, 3) and many.spread.shape == (16, 16)
    # Candidate 1 starts where one search starts, so it is that search's result.
    assert np.allclose(many.candidates[0], one.image, atol=1e-5)
    assert np.allclose(many.image[mask], many.candidates.mean(axis=0)[mask], atol=1e-6)
    assert np.array_equal(many.image[~mask], image[~mask])  # known pixels bit-identical
    assert np.all(many.spread[~mask] == 0) and many.spread[mask].mean() > 0.003
    assert pairwise_distance(many.candidates, mask) > 0.003


def test_candidates_without_noise_from_the_encoder_are_one_completion_k_times():
    model = tiny_model_with_encoder()
    image = np.random.default_rng(1).random((16, 16, 3)).astype(np.float32)
    mask = make_mask("center", 16, 16)
    result = inpaint(image, mask, model=model, candidates=3, generator=torch.Generator().manual_seed(0),
                     settings=ENHANCED.with_options(iterations=5, candidate_noise=0.0, **FP32))
    assert np.allclose(result.candidates, result.candidates[:1], atol=1e-6)
    assert result.spread.max() < 1e-5


def test_a_batch_searches_candidate_rows_of_every_image_at_once():
    model = tiny_model()
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    masks = torch.from_numpy(np.stack([make_mask("center", 16, 16)] * 2))
    found = search_candidates(model, images, masks, PAPER.with_options(iterations=3, candidates=4, **FP32),
                              generator=torch.Generator().manual_seed(0))
    assert found.z.shape == (8, TINY.latent_dim) and found.generated.shape == (8, 3, 16, 16)
    assert len({tuple(row.tolist()) for row in found.z}) == 8  # random starts: every row its own


@pytest.mark.parametrize("count", [0, MAX_CANDIDATES + 1])
def test_a_bad_number_of_candidates_is_refused(count):
    with pytest.raises(InpaintError, match="candidates must be from 1"):
        inpaint(np.zeros((16, 16, 3)), make_mask("center", 16, 16), model=tiny_model(), candidates=count)



# -- mirrored candidates ----------------------------------------------------------------------------

def test_the_even_numbered_candidates_see_the_image_mirrored_and_back():
    settings = PAPER.with_options(candidates=4, mirror=True)
    assert mirrored_candidates(settings) == [False, True, False, True]
    assert mirrored_candidates(settings.with_options(mirror=False)) == [False] * 4
    image = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)  # B = 2 images
    views = candidate_views(image.repeat(4, 1, 1, 1), settings)
    assert torch.equal(views[0:2], image) and torch.equal(views[4:6], image)
    assert torch.equal(views[2:4], image.flip(-1))
    assert torch.equal(views[6:8, :, 1, 0], image[:, :, 1, 4])  # left column of the view = right of the image
    assert torch.equal(candidate_views(views, settings), image.repeat(4, 1, 1, 1))  # its own inverse


def test_each_view_s_first_candidate_starts_at_its_encoding_and_the_rest_are_noisy():
    model = tiny_model_with_encoder()
    settings = ENHANCED.with_options(candidates=4, mirror=True, candidate_noise=0.5)
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    masks = torch.from_numpy(np.stack([make_mask("center", 16, 16)] * 2))
    views, view_masks = candidate_views(images.repeat(4, 1, 1, 1), settings), candidate_views(masks.repeat(4, 1, 1), settings)
    starts = candidate_starts(model, views, view_masks, settings, torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = model.encoder(images, masks).clamp(-1, 1)
        mirrored = model.encoder(images.flip(-1), masks.flip(-1)).clamp(-1, 1)
    assert starts.shape == (8, TINY.latent_dim)
    assert torch.allclose(starts[0:2], plain, atol=1e-6) and torch.allclose(starts[2:4], mirrored, atol=1e-6)
    assert not torch.allclose(plain, mirrored, atol=1e-3)  # E is not symmetric: a second view
    noise = torch.cat([starts[4:6] - plain, starts[6:8] - mirrored])
    assert 0.2 < noise.std() < 0.6  # N(0, 0.5²), clipped to [-1, 1]


def test_a_mirrored_candidate_is_the_mirrored_image_s_completion_mirrored_back():
    model = lively_model()
    model.encoder = tiny_model_with_encoder().encoder
    image = np.random.default_rng(2).random((16, 16, 3)).astype(np.float32)
    mask = make_mask("half", 16, 16, side="left")
    settings = ENHANCED.with_options(iterations=5, **FP32)
    one = inpaint(image, mask, model=model, settings=settings)
    mirrored = inpaint(image[:, ::-1].copy(), mask[:, ::-1].copy(), model=model, settings=settings)
    both = inpaint(image, mask, model=model, settings=settings.with_options(candidates=2, mirror=True))
    assert np.allclose(both.candidates[0], one.image, atol=1e-5)
    assert np.allclose(both.candidates[1], mirrored.image[:, ::-1], atol=1e-5)
    assert np.allclose(both.image[mask], both.candidates.mean(axis=0)[mask], atol=1e-6)
    assert np.array_equal(both.image[~mask], image[~mask])
    assert not np.allclose(both.candidates[0], both.candidates[1], atol=1e-3)


def test_mirror_takes_only_true_or_false():
    with pytest.raises(InpaintError, match="mirror must be True or False"):
        PAPER.with_options(mirror="yes")

# -- G tuned to each image --------------------------------------------------------------------------

@pytest.mark.parametrize("layers", [1, 2, 3])
def test_the_split_generator_is_g(layers):
    model = tiny_model()
    trunk, head = split_generator(model.generator, layers)
    z = torch.rand(4, TINY.latent_dim) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(head(trunk(z.reshape(4, -1, 1, 1))), model.generator(z), atol=1e-5)


def test_tune_layers_beyond_g_s_convolutions_are_refused():
    with pytest.raises(InpaintError, match="tune_layers must be from 1 to 3"):
        split_generator(tiny_model().generator, 4)


def planted(model, seed: int = 0):
    """A target G cannot draw exactly: G(z*) plus a smooth offset, its centre missing."""
    z = torch.rand(3, TINY.latent_dim, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    with torch.no_grad():
        target = (model.generator(z) + 0.3 * torch.linspace(-1, 1, 16)[None, None, None]).clamp(-1, 1)
    mask = torch.from_numpy(np.stack([make_mask("center", 16, 16)] * 3))
    return z, target, mask


TARGETS = [dict(tune_target="weights", tune_learning_rate=3e-3),
           dict(tune_target="features", tune_learning_rate=0.05, precision="fp32")]


@pytest.mark.parametrize("how", TARGETS, ids=["weights", "features"])
def test_tuning_lowers_the_context_loss_and_leaves_the_model_untouched(how):
    model = lively_model()
    before = weights_digest(model.generator, model.discriminator)
    z, target, mask = planted(model)
    weights = importance_weights(mask, 7)
    with torch.no_grad():
        plain = context_loss(model.generator(z), target, weights)
    settings = PAPER.with_options(tune_steps=40, tune_layers=2, tune_pull=0.0, **how)
    tuned = tune_generator(model, z, target, mask, settings)
    assert tuned.shape == target.shape and tuned.abs().max() <= 1
    assert torch.all(context_loss(tuned, target, weights) < 0.8 * plain)
    assert weights_digest(model.generator, model.discriminator) == before


@pytest.mark.parametrize("how", TARGETS, ids=["weights", "features"])
def test_the_pull_keeps_the_tuned_g_near_the_trained_one(how):
    model = lively_model()
    z, target, mask = planted(model, seed=1)
    with torch.no_grad():
        original = model.generator(z)
    free, pulled = (tune_generator(model, z, target, mask, PAPER.with_options(
        tune_steps=40, tune_layers=2, tune_pull=pull, **how)) for pull in (0.0, 1e4))
    assert (pulled - original).abs().mean() < 0.5 * (free - original).abs().mean()


@pytest.mark.parametrize("tune_target", ["weights", "features"])
def test_zero_tuning_steps_draw_g_itself(tune_target):
    model = lively_model()
    z, target, mask = planted(model)
    settings = PAPER.with_options(tune_layers=3, tune_target=tune_target, precision="fp32")
    with torch.no_grad():
        assert torch.allclose(tune_generator(model, z, target, mask, settings), model.generator(z), atol=1e-4)


# -- the command line -------------------------------------------------------------------------------

def test_the_command_line_writes_the_mean_every_candidate_and_the_spread(files, capsys):
    folder, checkpoint, image = files
    assert main(["inpaint", "--model", str(checkpoint), "--image", str(image), "--mask", "center",
                 "--output", str(folder / "out.png"), "--iterations", "3", "--candidates", "3",
                 "--save-candidates", "--uncertainty"]) == 0
    names = ["out.png", "out_1.png", "out_2.png", "out_3.png", "out_spread.png"]
    assert all((folder / name).is_file() for name in names)
    assert read_image(folder / "out_spread.png", mode="auto").shape == (16, 16)
    mean, each = read_image(folder / "out.png"), np.stack([read_image(folder / f"out_{k}.png") for k in (1, 2, 3)])
    hole = make_mask("center", 16, 16)
    assert np.abs(mean[hole] - each.mean(axis=0)[hole]).max() <= 1.5 / 255  # OUTPUT is their mean (8-bit)
    printed = capsys.readouterr().out
    assert all(name in printed for name in names)
    # A rerun refuses to overwrite any of them; without --save-candidates only OUTPUT is written.
    assert main(["inpaint", "--model", str(checkpoint), "--image", str(image), "--mask", "center",
                 "--output", str(folder / "out.png"), "--candidates", "3", "--save-candidates"]) == 2
    assert "out.png" in capsys.readouterr().err
    assert main(["inpaint", "--model", str(checkpoint), "--image", str(image), "--mask", "center",
                 "--output", str(folder / "alone.png"), "--iterations", "3", "--candidates", "3"]) == 0
    assert (folder / "alone.png").is_file() and not (folder / "alone_1.png").exists()


@pytest.mark.parametrize("extra, message", [
    (["--uncertainty", "--candidates", "1"], "--uncertainty needs several completions"),
    (["--save-candidates", "--candidates", "1"], "--save-candidates needs several completions"),
    (["--save-candidates", "--method", "mean"], "--save-candidates is for --method ours"),
    (["--mirror", "--method", "mean"], "--mirror is for --method ours"),
    (["--candidates", "2", "--method", "mean"], "--candidates is for --method ours"),
    (["--candidates", "0"], "candidates must be from 1"),
])
def test_bad_candidate_options_are_refused_with_one_line(files, capsys, extra, message):
    folder, checkpoint, image = files
    assert main(["inpaint", "--model", str(checkpoint), "--image", str(image), "--mask", "center",
                 "--output", str(folder / "out.png"), *extra]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error
