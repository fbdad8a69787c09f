"""PSNR and SSIM with a fixed data range, on the whole image and on the hole."""

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from seminpaint.errors import InpaintError
from seminpaint.masks import center_mask, half_mask
from seminpaint.metrics import psnr, score, ssim


def pair(shape=(32, 32, 3), seed=0):
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]] / 6.0
    reference = 0.5 + 0.4 * np.sin(rows + columns)
    if len(shape) == 3:
        reference = np.repeat(reference[..., None], shape[2], axis=2) * rng.uniform(0.6, 1.0, size=shape[2])
    estimate = np.clip(reference + rng.normal(scale=0.05, size=shape), 0.0, 1.0)
    return reference, estimate


def test_constant_error_gives_the_hand_computed_psnr():
    reference = np.full((8, 8, 3), 0.5)
    assert psnr(reference, reference + 0.1, data_range=1.0) == pytest.approx(20.0, abs=1e-9)
    assert psnr(reference * 255, reference * 255 + 25.5, data_range=255) == pytest.approx(20.0, abs=1e-9)
    # The data range is fixed, not the image's own maximum: a dark image scores the same.
    assert psnr(reference * 0.2, reference * 0.2 + 0.1, data_range=1.0) == pytest.approx(20.0, abs=1e-9)


def test_identical_images_give_infinity():
    reference, _ = pair()
    assert psnr(reference, reference.copy(), data_range=1.0) == math.inf


def test_hole_psnr_uses_only_the_masked_pixels():
    reference = np.zeros((16, 16))
    mask = center_mask(16, 16)
    estimate = np.where(mask, 0.01, 0.3)  # small error in the hole, large outside
    assert psnr(reference, estimate, data_range=1.0, mask=mask) == pytest.approx(40.0, abs=1e-9)
    mse = (0.01**2 * 64 + 0.3**2 * 192) / 256
    assert psnr(reference, estimate, data_range=1.0) == pytest.approx(10 * math.log10(1 / mse), abs=1e-9)


def test_uint8_input_does_not_wrap_around():
    reference, estimate = np.full((4, 4), 10, dtype=np.uint8), np.full((4, 4), 20, dtype=np.uint8)
    assert psnr(reference, estimate, data_range=255) == pytest.approx(10 * math.log10(255**2 / 100))


@pytest.mark.parametrize("shape", [(32, 32), (32, 32, 3)])
def test_agrees_with_scikit_image(shape):
    reference, estimate = pair(shape)
    assert psnr(reference, estimate, data_range=1.0) == pytest.approx(
        peak_signal_noise_ratio(reference, estimate, data_range=1.0), rel=1e-12)
    channel_axis = -1 if len(shape) == 3 else None
    assert ssim(reference, estimate, data_range=1.0) == pytest.approx(
        structural_similarity(reference, estimate, data_range=1.0, channel_axis=channel_axis), rel=1e-12)


def test_hole_ssim_averages_the_ssim_map_over_the_hole():
    reference, estimate = pair((32, 32, 3))
    mask = half_mask(32, 32, side="top")  # touches the border: border pixels count
    _, full = structural_similarity(reference, estimate, data_range=1.0, channel_axis=-1, full=True)
    assert ssim(reference, estimate, data_range=1.0, mask=mask) == pytest.approx(full[:16].mean(), rel=1e-12)
    # Damage only the hole: the hole's SSIM falls far more than the whole image's.
    damaged = estimate.copy()
    damaged[mask] = 0.5
    assert ssim(reference, damaged, data_range=1.0, mask=~mask) > 0.5 > ssim(reference, damaged, data_range=1.0, mask=mask)
    assert ssim(reference, reference, data_range=1.0, mask=mask) == pytest.approx(1.0)


def test_score_has_all_four_numbers():
    reference, estimate = pair()
    mask = center_mask(32, 32)
    values = score(reference, estimate, mask, data_range=1.0)
    assert values == {
        "psnr": psnr(reference, estimate, data_range=1.0),
        "psnr_hole": psnr(reference, estimate, data_range=1.0, mask=mask),
        "ssim": ssim(reference, estimate, data_range=1.0),
        "ssim_hole": ssim(reference, estimate, data_range=1.0, mask=mask),
    }


def test_data_range_is_required_and_checked():
    reference, estimate = pair()
    with pytest.raises(TypeError):
        psnr(reference, estimate)
    with pytest.raises(TypeError):
        ssim(reference, estimate)
    with pytest.raises(InpaintError, match="data_range must be a positive number"):
        psnr(reference, estimate, data_range=0)


def test_input_errors():
    reference, estimate = pair()
    for metric in (psnr, ssim):
        with pytest.raises(InpaintError, match=r"estimate shape \(32, 32\) does not match reference \(32, 32, 3\)"):
            metric(reference, estimate[..., 0], data_range=1.0)
        with pytest.raises(InpaintError, match=r"mask shape \(16, 16\) does not match image \(32, 32\)"):
            metric(reference, estimate, data_range=1.0, mask=center_mask(16, 16))
        with pytest.raises(InpaintError, match="estimate has NaN"):
            metric(reference, np.full_like(estimate, np.nan), data_range=1.0)
    with pytest.raises(InpaintError, match="at least 7×7"):
        ssim(np.zeros((5, 5)), np.zeros((5, 5)), data_range=1.0)
