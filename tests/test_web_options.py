"""The page's search options through Flask's test client: presets, several candidates (their PNGs,
mean and spread, the one chosen for download and "continue"), the face box and the face check, and
every bad value of each answered 400 with one line."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from seminpaint.faces import SHIPPED
from seminpaint.settings import MAX_CANDIDATES, PRESETS
from seminpaint.web.app import WebConfig, create_app

from conftest import tiny_model
from conftest import wave_photo as photo
from test_web import start, wait


def make_client(model=None, **limits):
    config = WebConfig(max_pixels=300 * 300, max_iterations=50, default_iterations=5, **limits)
    return create_app(model or tiny_model(), config, samples={"a photo": photo()}).test_client()


@pytest.fixture
def client():
    return make_client()


@pytest.fixture
def face_client():
    model = tiny_model()
    model.faces = SHIPPED  # a face model: holes are framed around faces, a box may be given
    return make_client(model)


def hole():
    mask = np.zeros((40, 56), dtype=bool)
    mask[10:22, 14:34] = True
    return mask


def read(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_info_offers_the_presets_the_library_holds_and_the_candidate_limit(client):
    info = client.get("/api/info").get_json()
    assert [p["name"] for p in info["presets"]] == list(PRESETS)
    assert all(p["iterations"] == PRESETS[p["name"]].iterations and p["candidates"] == PRESETS[p["name"]].candidates
               for p in info["presets"])
    assert info["preset"] is None  # the tiny model has no encoder: the server runs WITHOUT_ENCODER
    assert info["candidates"] == 2 and info["faces"] is False  # WITHOUT_ENCODER: the image and its mirror
    assert info["limits"]["max_candidates"] == MAX_CANDIDATES
    assert info["limits"]["max_job_steps"] == 4 * 50


def test_info_names_the_server_s_preset_when_it_runs_one():
    from seminpaint.settings import DEFAULT_PRESET

    from conftest import tiny_model_with_encoder

    info = make_client(tiny_model_with_encoder()).get("/api/info").get_json()
    assert info["preset"] == DEFAULT_PRESET
    info = make_client(settings="paper").get("/api/info").get_json()
    assert info["preset"] == "paper" and info["limits"]["default_iterations"] == 5


def test_several_candidates_their_mean_spread_and_the_one_chosen(client):
    image, mask = photo(), hole()
    job = start(client, "sample-0", mask, candidates=3, iterations=4)
    assert job.status_code == 202, job.get_json()
    done = wait(client, job.get_json()["job"])
    assert done["state"] == "done" and done["candidates"] == 3, done
    assert done["completions"] == [f"/api/jobs/{done['job']}/result.png?candidate={k}" for k in (1, 2, 3)]
    completions = np.stack([read(client.get(url).data) for url in done["completions"]]).astype(np.float64)
    mean = read(client.get(done["result"]).data).astype(np.float64)
    for completion in completions:
        assert np.array_equal(completion[~mask], image[~mask])
    assert np.abs(mean - completions.mean(axis=0)).max() <= 1  # the per-pixel mean, rounded once more
    assert np.abs(completions[0] - completions[1])[mask].max() > 0  # different completions
    spread = read(client.get(done["spread"]).data)
    assert spread.shape == mask.shape and spread[~mask].max() == 0 and spread[mask].max() == 255
    assert 0 < done["spread_max"] < 1
    second = client.get(done["result"] + "?candidate=2&download=1")
    assert second.headers["Content-Disposition"] == 'attachment; filename="inpainted-ours-candidate-2.png"'
    assert np.array_equal(read(second.data), completions[1])
    continued = client.post(f"/api/jobs/{done['job']}/continue?candidate=2").get_json()
    assert np.array_equal(read(client.get(f"/api/images/{continued['id']}.png").data), completions[1])
    for query, message in (("candidate=4", "candidate must be a whole number from 0 to 3, got '4'"),
                           ("candidate=-1", "candidate must be a whole number from 0 to 3, got '-1'"),
                           ("candidate=x", "candidate must be a whole number from 0 to 3, got 'x'")):
        for response in (client.get(f"{done['result']}?{query}"),
                         client.post(f"/api/jobs/{done['job']}/continue?{query}")):
            assert response.status_code == 400 and response.get_json() == {"error": message}


def test_a_mirrored_preset_says_which_candidates_searched_the_mirror_image(client):
    from conftest import tiny_model_with_encoder

    mirrored = make_client(tiny_model_with_encoder())  # the default preset, mirrored
    done = wait(mirrored, start(mirrored, "sample-0", hole(), candidates=3, iterations=3).get_json()["job"])
    assert done["state"] == "done" and done["mirrored"] == [False, True, False], done
    enhanced = make_client(settings="enhanced")
    plain = wait(enhanced, start(enhanced, "sample-0", hole(), candidates=2, iterations=3).get_json()["job"])
    assert plain["state"] == "done" and "mirrored" not in plain  # no candidate searched the mirror image
    baseline = wait(mirrored, start(mirrored, "sample-0", hole(), method="mean").get_json()["job"])
    assert baseline["state"] == "done"  # a baseline's one completion, whatever the server's candidates


def test_one_candidate_has_no_spread_and_candidate_1_is_the_result(client):
    done = wait(client, start(client, "sample-0", hole(), candidates=1).get_json()["job"])
    assert done["candidates"] == 1 and "completions" not in done and "spread" not in done
    assert client.get(done["result"] + "?candidate=1").data == client.get(done["result"]).data
    missing = client.get(f"/api/jobs/{done['job']}/spread.png")
    assert missing.status_code == 404 and missing.get_json() == {"error": "this job has no spread: it searched one candidate"}


def test_a_preset_sets_the_defaults_and_the_request_can_change_them(client):
    app_queue = client.application.extensions["seminpaint"]["queue"]
    response = start(client, "sample-0", hole(), preset="paper", iterations=3)
    job = app_queue.get(response.get_json()["job"])
    assert job.settings == PRESETS["paper"].with_options(iterations=3) and job.iterations == 3
    body = {"image": "sample-0", "mask": start.__globals__["mask_url"](hole()), "preset": "fast"}
    job = app_queue.get(client.post("/api/inpaint", json=body).get_json()["job"])
    assert job.settings == PRESETS["fast"] and job.candidates == PRESETS["fast"].candidates


@pytest.mark.parametrize("fields, message", [
    ({"preset": "best"}, f"unknown preset \"best\"; choose one of: {', '.join(PRESETS)}"),
    ({"preset": 3}, f"unknown preset 3; choose one of: {', '.join(PRESETS)}"),
    ({"candidates": 0}, f"candidates must be a whole number from 1 to {MAX_CANDIDATES}, got 0"),
    ({"candidates": MAX_CANDIDATES + 1}, f"candidates must be a whole number from 1 to {MAX_CANDIDATES}, got {MAX_CANDIDATES + 1}"),
    ({"candidates": 2.0}, f"candidates must be a whole number from 1 to {MAX_CANDIDATES}, got 2.0"),
    ({"candidates": "4"}, f"candidates must be a whole number from 1 to {MAX_CANDIDATES}, got \"4\""),
    ({"candidates": True}, f"candidates must be a whole number from 1 to {MAX_CANDIDATES}, got true"),
    ({"candidates": 5, "iterations": 50}, "5 candidate(s) × 50 steps is 250 search steps; this server runs at most "
                                          "200 per job: ask for fewer candidates or iterations"),
    ({"face_check": "no"}, 'face_check must be true or false, got "no"'),
    ({"face_check": 0}, "face_check must be true or false, got 0"),
    ({"face": "1,2,3,4"}, "this server's model is no face model (it searches around the hole): it takes no face box"),
    ({"face": "1,2,3"}, 'face must be "x,y,w,h": whole pixels of a box inside the 56×40 image, got "1,2,3"'),
    ({"method": "mean", "candidates": 2}, "mean gives one completion and takes no face box: candidates and face are for ours"),
])
def test_bad_search_options_get_one_line(client, fields, message):
    response = start(client, "sample-0", hole(), **fields)
    assert response.status_code == 400 and response.get_json() == {"error": message}


def test_candidates_are_bounded_by_the_pixels_they_hold():
    client = make_client(max_candidate_pixels=56 * 40 * 2)
    assert start(client, "sample-0", hole(), candidates=2).status_code == 202
    response = start(client, "sample-0", hole(), candidates=3)
    assert response.status_code == 400 and response.get_json() == {
        "error": "3 candidates of a 56×40 image are 6,720 pixels; this server holds at most 4,480: ask for fewer candidates"}


@pytest.mark.parametrize("face", ["0,0,57,10", "50,0,7,10", "-1,0,5,5", "1,2,0,4", "1.5,2,3,4", "1,2,3,4,5",
                                  "1e3,2,3,4", "", 1234])
def test_face_boxes_outside_the_image_or_malformed_get_one_line(face_client, face):
    response = start(face_client, "sample-0", hole(), face=face)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith('face must be "x,y,w,h": whole pixels of a box inside the 56×40 image, got ')


def test_a_hole_away_from_faces_fails_with_the_page_s_words_and_a_face_box_or_no_check_runs(face_client):
    failed = wait(face_client, start(face_client, "sample-0", hole()).get_json()["job"])
    assert failed["state"] == "failed"
    assert failed["message"] == ("the hole touches no face found in the image, and this model fills faces: give the "
                                 "face's box (draw it with the face box tool) or switch the check off "
                                 '(tick "no face check")')
    done = wait(face_client, start(face_client, "sample-0", hole(), face="10,4,30,30").get_json()["job"])
    assert done["state"] == "done" and done["face"] == [10, 4, 30, 30], done
    assert done["warning"].startswith("the completion is unlikely to be a face")  # a random tiny model
    x, y, width, height = done["square"]
    assert width == height and x <= 14 and y <= 10 and x + width >= 34 and y + height >= 22  # holds the hole
    unchecked = wait(face_client, start(face_client, "sample-0", hole(), face_check=False).get_json()["job"])
    assert unchecked["state"] == "done" and unchecked["face"] is None and len(unchecked["square"]) == 4
