"""Poisson blending (Eq. 6), overlay and the hybrid blend: closed forms, known pixels untouched, the border case."""

import numpy as np
import pytest

from seminpaint.blend import hybrid_blend, overlay, poisson_blend
from seminpaint.errors import InpaintError
from seminpaint.masks import center_mask, half_mask, make_mask, pattern_mask

MASKS = {
    "center": center_mask(32, 32),
    "pattern": pattern_mask(32, 32, rng=0),
    "left half": half_mask(32, 32, side="left"),
    "bottom half": half_mask(32, 32, side="bottom"),
    "random pixels": make_mask("random_pixels", 32, 32, rng=0),
}


def smooth_image(shape, seed=0):
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]] / 8.0
    rng = np.random.default_rng(seed)
    channels = [np.sin(rows * rng.uniform(0.5, 2)) + np.cos(columns * rng.uniform(0.5, 2)) for _ in range(3)]
    return np.stack(channels, axis=-1)


@pytest.mark.parametrize("name", MASKS)
def test_fill_equal_to_image_plus_constant_gives_back_the_image(name):
    image = smooth_image((32, 32))
    image[MASKS[name]] = np.nan  # the hole's old values play no part, NaN included
    truth = smooth_image((32, 32))
    out = poisson_blend(image, truth + 0.37, MASKS[name])
    np.testing.assert_allclose(out, truth, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", MASKS)
def test_known_pixels_are_bit_identical(name):
    rng = np.random.default_rng(1)
    image, fill = rng.random((32, 32, 3)).astype(np.float32), rng.normal(size=(32, 32, 3)).astype(np.float32)
    mask = MASKS[name]
    out = poisson_blend(image, fill, mask)
    assert out.shape == image.shape and out.dtype == np.float32
    assert np.array_equal(out[~mask], image[~mask])
    assert not np.shares_memory(out, image)


def test_full_height_hole_gives_fill_plus_linear_correction_in_every_row():
    # Image and fill vary along columns only, and the hole spans whole columns 3..8 of 12, so
    # the solution is row-constant (the top/bottom Neumann terms vanish) and Eq. 6 reduces to a
    # 1-D problem: x − fill is discrete-harmonic, i.e. linear, in the hole, and equals
    # image − fill on the known columns 2 and 9 next to it.
    height, width, first, last = 5, 12, 3, 8
    columns = np.arange(width, dtype=float)
    image_row = np.where(columns < first, 1.0, 5.0)
    fill_row = np.random.default_rng(0).normal(size=width)
    image, fill = np.tile(image_row, (height, 1)), np.tile(fill_row, (height, 1))
    mask = np.zeros((height, width), dtype=bool)
    mask[:, first:last + 1] = True
    left, right = first - 1, last + 1
    offset_left, offset_right = image_row[left] - fill_row[left], image_row[right] - fill_row[right]
    t = (columns - left) / (right - left)
    expected_row = np.where((columns >= first) & (columns <= last),
                            fill_row + offset_left + t * (offset_right - offset_left), image_row)
    out = poisson_blend(image, fill, mask)
    np.testing.assert_allclose(out, np.tile(expected_row, (height, 1)), rtol=0, atol=1e-12)


def reference_blend(image, fill, mask):
    """Eq. 6 written pixel by pixel with a dense solve: an independent check of the vectorised build."""
    height, width = mask.shape
    holes = list(zip(*np.nonzero(mask)))
    number = {pixel: k for k, pixel in enumerate(holes)}
    matrix, rhs = np.zeros((len(holes), len(holes))), np.zeros(len(holes))
    for k, (i, j) in enumerate(holes):
        for di, dj in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            a, b = i + di, j + dj
            if not (0 <= a < height and 0 <= b < width):
                continue  # outside the image: Neumann
            matrix[k, k] += 1
            rhs[k] += fill[i, j] - fill[a, b]
            if mask[a, b]:
                matrix[k, number[a, b]] -= 1
            else:
                rhs[k] += image[a, b]
    out = image.copy()
    out[mask] = np.linalg.solve(matrix, rhs)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_matches_a_pixel_by_pixel_reference_on_random_data(seed):
    rng = np.random.default_rng(seed)
    image, fill = rng.random((7, 9)), rng.normal(size=(7, 9))
    mask = rng.random((7, 9)) < 0.5
    mask[0, 0], mask[3, 4] = False, True
    np.testing.assert_allclose(poisson_blend(image, fill, mask), reference_blend(image, fill, mask), atol=1e-12)


def test_solution_minimises_the_gradient_energy():
    rng = np.random.default_rng(4)
    image, fill, mask = rng.random((10, 10)), rng.random((10, 10)), center_mask(10, 10)

    def energy(x):  # ‖∇x − ∇fill‖² over all horizontal and vertical edges
        return sum(float((np.diff(x - fill, axis=axis) ** 2).sum()) for axis in (0, 1))

    out = poisson_blend(image, fill, mask)
    for _ in range(5):
        nudged = out.copy()
        nudged[mask] += 1e-3 * rng.normal(size=int(mask.sum()))
        assert energy(out) < energy(nudged)


def test_gray_and_colour_agree_channel_by_channel():
    rng = np.random.default_rng(2)
    image, fill, mask = rng.random((16, 16, 3)), rng.random((16, 16, 3)), pattern_mask(16, 16, rng=2)
    colour = poisson_blend(image, fill, mask)
    for channel in range(3):
        gray = poisson_blend(image[..., channel], fill[..., channel], mask)
        assert gray.shape == (16, 16)
        np.testing.assert_allclose(colour[..., channel], gray, rtol=0, atol=1e-12)


def test_overlay_is_the_naive_composite():
    rng = np.random.default_rng(3)
    image, fill, mask = rng.random((8, 8, 3)), rng.random((8, 8, 3)), center_mask(8, 8)
    out = overlay(image, fill, mask)
    assert np.array_equal(out[mask], fill[mask]) and np.array_equal(out[~mask], image[~mask])


@pytest.mark.parametrize("name", MASKS)
def test_hybrid_without_smoothness_is_poisson_blending(name):
    rng = np.random.default_rng(2)
    image, fill = rng.random((32, 32, 3)), rng.normal(size=(32, 32, 3))
    np.testing.assert_allclose(hybrid_blend(image, fill, MASKS[name], smoothness=0.0),
                               poisson_blend(image, fill, MASKS[name]), rtol=0, atol=1e-9)


@pytest.mark.parametrize("smoothness", [0.0, 3.0, 1e4])
def test_hybrid_recovers_a_ramp_from_its_offset_gradients(smoothness):
    # Inside the image a ramp has Δ = 0 and the fill has its gradients, so both terms vanish: the
    # ramp itself is the minimiser whatever μ (the hole keeps off the border, where the Neumann
    # Laplacian of a ramp is not 0).
    rows, columns = np.mgrid[0:32, 0:32]
    ramp = (0.02 * rows - 0.01 * columns + 0.3)[..., None] * np.array([1.0, 0.5, -0.7])
    image = ramp.copy()
    image[MASKS["center"]] = np.nan
    out = hybrid_blend(image, ramp + 0.25, MASKS["center"], smoothness=smoothness)
    np.testing.assert_allclose(out, ramp, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", ["center", "random pixels"])
def test_hybrid_with_large_smoothness_ignores_the_fill(name):
    rng = np.random.default_rng(3)
    image, mask = smooth_image((32, 32)), MASKS[name]
    first = hybrid_blend(image, rng.normal(size=image.shape), mask, smoothness=1e8)
    second = hybrid_blend(image, rng.normal(size=image.shape), mask, smoothness=1e8)
    assert np.abs(first - second).max() < 1e-4  # the biharmonic interpolation of the known pixels
    assert np.abs(first - image)[mask].mean() < 0.1 * np.abs(image[mask] - image[~mask].mean()).mean()


def test_hybrid_keeps_known_pixels_and_gray_matches_colour():
    rng = np.random.default_rng(4)
    image, fill, mask = rng.random((32, 32, 3)).astype(np.float32), rng.random((32, 32, 3)), MASKS["pattern"]
    fill = fill.astype(np.float32)
    out = hybrid_blend(image, fill, mask)
    assert out.dtype == np.float32 and np.array_equal(out[~mask], image[~mask])
    gray = hybrid_blend(image[..., 1], fill[..., 1], mask)
    np.testing.assert_allclose(gray, out[..., 1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("smoothness", [-1.0, float("nan"), "3"])
def test_hybrid_rejects_bad_smoothness(smoothness):
    image = np.zeros((8, 8, 3))
    with pytest.raises(InpaintError, match="smoothness must be a finite number ≥ 0"):
        hybrid_blend(image, image, center_mask(8, 8), smoothness=smoothness)


@pytest.mark.parametrize("combine", [poisson_blend, overlay, hybrid_blend])
def test_input_errors(combine):
    image, mask = np.zeros((8, 8, 3)), center_mask(8, 8)
    with pytest.raises(InpaintError, match=r"fill shape \(8, 8\) does not match image \(8, 8, 3\)"):
        combine(image, np.zeros((8, 8)), mask)
    with pytest.raises(InpaintError, match=r"mask shape \(4, 4\) does not match image \(8, 8\)"):
        combine(image, image, center_mask(4, 4))
    with pytest.raises(InpaintError, match="float array, got dtype uint8"):
        combine(image.astype(np.uint8), image, mask)
    with pytest.raises(InpaintError, match="no known pixel"):
        combine(image, image, np.ones((8, 8), dtype=bool))
    with pytest.raises(InpaintError, match="fill has NaN"):
        combine(image, np.full((8, 8, 3), np.nan), mask)
    with pytest.raises(InpaintError, match=r"\(H, W\) or \(H, W, C\)"):
        combine(np.zeros(8), np.zeros(8), mask)
