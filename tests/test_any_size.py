"""Any image size: the crop around the hole, full-resolution blending, gray/RGBA/16-bit/EXIF files."""

import struct
import zlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from seminpaint import PAPER, InpaintError, inpaint
from seminpaint.api import prepare
from seminpaint.cli import main
from seminpaint.geometry import crop_around
from seminpaint.images import (PNG_SIGNATURE, exif_orient, output_bits, read_image, read_png16, save_image,
                               to_float, write_png16)
from seminpaint.masks import make_mask
from seminpaint.networks.checkpoint import save_checkpoint

from conftest import TINY, tiny_model

FEW = PAPER.with_options(iterations=5)


def photo(height, width, channels=3, seed=0):
    """A smooth uint8 'photo' with some texture."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rng = np.random.default_rng(seed)
    planes = [0.5 + 0.4 * np.sin(6 * x + k) * np.cos(4 * y - k) for k in range(channels)]
    image = np.stack(planes, axis=-1) + rng.normal(0, 0.02, (height, width, channels))
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def box(height, width, top, left, h, w):
    mask = np.zeros((height, width), dtype=bool)
    mask[top:top + h, left:left + w] = True
    return mask


def run(image, mask, **options):
    return inpaint(image, mask, model=options.pop("model", tiny_model()), settings=FEW,
                   generator=torch.Generator().manual_seed(0), **options)


# --- the crop -------------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(height=st.integers(1, 300), width=st.integers(1, 300), data=st.data())
def test_crop_holds_the_hole_and_stays_inside(height, width, data):
    top = data.draw(st.integers(0, height - 1))
    left = data.draw(st.integers(0, width - 1))
    h = data.draw(st.integers(1, height - top))
    w = data.draw(st.integers(1, width - left))
    crop = crop_around(box(height, width, top, left, h, w), (16, 16))
    assert 0 <= crop.top and crop.top + crop.height <= height
    assert 0 <= crop.left and crop.left + crop.width <= width
    assert crop.top <= top and top + h <= crop.top + crop.height  # the whole hole
    assert crop.left <= left and left + w <= crop.left + crop.width
    assert crop.height >= min(16, height) and crop.width >= min(16, width)  # at least the model's size
    side = max(16, 2 * max(h, w))
    if side <= min(height, width):  # room for a square crop: the hole is in its central quarter (or less)
        assert crop.height == crop.width == side


def test_crop_is_the_whole_image_at_the_model_size():
    crop = crop_around(box(16, 16, 5, 5, 3, 3), (16, 16))
    assert (crop.top, crop.left, crop.height, crop.width) == (0, 0, 16, 16)
    assert crop_around(box(10, 12, 0, 0, 10, 1), (16, 16)).slices == (slice(0, 10), slice(0, 12))


def test_crop_keeps_the_model_aspect_ratio():
    crop = crop_around(box(400, 400, 100, 100, 10, 30), (16, 32))  # a model twice as wide as tall
    assert crop.width == 2 * crop.height and crop.width >= 60


# --- inpaint at any size ---------------------------------------------------------------------------

def test_large_image_small_hole_is_searched_at_full_resolution():
    image = photo(120, 200)
    mask = box(120, 200, 50, 140, 6, 5)
    result = run(image, mask)
    assert result.image.shape == image.shape and result.generated.shape == image.shape
    assert (result.crop.height, result.crop.width) == (16, 16)  # model size: nothing resampled
    crop_rows, crop_columns = result.crop.slices
    assert np.array_equal(result.image[~mask], to_float(image)[~mask])  # bit-identical
    outside = np.ones(mask.shape, dtype=bool)
    outside[crop_rows, crop_columns] = False
    assert np.array_equal(result.generated[outside], to_float(image)[outside])


def test_large_hole_is_downscaled_searched_and_blended_back():
    image = photo(150, 210)
    mask = box(150, 210, 40, 60, 40, 50)
    result = run(image, mask)
    crop = result.crop
    assert crop.height == crop.width == 100  # 2 × the hole's larger side
    assert crop.top <= 40 and crop.top + 100 >= 80 and crop.left <= 60 and crop.left + 100 >= 110
    assert np.array_equal(result.image[~mask], to_float(image)[~mask])
    assert 0 <= result.image.min() and result.image.max() <= 1
    # the hole's values come from the (smooth, upsampled) G(ẑ) blended in, not from the input
    assert not np.array_equal(result.image[mask], to_float(image)[mask])


def test_prepare_sees_the_crop_at_the_model_size():
    image = photo(90, 130)
    mask = box(90, 130, 30, 30, 16, 16)
    prepared = prepare(image, mask, tiny_model())
    assert prepared.small_images.shape == (1, 16, 16, 3) and prepared.small_masks.shape == (1, 16, 16)
    assert prepared.small_masks[0].sum() == 64  # the hole is the central quarter of its crop


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_gray_colour_and_alpha_at_any_size(channels):
    image = photo(70, 90, channels=channels)
    if channels == 1:
        image = image[..., 0]
    mask = box(70, 90, 20, 30, 20, 25)
    result = run(image, mask)
    assert result.image.shape == image.shape
    assert np.array_equal(result.image[~mask], to_float(image)[~mask])
    if channels == 4:
        assert np.array_equal(result.image[..., 3], to_float(image)[..., 3])  # alpha kept, hole too


def test_uint16_arrays_keep_their_known_values_exactly():
    image = (photo(60, 80).astype(np.uint16) * 257 + 3)
    mask = box(60, 80, 10, 10, 12, 20)
    result = run(image, mask)
    back = np.rint(result.image.astype(np.float64) * 65535).astype(np.uint16)
    assert np.array_equal(back[~mask], image[~mask])


def test_batches_of_large_images_get_one_crop_each():
    images = np.stack([photo(80, 100, seed=s) for s in range(2)])
    masks = np.stack([box(80, 100, 5, 5, 10, 10), box(80, 100, 40, 50, 30, 30)])
    result = run(images, masks)
    assert result.image.shape == images.shape and len(result.crop) == 2
    assert result.crop[0].height == 20 and result.crop[1].height == 60
    for image, out, m in zip(images, result.image, masks):
        assert np.array_equal(out[~m], to_float(image)[~m])


def test_a_scattered_hole_that_vanishes_at_the_model_size_is_a_clear_error():
    mask = np.zeros((160, 160), dtype=bool)
    mask[::8, ::8] = True  # single pixels, spread over the whole image
    with pytest.raises(InpaintError, match="vanishes"):
        run(photo(160, 160), mask)


# --- 16-bit and EXIF files -------------------------------------------------------------------------

def png_with_filters(image: np.ndarray, filters: list[int]) -> bytes:
    """A 16-bit PNG whose rows use the given filter types (a plain reference encoder)."""
    height, width, channels = image.shape
    data = image.astype(">u2").view(np.uint8).reshape(height, -1).astype(np.int64)
    bpp = 2 * channels
    out = bytearray()
    for row in range(height):
        kind = filters[row % len(filters)]
        out.append(kind)
        for i in range(data.shape[1]):
            x = data[row, i]
            a = data[row, i - bpp] if i >= bpp else 0
            b = data[row - 1, i] if row else 0
            c = data[row - 1, i - bpp] if row and i >= bpp else 0
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else (b if abs(p - b) <= abs(p - c) else c)
            out.append((x - [0, a, b, (a + b) // 2, paeth][kind]) % 256)
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(out))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png16_decoder_undoes_every_row_filter(tmp_path, channels):
    image = np.random.default_rng(channels).integers(0, 65536, (9, 11, channels), dtype=np.uint16)
    path = tmp_path / "f.png"
    path.write_bytes(png_with_filters(image, [0, 1, 2, 3, 4, 4, 3, 1, 2]))
    assert np.array_equal(read_png16(path), image)
    write_png16(tmp_path / "w.png", image)
    assert np.array_equal(read_png16(tmp_path / "w.png"), image)


def test_16_bit_gray_png_is_read_at_16_bits_and_scaled_for_8(tmp_path):
    gray = (np.arange(48 * 40).reshape(48, 40) * 31).astype(np.uint16)
    Image.fromarray(gray).save(tmp_path / "g.png")  # PIL writes I;16 with adaptive filters
    assert read_image(tmp_path / "g.png", mode="auto").dtype == np.uint16
    assert np.array_equal(read_image(tmp_path / "g.png", mode="auto"), gray)
    eight = read_image(tmp_path / "g.png", mode="L")
    assert eight.dtype == np.uint8 and np.abs(eight.astype(int) - gray / 257).max() <= 0.51  # scaled, not clipped


def test_16_bit_tiff_is_read_at_16_bits(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    image = np.random.default_rng(0).integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", image, photometric="rgb")
    assert np.array_equal(read_image(tmp_path / "a.tif", mode="auto"), image)
    save_image(tmp_path / "b.tiff", image, bits=16)
    assert np.array_equal(tifffile.imread(tmp_path / "b.tiff"), image)


def test_truncated_16_bit_png_is_a_clear_error(tmp_path):
    write_png16(tmp_path / "a.png", np.full((40, 40, 3), 1234, np.uint16))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InpaintError, match="not a readable image|truncated"):
        read_image(tmp_path / "cut.png", mode="auto")


def test_output_bits_and_16_bit_formats(tmp_path):
    deep = np.zeros((2, 2), np.uint16)
    assert output_bits(deep, "a.png") == 16 and output_bits(deep, "a.TIF") == 16
    assert output_bits(deep, "a.jpg") == 8 and output_bits(deep.astype(np.uint8), "a.png") == 8
    with pytest.raises(InpaintError, match="16-bit images are written as PNG or TIFF"):
        save_image(tmp_path / "a.jpg", deep, bits=16)


@pytest.fixture
def checkpoint(tmp_path):
    model = tiny_model()
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, TINY, model.generator, model.discriminator)
    return path


def cli(checkpoint, image, output, mask="center"):
    return main(["inpaint", "--model", str(checkpoint), "--image", str(image), "--mask", str(mask),
                 "--output", str(output), "--iterations", "3"])


def test_cli_16_bit_png_in_16_bit_png_out(tmp_path, checkpoint):
    image = photo(50, 70).astype(np.uint16) * 257 + 11
    write_png16(tmp_path / "in.png", image)
    assert cli(checkpoint, tmp_path / "in.png", tmp_path / "out.png") == 0
    out = read_png16(tmp_path / "out.png")
    mask = make_mask("center", 50, 70)
    assert out.shape == image.shape and out.dtype == np.uint16
    assert np.array_equal(out[~mask], image[~mask])


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_cli_exif_rotated_photo_comes_back_upright(tmp_path, checkpoint, orientation):
    stored = photo(30, 50)  # stored landscape; orientation 6/8 shows it portrait
    exif = Image.new("RGB", (1, 1)).getexif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "in.png", exif=exif.tobytes())
    upright = exif_orient(stored, orientation)
    assert np.array_equal(read_image(tmp_path / "in.png", mode="auto"), upright)
    hole = np.zeros(upright.shape[:2], dtype=bool)
    hole[5:15, 8:20] = True
    Image.fromarray(np.where(hole, 255, 0).astype(np.uint8)).save(tmp_path / "hole.png")  # drawn on the upright view
    assert cli(checkpoint, tmp_path / "in.png", tmp_path / "out.png", mask=tmp_path / "hole.png") == 0
    out = read_image(tmp_path / "out.png")
    assert out.shape == upright.shape
    assert np.array_equal(out[~hole], upright[~hole])


def test_cli_rgba_and_gray_large_files_keep_mode_size_and_alpha(tmp_path, checkpoint):
    rgba = photo(60, 80, channels=4)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert cli(checkpoint, tmp_path / "a.png", tmp_path / "a_out.png") == 0
    with Image.open(tmp_path / "a_out.png") as out:
        assert out.mode == "RGBA" and out.size == (80, 60)
        assert np.array_equal(np.asarray(out)[..., 3], rgba[..., 3])
    Image.fromarray(rgba[..., 0], "L").save(tmp_path / "g.png")
    assert cli(checkpoint, tmp_path / "g.png", tmp_path / "g_out.png") == 0
    with Image.open(tmp_path / "g_out.png") as out:
        assert out.mode == "L" and out.size == (80, 60)


def large_hole():
    """A smooth 120×160 image, a G(ẑ) that differs from it by a ripple, and a hole of 6300 pixels."""
    y, x = np.mgrid[0:120, 0:160] / 160.0
    image = np.stack([0.3 + 0.5 * x, 0.6 - 0.3 * y, 0.2 + 0.4 * x * y], -1).astype(np.float32)
    generated = np.clip(image + 0.1 * np.sin(9 * x)[..., None] - 0.05, 0, 1).astype(np.float32)
    return image, generated, box(120, 160, 20, 30, 70, 90)


def test_very_large_holes_are_blended_on_a_coarser_grid_close_to_the_exact_solve(monkeypatch):
    from seminpaint import blend

    image, generated, mask = large_hole()
    exact = blend.blend_crop(image, generated, mask, "poisson")
    monkeypatch.setattr(blend, "POISSON_MAX_UNKNOWNS", 500)
    coarse = blend.blend_crop(image, generated, mask, "poisson")
    assert np.array_equal(coarse[~mask], image[~mask])
    assert np.abs(coarse - exact).max() < 0.03 and np.abs(coarse - exact).mean() < 0.005
    result = run(photo(120, 160), mask)  # the whole pipeline takes the coarse path too
    assert np.array_equal(result.image[~mask], to_float(photo(120, 160))[~mask])


def test_large_holes_take_the_hybrid_blend_to_a_coarser_grid_sooner_and_stay_close(monkeypatch):
    from seminpaint import blend

    image, generated, mask = large_hole()
    exact = blend.blend_crop(image, generated, mask, "hybrid")
    calls = []
    solve = blend.hybrid_blend
    monkeypatch.setattr(blend, "hybrid_blend", lambda *a, **k: calls.append(a[2].sum()) or solve(*a, **k))
    monkeypatch.setattr(blend, "HYBRID_MAX_UNKNOWNS", 500)  # the Poisson limit stays where it is
    coarse = blend.blend_crop(image, generated, mask, "hybrid")
    assert calls and calls[0] <= 500  # solved on a grid with at most that many unknowns
    assert np.array_equal(coarse[~mask], image[~mask])
    assert np.abs(coarse - exact).max() < 0.03 and np.abs(coarse - exact).mean() < 0.005


def test_hole_box_is_the_bounding_box_of_the_missing_pixels():
    from seminpaint.geometry import hole_box

    mask = np.zeros((6, 7), dtype=bool)
    assert hole_box(mask) is None
    mask[1, 2] = mask[3, 5] = True
    assert hole_box(mask) == (1, 2, 4, 6)  # top, left, bottom, right (exclusive)
