"""The staged evaluation harness: files where documented, honest scores, resumable and reproducible."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seminpaint import InpaintError
from seminpaint import api
from seminpaint.blend import hybrid_blend
from seminpaint.cli import main
from seminpaint.evaluation import evaluate, image_path, mask_path, prediction_path, read_scores, timing_path
from seminpaint.evaluation.report import FIGURE_PADDING, FIGURE_SCALE, report, several
from seminpaint.masks import make_masks
from seminpaint.networks.checkpoint import save_checkpoint

from conftest import TINY, tiny_model

KINDS = ("center", "random_pixels")
METHODS = ("ours", "mean", "biharmonic")
SCORED = ("ours", "ours_raw", "mean", "biharmonic")
COUNT = 3
BATCH = 2  # chunks of ours: {0, 1} and {2}


def write_images(folder, count=4):
    """Distinct smooth 16×16 RGB images (one more than evaluated, so `count` really limits)."""
    folder.mkdir()
    y, x = np.mgrid[0:16, 0:16] / 15.0
    for index in range(count):
        image = np.stack([0.2 + 0.6 * x, 0.5 + 0.3 * np.sin(3 * y + index), 0.3 + 0.4 * x * y * (index + 1) / count],
                         axis=-1)
        Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(folder / f"face{index}.png")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("evaluate")
    write_images(base / "data")
    model = tiny_model()
    checkpoint = base / "tiny.safetensors"
    save_checkpoint(checkpoint, TINY, model.generator, model.discriminator)
    return base, checkpoint


def run(setup, out, **changes):
    base, checkpoint = setup
    arguments = dict(dataset="folder", root=base / "data", split="all", count=COUNT, kinds=KINDS, methods=METHODS,
                     out=out, model=checkpoint, settings="paper", seed=0, batch_size=BATCH,
                     method_options={"ours": {"iterations": 5}}, progress=False)
    arguments.update(changes)
    return evaluate(**arguments)


@pytest.fixture(scope="module")
def done(setup):
    """One finished evaluation; tests that change files work on a copy."""
    out = setup[0] / "out"
    return run(setup, out), out


def copy_of(done, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(done[1], out)  # copy2 keeps the modification times
    return out


def snapshot(out):
    return {p.relative_to(out): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.rglob("*")) if p.is_file()}


def read_png(path):
    return np.asarray(Image.open(path))


def table_cell(markdown, title, method, kind):
    """The cell of a results.md table: the table under `## title`, row `method`, column `kind`."""
    section = markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0]]
    for row in rows[2:]:
        if row[0].strip() == method:
            return row[header.index(kind)].strip()
    raise AssertionError(f"no row {method} in {title}")


def test_files_are_where_documented(done):
    results, out = done
    assert results == out / "results.md" and results.is_file()
    for name in ("evaluation.json", "scores.csv", "results.csv"):
        assert (out / name).is_file()
    for index in range(COUNT):
        assert image_path(out, index) == out / "images" / f"{index:05d}.png" and image_path(out, index).is_file()
    assert not image_path(out, COUNT).exists()
    for kind in KINDS:
        assert (out / "figures" / f"{kind}.png").is_file()
        for index in range(COUNT):
            assert mask_path(out, kind, index) == out / "masks" / kind / f"{index:05d}.png"
            assert mask_path(out, kind, index).is_file()
            for method in SCORED:
                path = prediction_path(out, method, kind, index)
                assert path == out / "predictions" / method / kind / f"{index:05d}.png" and path.is_file()
        for method in METHODS:
            assert timing_path(out, method, kind) == out / "timings" / method / f"{kind}.json"
            timed = json.loads(timing_path(out, method, kind).read_text())["images"]
            assert sorted(timed, key=int) == [str(i) for i in range(COUNT)]
            assert all(entry["seconds"] > 0 for entry in timed.values())


def test_masks_are_the_seeded_set_and_known_pixels_are_the_ground_truth(done):
    out = done[1]
    for kind in KINDS:
        expected = make_masks(kind, COUNT, 16, 16, seed=0)
        for index in range(COUNT):
            mask = read_png(mask_path(out, kind, index)) > 127  # white = missing
            assert np.array_equal(mask, expected[index])
            truth = read_png(image_path(out, index))
            for method in ("ours", "mean", "biharmonic"):
                prediction = read_png(prediction_path(out, method, kind, index))
                assert prediction.shape == truth.shape == (16, 16, 3)
                assert np.array_equal(prediction[~mask], truth[~mask]), (method, kind, index)


def test_scores_have_one_row_per_method_kind_and_image(done):
    rows = read_scores(done[1])
    assert len(rows) == len(SCORED) * len(KINDS) * COUNT
    assert {(r["method"], r["kind"], r["index"]) for r in rows} == {
        (m, k, i) for m in SCORED for k in KINDS for i in range(COUNT)}


def test_mean_fill_psnr_in_the_table_matches_an_independent_computation(done):
    out = done[1]
    markdown = (out / "results.md").read_text()
    for kind in KINDS:
        values = []
        for index in range(COUNT):
            truth = read_png(image_path(out, index)).astype(np.float64) / 255
            mask = read_png(mask_path(out, kind, index)) > 127
            prediction = read_png(prediction_path(out, "mean", kind, index)).astype(np.float64) / 255
            expected = truth.copy()
            expected[mask] = truth[~mask].mean(axis=0)  # the mean colour of the known pixels
            assert np.abs(prediction - expected).max() <= 0.5 / 255 + 1e-9
            values.append(10 * math.log10(1 / ((truth - prediction) ** 2).mean()))
        cell = f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"
        assert table_cell(markdown, "PSNR (dB), whole image", "mean", kind) == cell
    assert f"N = {COUNT} images" in markdown


def test_a_second_run_writes_nothing(done, setup):
    before = snapshot(done[1])
    assert run(setup, done[1]) == done[0]
    assert snapshot(done[1]) == before  # same bytes and the same modification times


def test_a_deleted_baseline_prediction_is_recreated_identically(done, setup, tmp_path):
    out = copy_of(done, tmp_path)
    before = snapshot(out)
    target = prediction_path(out, "biharmonic", "center", 1)
    target.unlink()
    run(setup, out)
    after = snapshot(out)
    changed = {path for path in after if after[path] != before[path]}
    timings = timing_path(out, "biharmonic", "center").relative_to(out)
    # The new timing changes the seconds table; scores, figures and every other prediction stay.
    assert changed - {Path("results.md"), Path("results.csv")} == {target.relative_to(out), timings}
    assert after[target.relative_to(out)][1] == before[target.relative_to(out)][1]


def test_ours_recomputes_the_chunk_of_a_deleted_file_identically(done, setup, tmp_path):
    out = copy_of(done, tmp_path)
    before = snapshot(out)
    for method in ("ours", "ours_raw"):
        prediction_path(out, method, "random_pixels", 1).unlink()  # chunk 0 = images 0 and 1
    run(setup, out)
    after = snapshot(out)
    for method in ("ours", "ours_raw"):
        for index in range(COUNT):
            key = prediction_path(out, method, "random_pixels", index).relative_to(out)
            assert after[key][1] == before[key][1], (method, index)
        unchanged = prediction_path(out, method, "random_pixels", 0).relative_to(out)
        assert after[unchanged][0] == before[unchanged][0]  # a file that exists is never rewritten
    timed = lambda snap: json.loads(snap[timing_path(out, "ours", "random_pixels").relative_to(out)][1])["images"]
    assert timed(after)["0"] != timed(before)["0"] and timed(after)["2"] == timed(before)["2"]  # chunk 0 re-timed
    assert (out / "scores.csv").read_bytes() == (done[1] / "scores.csv").read_bytes()
    scores_part = lambda folder: (folder / "results.md").read_text().split("## Seconds")[0]
    assert scores_part(out) == scores_part(done[1])


def test_ours_hybrid_reblends_the_saved_g_of_ours(done, setup, tmp_path):
    out = copy_of(done, tmp_path)
    run(setup, out, methods=("ours", "ours_hybrid"), method_options={"ours": {"iterations": 5},
                                                                     "ours_hybrid": {"smoothness": 2.0}})
    for kind in KINDS:
        for index in range(COUNT):
            truth = read_png(image_path(out, index)).astype(np.float32) / 255
            mask = read_png(mask_path(out, kind, index)) > 127
            corrupted = np.where(mask[..., None], np.float32(0), truth)
            generated = read_png(prediction_path(out, "ours_raw", kind, index)).astype(np.float32) / 255
            expected = np.clip(hybrid_blend(corrupted, generated, mask, smoothness=2.0), 0, 1)
            assert np.array_equal(read_png(prediction_path(out, "ours_hybrid", kind, index)),
                                  np.round(expected * 255).astype(np.uint8))
    markdown = (out / "results.md").read_text()
    assert table_cell(markdown, "PSNR (dB), whole image", "ours_hybrid", "center") != ""
    assert "ours_hybrid: the same G(ẑ) blended with the hybrid blend" in markdown and "μ = 2.0" in markdown
    with pytest.raises(InpaintError, match=r"other settings \(smoothness 2.0 ≠ 1.0\)"):
        run(setup, out, methods=("ours_hybrid",), method_options={}, image_size=TINY.image_size)
    with pytest.raises(InpaintError, match=r"re-blends the G\(ẑ\) of ours, which has no center prediction for "
                                           r"image 0; run ours first"):
        run(setup, tmp_path / "fresh", methods=("ours_hybrid",), method_options={}, image_size=TINY.image_size)


def test_a_fresh_run_gives_byte_identical_predictions(done, setup, tmp_path):
    out = tmp_path / "fresh"
    run(setup, out, methods=("ours",))
    for method in ("ours", "ours_raw"):
        for kind in KINDS:
            for index in range(COUNT):
                assert (prediction_path(out, method, kind, index).read_bytes()
                        == prediction_path(done[1], method, kind, index).read_bytes())


def test_figure_grid_size(done):
    rows, columns = COUNT, 2 + len(SCORED)  # ground truth, input, G(z), ours, mean, biharmonic
    # figures.labelled_grid's layout: a 16-pixel band of column titles (no row titles), then
    # tiles of scale · 16 pixels with `padding` pixels between them and around the grid.
    tile, padding = FIGURE_SCALE * 16, FIGURE_PADDING
    size = (columns * (tile + padding) + padding, 16 + rows * (tile + padding) + padding)  # (width, height)
    assert size == (6 * 34 + 2, 16 + 3 * 34 + 2)
    for kind in KINDS:
        with Image.open(done[1] / "figures" / f"{kind}.png") as figure:
            assert figure.size == size
            assert figure.mode == "RGB"
            # The first tile is the ground truth of image 0, enlarged ×scale (nearest).
            truth = np.repeat(np.repeat(read_png(image_path(done[1], 0)), FIGURE_SCALE, 0), FIGURE_SCALE, 1)
            top_left = np.asarray(figure)[16 + padding:16 + padding + tile, padding:padding + tile]
            assert np.array_equal(top_left, truth)


def test_paper_reference_rows_for_celeba(done, tmp_path):
    out = copy_of(done, tmp_path)
    record = out / "evaluation.json"
    record.write_text(record.read_text().replace('"folder"', '"celeba"'))
    markdown = report(out, figures=False).read_text()
    assert table_cell(markdown, "PSNR (dB), whole image", "*paper Table 1: Context Encoder*", "center") == "*21.3*"
    assert table_cell(markdown, "PSNR (dB), whole image", "*paper Table 1: Yeh et al.*", "random_pixels") == "*22.8*"
    assert "paper Table 1" not in markdown.split("## PSNR (dB), hole only")[1]


def test_errors(setup, tmp_path, monkeypatch):
    with pytest.raises(InpaintError, match=r"unknown method 'nope'; choose from: ours, .*mean"):
        run(setup, tmp_path / "a", methods=("ours", "nope"))
    with pytest.raises(InpaintError, match=r"unknown mask kind 'square'; valid kinds: center"):
        run(setup, tmp_path / "a", kinds=("square",))
    with pytest.raises(InpaintError, match=r"count must be a positive integer, got 0"):
        run(setup, tmp_path / "a", count=0)
    with pytest.raises(InpaintError, match=r"figure index 7 is outside the 3 evaluated images"):
        run(setup, tmp_path / "a", figure_indices=[7])
    monkeypatch.setattr(api, "DEFAULT_MODEL", tmp_path / "absent.safetensors")
    with pytest.raises(InpaintError, match="no model given and no default model is installed"):
        run(setup, tmp_path / "a", model=None)
    assert not (tmp_path / "a").exists()  # every error came before any work


def test_a_resume_with_other_settings_is_refused(done, setup, tmp_path):
    out = copy_of(done, tmp_path)
    with pytest.raises(InpaintError, match=r"other settings \(settings.iterations 5 ≠ 6\)"):
        run(setup, out, method_options={"ours": {"iterations": 6}})
    with pytest.raises(InpaintError, match=r"prepared with other settings \(seed 0 ≠ 1\)"):
        run(setup, out, seed=1)


def test_command_line(setup, tmp_path, capsys):
    base, checkpoint = setup
    common = ["evaluate", "--dataset", "folder", "--root", str(base / "data"), "--split", "all", "--count", "2",
              "--masks", "center", "--out", str(tmp_path / "cli"), "--quiet"]
    assert main([*common, "--methods", "mean", "biharmonic"]) == 0
    out = capsys.readouterr().out
    assert "## PSNR (dB), whole image" in out and (tmp_path / "cli" / "figures" / "center.png").is_file()
    with Image.open(tmp_path / "cli" / "images" / "00000.png") as image:
        assert image.size == (64, 64)  # without ours the images are 64×64 by default
    assert main([*common, "--methods", "mean", "nope"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("seminpaint: error: unknown method 'nope'") and error.count("\n") == 1
    assert main([*common, "--masks", "square"]) == 2
    assert "unknown mask kind 'square'" in capsys.readouterr().err
    assert main([*common, "--count", "0"]) == 2
    assert "count must be a positive integer" in capsys.readouterr().err


def test_nearest_neighbour_reads_its_references_from_a_folder(setup, tmp_path, capsys):
    base, _ = setup
    references = tmp_path / "references"
    write_images(references)  # the same four images as the evaluated folder
    common = ["evaluate", "--dataset", "folder", "--root", str(base / "data"), "--split", "all", "--count", "2",
              "--masks", "center", "--image-size", "16", "--out", str(tmp_path / "nn"), "--quiet"]
    assert main([*common, "--methods", "nearest_neighbour", "--references", str(references)]) == 0
    capsys.readouterr()
    # every evaluated image is among the references: each finds itself
    filled = read_png(tmp_path / "nn" / "predictions" / "nearest_neighbour" / "center" / "00000.png")
    truth = read_png(tmp_path / "nn" / "images" / "00000.png")
    assert np.array_equal(filled, truth)
    assert main([*common, "--methods", "mean", "--references", str(references)]) == 2
    assert "--references is for the nearest_neighbour method" in capsys.readouterr().err


def test_the_report_says_what_ours_ran_beyond_one_search():
    from dataclasses import asdict

    from seminpaint.settings import ENHANCED, PRESETS

    assert several(asdict(ENHANCED)) == ""
    assert several(asdict(PRESETS["quality"])) == (
        ", 2 candidates per image, every second one of the image mirrored (their mean), "
        "then the feature map entering G's last 3 layers tuned to the image for 30 steps at rate 0.03")
    assert several(asdict(ENHANCED.with_options(candidates=3))) == ", 3 candidates per image (their mean)"
    assert several({"iterations": 50, "candidates": 2}) == ", 2 candidates per image (their mean)"  # an older file
