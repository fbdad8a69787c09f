"""Faces found and framed (faces.py), holes away from faces refused, and the plausibility check."""

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from seminpaint import PAPER, InpaintError, inpaint
from seminpaint.api import DEFAULT_MODEL, prepare, resolve_model
from seminpaint.cli import main
from seminpaint.faces import CELEBA, NO_FACE, SHIPPED, Face, FaceModel, detect_faces, parse_box
from seminpaint.geometry import Crop
from seminpaint.images import to_float
from seminpaint.plausibility import ImplausibleCompletion

from conftest import tiny_model

FEW = PAPER.with_options(iterations=3)
ASTRONAUT_FACE = (176, 66, 98, 98)  # x, y, w, h: her face as the detector boxes it (checked by eye)


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


def face_model():
    """A tiny (16×16) model that says it is a face model framed like CelebA, without a threshold."""
    model = tiny_model()
    model.faces = FaceModel(framing=CELEBA)
    return model


def box_mask(shape, top, left, height, width):
    mask = np.zeros(shape[:2], dtype=bool)
    mask[top:top + height, left:left + width] = True
    return mask


def mouth(shape):
    return box_mask(shape, 135, 195, 25, 60)


def test_the_detector_finds_the_astronauts_face(astronaut):
    faces = detect_faces(astronaut)
    assert faces, "no face found"
    face = faces[0]  # most votes first
    x, y, width, height = ASTRONAUT_FACE
    assert abs(face.x + face.width / 2 - (x + width / 2)) < 12 and abs(face.y + face.height / 2 - (y + height / 2)) < 12
    assert 0.8 < face.width / width < 1.25


def test_a_hole_in_the_face_is_searched_in_the_face_framed_like_celeba(astronaut):
    mask = mouth(astronaut.shape)
    crop = prepare(astronaut, mask, face_model()).crops[0]
    assert crop.face is not None and crop.frame is not None
    top, left, side, width = crop.frame
    assert side == width and 110 < side < 165  # about 1.36 face boxes
    assert top <= 135 and left <= 195 and 135 + 25 <= top + side and 195 + 60 <= left + side  # holds the hole
    fx, fy, fw, fh = crop.face
    assert abs(left + side / 2 - (fx + fw / 2)) < 3  # centred on the face, as CelebA's crops


def test_a_hole_away_from_every_face_is_refused_in_one_line(astronaut):
    mask = box_mask(astronaut.shape, 300, 20, 40, 40)  # the suit, far from the face
    with pytest.raises(InpaintError) as refused:
        inpaint(astronaut, mask, model=face_model(), settings=FEW)
    assert str(refused.value) == NO_FACE and "\n" not in NO_FACE


def test_a_face_box_or_no_face_check_fills_any_hole(astronaut):
    mask = box_mask(astronaut.shape, 300, 20, 40, 40)
    generator = torch.Generator().manual_seed(0)
    given = inpaint(astronaut, mask, model=face_model(), settings=FEW, face=(10, 290, 50, 50), generator=generator)
    assert given.crop.face == (10, 290, 50, 50)
    unchecked = inpaint(astronaut, mask, model=face_model(), settings=FEW, face_check=False, generator=generator)
    assert unchecked.crop.face is None and unchecked.crop.frame is None  # the hole-centred crop
    for result in (given, unchecked):
        assert np.array_equal(result.image[~mask], to_float(astronaut)[~mask])


def test_a_face_at_the_border_is_framed_past_it_and_only_the_hole_changes():
    image = (np.random.default_rng(0).random((80, 120, 3)) * 255).astype(np.uint8)
    mask = box_mask(image.shape, 2, 4, 10, 10)
    result = inpaint(image, mask, model=face_model(), settings=FEW, face=(-10, -12, 40, 40))
    crop = result.crop
    assert crop.frame[0] < 0 and crop.frame[1] < 0 and (crop.top, crop.left) == (0, 0)
    assert crop.height == crop.frame[2] + crop.frame[0] and crop.width == crop.frame[3] + crop.frame[1]
    assert result.image.shape == image.shape and np.array_equal(result.image[~mask], to_float(image)[~mask])
    view, missing = crop.view(to_float(image), mask)
    assert view.shape[:2] == crop.frame[2:] and missing[: -crop.frame[0]].all()  # past the border: missing


def test_a_hole_reaching_out_of_the_face_is_refused(astronaut):
    mask = box_mask(astronaut.shape, 100, 150, 300, 200)  # face and torso
    with pytest.raises(InpaintError, match="reaches out of the face"):
        prepare(astronaut, mask, face_model())


