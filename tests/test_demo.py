import numpy as np
from PIL import Image

from seminpaint import PAPER
from seminpaint.cli import main
from seminpaint.demo import LFW_FACES, demo_faces, run_demo
from seminpaint.figures import labelled_grid, show_hole
from seminpaint.masks import MASK_KINDS
from seminpaint.networks.checkpoint import save_checkpoint

from conftest import TINY, tiny_model


def test_demo_faces_are_real_images_from_scikit_image():
    faces, names = demo_faces(64)
    assert faces.shape == (1 + len(LFW_FACES), 64, 64, 3) and faces.dtype == np.uint8
    assert names[0] == "astronaut" and len(set(names)) == len(names)
    assert all(face.std() > 20 for face in faces)  # real content, not flat
    assert np.array_equal(faces[1, ..., 0], faces[1, ..., 1])  # LFW faces are gray


def test_demo_writes_a_figure_and_prints_psnr(tmp_path, capsys):
    path = run_demo(tmp_path, model=tiny_model(), settings=PAPER.with_options(iterations=2), progress=False)
    out = capsys.readouterr().out
    assert "custom settings: at most 2 Adam steps (lr 0.003) from a random z" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["astronaut"], ["lfw_0"])]
    assert [row[1] for row in rows] == list(MASK_KINDS) * 2
    assert all(np.isfinite(float(row[2])) and np.isfinite(float(row[3])) for row in rows)  # PSNR, hole PSNR
    with Image.open(path) as figure:
        assert figure.width > 4 * 32 and figure.height > 24 * 32


def test_demo_command_refuses_to_overwrite(tmp_path, capsys):
    model = tiny_model()
    checkpoint = tmp_path / "tiny.safetensors"
    save_checkpoint(checkpoint, TINY, model.generator, model.discriminator)
    argv = ["demo", "--model", str(checkpoint), "--out", str(tmp_path / "d"), "--iterations", "1"]
    assert main(argv) == 0
    assert main(argv) == 2 and "exists; use --overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0


def test_labelled_grid_and_show_hole():
    image = np.full((8, 8, 3), 0.25, dtype=np.float32)
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:4, 2:4] = True
    shown = show_hole(image, mask)
    assert np.all(shown[mask] == 1.0) and np.all(shown[~mask] == 0.25) and np.all(image == 0.25)
    grid = labelled_grid([[image, shown], [image[..., 0], shown]], column_titles=["a", "b"], scale=2, padding=4)
    assert grid.dtype == np.uint8 and grid.shape[2] == 3
    assert grid.shape[0] == 16 + 2 * (16 + 4) + 4 and grid.shape[1] == 2 * (16 + 4) + 4
