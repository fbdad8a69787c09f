import pytest
import torch

from seminpaint.errors import InpaintError
from seminpaint.latent import search
from seminpaint.losses import context_loss, importance_weights
from seminpaint.networks.model import GenerativeModel
from seminpaint.settings import PAPER, SearchSettings

from conftest import tiny_model


def centre_mask(batch=1, size=16):
    mask = torch.zeros(batch, size, size, dtype=torch.bool)
    mask[:, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = True
    return mask


def planted(model, count=2, seed=1):
    """y = G(z*) for z* drawn in the latent range: a solution that exists."""
    z_star = torch.rand(count, model.latent_dim, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    with torch.no_grad():
        return z_star, model.generator(z_star)


def test_planted_z_is_found_again(model):
    z_star, y = planted(model)
    mask = centre_mask(2)
    settings = PAPER.with_options(iterations=300, prior_weight=0.0, learning_rate=0.05)
    result = search(model, y, mask, settings, generator=torch.Generator().manual_seed(0))
    start = result.history[0]
    assert torch.all(result.context < 0.1 * start), (result.context, start)
    # The hole, never seen by the loss, is recovered too: G(ẑ) is close to G(z*) there.
    hole_error = (result.generated - y).abs()[:, :, mask[0]].mean()
    start_error = (model.generator(torch.zeros_like(z_star)) - y).abs()[:, :, mask[0]].mean()
    assert hole_error < 0.25 * start_error


def test_z_stays_in_range_and_loss_history_is_recorded(model):
    _, y = planted(model, 3)
    settings = PAPER.with_options(iterations=40, learning_rate=0.5, precision="fp32")  # large steps: bounds
    result = search(model, y, centre_mask(3), settings, generator=torch.Generator().manual_seed(0))
    assert result.z.min() >= -1 and result.z.max() <= 1
    assert (result.z.abs() == 1).any()  # the clip was active
    assert result.history.shape == (40, 3)
    assert result.generated.shape == y.shape and result.loss.shape == (3,)


def test_custom_latent_range_is_respected():
    base = tiny_model()
    model = GenerativeModel(base.generator, base.discriminator, latent_dim=8, latent_range=(-0.25, 0.5))
    _, y = planted(base, 2)
    result = search(model, y, centre_mask(2), PAPER.with_options(iterations=30, learning_rate=0.5),
                    generator=torch.Generator().manual_seed(0))
    assert result.z.min() >= -0.25 and result.z.max() <= 0.5


def test_same_generator_gives_the_same_result(model):
    _, y = planted(model)
    settings = PAPER.with_options(iterations=25)
    first = search(model, y, centre_mask(2), settings, generator=torch.Generator().manual_seed(7))
    second = search(model, y, centre_mask(2), settings, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first.z, second.z) and torch.equal(first.history, second.history)
    third = search(model, y, centre_mask(2), settings, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(first.z, third.z)


def test_an_image_result_does_not_depend_on_its_batch_mates(model):
    _, y = planted(model, 3)
    settings = PAPER.with_options(iterations=30)
    alone = search(model, y[:1], centre_mask(1), settings, generator=torch.Generator().manual_seed(3))
    together = search(model, y, centre_mask(3), settings, generator=torch.Generator().manual_seed(3))
    # Row 0 gets the same random start in both; eval-mode BatchNorm and a summed loss keep it independent.
    torch.testing.assert_close(alone.z[0], together.z[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(alone.history[:, 0], together.history[:, 0], atol=1e-3, rtol=1e-4)


def test_networks_are_frozen_during_and_restored_after(model):
    model.generator.train()
    _, y = planted(model)
    weights_before = [p.clone() for p in model.generator.parameters()]
    running_mean = model.generator.net[1].running_mean.clone()
    search(model, y, centre_mask(2), PAPER.with_options(iterations=5), generator=torch.Generator().manual_seed(0))
    assert model.generator.training  # restored
    assert all(torch.equal(a, b) for a, b in zip(weights_before, model.generator.parameters()))
    assert torch.equal(running_mean, model.generator.net[1].running_mean)  # eval mode: no BN update
    assert all(p.grad is None for p in model.generator.parameters())


def test_restarts_keep_the_lowest_final_loss(model):
    _, y = planted(model, 2)
    settings = PAPER.with_options(iterations=20)
    single = search(model, y, centre_mask(2), settings, generator=torch.Generator().manual_seed(0))
    several = search(model, y, centre_mask(2), settings.with_options(restarts=4),
                     generator=torch.Generator().manual_seed(0))
    # The first restart of `several` is the single search with the same seed (rows 0..B-1),
    # so the best of four is never worse than it.
    assert torch.all(several.loss <= single.loss + 1e-5)
    assert several.z.shape == (2, model.latent_dim) and several.history.shape == (20, 2)
    # The reported loss is the loss at the returned z.
    weights = importance_weights(centre_mask(2))
    with torch.no_grad():
        context = context_loss(model.generator(several.z), y, weights)
    torch.testing.assert_close(context, several.context, rtol=1e-4, atol=1e-4)


def test_loss_is_summed_not_averaged_over_the_batch(model):
    # With a mean over the batch, the gradient of each image would shrink with the batch size;
    # with SGD-like behaviour the first Adam step is scale-free, so compare the gradient directly.
    _, y = planted(model, 4)
    z = torch.zeros(4, model.latent_dim, requires_grad=True)
    weights = importance_weights(centre_mask(4))
    with model.frozen():
        context_loss(model.generator(z), y, weights).sum().backward()
        grad_batch = z.grad[0].clone()
        z1 = torch.zeros(1, model.latent_dim, requires_grad=True)
        context_loss(model.generator(z1), y[:1], weights[:1]).sum().backward()
    torch.testing.assert_close(grad_batch, z1.grad[0], atol=1e-5, rtol=1e-4)


def test_bad_inputs(model):
    y = torch.zeros(1, 3, 16, 16)
    with pytest.raises(InpaintError, match="images must be"):
        search(model, torch.zeros(1, 3, 32, 32), centre_mask(1))
    with pytest.raises(InpaintError, match="mask must be bool"):
        search(model, y, centre_mask(1).float())
    with pytest.raises(InpaintError, match="prior loss needs a discriminator"):
        search(GenerativeModel(model.generator, None, latent_dim=8), y, centre_mask(1), PAPER)
    with pytest.raises(InpaintError, match="unknown option"):
        PAPER.with_options(iterationz=3)
    with pytest.raises(InpaintError, match="restarts"):
        SearchSettings(restarts=0)


def test_bf16_search_also_finds_the_planted_z(model):
    z_star, y = planted(model)
    settings = PAPER.with_options(iterations=300, prior_weight=0.0, learning_rate=0.05, precision="bf16")
    result = search(model, y, centre_mask(2), settings, generator=torch.Generator().manual_seed(0))
    assert result.generated.dtype == torch.float32
    assert torch.all(result.context < 0.1 * result.history[0])
    for parameter in model.generator.parameters():  # the search ran on a copy: the model is as it was
        assert parameter.dtype == torch.float32 and parameter.is_contiguous()


def test_bf16_search_matches_fp32_with_the_prior(model):
    """Same start, same steps: the bf16 copy (BatchNorm folded) ends near the fp32 search's loss."""
    _, y = planted(model)
    results = [search(model, y, centre_mask(2), PAPER.with_options(iterations=50, precision=precision),
                      generator=torch.Generator().manual_seed(0)) for precision in ("fp32", "bf16")]
    assert torch.allclose(results[1].loss, results[0].loss, rtol=0.1)
    assert torch.allclose(results[1].history[0], results[0].history[0], rtol=0.02)


def test_fp32_fast_search_matches_the_plain_loop(model):
    """fp32-fast (BatchNorm folded, the fast layers, float32) computes the plain loop's functions up
    to float32 rounding: the same start ends at the same loss, and the model is left as it was."""
    _, y = planted(model)
    results = [search(model, y, centre_mask(2), PAPER.with_options(iterations=50, precision=precision),
                      generator=torch.Generator().manual_seed(0)) for precision in ("fp32", "fp32-fast")]
    torch.testing.assert_close(results[1].history[0], results[0].history[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(results[1].loss, results[0].loss, rtol=1e-3, atol=1e-3)
    assert results[1].generated.dtype == torch.float32
    assert any(isinstance(layer, torch.nn.BatchNorm2d) for layer in model.generator.modules())


def test_callback_sees_every_step(model):
    _, y = planted(model)
    seen = []
    search(model, y, centre_mask(2), PAPER.with_options(iterations=7, restarts=2),
           generator=torch.Generator().manual_seed(0), callback=lambda step, z: seen.append((step, z.shape)))
    assert seen == [(step, (4, model.latent_dim)) for step in range(1, 8)]


def test_row_adam_matches_torch_adam():
    from seminpaint.latent import RowAdam

    target = torch.linspace(-1, 1, 12).reshape(3, 4)
    z_ours, z_torch = torch.zeros(3, 4), torch.zeros(3, 4, requires_grad=True)
    ours = RowAdam(z_ours, 0.05, (0.9, 0.999))
    reference = torch.optim.Adam([z_torch], lr=0.05, betas=(0.9, 0.999))
    for _ in range(25):
        ours.step(torch.arange(3), 2 * (z_ours - target) ** 3 + (z_ours - target))
        reference.zero_grad()
        ((z_torch - target) ** 4 / 2 + (z_torch - target) ** 2 / 2).sum().backward()
        reference.step()
    torch.testing.assert_close(z_ours, z_torch.detach(), atol=1e-6, rtol=1e-5)


def test_row_adam_leaves_stopped_rows_alone():
    from seminpaint.latent import RowAdam

    z = torch.zeros(2, 3)
    adam = RowAdam(z, 0.1, (0.9, 0.999))
    adam.step(torch.arange(2), torch.ones(2, 3))
    frozen = z[1].clone()
    for _ in range(5):
        adam.step(torch.tensor([0]), torch.ones(1, 3))
    assert torch.equal(z[1], frozen) and adam.steps[:, 0].tolist() == [6, 1]


def test_early_stopping_stops_converged_images(model):
    _, y = planted(model)
    settings = PAPER.with_options(iterations=400, prior_weight=0.0, learning_rate=0.05, patience=20, tolerance=1e-3)
    result = search(model, y, centre_mask(2), settings, generator=torch.Generator().manual_seed(0))
    assert torch.all(result.steps < 400) and torch.all(result.steps > 20)
    assert torch.all(result.context < 0.1 * result.history[0])
    for image in range(2):  # after its stop, an image's history stays flat
        tail = result.history[result.steps[image]:, image]
        assert torch.all(tail == tail[0])


def test_screened_starts_are_never_worse_than_plain_ones(model):
    _, y = planted(model, 3)
    plain = search(model, y, centre_mask(3), PAPER.with_options(iterations=1),
                   generator=torch.Generator().manual_seed(5))
    screened = search(model, y, centre_mask(3), PAPER.with_options(iterations=1, screen=32),
                      generator=torch.Generator().manual_seed(5))
    assert torch.all(screened.history[0] <= plain.history[0] + 1e-6)
    assert torch.any(screened.history[0] < plain.history[0])
    several = search(model, y, centre_mask(3), PAPER.with_options(iterations=1, screen=32, restarts=4),
                     generator=torch.Generator().manual_seed(5))
    assert several.z.shape == (3, model.latent_dim)
    with pytest.raises(InpaintError, match="screen"):
        PAPER.with_options(screen=2, restarts=4)


def test_search_works_under_no_grad(model):
    _, y = planted(model, 2)
    with torch.no_grad():
        result = search(model, y, centre_mask(2), PAPER.with_options(iterations=20),
                        generator=torch.Generator().manual_seed(0))
    assert (result.loss < result.history[0]).all()