def test_images_of_the_model_size_are_taken_as_framed():
    image = np.zeros((16, 16, 3), np.uint8)  # no face at all: not looked for
    crop = prepare(image, box_mask(image.shape, 4, 4, 8, 8), face_model()).crops[0]
    assert crop == Crop(0, 0, 16, 16)


def test_models_that_are_not_face_models_take_images_as_they_come(astronaut):
    crop = prepare(astronaut, box_mask(astronaut.shape, 300, 20, 40, 40), tiny_model()).crops[0]
    assert crop.frame is None
    with pytest.raises(InpaintError, match="needs a face model"):
        prepare(astronaut, mouth(astronaut.shape), tiny_model(), face=ASTRONAUT_FACE)


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "1,2,0,4", "1,2,nan,4"])
def test_bad_face_boxes_are_one_line_errors(text):
    with pytest.raises(InpaintError, match="face box"):
        parse_box(text)
    assert parse_box(" 1, 2,3,4") == Face(1, 2, 3, 4)


def test_the_shipped_model_is_a_face_model():
    assert resolve_model(None, "cpu").faces == SHIPPED
    assert resolve_model(DEFAULT_MODEL, "cpu").faces == SHIPPED


# --- the command line, with the shipped model ------------------------------------------------------

@pytest.fixture(scope="module")
def photo_files(tmp_path_factory, astronaut):
    folder = tmp_path_factory.mktemp("photo")
    Image.fromarray(astronaut).save(folder / "astronaut.png")
    Image.fromarray(np.where(mouth(astronaut.shape), 255, 0).astype(np.uint8)).save(folder / "mouth.png")
    Image.fromarray(np.where(box_mask(astronaut.shape, 300, 20, 40, 40), 255, 0).astype(np.uint8)).save(
        folder / "suit.png")
    return folder


def cli(folder, out, mask, *extra):
    return main(["inpaint", "--image", str(folder / "astronaut.png"), "--mask", str(folder / mask),
                 "--output", str(out), "--iterations", "2", *extra])


def test_cli_frames_the_face_and_saves_what_the_model_saw(photo_files, tmp_path, capsys):
    assert cli(photo_files, tmp_path / "out.png", "mouth.png", "--save-crop", str(tmp_path / "seen.png")) == 0
    assert "face found at" in capsys.readouterr().out
    with Image.open(tmp_path / "seen.png") as seen:
        assert seen.size == (64, 64)
        assert np.asarray(seen.convert("RGB")).max(axis=-1).min() < 255  # a picture, the hole white
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (512, 512)


def test_cli_refuses_a_hole_away_from_faces_unless_told(photo_files, tmp_path, capsys):
    assert cli(photo_files, tmp_path / "a.png", "suit.png") == 2
    assert capsys.readouterr().err.strip() == f"seminpaint: error: {NO_FACE}"
    assert cli(photo_files, tmp_path / "b.png", "suit.png", "--no-face-check") == 0
    assert cli(photo_files, tmp_path / "c.png", "suit.png", "--face", "10,290,50,50") == 0
    assert cli(photo_files, tmp_path / "d.png", "suit.png", "--face", "10,290") == 2
    assert "face box" in capsys.readouterr().err


# --- the plausibility check ------------------------------------------------------------------------

def test_a_cat_completed_as_a_face_is_warned_about_and_a_face_is_not(astronaut):
    model = resolve_model(None, "cpu")
    cat = np.asarray(Image.fromarray(data.chelsea()).resize((64, 64), Image.Resampling.BOX))
    face = np.asarray(Image.fromarray(astronaut[21:188, 139:306]).resize((64, 64), Image.Resampling.BOX))
    mask = box_mask((64, 64), 24, 13, 12, 38)  # the eyes of a face framed like CelebA's
    settings = dataclasses.replace(PAPER, iterations=20, start="encoder", learning_rate=0.04)
    with pytest.warns(ImplausibleCompletion, match="unlikely to be a face") as caught:
        inpaint(cat, mask, model=model, settings=settings, generator=torch.Generator().manual_seed(0))
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImplausibleCompletion)
        inpaint(face, mask, model=model, settings=settings, generator=torch.Generator().manual_seed(0))


def test_cli_prints_the_plausibility_warning_on_one_line(tmp_path, capsys):
    cat = np.asarray(Image.fromarray(data.chelsea()).resize((64, 64), Image.Resampling.BOX))
    Image.fromarray(cat).save(tmp_path / "cat.png")
    assert main(["inpaint", "--image", str(tmp_path / "cat.png"), "--mask", "center", "--output",
                 str(tmp_path / "out.png"), "--iterations", "20"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(lines) == 1 and "unlikely to be a face" in lines[0]
