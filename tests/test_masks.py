"""Masks: the four kinds, reproducibility, files, validation. True = missing throughout."""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from seminpaint.errors import InpaintError
from seminpaint.masks import (
    MASK_KINDS, center_mask, check_mask, half_mask, make_mask, make_masks, pattern_mask,
    random_pixels_mask, read_mask, save_mask,
)


@pytest.mark.parametrize("kind", MASK_KINDS + ("random",))
@pytest.mark.parametrize("shape", [(64, 64), (32, 48), (17, 9)])
def test_every_kind_is_bool_of_the_requested_shape_with_both_missing_and_known(kind, shape):
    mask = make_mask(kind, *shape, rng=0)
    assert mask.dtype == bool and mask.shape == shape
    check_mask(mask, *shape)  # has a hole and a known pixel


def test_center_mask_is_the_central_32x32_block_of_64x64():
    mask = center_mask(64, 64)
    expected = np.zeros((64, 64), dtype=bool)
    expected[16:48, 16:48] = True
    np.testing.assert_array_equal(mask, expected)
    assert mask.sum() == 64 * 64 // 4


def test_center_mask_odd_sizes_are_exactly_centred():
    mask = center_mask(5, 7)
    expected = np.zeros((5, 7), dtype=bool)
    expected[1:4, 2:5] = True
    np.testing.assert_array_equal(mask, expected)


def test_random_pixels_fraction_is_exact():
    for seed in range(5):
        assert random_pixels_mask(64, 64, rng=seed).sum() == round(0.8 * 64 * 64)
    assert random_pixels_mask(10, 10, rng=0, missing_fraction=0.37).sum() == 37


def test_pattern_fraction_lies_in_range_for_many_seeds():
    fractions = np.array([pattern_mask(64, 64, rng=seed).mean() for seed in range(40)])
    assert fractions.min() >= 0.2 and fractions.max() <= 0.3
    for low, high in ((0.1, 0.15), (0.25, 0.27)):
        assert low <= pattern_mask(32, 32, rng=1, missing_range=(low, high)).mean() <= high


def test_pattern_far_from_its_density_still_succeeds_deterministically():
    # No crop of the thresholded noise is 90% missing: this exercises the quantile fallback.
    first = pattern_mask(32, 32, rng=3, missing_range=(0.9, 0.95))
    assert 0.9 <= first.mean() <= 0.95
    np.testing.assert_array_equal(first, pattern_mask(32, 32, rng=3, missing_range=(0.9, 0.95)))


def test_pattern_holes_are_blobs_not_pixel_noise():
    for seed in range(5):
        blobs = pattern_mask(64, 64, rng=seed)
        noise = random_pixels_mask(64, 64, rng=seed, missing_fraction=blobs.mean())
        assert ndimage.label(blobs)[1] * 10 < ndimage.label(noise)[1]


def test_half_mask_is_exactly_one_of_the_four_halves():
    halves = {
        "left": np.s_[:, :32], "right": np.s_[:, 32:], "top": np.s_[:32, :], "bottom": np.s_[32:, :],
    }
    seen = set()
    for seed in range(40):
        mask = half_mask(64, 64, rng=seed)
        matches = []
        for side, region in halves.items():
            expected = np.zeros((64, 64), dtype=bool)
            expected[region] = True
            if np.array_equal(mask, expected):
                matches.append(side)
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(halves)
    expected = np.zeros((64, 64), dtype=bool)
    expected[:, 32:] = True
    np.testing.assert_array_equal(half_mask(64, 64, side="right"), expected)


@pytest.mark.parametrize("kind", ["pattern", "random_pixels", "half"])
def test_same_seed_same_mask_different_seed_different_mask(kind):
    np.testing.assert_array_equal(make_mask(kind, 32, 32, rng=7), make_mask(kind, 32, 32, rng=7))
    generator_a, generator_b = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(make_mask(kind, 32, 32, rng=generator_a), make_mask(kind, 32, 32, rng=generator_b))
    distinct = {make_mask(kind, 32, 32, rng=seed).tobytes() for seed in range(8)}
    assert len(distinct) >= (3 if kind == "half" else 8)


def test_random_alias():
    np.testing.assert_array_equal(make_mask("random", 16, 16, rng=2), make_mask("random_pixels", 16, 16, rng=2))


def test_make_masks_is_reproducible_and_mask_i_does_not_depend_on_count():
    ten = make_masks("pattern", 10, 32, 32, seed=5)
    assert ten.shape == (10, 32, 32) and ten.dtype == bool
    np.testing.assert_array_equal(ten, make_masks("pattern", 10, 32, 32, seed=5))
    np.testing.assert_array_equal(ten[:3], make_masks("pattern", 3, 32, 32, seed=5))
    assert not np.array_equal(ten, make_masks("pattern", 10, 32, 32, seed=6))
    assert len({mask.tobytes() for mask in ten}) == 10
    np.testing.assert_array_equal(make_masks("random", 2, 8, 8, seed=0, missing_fraction=0.5).sum(axis=(1, 2)), [32, 32])


