import numpy as np
import pytest
from PIL import Image

from seminpaint.cli import build_parser, main
from seminpaint.images import read_image
from seminpaint.masks import read_mask, save_mask


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
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["a.png", "b.jpg"]  # each keeps its format


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
    save_mask(small_mask, np.ones((8, 5), dtype=bool))  # another aspect ratio: not resized
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


def test_the_command_line_offers_the_library_s_names():
    from seminpaint import settings

    inpaint = build_parser()._subparsers._group_actions[0].choices["inpaint"]
    choices = {action.dest: action.choices for action in inpaint._actions}
    assert all(name in inpaint._option_string_actions["--preset"].help for name in settings.PRESETS)
    assert choices["precision"] is settings.PRECISIONS and choices["blend"] is settings.BLEND_MODES


def test_train_command_smoke(tmp_path, capsys):
    images = tmp_path / "faces"
    images.mkdir()
    rng = np.random.default_rng(0)
    for index in range(8):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(images / f"{index}.png")
    argv = ["train", "--dataset", "folder", "--root", str(images), "--out", str(tmp_path / "run"),
            "--image-size", "32", "--epochs", "1", "--batch-size", "4", "--precision", "fp32",
            "--generator-features", "12", "--discriminator-features", "8", "--spectral-norm",
            "--learning-rate", "1e-4", "--discriminator-learning-rate", "4e-4", "--ema-decay", "0.9"]
    assert main(argv) == 0
    assert (tmp_path / "run" / "checkpoint.safetensors").is_file()
    assert any((tmp_path / "run" / "samples").iterdir())
    from seminpaint.networks.checkpoint import read_checkpoint

    epoch = read_checkpoint(tmp_path / "run" / "epochs" / "epoch_001.safetensors")
    assert epoch.training["ema_decay"] == 0.9
    assert (epoch.config.generator_features, epoch.config.discriminator_features) == (12, 8)
    assert epoch.config.spectral_norm and "discriminator.net.0.parametrizations.weight.original" in epoch.tensors
    recorded = read_checkpoint(tmp_path / "run" / "checkpoint.safetensors").training["train_config"]
    assert (recorded["learning_rate"], recorded["discriminator_learning_rate"]) == (1e-4, 4e-4)
    assert epoch.tensors["generator.net.0.weight"].shape == (100, 12 * 4, 4, 4)  # 32×32: width 12 · 2² at 4×4
    capsys.readouterr()
    assert "decay must be in [0, 1)" in error_of(capsys, argv[:-1] + ["1.5"])
    def with_value(option, value):
        return argv[:argv.index(option) + 1] + [value] + argv[argv.index(option) + 2:] + ["--overwrite"]

    assert "generator_features must be a whole number from 1 to 1024" in error_of(
        capsys, with_value("--generator-features", "0"))
    assert "discriminator_learning_rate must be a number between 0 and 1, got 0" in error_of(
        capsys, with_value("--discriminator-learning-rate", "0"))


def test_export_half_and_sample(files, capsys):
    folder, checkpoint, _ = files
    exported = folder / "half.safetensors"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(exported), "--half"]) == 0
    from seminpaint.networks.checkpoint import read_checkpoint

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


# -- folders: batched search, mixed sizes, bad files, resuming ------------------------------------

