import numpy as np
import pytest
from PIL import Image

from seminpaint.blend import HYBRID_SMOOTHNESS as LIBRARY_SMOOTHNESS
from seminpaint.checkpoint import save_checkpoint
from seminpaint.cli import HYBRID_SMOOTHNESS, PRECISIONS, PRESET_NAMES, main
from seminpaint.images import read_image
from seminpaint.latent import PRESETS
from seminpaint.masks import read_mask, save_mask
from seminpaint.precision import PRECISIONS as LIBRARY_PRECISIONS

from conftest import TINY, tiny_model


@pytest.fixture
def files(tmp_path, smooth_image):
    model = tiny_model()
    checkpoint = tmp_path / "tiny.safetensors"
    save_checkpoint(checkpoint, TINY, model.generator, model.discriminator)
    image = tmp_path / "face.png"
    Image.fromarray(np.rint(smooth_image * 255).astype(np.uint8)).save(image)
    return tmp_path, checkpoint, image


def inpaint_args(checkpoint, image, mask, output, *extra):
    return ["inpaint", "--model", str(checkpoint), "--image", str(image), "--mask", str(mask),
            "--output", str(output), "--iterations", "5", *extra]


def test_inpaint_with_a_mask_kind_and_a_mask_file(files, capsys):
    folder, checkpoint, image = files
    assert main(inpaint_args(checkpoint, image, "center", folder / "out.png",
                             "--raw", str(folder / "raw.png"), "--save-mask", str(folder / "mask.png"))) == 0
    out, original = read_image(folder / "out.png"), read_image(image)
    mask = read_mask(folder / "mask.png")
    assert out.shape == original.shape and mask.sum() == 64  # the centre quarter of 16×16
    assert np.array_equal(out[~mask], original[~mask])
    assert (folder / "raw.png").is_file()
    assert "wrote" in capsys.readouterr().out

    hole = np.zeros((16, 16), dtype=bool)
    hole[2:6, 3:12] = True
    save_mask(folder / "user_mask.png", hole)
    assert main(inpaint_args(checkpoint, image, folder / "user_mask.png", folder / "out2.png")) == 0
    out = read_image(folder / "out2.png")
    assert np.array_equal(out[~hole], original[~hole])


def test_the_enhanced_preset_blends_with_the_hybrid_blend(files):
    folder, checkpoint, image = files
    assert main(inpaint_args(checkpoint, image, "center", folder / "enhanced.png", "--preset", "enhanced")) == 0
    assert main(inpaint_args(checkpoint, image, "center", folder / "hybrid.png", "--preset", "fast",
                             "--blend", "hybrid")) == 0
    assert main(inpaint_args(checkpoint, image, "center", folder / "poisson.png", "--preset", "fast")) == 0
    enhanced = read_image(folder / "enhanced.png")
    assert np.array_equal(enhanced, read_image(folder / "hybrid.png"))
    assert not np.array_equal(enhanced, read_image(folder / "poisson.png"))


def test_folder_in_folder_out(files):
    folder, checkpoint, image = files
    images = folder / "in"
    images.mkdir()
    for name in ("a.png", "b.jpg"):
        Image.open(image).save(images / name)
    assert main(inpaint_args(checkpoint, images, "half", folder / "out")) == 0
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["a.png", "b.png"]


def test_larger_and_gray_images_keep_their_size_and_mode(files):
    folder, checkpoint, image = files
    big = folder / "big.png"
    Image.open(image).convert("L").resize((40, 24)).save(big)
    assert main(inpaint_args(checkpoint, big, "center", folder / "big_out.png")) == 0
    with Image.open(folder / "big_out.png") as out:
        assert out.size == (40, 24) and out.mode == "L"


def test_masks_command_writes_a_reproducible_set(tmp_path, capsys):
    assert main(["masks", "--kind", "pattern", "--count", "3", "--out", str(tmp_path / "a"), "--seed", "4"]) == 0
    assert main(["masks", "--kind", "pattern", "--count", "2", "--out", str(tmp_path / "b"), "--seed", "4"]) == 0
    for index in range(2):
        name = f"mask_{index:05d}.png"
        assert np.array_equal(read_mask(tmp_path / "a" / name), read_mask(tmp_path / "b" / name))
    fraction = read_mask(tmp_path / "a" / "mask_00002.png").mean()
    assert 0.2 <= fraction <= 0.3
    assert main(["masks", "--kind", "pattern", "--count", "3", "--out", str(tmp_path / "a")]) == 2
    assert "exists; use --overwrite" in capsys.readouterr().err


def error_of(capsys, argv):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and len(captured.err.strip().splitlines()) == 1
    return captured.err