def test_save_and_read_round_trip(tmp_path):
    mask = make_mask("pattern", 24, 40, rng=0)
    save_mask(tmp_path / "sub" / "mask.png", mask)
    stored = np.asarray(Image.open(tmp_path / "sub" / "mask.png"))
    assert stored.dtype == np.uint8 and set(np.unique(stored)) == {0, 255}
    np.testing.assert_array_equal(stored == 255, mask)  # white = missing
    np.testing.assert_array_equal(read_mask(tmp_path / "sub" / "mask.png", shape=(24, 40, 3)), mask)


def test_read_mask_white_is_missing_in_any_mode(tmp_path):
    gray = np.zeros((4, 6), dtype=np.uint8)
    gray[1, 2], gray[3, 5], gray[0, 0] = 255, 200, 100  # > 127 missing, 100 known
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(tmp_path / "rgb.png")
    expected = np.zeros((4, 6), dtype=bool)
    expected[1, 2] = expected[3, 5] = True
    np.testing.assert_array_equal(read_mask(tmp_path / "gray.png"), expected)
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png", shape=(4, 6)), expected)


def test_check_mask_converts_zero_one_and_copies():
    values = np.array([[0, 1], [1.0, 0]])
    np.testing.assert_array_equal(check_mask(values, 2, 2), [[False, True], [True, False]])
    original = np.array([[True, False]])
    checked = check_mask(original, 1, 2)
    checked[0, 0] = False
    assert original[0, 0]


def test_unknown_kind_lists_the_valid_kinds():
    with pytest.raises(InpaintError, match="unknown mask kind 'box'.*center, pattern, random_pixels, half"):
        make_mask("box", 8, 8)


def test_bad_half_side():
    with pytest.raises(InpaintError, match="side must be one of left, right, top, bottom"):
        half_mask(8, 8, side="middle")


def test_read_mask_size_mismatch(tmp_path):
    save_mask(tmp_path / "mask.png", center_mask(32, 48))
    with pytest.raises(InpaintError, match=r"mask size 48×32 does not match image size 64×64"):
        read_mask(tmp_path / "mask.png", shape=(64, 64))


def test_read_mask_non_image_and_missing_file(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InpaintError, match="not a readable image"):
        read_mask(tmp_path / "notes.png")
    with pytest.raises(InpaintError, match="not found"):
        read_mask(tmp_path / "absent.png")


def test_check_mask_errors():
    with pytest.raises(InpaintError, match=r"mask shape \(32, 32\) does not match image \(64, 64\)"):
        check_mask(np.ones((32, 32), dtype=bool), 64, 64)
    with pytest.raises(InpaintError, match=r"no missing pixel \(True/white = missing\)"):
        check_mask(np.zeros((4, 4), dtype=bool), 4, 4)
    with pytest.raises(InpaintError, match="no known pixel"):
        check_mask(np.ones((4, 4), dtype=bool), 4, 4)
    with pytest.raises(InpaintError, match="0/1.*found 255.*read_mask"):
        check_mask(np.array([[0, 255], [0, 0]], dtype=np.uint8), 2, 2)
    with pytest.raises(InpaintError, match="NaN"):
        check_mask(np.array([[0.0, np.nan], [1.0, 0.0]]), 2, 2)
    with pytest.raises(InpaintError, match="2-D"):
        check_mask(np.zeros((2, 2, 1)), 2, 2)


def test_argument_errors(tmp_path):
    with pytest.raises(InpaintError, match="height must be a positive integer"):
        center_mask(0, 8)
    with pytest.raises(InpaintError, match="missing_fraction"):
        random_pixels_mask(8, 8, missing_fraction=1.5)
    with pytest.raises(InpaintError, match="missing_range"):
        pattern_mask(8, 8, missing_range=(0.3, 0.2))
    with pytest.raises(InpaintError, match="count"):
        make_masks("center", -1, 8, 8)
    with pytest.raises(InpaintError, match="PNG"):
        save_mask(tmp_path / "mask.jpg", center_mask(8, 8))


def test_mask_to_uint8_is_white_where_missing():
    from seminpaint.masks import mask_to_uint8

    mask = np.array([[True, False], [False, True]])
    assert mask_to_uint8(mask).dtype == np.uint8 and mask_to_uint8(mask).tolist() == [[255, 0], [0, 255]]
