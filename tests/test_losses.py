import numpy as np
import pytest
import torch

from seminpaint.errors import InpaintError
from seminpaint.losses import context_loss, importance_weights, objective, prior_loss


def test_importance_weights_literal_5x5_window_3():
    # One missing pixel at (1, 1) of a 5×5 image (True = missing).
    mask = np.zeros((5, 5), dtype=bool)
    mask[1, 1] = True
    # Eq. 3: a known pixel's weight = missing neighbours / |N(i)|, N(i) the in-image 3×3 window.
    # (0, 0): window is 2×2 = 4 pixels, one missing → 1/4. (0, 1), (0, 2), (1, 0), (2, 0): 6 pixels
    # → 1/6. (1, 2), (2, 1), (2, 2): 9 pixels → 1/9. The hole itself → 0.
    expected = np.array([
        [1 / 4, 1 / 6, 1 / 6, 0, 0],
        [1 / 6, 0, 1 / 9, 0, 0],
        [1 / 6, 1 / 9, 1 / 9, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ], dtype=np.float32)
    weights = importance_weights(mask, window=3)
    assert isinstance(weights, np.ndarray)
    np.testing.assert_allclose(weights, expected, rtol=1e-6)


def test_importance_weights_window_7_ring_and_far_pixels():
    mask = np.zeros((20, 20), dtype=bool)
    mask[8:12, 8:12] = True  # a 4×4 hole in the middle
    weights = importance_weights(mask)  # the paper's window of 7
    assert np.all(weights[mask] == 0)  # nothing inside the hole
    # A pixel touching the hole's corner diagonally sees 3×3 = 9 of its 49 neighbours missing.
    assert weights[7, 7] == pytest.approx(9 / 49)
    # A pixel directly left of the hole's middle, column 7: window columns 4..10 hold 3 hole
    # columns (8, 9, 10), rows 5..11 hold 4 hole rows (8..11) → 12 missing of 49.
    assert weights[9, 7] == pytest.approx(12 / 49)
    # Pixels farther than 3 from the hole get zero weight: "very far away … plays very little role".
    assert weights[0, 0] == 0 and weights[9, 4] == 0 and weights[9, 5] > 0


def test_importance_weights_torch_batch_matches_numpy():
    rng = np.random.default_rng(0)
    masks = rng.random((3, 12, 12)) < 0.3
    batch = importance_weights(torch.from_numpy(masks))
    assert isinstance(batch, torch.Tensor) and batch.shape == (3, 12, 12)
    for index in range(3):
        np.testing.assert_allclose(batch[index].numpy(), importance_weights(masks[index]), rtol=1e-6)


@pytest.mark.parametrize("window", [0, 2, -3, 1.5])
def test_importance_weights_bad_window(window):
    with pytest.raises(InpaintError, match="window must be a positive odd integer"):
        importance_weights(np.zeros((5, 5), dtype=bool), window=window)


def test_importance_weights_needs_boolean_mask():
    with pytest.raises(InpaintError, match="mask must be boolean"):
        importance_weights(np.zeros((5, 5), dtype=np.float32))


def test_context_loss_is_weighted_l1_summed_per_image():
    generated = torch.zeros(2, 3, 4, 4)
    corrupted = torch.zeros(2, 3, 4, 4)
    corrupted[0, :, 0, 0] = torch.tensor([1.0, -2.0, 0.5])  # |diff| sums to 3.5 at pixel (0, 0)
    corrupted[1] = 1.0  # every pixel of image 1 differs by 1
    weights = torch.zeros(2, 4, 4)
    weights[0, 0, 0] = 0.5
    weights[1] = 0.25
    loss = context_loss(generated, corrupted, weights)
    # image 0: 0.5 · 3.5; image 1: 0.25 · 1 · (3 · 16) — a sum over pixels and channels, not a mean.
    np.testing.assert_allclose(loss.numpy(), [1.75, 12.0])


def test_context_loss_ignores_pixels_with_zero_weight():
    generated = torch.randn(1, 3, 4, 4)
    weights = torch.zeros(1, 4, 4)
    assert context_loss(generated, torch.randn(1, 3, 4, 4), weights).item() == 0.0


def test_prior_loss_is_lambda_log_one_minus_d():
    logits = torch.tensor([-3.0, 0.0, 2.5])
    d = torch.sigmoid(logits)
    np.testing.assert_allclose(prior_loss(logits).numpy(), (0.003 * torch.log(1 - d)).numpy(), rtol=1e-5)
    np.testing.assert_allclose(prior_loss(logits, weight=1.0, form="non_saturating").numpy(),
                               (-torch.log(d)).numpy(), rtol=1e-5)


def test_prior_loss_falls_as_d_believes_the_image_is_real():
    logits = torch.linspace(-5, 5, 11)
    for form in ("paper", "non_saturating"):
        loss = prior_loss(logits, form=form)
        assert torch.all(loss[1:] < loss[:-1]), form  # minimising it fools D


def test_prior_loss_is_finite_for_extreme_logits():
    loss = prior_loss(torch.tensor([-1e4, 1e4]))
    assert torch.isfinite(loss).all()
    assert loss[1].item() == pytest.approx(-0.003 * 1e4)


def test_prior_loss_unknown_form():
    with pytest.raises(InpaintError, match="prior form must be one of"):
        prior_loss(torch.zeros(1), form="wasserstein")


def test_objective_is_eq4_plus_lambda_eq5_per_image_in_closed_form():
    # Two 2-channel 2×2 images: G(z) a constant c_b against y = 0, so L_c = C · c_b · Σ W_b (Eq. 4).
    generated = torch.tensor([0.5, -0.25]).reshape(2, 1, 1, 1).expand(2, 2, 2, 2)
    corrupted = torch.zeros(2, 2, 2, 2)
    weights = torch.tensor([[[0.5, 0.0], [0.25, 1.0]], [[0.0, 0.0], [0.0, 0.5]]])  # Σ = 1.75 and 0.5
    logits = torch.tensor([0.0, float(np.log(3.0))])  # D(G(z)) = 1/2 and 3/4
    context, prior = objective(generated, corrupted, weights, logits, prior_weight=0.1)
    assert torch.allclose(context, torch.tensor([2 * 0.5 * 1.75, 2 * 0.25 * 0.5]))
    # Eq. 5: λ log(1 − D) = 0.1 · log(1/2) and 0.1 · log(1/4).
    assert torch.allclose(prior, torch.tensor([0.1 * np.log(0.5), 0.1 * np.log(0.25)], dtype=torch.float32))
    _, non_saturating = objective(generated, corrupted, weights, logits, prior_weight=0.1, prior_form="non_saturating")
    assert torch.allclose(non_saturating, torch.tensor([-0.1 * np.log(0.5), -0.1 * np.log(0.75)], dtype=torch.float32))


def test_objective_without_logits_has_no_prior_and_compares_in_float32():
    generated = torch.full((1, 3, 4, 4), 0.5, dtype=torch.bfloat16)
    weights = torch.ones(1, 4, 4)
    context, prior = objective(generated, torch.zeros(1, 3, 4, 4), weights, None, prior_weight=0.003)
    assert context.dtype == prior.dtype == torch.float32
    assert context.tolist() == [24.0] and prior.tolist() == [0.0]  # 3 · 16 · 0.5
