"""images.py's small conversions, checked against closed-form values."""

import io

import numpy as np
from PIL import Image

from seminpaint.images import luma, png_bytes, read_png16, split_alpha, with_alpha


def test_png_bytes_writes_8_bits_for_uint8_and_float_and_16_bits_for_uint16(tmp_path):
    gray = np.array([[0, 128], [255, 7]], dtype=np.uint8)
    with Image.open(io.BytesIO(png_bytes(gray[..., None]))) as image:  # (H, W, 1) is written as gray
        assert image.mode == "L" and np.array_equal(np.asarray(image), gray)
    with Image.open(io.BytesIO(png_bytes(np.full((2, 3, 3), 0.5, dtype=np.float32)))) as image:
        assert image.mode == "RGB" and (np.asarray(image) == 128).all()
    deep = np.array([[0, 65535], [1, 40000]], dtype=np.uint16)
    (tmp_path / "deep.png").write_bytes(png_bytes(deep))
    assert np.array_equal(read_png16(tmp_path / "deep.png")[..., 0], deep)


def test_split_alpha_and_with_alpha_undo_each_other():
    rgba = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    colour, alpha = split_alpha(rgba)
    assert colour.shape == (2, 3, 3) and alpha.shape == (2, 3, 1) and np.array_equal(alpha[..., 0], rgba[..., 3])
    assert np.array_equal(with_alpha(colour, alpha), rgba)
    rgb, gray_4_wide = rgba[..., :3], np.zeros((5, 4))  # (H, W) with W = 4 is gray, not RGBA
    assert split_alpha(rgb)[1] is None and split_alpha(gray_4_wide)[1] is None
    assert with_alpha(rgb, None) is rgb


def test_luma_is_itu_601():
    rgb = np.eye(3, dtype=np.float32)  # pure red, green, blue
    assert np.allclose(luma(rgb), [0.299, 0.587, 0.114])
    assert np.allclose(luma(np.full((2, 2, 3), 200.0, dtype=np.float32)), 200.0)
