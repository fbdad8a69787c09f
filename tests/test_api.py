import numpy as np
import pytest
import torch

from seminpaint import PAPER, InpaintError, inpaint
from seminpaint.geometry import to_model_size
from seminpaint.masks import make_mask
from seminpaint.networks.checkpoint import save_checkpoint

from conftest import TINY, tiny_model

FEW = PAPER.with_options(iterations=15)


def centre(size=16):
    mask = np.zeros((size, size), dtype=bool)
    mask[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = True
    return mask


def run(image, mask, **options):
    options.setdefault("model", tiny_model())
    options.setdefault("settings", FEW)
    return inpaint(image, mask, generator=torch.Generator().manual_seed(0), **options)


def test_result_layout_and_known_pixels_unchanged(smooth_image):
    mask = centre()
    result = run(smooth_image, mask)
    assert result.image.shape == smooth_image.shape and result.image.dtype == np.float32
    assert result.generated.shape == smooth_image.shape
    assert np.array_equal(result.image[~mask], smooth_image[~mask])  # bit-identical
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert result.z.shape == (TINY.latent_dim,) and result.loss_history.shape == (15,)
    assert np.abs(result.z).max() <= 1


def test_uint8_gray_and_batch_inputs(smooth_image):
    mask = centre()
    uint8 = np.rint(smooth_image * 255).astype(np.uint8)
    assert np.array_equal(run(uint8, mask).image[~mask], uint8[~mask].astype(np.float32) / 255.0)
    gray = smooth_image[..., 0]
    result = run(gray, mask)
    assert result.image.shape == gray.shape and np.array_equal(result.image[~mask], gray[~mask])
    batch = np.stack([smooth_image, smooth_image[::-1]])
    masks = np.stack([mask, np.roll(mask, 3, axis=1)])
    result = run(batch, masks)
    assert result.image.shape == batch.shape and result.z.shape == (2, TINY.latent_dim)
    assert result.loss_history.shape == (15, 2)
    for image, out, m in zip(batch, result.image, masks):
        assert np.array_equal(out[~m], image[~m])


def test_rgba_keeps_alpha(smooth_image):
    alpha = np.linspace(0, 1, 16 * 16, dtype=np.float32).reshape(16, 16, 1)
    rgba = np.concatenate([smooth_image, alpha], axis=-1)
    result = run(rgba, centre())
    assert result.image.shape == (16, 16, 4)
    assert np.array_equal(result.image[..., 3], alpha[..., 0])


def test_other_sizes_come_back_at_their_own_size(smooth_image):
    big = np.kron(smooth_image, np.ones((3, 2, 1), dtype=np.float32))  # 48×32
    mask = np.zeros(big.shape[:2], dtype=bool)
    mask[12:36, 8:24] = True
    result = run(big, mask)
    assert result.image.shape == big.shape
    assert np.array_equal(result.image[~mask], big[~mask])


def test_to_model_size_averages_known_pixels_only():
    image = np.zeros((1, 4, 4, 1), dtype=np.float32)
    image[0, :, :2] = 1.0  # left half white
    mask = np.zeros((1, 4, 4), dtype=bool)
    mask[0, :2, :2] = True  # top-left quarter missing; its (white) values must not leak
    image[0, :2, :2] = 0.5  # a hole value that must not be used
    small, small_mask = to_model_size(image, mask, (2, 2))
    assert small_mask[0].tolist() == [[True, False], [False, False]]
    np.testing.assert_allclose(small[0, 1, 0, 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(small[0, :, 1, 0], 0.0, atol=1e-6)


def test_same_seed_same_result(smooth_image):
    first, second = run(smooth_image, centre()), run(smooth_image, centre())
    assert np.array_equal(first.image, second.image) and np.array_equal(first.z, second.z)


def test_poisson_blend_differs_from_overlay_only_in_the_hole(smooth_image):
    mask = centre()
    poisson, overlay = run(smooth_image, mask), run(smooth_image, mask, blend="overlay")
    assert np.array_equal(poisson.image[~mask], overlay.image[~mask])
    np.testing.assert_allclose(overlay.image[mask], overlay.generated[mask], atol=1e-6)


@pytest.mark.parametrize("size", [16, 40])  # the model's size, and a larger image searched on a crop
def test_hybrid_blend_without_smoothness_is_the_poisson_blend(size):
    rng = np.random.default_rng(0)
    image = rng.random((size, size, 3)).astype(np.float32)
    mask = centre(size)
    poisson = run(image, mask)
    hybrid = run(image, mask, blend="hybrid", smoothness=0.0)
    np.testing.assert_allclose(hybrid.image, poisson.image, rtol=0, atol=1e-5)
    smooth = run(image, mask, blend="hybrid")
    assert np.array_equal(smooth.image[~mask], image[~mask]) and not np.allclose(smooth.image, poisson.image)
    assert poisson.steps == FEW.iterations


def test_the_enhanced_preset_is_the_fast_search_with_the_hybrid_blend(smooth_image):
    enhanced = run(smooth_image, centre(), settings="enhanced")
    assert np.array_equal(enhanced.image, run(smooth_image, centre(), settings="fast", blend="hybrid").image)
    assert not np.array_equal(enhanced.image, run(smooth_image, centre(), settings="fast").image)  # fast: Eq. 6
    assert np.array_equal(run(smooth_image, centre(), settings="enhanced", blend="poisson").image,
                          run(smooth_image, centre(), settings="fast").image)  # an explicit blend wins


def test_model_from_a_checkpoint_path(tmp_path, smooth_image):
    model = tiny_model()
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, TINY, model.generator, model.discriminator)
    from_path = run(smooth_image, centre(), model=str(path))
    from_model = run(smooth_image, centre(), model=model)
    np.testing.assert_allclose(from_path.image, from_model.image, atol=1e-5)


@pytest.mark.parametrize("image,mask,message", [
    (np.zeros((16, 16, 3), np.float32), np.zeros((16, 16), bool), "no missing pixel"),
    (np.zeros((16, 16, 3), np.float32), np.ones((16, 16), bool), "no known pixel"),
    (np.zeros((16, 16, 3), np.float32), np.ones((8, 8), bool), "does not match image"),
    (np.full((16, 16, 3), np.nan, np.float32), centre(), "NaN"),
    (np.full((16, 16, 3), 2.0, np.float32), centre(), r"must lie in \[0, 1\]"),
    (np.zeros((16, 16, 2), np.float32), centre(), "1, 3 or 4 channels"),
    (np.zeros((16,), np.float32), centre(), "image must be"),
    (np.zeros((16, 16, 3), np.int64), centre(), "dtype must be uint8 or float"),
])
def test_bad_inputs_raise_clear_errors(image, mask, message):
    with pytest.raises(InpaintError, match=message):
        run(image, mask)


def test_bad_options(smooth_image):
    with pytest.raises(InpaintError, match="blend must be one of"):
        run(smooth_image, centre(), blend="alpha")
    with pytest.raises(InpaintError, match="unknown preset"):
        run(smooth_image, centre(), settings="quickest")
    with pytest.raises(InpaintError, match="model must be a GenerativeModel or a checkpoint path"):
        run(smooth_image, centre(), model=42)


def test_the_shipped_face_model_fills_real_faces_far_better_than_the_mean_colour():
    from seminpaint.baselines import fill
    from seminpaint.demo import demo_faces
    from seminpaint.masks import make_mask

    faces, _ = demo_faces()
    for index, kind in ((0, "random_pixels"), (2, "pattern")):
        face = faces[index].astype(np.float32) / 255.0
        mask = make_mask(kind, 64, 64, rng=0)
        result = inpaint(face, mask, settings=PAPER.with_options(iterations=100),  # model=None: the shipped one
                         generator=torch.Generator().manual_seed(0))
        mean = fill("mean", np.where(mask[..., None], 0.0, face), mask)
        hole_error = ((result.image - face)[mask] ** 2).mean()
        assert hole_error < 0.35 * ((mean - face)[mask] ** 2).mean(), kind  # measured: 0.09–0.23


def test_a_list_of_images_of_any_sizes_gives_what_each_gives_alone():
    from seminpaint.settings import PAPER

    model, rng = tiny_model(), np.random.default_rng(3)
    images = [rng.random((16, 16, 3)).astype(np.float32), rng.random((40, 28, 3)).astype(np.float32),
              rng.random((16, 16)).astype(np.float32)]
    masks = [make_mask("center", *image.shape[:2]) for image in images]
    settings = PAPER.with_options(iterations=15, precision="fp32", restarts=2)
    together = inpaint(images, masks, model=model, settings=settings, generator=torch.Generator().manual_seed(4))
    assert isinstance(together, list) and len(together) == 3
    for image, mask, result in zip(images, masks, together):
        alone = inpaint(image, mask, model=model, settings=settings, generator=torch.Generator().manual_seed(4))
        assert result.image.shape == image.shape
        np.testing.assert_allclose(result.z, alone.z, atol=1e-5)
        np.testing.assert_allclose(result.image, alone.image, atol=1e-4)
        assert np.array_equal(result.image[~mask], image[~mask])


def test_a_list_takes_one_mask_per_image_and_single_images_only():
    model = tiny_model()
    image = np.zeros((16, 16, 3), dtype=np.float32)
    with pytest.raises(InpaintError, match="give one mask per image: 1 masks for 2 images"):
        inpaint([image, image], [centre()], model=model)
    with pytest.raises(InpaintError, match="a list of images takes single images"):
        inpaint([np.stack([image, image])], [centre()], model=model)
    with pytest.raises(InpaintError, match="give one generator per image: 1 for 2 images"):
        inpaint([image, image], centre(), model=model, generator=[torch.Generator()])
    assert inpaint([], [], model=model) == []
