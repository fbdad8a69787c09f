"""The web app through Flask's test client: uploads, checks, the job queue, events, results, errors."""

import base64
import io
import json
import socket
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from seminpaint.cli import main
from seminpaint.errors import InpaintError
from seminpaint.images import PNG_SIGNATURE, png16_bytes, read_png16
from seminpaint.web.app import WebConfig, create_app
from seminpaint.web.jobs import Job, JobQueue, QueueFull
from seminpaint.web.uploads import decode_mask

from conftest import png, tiny_model
from conftest import wave_photo as photo


def mask_url(mask) -> str:
    return "data:image/png;base64," + base64.b64encode(png(np.where(mask, 255, 0).astype(np.uint8))).decode()


@pytest.fixture
def app():
    app = create_app(tiny_model(), WebConfig(max_upload_bytes=200_000, max_pixels=300 * 300, queue_limit=8,
                                             max_iterations=50, default_iterations=5),
                     samples={"a face": photo()})
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def upload(client, data: bytes, name="x.png"):
    return client.post("/api/upload", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def wait(client, job_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.get(f"/api/jobs/{job_id}").get_json()
        if info["state"] in ("done", "failed"):
            return info
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def start(client, image_id, mask, **options):
    body = {"image": image_id, "mask": mask_url(mask), "method": "ours", "iterations": 5, **options}
    return client.post("/api/inpaint", json=body)


def test_page_and_info(client):
    page = client.get("/")
    assert page.status_code == 200 and b"<canvas" in page.data and b"app.js" in page.data
    assert client.get("/static/app.js").status_code == 200
    info = client.get("/api/info").get_json()
    assert info["methods"][0]["name"] == "ours" and {"mean", "biharmonic", "tv"} <= {m["name"] for m in info["methods"]}
    assert info["samples"] == [{"name": "a face", "id": "sample-0", "width": 56, "height": 40}]
    assert info["mask_kinds"] == ["center", "pattern", "random_pixels", "half"]


def test_upload_inpaint_result_keeps_size_and_known_pixels(client):
    image = photo(70, 90)
    response = upload(client, png(image))
    assert response.status_code == 200, response.get_json()
    info = response.get_json()
    assert (info["width"], info["height"], info["bits"], info["channels"]) == (90, 70, 8, 3)
    shown = np.asarray(Image.open(io.BytesIO(client.get(f"/api/images/{info['id']}.png").data)))
    assert np.array_equal(shown, image)
    mask = np.zeros((70, 90), dtype=bool)
    mask[20:40, 30:55] = True
    job = start(client, info["id"], mask)
    assert job.status_code == 202
    done = wait(client, job.get_json()["job"])
    assert done["state"] == "done", done
    result = np.asarray(Image.open(io.BytesIO(client.get(done["result"]).data)))
    assert result.shape == image.shape
    assert np.array_equal(result[~mask], image[~mask])
    used = np.asarray(Image.open(io.BytesIO(client.get(f"/api/jobs/{done['job']}/mask.png").data))) > 127
    assert np.array_equal(used, mask)
    download = client.get(done["result"] + "?download=1")
    assert "attachment" in download.headers["Content-Disposition"]


@pytest.mark.parametrize("method", ["mean", "biharmonic"])
def test_baselines_run_through_the_same_queue(client, method):
    mask = np.zeros((40, 56), dtype=bool)
    mask[10:20, 10:30] = True
    done = wait(client, start(client, "sample-0", mask, method=method).get_json()["job"])
    assert done["state"] == "done"
    result = np.asarray(Image.open(io.BytesIO(client.get(done["result"]).data)))
    assert np.array_equal(result[~mask], photo()[~mask])


def test_sixteen_bit_upload_gives_a_sixteen_bit_result(client, tmp_path):
    deep = photo().astype(np.uint16) * 257 + 5
    info = upload(client, png16_bytes(deep)).get_json()
    assert info["bits"] == 16
    mask = np.zeros((40, 56), dtype=bool)
    mask[5:25, 5:25] = True
    done = wait(client, start(client, info["id"], mask).get_json()["job"])
    file = tmp_path / "r.png"
    file.write_bytes(client.get(done["result"]).data)
    result = read_png16(file)
    assert result.shape == (40, 56, 3) and np.array_equal(result[~mask], deep[~mask])


def test_exif_rotated_upload_is_shown_and_inpainted_upright(client):
    stored = photo(30, 50)
    exif = Image.new("RGB", (1, 1)).getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, format="PNG", exif=exif.tobytes())
    info = upload(client, buffer.getvalue()).get_json()
    assert (info["width"], info["height"]) == (30, 50)
    shown = np.asarray(Image.open(io.BytesIO(client.get(f"/api/images/{info['id']}.png").data)))
    assert np.array_equal(shown, np.rot90(stored, -1))


@pytest.mark.parametrize("data,status,message", [
    (b"", 400, "empty"),
    (b"not an image at all" * 10, 400, "not an image"),
    (png(photo())[:60], 400, "not a"),  # truncated
    (b"\x00" * 300_000, 413, "too large"),  # over the upload limit
])
def test_bad_uploads_get_clear_messages(client, data, status, message):
    response = upload(client, data)
    assert response.status_code == status
    assert message in response.get_json()["error"]
    assert client.get("/api/info").status_code == 200  # still serving


def decompression_bomb(width=60_000, height=60_000) -> bytes:
    """A tiny PNG whose header claims a huge image."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = zlib.compress(b"\x00" * 1000)
    return (PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused_before_decoding(client):
    response = upload(client, decompression_bomb())
    assert response.status_code == 400 and "at most" in response.get_json()["error"]


def test_missing_upload_field(client):
    response = client.post("/api/upload", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and "no file" in response.get_json()["error"]


def test_bad_inpaint_requests(client):
    mask = np.zeros((40, 56), dtype=bool)
    mask[1:5, 1:5] = True
    cases = [
        (client.post("/api/inpaint", data="nope"), "JSON object"),
        (start(client, "nope", mask), "unknown image"),
        (start(client, "sample-0", mask, method="magic"), "unknown method"),
        (start(client, "sample-0", mask, iterations=10_000), "iterations must be a whole number from 1 to 50, got 10000"),
        (start(client, "sample-0", mask, iterations="many"), 'iterations must be a whole number from 1 to 50, got "many"'),
        (start(client, "sample-0", np.zeros((40, 56), bool)), "draw the hole first"),
        (start(client, "sample-0", np.ones((40, 56), bool)), "whole image"),
        (start(client, "sample-0", np.zeros((10, 10), bool)), "the mask is 10×10"),
        (client.post("/api/inpaint", json={"image": "sample-0", "mask": "data:image/png;base64,AAAA"}), "not a readable"),
        (client.post("/api/inpaint", json={"image": "sample-0", "mask": 7}), "PNG data URL"),
    ]
    for response, message in cases:
        assert response.status_code in (400, 404), response.get_json()
        assert message in response.get_json()["error"], (message, response.get_json())
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/api/nothing-here").get_json()["error"].startswith("404")


def test_a_failing_job_reports_its_message_and_the_next_job_runs(client):
    mask = np.zeros((300, 300), dtype=bool)
    mask[::9, ::9] = True  # scattered pixels that vanish at the model's size
    big = np.zeros((300, 300, 3), np.uint8) + 100
    image_id = upload(client, png(big)).get_json()["id"]
    failed = wait(client, start(client, image_id, mask).get_json()["job"])
    assert failed["state"] == "failed" and "vanishes" in failed["message"]
    assert client.get(f"/api/jobs/{failed['job']}/result.png").status_code == 409
    good = np.zeros((300, 300), dtype=bool)
    good[100:140, 100:140] = True
    assert wait(client, start(client, image_id, good).get_json()["job"])["state"] == "done"


def test_event_stream_reports_progress_with_previews_then_done(client):
    mask = np.zeros((40, 56), dtype=bool)
    mask[10:30, 15:40] = True
    job = start(client, "sample-0", mask, iterations=40).get_json()
    response = client.get(job["events"])
    assert response.mimetype == "text/event-stream"
    text = response.get_data(as_text=True)  # the stream ends after `done`
    events = [(block.split("\n")[0][len("event: "):], json.loads(block.split("\n")[1][len("data: "):]))
              for block in text.strip().split("\n\n") if block.startswith("event:")]
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and "progress" in kinds
    previews = [data for kind, data in events if "preview" in data]
    assert previews and previews[-1]["preview"].startswith("data:image/png;base64,")
    steps = [data["step"] for kind, data in events if kind == "progress"]
    assert steps == sorted(steps) and events[-1][1]["step"] == 40 and "loss" in events[-1][1]


def test_job_queue_runs_one_at_a_time_in_order_and_survives_crashes():
    running, peak, order = [0], [0], []
    lock = threading.Lock()

    def run(job, report):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
            order.append(job.id)
        if job.id == "2":
            raise RuntimeError("boom")
        if job.id == "3":
            raise InpaintError("clear message")
        return b"png"

    queue = JobQueue(run, limit=10, keep=100)
    jobs = [Job(id=str(i), image_id="x", image=np.zeros((2, 2)), mask=np.zeros((2, 2), bool), method="ours",
                iterations=1, seed=0) for i in range(8)]
    for job in jobs:
        queue.submit(job)
    assert jobs[-1].position >= 6  # at most the first has started yet
    deadline = time.monotonic() + 10
    while queue.completed < len(jobs) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert peak[0] == 1 and order == [str(i) for i in range(8)]
    assert jobs[2].state == "failed" and "RuntimeError: boom" in jobs[2].message
    assert jobs[3].state == "failed" and jobs[3].message == "clear message"
    assert all(job.state == "done" for job in jobs if job.id not in ("2", "3"))


def test_a_full_queue_answers_503():
    gate = threading.Event()
    queue = JobQueue(lambda job, report: gate.wait(5) and b"", limit=2, keep=10)
    make = lambda i: Job(id=str(i), image_id="x", image=np.zeros((2, 2)), mask=np.zeros((2, 2), bool),
                         method="ours", iterations=1, seed=0)
    queue.submit(make(0))
    deadline = time.monotonic() + 5
    while queue.get("0").state != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    queue.submit(make(1))
    queue.submit(make(2))
    with pytest.raises(QueueFull, match="busy"):
        queue.submit(make(3))
    gate.set()


def test_decode_mask_reads_transparency_as_known():
    layer = np.zeros((4, 5, 4), np.uint8)
    layer[1:3, 1:3] = (255, 0, 0, 255)  # painted red, opaque
    url = "data:image/png;base64," + base64.b64encode(png(layer)).decode()
    gray = decode_mask(url, (4, 5))
    assert gray.sum() == 0  # red is dark in gray: masks are white = missing, as documented
    layer[1:3, 1:3] = (255, 255, 255, 255)
    url = "data:image/png;base64," + base64.b64encode(png(layer)).decode()
    assert decode_mask(url, (4, 5)).sum() == 4


def test_serve_without_a_model_fails_with_one_line(capsys, monkeypatch, tmp_path):
    from seminpaint import api

    monkeypatch.setattr(api, "DEFAULT_MODEL", tmp_path / "absent.safetensors")  # as on a bare install
    assert main(["serve", "--port", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "no default model" in error


def test_serve_passes_its_limits_to_the_server_and_refuses_bad_ones(tmp_path, capsys, monkeypatch):
    from seminpaint.networks.checkpoint import save_checkpoint
    from seminpaint.web import app
    from conftest import TINY

    model = tiny_model()
    save_checkpoint(tmp_path / "m.safetensors", TINY, model.generator, model.discriminator)
    served = []
    monkeypatch.setattr(app, "serve", lambda model, config, **_: served.append(config))
    argv = ["serve", "--model", str(tmp_path / "m.safetensors"), "--port", "0"]
    assert main(argv + ["--max-candidates", "3", "--max-job-steps", "500", "--max-iterations", "200"]) == 0
    assert (served[0].max_candidates, served[0].max_job_steps, served[0].max_iterations) == (3, 500, 200)
    assert main(argv) == 0
    assert (served[1].max_candidates, served[1].max_job_steps) == (16, None)  # create_app: 4 × max_iterations
    for flags, message in [(["--max-candidates", "0"], "--max-candidates must be from 1 to 16, got 0"),
                           (["--max-candidates", "17"], "--max-candidates must be from 1 to 16, got 17"),
                           (["--max-job-steps", "0"], "--max-job-steps must be positive, got 0")]:
        capsys.readouterr()
        assert main(argv + flags) == 2
        error = capsys.readouterr().err.strip()
        assert error.count("\n") == 0 and message in error, flags
    assert len(served) == 2


def test_serve_on_a_busy_port_fails_with_one_line(tmp_path, capsys):
    from seminpaint.networks.checkpoint import save_checkpoint
    from conftest import TINY

    model = tiny_model()
    save_checkpoint(tmp_path / "m.safetensors", TINY, model.generator, model.discriminator)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--model", str(tmp_path / "m.safetensors"), "--port", str(port)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "cannot listen" in error


# --- the page's job actions: cancel, continue; methods that cannot run on an image -----------------

@pytest.fixture
def long_client():
    """A server whose jobs may take 100,000 steps: long enough to be cancelled while they run."""
    app = create_app(tiny_model(), WebConfig(max_iterations=100_000, queue_limit=8), samples={"a face": photo()})
    return app.test_client()


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_cancel_a_running_search_stops_it_at_the_next_step(long_client):
    mask = np.zeros((40, 56), dtype=bool)
    mask[10:30, 15:40] = True
    job = start(long_client, "sample-0", mask, iterations=100_000).get_json()
    queued = start(long_client, "sample-0", mask, iterations=5).get_json()  # waits behind it
    wait_for(lambda: long_client.get(f"/api/jobs/{job['job']}").get_json()["step"] > 0)
    response = long_client.post(f"/api/jobs/{job['job']}/cancel")
    assert response.status_code == 202 and response.get_json()["state"] == "running"
    assert response.get_json()["stopping"] is True
    wait_for(lambda: long_client.get(f"/api/jobs/{job['job']}").get_json()["state"] == "cancelled")
    stopped = long_client.get(f"/api/jobs/{job['job']}").get_json()
    assert stopped["message"].startswith("cancelled at step ") and stopped["step"] < 100_000
    assert long_client.get(f"/api/jobs/{job['job']}/result.png").status_code == 409
    events = long_client.get(job["events"]).get_data(as_text=True)  # the stream ends with `cancelled`
    assert events.strip().split("\n\n")[-1].startswith("event: cancelled")
    assert wait(long_client, queued["job"])["state"] == "done"  # the next job runs
    again = long_client.post(f"/api/jobs/{job['job']}/cancel")  # cancelling twice is harmless
    assert again.status_code == 200 and again.get_json()["state"] == "cancelled"


def test_cancel_a_finished_or_unknown_job(client):
    mask = np.zeros((40, 56), dtype=bool)
    mask[10:20, 10:30] = True
    done = wait(client, start(client, "sample-0", mask).get_json()["job"])
    response = client.post(f"/api/jobs/{done['job']}/cancel")
    assert response.status_code == 409 and "already finished" in response.get_json()["error"]
    assert client.get(f"/api/jobs/{done['job']}").get_json()["state"] == "done"  # untouched
    assert client.post("/api/jobs/nope/cancel").status_code == 404


def test_cancel_a_queued_job_takes_it_out_of_the_queue():
    gate, ran = threading.Event(), []

    def run(job, report):
        ran.append(job.id)
        gate.wait(5)
        return b"png"

    queue = JobQueue(run, limit=10, keep=10)
    make = lambda i: Job(id=str(i), image_id="x", image=np.zeros((2, 2)), mask=np.zeros((2, 2), bool),  # noqa: E731
                         method="mean", iterations=1, seed=0)
    jobs = [queue.submit(make(i)) for i in range(4)]
    wait_for(lambda: jobs[0].state == "running")
    assert [job.position for job in jobs[1:]] == [1, 2, 3]
    assert queue.cancel(jobs[1]) == "cancelled"
    assert jobs[1].message == "cancelled before it started" and [jobs[2].position, jobs[3].position] == [1, 2]
    assert queue.cancel(jobs[0]) == "running"  # a baseline cannot stop midway: flagged, its result dropped
    gate.set()
    wait_for(lambda: queue.completed == 3)
    assert ran == ["0", "2", "3"]
    assert [job.state for job in jobs] == ["cancelled", "cancelled", "done", "done"]
    assert jobs[0].message == "cancelled" and jobs[0].result is None


def test_continue_from_a_result_makes_it_the_new_input(client):
    image = photo(50, 60)
    image_id = upload(client, png(image)).get_json()["id"]
    mask = np.zeros((50, 60), dtype=bool)
    mask[10:30, 20:45] = True
    done = wait(client, start(client, image_id, mask, method="biharmonic").get_json()["job"])
    result = client.get(done["result"]).data
    response = client.post(f"/api/jobs/{done['job']}/continue")
    assert response.status_code == 200, response.get_json()
    info = response.get_json()
    assert (info["width"], info["height"], info["bits"], info["channels"], info["source"]) == (60, 50, 8, 3, done["job"])
    assert info["id"] != image_id
    shown = client.get(f"/api/images/{info['id']}.png").data
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(shown))), np.asarray(Image.open(io.BytesIO(result))))
    second = np.zeros((50, 60), dtype=bool)
    second[35:45, 5:15] = True  # a further edit of the result keeps the first fill outside the new hole
    again = wait(client, start(client, info["id"], second, method="mean").get_json()["job"])
    out = np.asarray(Image.open(io.BytesIO(client.get(again["result"]).data)))
    assert np.array_equal(out[~second], np.asarray(Image.open(io.BytesIO(result)))[~second])
    assert client.post("/api/jobs/nope/continue").status_code == 404


def test_continue_keeps_sixteen_bits_and_refuses_unfinished_jobs(long_client):
    deep = photo().astype(np.uint16) * 257 + 3
    image_id = upload(long_client, png16_bytes(deep)).get_json()["id"]
    mask = np.zeros((40, 56), dtype=bool)
    mask[5:25, 5:25] = True
    done = wait(long_client, start(long_client, image_id, mask, method="mean").get_json()["job"])
    assert long_client.post(f"/api/jobs/{done['job']}/continue").get_json()["bits"] == 16
    running = start(long_client, image_id, mask, iterations=100_000).get_json()["job"]
    response = long_client.post(f"/api/jobs/{running}/continue")
    assert response.status_code == 409 and "only a finished result" in response.get_json()["error"]
    long_client.post(f"/api/jobs/{running}/cancel")


def test_info_names_what_each_method_needs_and_inpaint_refuses_what_cannot_run(client, monkeypatch):
    from seminpaint.baselines import patch_match
    from seminpaint.web import jobs

    methods = {m["name"]: m for m in client.get("/api/info").get_json()["methods"]}
    assert methods["context_encoder"]["size"] == [64, 64]  # the shipped network's size
    assert "size" not in methods["ours"] and "unavailable" not in methods["mean"]
    mask = np.zeros((40, 56), dtype=bool)
    mask[10:20, 10:30] = True
    response = start(client, "sample-0", mask, method="context_encoder")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("context_encoder fills 64×64 images only; this one is 56×40")
    square = upload(client, png(photo(64, 64))).get_json()["id"]
    square_mask = np.zeros((64, 64), dtype=bool)
    square_mask[20:40, 20:40] = True
    assert start(client, square, square_mask, method="context_encoder").status_code == 202

    def missing():
        raise InpaintError("the patchmatch baseline needs PatchMatch: pip install pypatchmatch")

    monkeypatch.setattr(patch_match, "_patchmatch", missing)
    needs = jobs.method_requirements()
    assert needs["patchmatch"] == {"unavailable": "the patchmatch baseline needs PatchMatch: pip install pypatchmatch"}
    assert jobs.method_refusal("patchmatch", (40, 56, 3), needs).endswith("pip install pypatchmatch")
    assert jobs.method_refusal("mean", (40, 56, 3), needs) is None
    fresh = create_app(tiny_model(), WebConfig(), samples={"a face": photo()}).test_client()
    info = {m["name"]: m for m in fresh.get("/api/info").get_json()["methods"]}
    assert "pip install pypatchmatch" in info["patchmatch"]["unavailable"]
    refused = start(fresh, "sample-0", mask, method="patchmatch")
    assert refused.status_code == 400 and "pip install pypatchmatch" in refused.get_json()["error"]