def photo(rng, height, width, gray=False):
    """A smooth random image (uint8) of the given size."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([0.3 + 0.5 * x, 0.4 + 0.3 * np.sin(4 * y + rng.random()), 0.2 + 0.6 * x * y], axis=-1)
    image = np.rint(np.clip(base + 0.05 * rng.random((height, width, 3)), 0, 1) * 255).astype(np.uint8)
    return image[..., 0] if gray else image


def test_a_folder_of_mixed_sizes_is_searched_in_batches_with_each_image_s_own_result(files):
    """Batched (4 at a time, different sizes and modes together) and one at a time give the same files."""
    folder, checkpoint, _ = files
    rng = np.random.default_rng(0)
    images = folder / "mixed"
    images.mkdir()
    for name, (height, width, gray) in {"a.png": (16, 16, False), "b.png": (40, 30, False),
                                        "c.png": (16, 16, True), "d.png": (33, 64, False),
                                        "e.png": (16, 16, False)}.items():
        Image.fromarray(photo(rng, height, width, gray)).save(images / name)
    common = ["--precision", "fp32", "--preset", "paper", "--iterations", "20"]
    assert main(inpaint_args(checkpoint, images, "center", folder / "batched", *common, "--batch-size", "4")) == 0
    assert main(inpaint_args(checkpoint, images, "center", folder / "alone", *common, "--batch-size", "1")) == 0
    for path in sorted(images.iterdir()):
        batched = read_image(folder / "batched" / path.name, mode="auto").astype(int)
        alone = read_image(folder / "alone" / path.name, mode="auto").astype(int)
        original = read_image(path, mode="auto")
        assert batched.shape == original.shape
        assert np.abs(batched - alone).max() <= 1, path.name  # float rounding may move a value by one level
    # And the same as the file given on its own.
    assert main(inpaint_args(checkpoint, images / "b.png", "center", folder / "b_single.png", *common)) == 0
    single = read_image(folder / "b_single.png").astype(int)
    assert np.abs(single - read_image(folder / "batched" / "b.png").astype(int)).max() <= 1


def test_bad_files_in_a_folder_are_reported_and_skipped_and_the_rest_written(files, capsys):
    folder, checkpoint, image = files
    images = folder / "some_bad"
    images.mkdir()
    for name in ("a.png", "c.png"):
        Image.open(image).save(images / name)
    (images / "b.png").write_bytes(b"not an image at all")
    assert main(inpaint_args(checkpoint, images, "center", folder / "out", "--batch-size", "3")) == 2
    captured = capsys.readouterr()
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["a.png", "c.png"]
    assert "b.png is not a readable image" in captured.err
    assert captured.err.strip().splitlines()[-1] == \
        "seminpaint: error: 1 of 3 images failed (listed above); the others were written"


def test_skip_existing_resumes_a_folder_and_leaves_finished_outputs_alone(files, capsys):
    folder, checkpoint, image = files
    images = folder / "resume"
    images.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.open(image).save(images / name)
    assert main(inpaint_args(checkpoint, images, "center", folder / "out")) == 0
    (folder / "out" / "b.png").unlink()
    (folder / "out" / "a.png").write_bytes(b"kept as it is")
    assert main(inpaint_args(checkpoint, images, "center", folder / "out")) == 2  # refused without a flag
    assert "exists; use --overwrite" in capsys.readouterr().err
    assert main(inpaint_args(checkpoint, images, "center", folder / "out", "--skip-existing")) == 0
    out = capsys.readouterr().out
    assert "wrote 1 image to" in out and "2 left alone (output exists)" in out
    assert (folder / "out" / "a.png").read_bytes() == b"kept as it is"
    assert read_image(folder / "out" / "b.png").shape == (16, 16, 3)


def test_an_unknown_output_format_is_refused_before_any_work(files, capsys, monkeypatch):
    import seminpaint.api as api

    folder, checkpoint, image = files
    monkeypatch.setattr(api, "search_candidates", lambda *a, **k: pytest.fail("searched before checking the output"))
    assert main(inpaint_args(checkpoint, image, "center", folder / "out.xyz")) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("seminpaint: error: cannot write 'out.xyz': unknown image format .xyz") and "\n" not in error
    assert not (folder / "out.xyz").exists()


def test_a_mask_of_the_image_s_aspect_ratio_is_resized_with_a_notice(files, capsys):
    folder, checkpoint, image = files
    hole = np.zeros((32, 32), dtype=bool)
    hole[8:24, 8:24] = True
    save_mask(folder / "big_mask.png", hole)
    assert main(inpaint_args(checkpoint, image, folder / "big_mask.png", folder / "out.png",
                             "--save-mask", str(folder / "used.png"))) == 0
    assert "resized (nearest) to the image's 16×16" in capsys.readouterr().out
    assert np.array_equal(read_mask(folder / "used.png"), hole[::2, ::2])


def test_nearest_neighbour_from_the_command_line(files, capsys):
    folder, checkpoint, image = files
    assert main(inpaint_args(checkpoint, image, "center", folder / "nn.png", "--method", "nearest_neighbour")) == 2
    assert "needs --references DIR" in capsys.readouterr().err
    references = folder / "references"
    references.mkdir()
    rng = np.random.default_rng(1)
    original = read_image(image)
    close = np.clip(original.astype(int) + rng.integers(-3, 4, original.shape), 0, 255).astype(np.uint8)
    far = 255 - original
    Image.fromarray(far).save(references / "far.png")
    Image.fromarray(np.kron(close, np.ones((2, 2, 1), dtype=np.uint8))).save(references / "close.png")  # 32×32
    assert main(inpaint_args(checkpoint, image, "center", folder / "nn.png", "--method", "nearest_neighbour",
                             "--references", str(references), "--save-mask", str(folder / "m.png"))) == 0
    out, mask = read_image(folder / "nn.png").astype(int), read_mask(folder / "m.png")
    assert np.abs(out[mask] - close[mask]).max() <= 3  # the closer reference (resized) fills the hole
    assert np.array_equal(out[~mask], original[~mask])
    assert main(inpaint_args(checkpoint, image, "center", folder / "nn2.png", "--references", str(references))) == 2
    assert "--references is for --method nearest_neighbour only" in capsys.readouterr().err


def test_a_folder_streams_through_in_batches_of_the_batch_size(files, monkeypatch):
    """Never more than --batch-size images are read and searched at once, whatever the folder holds."""
    import seminpaint.api as api

    folder, checkpoint, image = files
    images = folder / "stream"
    images.mkdir()
    for index in range(7):
        Image.open(image).save(images / f"{index}.png")
    sizes = []
    original = api.inpaint
    monkeypatch.setattr(api, "inpaint", lambda batch, masks, **k: sizes.append(len(batch)) or original(batch, masks, **k))
    assert main(inpaint_args(checkpoint, images, "center", folder / "streamed", "--batch-size", "3")) == 0
    assert sizes == [3, 3, 1] and len(list((folder / "streamed").iterdir())) == 7