def test_every_documented_error_is_one_line(files, capsys):
    folder, checkpoint, image = files
    not_image = folder / "notes.png"
    not_image.write_text("not an image")
    small_mask = folder / "small_mask.png"
    save_mask(small_mask, np.ones((8, 8), dtype=bool))
    empty_mask, full_mask = folder / "empty.png", folder / "full.png"
    save_mask(empty_mask, np.zeros((16, 16), dtype=bool))
    save_mask(full_mask, np.ones((16, 16), dtype=bool))
    corrupt = folder / "corrupt.safetensors"
    corrupt.write_bytes(checkpoint.read_bytes()[:200])
    cases = [
        (inpaint_args(checkpoint, not_image, "center", folder / "o1.png"), "not a readable image"),
        (inpaint_args(checkpoint, folder / "missing.png", "center", folder / "o1.png"), "image not found"),
        (inpaint_args(checkpoint, image, small_mask, folder / "o1.png"), "does not match image size"),
        (inpaint_args(checkpoint, image, empty_mask, folder / "o1.png"), "no missing pixel"),
        (inpaint_args(checkpoint, image, full_mask, folder / "o1.png"), "no known pixel"),
        (inpaint_args(checkpoint, image, "circle", folder / "o1.png"), "neither a mask file nor a kind"),
        (inpaint_args(folder / "none.safetensors", image, "center", folder / "o1.png"), "checkpoint not found"),
        (inpaint_args(corrupt, image, "center", folder / "o1.png"), "corrupt"),
        (inpaint_args(checkpoint, image, "center", image), "exists; use --overwrite"),
        (inpaint_args(checkpoint, image, "center", image, "--overwrite"), "would overwrite the input"),
        (inpaint_args(checkpoint, image, "center", folder / "o1.png", "--preset", "turbo"), "unknown preset"),
        (inpaint_args(checkpoint, image, "center", folder / "o1.png", "--blend", "hybrid", "--smoothness", "-1"),
         "smoothness must be a finite number ≥ 0"),
        (["masks", "--kind", "blob", "--out", str(folder / "m")], "unknown mask kind"),
        (["train", "--root", str(folder / "nowhere"), "--out", str(folder / "run")], "not found"),
    ]
    for argv, message in cases:
        assert message in error_of(capsys, argv), argv
    assert not (folder / "o1.png").exists()


def test_cli_preset_list_matches_the_library():
    assert set(PRESET_NAMES) == set(PRESETS)


def test_cli_precision_list_matches_the_library():
    assert PRECISIONS == LIBRARY_PRECISIONS


def test_cli_hybrid_smoothness_matches_the_library():
    assert HYBRID_SMOOTHNESS == LIBRARY_SMOOTHNESS == 1.0


def test_train_command_smoke(tmp_path, capsys):
    images = tmp_path / "faces"
    images.mkdir()
    rng = np.random.default_rng(0)
    for index in range(8):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(images / f"{index}.png")
    argv = ["train", "--dataset", "folder", "--root", str(images), "--out", str(tmp_path / "run"),
            "--image-size", "32", "--epochs", "1", "--batch-size", "4", "--precision", "fp32", "--ema-decay", "0.9"]
    assert main(argv) == 0
    assert (tmp_path / "run" / "checkpoint.safetensors").is_file()
    assert any((tmp_path / "run" / "samples").iterdir())
    from seminpaint.checkpoint import read_checkpoint

    assert read_checkpoint(tmp_path / "run" / "epochs" / "epoch_001.safetensors").training["ema_decay"] == 0.9
    capsys.readouterr()
    assert "decay must be in [0, 1)" in error_of(capsys, argv[:-1] + ["1.5"])


def test_export_half_and_sample(files, capsys):
    folder, checkpoint, _ = files
    exported = folder / "half.safetensors"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(exported), "--half"]) == 0
    from seminpaint.checkpoint import read_checkpoint

    assert read_checkpoint(exported).tensors["generator.net.0.weight"].dtype.itemsize == 2
    assert main(["sample", "--model", str(exported), "--count", "16", "--out", str(folder / "grid.png")]) == 0
    with Image.open(folder / "grid.png") as grid:
        assert grid.size == (8 * 18 + 2, 2 * 18 + 2)  # 16×16 tiles, 2-pixel padding
    assert main(["sample", "--model", str(exported), "--out", str(folder / "grid.png")]) == 2
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(exported)]) == 2
    assert "exists" in capsys.readouterr().err


def test_inpaint_with_a_comparison_method(files, capsys):
    folder, checkpoint, image = files
    argv = ["inpaint", "--image", str(image), "--mask", "center", "--output", str(folder / "tv.png"),
            "--method", "tv"]
    assert main(argv) == 0  # no model needed for a comparison method
    out, original = read_image(folder / "tv.png"), read_image(image)
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:12, 4:12] = True
    assert np.array_equal(out[~mask], original[~mask])
    assert np.abs(out[mask].astype(int) - original[mask]).mean() < 20  # a smooth image: TV fills it well
    assert main(argv[:-1] + ["voodoo"]) == 2
    assert "unknown method 'voodoo'" in capsys.readouterr().err


def test_sharded_folder_inpainting_equals_the_unsharded_run(files):
    folder, checkpoint, image = files
    images = folder / "in"
    images.mkdir()
    rng = np.random.default_rng(1)
    for index in range(5):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(images / f"{index}.png")
    assert main(inpaint_args(checkpoint, images, "pattern", folder / "whole")) == 0
    for shard in ("0/2", "1/2"):
        assert main(inpaint_args(checkpoint, images, "pattern", folder / "shards", "--shard", shard)) == 0
    for index in range(5):
        name = f"{index}.png"
        assert np.array_equal(read_image(folder / "whole" / name), read_image(folder / "shards" / name))
    assert main(inpaint_args(checkpoint, images, "pattern", folder / "bad", "--shard", "2/2")) == 2
