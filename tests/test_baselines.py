"""The comparison methods (seminpaint.baselines): the contract, each method's quality, the registry.

Small images (32×32) and modest iteration counts keep the file fast on a small CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from seminpaint import baselines
from seminpaint.baselines import METHODS, fill, nearest_index
from seminpaint.baselines import low_rank, tv
from seminpaint.errors import InpaintError
from seminpaint.networks.context_encoder import ContextEncoderConfig

from conftest import tiny_context_encoder

SIZE = 32
OPTIONAL = {"patchmatch": "patchmatch", "telea": "cv2", "navier_stokes": "cv2"}

# Hole MSE of each method divided by the hole MSE of leaving the hole at zero, on the smooth test
# image; measured values are in the comments (centre hole / 80 % random).
MAX_RATIO = {
    "mean": 0.2,                # 0.09 / 0.12: the hole's own mean colour, a weak but sane fill
    "biharmonic": 1e-3,         # 3e-5 / 5e-5: smooth data is what it is made for
    "tv": 0.01,                 # 3e-3 / 9e-4: staircasing costs a little on smooth gradients
    "low_rank": 0.01,           # ~0 / 6e-4: the test image has rank ≤ 3 per channel
    "patchmatch": 0.05,         # 7e-3 / 4e-3: copies (8-bit) patches of the known part
    "telea": 0.05,              # 1e-2 / 4e-3
    "navier_stokes": 0.05,      # 1e-2 / 2e-3
    "nearest_neighbour": 0.05,  # picks the similar reference below; random ones alone give ~0.45
}
FAST = {"tv": {"iterations": 600}, "low_rank": {"outer_iterations": 5, "inner_iterations": 60}}
# Learned methods: the contract is checked here with an untrained network; their quality after
# training is tested in test_context_encoder.py.
LEARNED = {"context_encoder"}
CONTEXT_ENCODER = {}  # "model": an untrained SIZE×SIZE Context Encoder, written once per module


@pytest.fixture(scope="module", autouse=True)
def context_encoder_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("context_encoder") / "ce.safetensors"
    CONTEXT_ENCODER["model"] = tiny_context_encoder(path, ContextEncoderConfig(image_size=SIZE, features=8,
                                                                                bottleneck=16))


def smooth_image(size: int = SIZE, channels: int = 3) -> np.ndarray:
    """Low-frequency sinusoids and a ramp per channel, values in [0.05, 0.95]."""
    y, x = np.mgrid[0:size, 0:size] / size
    planes = [0.5 + 0.2 * np.sin(2 * np.pi * (x * (0.6 + 0.2 * c) + 0.3 * c))
              + 0.15 * np.cos(2 * np.pi * y * (0.8 - 0.1 * c)) + 0.1 * (x - y) for c in range(channels)]
    return np.stack(planes, axis=-1)


def centre_mask(size: int = SIZE) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[size // 4 + 2:size - size // 4 - 2, size // 4 + 2:size - size // 4 - 2] = True
    return mask


def random_mask(size: int = SIZE, missing: float = 0.8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((size, size)) < missing


def references_for(image: np.ndarray, count: int = 20, seed: int = 1) -> np.ndarray:
    """Random references plus, at index 7, an image close to `image` everywhere."""
    references = np.random.default_rng(seed).random((count,) + image.shape)
    references[7] = 0.9 * image + 0.05
    return references


def options_for(name: str, image: np.ndarray) -> dict:
    if name == "nearest_neighbour":
        return {"references": references_for(image)}
    if name == "context_encoder":
        return dict(CONTEXT_ENCODER)
    return dict(FAST.get(name, {}))


def require(name: str) -> None:
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])


def hole_mse(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64)[mask] - np.asarray(b, np.float64)[mask]) ** 2))


MASKS = {"centre": centre_mask, "random80": random_mask}


# -- quality on a smooth image ------------------------------------------------------------------

@pytest.mark.parametrize("mask_name", sorted(MASKS))
@pytest.mark.parametrize("name", sorted(set(METHODS) - LEARNED))
def test_fills_smooth_image_well(name, mask_name):
    require(name)
    image, mask = smooth_image(), MASKS[mask_name]()
    result = fill(name, image, mask, **options_for(name, image))
    ratio = hole_mse(result, image, mask) / hole_mse(np.zeros_like(image), image, mask)
    assert ratio < MAX_RATIO[name], f"{name} on {mask_name}: hole MSE ratio {ratio:.4g}"


@pytest.mark.parametrize("mask_name", sorted(MASKS))
def test_tv_and_biharmonic_beat_mean_fill_by_far(mask_name):
    image, mask = smooth_image(), MASKS[mask_name]()
    mean_error = hole_mse(fill("mean", image, mask), image, mask)
    for name in ("tv", "biharmonic"):
        assert hole_mse(fill(name, image, mask, **options_for(name, image)), image, mask) < 0.1 * mean_error


# -- the contract -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(METHODS))
def test_contract_colour_float32(name):
    require(name)
    image = smooth_image().astype(np.float32)
    image[0, 0] = 0.0  # extremes are kept exactly too
    image[-1, -1] = 1.0
    mask = random_mask(missing=0.5, seed=3)
    mask[0, 0] = mask[-1, -1] = False
    before = image.copy()
    result = fill(name, image, mask, **options_for(name, image))
    assert result.shape == image.shape and result.dtype == np.float32
    assert np.array_equal(result[~mask], image[~mask])  # bit-identical
    assert np.all(np.isfinite(result)) and result.min() >= 0.0 and result.max() <= 1.0
    assert np.array_equal(image, before)  # the input is not modified


@pytest.mark.parametrize("name", sorted(METHODS))
def test_contract_gray(name):
    require(name)
    image = smooth_image(channels=1)[:, :, 0]
    mask = centre_mask()
    options = options_for(name, image)  # nearest_neighbour: references (N, H, W) for a gray image
    result = fill(name, image, mask, **options)
    assert result.shape == image.shape and result.dtype == image.dtype
    assert np.array_equal(result[~mask], image[~mask])
    assert result.min() >= 0.0 and result.max() <= 1.0
    if name not in LEARNED:
        assert hole_mse(result, image, mask) < 0.2 * hole_mse(np.zeros_like(image), image, mask)


def test_method_called_directly_enforces_the_contract_too():
    image, mask = smooth_image(), centre_mask()
    result = tv.fill(image, mask, iterations=50)
    assert np.array_equal(result[~mask], image[~mask])
    with pytest.raises(InpaintError):
        tv.fill(image, mask.astype(np.uint8))


# -- tv -----------------------------------------------------------------------------------------

def two_halves(size: int = SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    left, right = np.array([0.2, 0.3, 0.1]), np.array([0.7, 0.6, 0.9])
    image = np.empty((size, size, 3))
    image[:, :size // 2], image[:, size // 2:] = left, right
    return image, left, right


@pytest.mark.parametrize("joint", [True, False])
def test_tv_fills_hole_in_flat_half_with_its_value(joint):
    # The hole lies inside the left half, away from the edge: any non-constant fill adds TV, so the
    # unique minimiser is the left value (the solver starts from the mean colour, 0.45 / 0.45 / 0.5).
    image, left, _ = two_halves()
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[10:18, 4:12] = True
    result = fill("tv", image, mask, joint=joint)
    assert np.abs(result[mask] - left).max() < 2e-3


def test_tv_continues_a_straight_edge_through_the_hole():
    # A hole across the vertical edge: the shortest edge is the straight continuation.
    image, _, _ = two_halves()
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[10:20, 10:24] = True
    result = fill("tv", image, mask)
    error = np.abs(result[mask] - image[mask])
    assert error.mean() < 2e-3 and error.max() < 0.03


def test_tv_stops_early_at_tolerance_and_reports_a_small_gap():
    image, mask = smooth_image(), random_mask()
    _, loose_iterations, loose_gap = tv.solve(image, mask, iterations=2000, tolerance=1e-3)
    _, tight_iterations, tight_gap = tv.solve(image, mask, iterations=2000, tolerance=1e-5)
    assert loose_iterations < tight_iterations <= 2000
    assert 0.0 <= tight_gap <= loose_gap
    assert loose_gap <= 1e-3 * mask.sum() * 3


def test_tv_gradient_and_divergence_are_adjoint():
    rng = np.random.default_rng(0)
    x, p = rng.standard_normal((9, 7, 2)), rng.standard_normal((2, 9, 7, 2))
    assert np.isclose(np.sum(tv.gradient(x) * p), -np.sum(x * tv.divergence(p)))


# -- low rank -----------------------------------------------------------------------------------

def test_low_rank_recovers_a_planted_rank_two_image():
    rng = np.random.default_rng(0)
    channels = []
    for _ in range(3):
        u, v = rng.random((SIZE, 2)), rng.random((2, SIZE))
        channels.append(u @ v / 2.0)  # rank 2, values in [0, 1]
    image = np.stack(channels, axis=-1)
    mask = rng.random((SIZE, SIZE)) < 0.5
    result = fill("low_rank", image, mask, rank=2)
    relative = np.linalg.norm(result[mask] - image[mask]) / np.linalg.norm(image[mask])
    assert relative < 0.02, relative
    # Plain nuclear-norm completion (rank = 0) recovers it as well, if less tightly.
    relative = np.linalg.norm(fill("low_rank", image, mask, rank=0)[mask] - image[mask]) / np.linalg.norm(image[mask])
    assert relative < 0.1, relative


def test_low_rank_result_has_low_truncated_nuclear_norm():
    image, mask = smooth_image(), random_mask()
    matrices = np.ascontiguousarray(image.transpose(2, 0, 1))
    completed = low_rank.complete(matrices, ~mask, rank=1, outer_iterations=5, inner_iterations=60)
    start = np.where(~mask, matrices, matrices[:, ~mask].mean(axis=1)[:, None, None])
    tail = lambda m: np.linalg.svd(m, compute_uv=False)[:, 1:].sum()  # noqa: E731
    assert tail(completed) < 0.5 * tail(start)
    assert np.array_equal(completed[:, ~mask], matrices[:, ~mask])


# -- nearest neighbour --------------------------------------------------------------------------

def test_nearest_neighbour_finds_a_planted_exact_match():
    rng = np.random.default_rng(2)
    references = rng.random((300, SIZE, SIZE, 3)).astype(np.float32)
    image = references[123].astype(np.float64)
    mask = centre_mask()
    assert nearest_index(image, mask, references) == 123
    assert nearest_index(image, mask, references, chunk_size=7) == 123  # across chunk boundaries
    result = fill("nearest_neighbour", image, mask, references=references, chunk_size=50)
    assert np.allclose(result, image)
    uint8_references = np.rint(references * 255).astype(np.uint8)
    assert nearest_index(uint8_references[123] / 255.0, mask, uint8_references) == 123


def test_nearest_neighbour_uses_only_the_known_pixels():
    rng = np.random.default_rng(3)
    image, mask = smooth_image(), centre_mask()
    references = rng.random((10, SIZE, SIZE, 3))
    references[2] = image + 0.02 * rng.standard_normal(image.shape)  # close everywhere
    references[2] = np.clip(references[2], 0, 1)
    references[5] = image
    references[5][mask] = 1.0 - image[mask]  # exact on the known pixels, wrong in the hole
    full_distance = ((references - image) ** 2).sum(axis=(1, 2, 3))
    assert np.argmin(full_distance) == 2  # a full-image L2 would pick 2
    assert nearest_index(image, mask, references) == 5
    result = fill("nearest_neighbour", image, mask, references=references)
    assert np.allclose(result[mask], 1.0 - image[mask])


def test_nearest_neighbour_matches_brute_force():
    rng = np.random.default_rng(4)
    references = rng.random((64, 16, 16, 3))
    image, mask = rng.random((16, 16, 3)), rng.random((16, 16)) < 0.6
    brute = int(np.argmin((((references - image) ** 2) * ~mask[None, :, :, None]).sum(axis=(1, 2, 3))))
    assert nearest_index(image, mask, references, chunk_size=10) == brute


def test_nearest_neighbour_reference_errors():
    image, mask = smooth_image(), centre_mask()
    with pytest.raises(InpaintError, match="references"):
        fill("nearest_neighbour", image, mask)
    with pytest.raises(InpaintError, match="references must be"):
        fill("nearest_neighbour", image, mask, references=np.zeros((3, SIZE, SIZE + 1, 3)))
    with pytest.raises(InpaintError, match=r"\[0, 1\]"):
        fill("nearest_neighbour", image, mask, references=np.full((3, SIZE, SIZE, 3), 2.0))


# -- registry and validation --------------------------------------------------------------------

def test_registry_names():
    assert set(METHODS) == {"mean", "biharmonic", "tv", "low_rank", "patchmatch", "telea",
                            "navier_stokes", "nearest_neighbour", "context_encoder"}


def test_unknown_method_lists_the_names():
    with pytest.raises(InpaintError, match="tv.*nearest_neighbour|nearest_neighbour.*tv") as info:
        fill("no_such_method", smooth_image(), centre_mask())
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("image, mask, message", [
    (smooth_image(), np.zeros((SIZE, SIZE + 1), dtype=bool), "does not match"),
    (smooth_image(), centre_mask().astype(np.uint8), "bool"),
    (smooth_image(), np.zeros((SIZE, SIZE), dtype=bool), "no missing pixel"),
    (smooth_image(), np.ones((SIZE, SIZE), dtype=bool), "no known pixel"),
    (smooth_image() * 2.0, centre_mask(), r"\[0, 1\]"),
    (np.full((SIZE, SIZE, 3), np.nan), centre_mask(), "NaN"),
    ((smooth_image() * 255).astype(np.uint8), centre_mask(), "float"),
    (np.zeros((SIZE,)), centre_mask(), "shape"),
])
def test_bad_input_is_refused_with_one_line(image, mask, message):
    with pytest.raises(InpaintError, match=message) as info:
        fill("mean", image, mask)
    assert "\n" not in str(info.value)


def test_bad_options_are_refused():
    image, mask = smooth_image(), centre_mask()
    with pytest.raises(InpaintError, match="unknown option.*iterationz"):
        fill("tv", image, mask, iterationz=10)
    with pytest.raises(InpaintError, match="iterations"):
        fill("tv", image, mask, iterations=0)
    with pytest.raises(InpaintError, match="rank"):
        fill("low_rank", image, mask, rank=-1)


@pytest.mark.parametrize("name, module, package", [
    ("patchmatch", "patchmatch", "pypatchmatch"),
    ("telea", "cv2", "opencv-python-headless"),
    ("navier_stokes", "cv2", "opencv-python-headless"),
])
def test_missing_optional_package_names_the_pip_package(monkeypatch, name, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(InpaintError, match=f"pip install {package}"):
        fill(name, smooth_image(), centre_mask())


def test_patchmatch_is_reproducible_with_a_seed():
    pytest.importorskip("patchmatch")
    image, mask = smooth_image(), centre_mask()
    first = fill("patchmatch", image, mask, seed=5)
    assert np.array_equal(first, fill("patchmatch", image, mask, seed=5))
    with pytest.raises(InpaintError, match="1 or 3 channels"):
        fill("patchmatch", smooth_image(channels=2), mask)


# -- a real face (opt-in: --run-slow) -----------------------------------------------------------

CELEBA_FACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba" / "img_align_celeba" / "182638.jpg"


@pytest.mark.slow
def test_real_face_random_mask_ordering():
    if not CELEBA_FACE.is_file():
        pytest.skip(f"real CelebA face not found at {CELEBA_FACE}")
    from PIL import Image

    image = np.asarray(Image.open(CELEBA_FACE).convert("RGB"), dtype=np.float64) / 255.0
    mask = random_mask(size=image.shape[0], seed=0)

    def psnr(name):
        return 10 * np.log10(1.0 / hole_mse(fill(name, image, mask), image, mask))

    mean, total_variation, biharmonic = psnr("mean"), psnr("tv"), psnr("biharmonic")
    assert total_variation > mean + 5 and biharmonic > mean + 5  # ~21.6 and ~23.7 dB against ~11.3
    assert psnr("low_rank") > mean + 3  # ~17.5 dB


def test_module_docstring_lists_every_method():
    for name in METHODS:
        assert name in baselines.__doc__
