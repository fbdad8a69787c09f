"""`seminpaint serve` holds (issue 23): each case sends the exact hostile request and checks the exact answer.

Masks of the largest size drawn cheaply; pixel work and event streams capped; JSON bodies and query
numbers parsed strictly; half-sent requests cut off at their deadline; connections capped; the Host
header checked; checkpoint configurations checked before any network is built; weights that do not
fit named with both shapes. The server tests run a real BoundedServer on 127.0.0.1 in this process,
with deadlines of a fraction of a second. The bounded load test at the end (a server process, about
30 s) is marked slow: run it with --run-slow.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
import select
import socket
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import seminpaint.web.app as app_module
from seminpaint.networks.checkpoint import DIGEST_KEY, content_digest, load_model, save_checkpoint
from seminpaint.cli import main
from seminpaint.networks.context_encoder import (
    ContextEncoder, ContextEncoderConfig, context_encoder_size, load_context_encoder,
)
from seminpaint.networks.dcgan import DCGANConfig, Discriminator, Generator, discriminator_size, generator_size
from seminpaint.networks.encoder import EncoderConfig, LatentEncoder, encoder_size
from seminpaint.errors import InpaintError
from seminpaint.images import to_float, to_uint8
from seminpaint.masks import make_mask
from seminpaint.web import routes
from seminpaint.web.app import WebConfig, create_app, make_server
from seminpaint.web.jobs import Job, JobQueue, QueueFull
from seminpaint.web.uploads import ImageStore, as_8_bit
from seminpaint.web.server import allowed_hosts

from conftest import TINY, ServerProcess, png, tiny_context_encoder, tiny_model
from conftest import wave_photo as photo

MIB = 2**20


def mask_url(mask) -> str:
    return "data:image/png;base64," + base64.b64encode(png(np.where(mask, 255, 0).astype(np.uint8))).decode()


HOLE = np.zeros((40, 56), bool)
HOLE[10:25, 15:40] = True


def make_app(**limits):
    config = WebConfig(max_iterations=50, default_iterations=5, **limits)
    app = create_app(tiny_model(), config, samples={"a face": photo()})
    app.config["TESTING"] = True
    return app


@pytest.fixture(scope="module")
def client():
    return make_app().test_client()


# --- masks: the largest ones are cheap, larger ones refused ---------------------------------------

def get_mask(client, query: str):
    tracemalloc.start()
    try:
        response = client.get("/api/mask?" + query)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return response, peak


@pytest.mark.parametrize("kind,low,high", [("pattern", 0.19, 0.31), ("random_pixels", 0.799, 0.801)])
def test_the_largest_preset_masks_take_a_few_bytes_a_pixel(client, kind, low, high):
    # Before: make_mask's pattern needed ~100 bytes a pixel (1.6 GB, 15 s at 4096 × 4096) per request.
    response, peak = get_mask(client, f"kind={kind}&width=4096&height=4096&seed=3")
    assert response.status_code == 200 and response.mimetype == "image/png"
    mask = np.asarray(Image.open(io.BytesIO(response.data))) > 127
    assert mask.shape == (4096, 4096) and low <= mask.mean() <= high
    assert peak < 80 * MIB, f"{peak / MIB:.0f} MiB traced"  # numpy's part: the mask, its PNG's input
    assert client.get(f"/api/mask?kind={kind}&width=4096&height=4096&seed=3").data == response.data  # same seed


@pytest.mark.parametrize("kind", ["center", "pattern", "random_pixels", "half", "random"])
def test_preset_masks_up_to_512_squared_are_those_of_make_mask(client, kind):
    for width, height in ((56, 40), (512, 512)):
        response = client.get(f"/api/mask?kind={kind}&width={width}&height={height}&seed=7")
        mask = np.asarray(Image.open(io.BytesIO(response.data))) > 127
        assert np.array_equal(mask, make_mask(kind, height, width, rng=np.random.default_rng(7)))


@pytest.mark.parametrize("query,message", [
    ("kind=pattern&width=4097&height=4096", "a 4097×4096 mask is 16,781,312 pixels; this server draws at most 16,777,216"),
    ("kind=pattern&width=100000&height=100000", "a 100000×100000 mask is 10,000,000,000 pixels"),
    ("kind=pattern&width=99999999999999999999&height=1", "width must be a whole number from 1 to 16,777,216, got '99999999999999999999'"),
    ("kind=pattern&width=1e3&height=64", "width must be a whole number from 1 to 16,777,216, got '1e3'"),
    ("kind=pattern&width=-64&height=64", "got '-64'"),
    ("kind=pattern&width=%2B64&height=64", "got '+64'"),
    ("kind=pattern&width=%EF%BC%96%EF%BC%94&height=64", "got '６４'"),  # fullwidth digits: int() would take them
    ("kind=pattern&width=64&height=0", "height must be a whole number from 1 to 16,777,216, got '0'"),
    ("kind=pattern&width=64", "height must be a whole number from 1 to 16,777,216, got nothing"),
    ("kind=pattern&width=64&height=64&seed=9223372036854775808", "seed must be a whole number from 0 to 9,223,372,036,854,775,807"),
    ("kind=nope&width=64&height=64", "unknown mask kind \"nope\"; valid kinds: center, pattern, random_pixels, half"),
])
def test_mask_requests_beyond_the_limits_get_one_line(client, query, message):
    response = client.get("/api/mask?" + query)
    assert response.status_code == 400 and message in response.get_json()["error"], response.get_json()


def test_pixel_work_waits_for_its_turn_then_gets_503(monkeypatch):
    app = make_app(pixel_workers=1, pixel_wait=0.2)
    client = app.test_client()
    started, release = threading.Event(), threading.Event()
    drawn = routes.preset_mask

    def slow_mask(*args):
        started.set()
        release.wait(10)
        return drawn(*args)

    monkeypatch.setattr(routes, "preset_mask", slow_mask)
    first = []
    holder = threading.Thread(target=lambda: first.append(client.get("/api/mask?kind=center&width=64&height=64")))
    holder.start()
    assert started.wait(10)
    for response in (client.get("/api/mask?kind=half&width=64&height=64"),
                     client.post("/api/upload", data={"file": (io.BytesIO(png(photo())), "x.png")},
                                 content_type="multipart/form-data"),
                     client.get("/api/images/sample-0.png")):
        assert response.status_code == 503
        assert response.get_json()["error"] == ("the server is busy: other requests are decoding or drawing images; "
                                                "try again soon")
    release.set()
    holder.join(10)
    assert first[0].status_code == 200
    assert client.get("/api/mask?kind=half&width=64&height=64").status_code == 200


def test_event_streams_are_capped_and_a_closed_one_frees_its_place():
    client = make_app(max_streams=1).test_client()
    job = client.post("/api/inpaint", json={"image": "sample-0", "mask": mask_url(HOLE), "iterations": 5}).get_json()
    held = client.get(job["events"], buffered=False)
    assert held.status_code == 200
    refused = client.get(job["events"])
    assert refused.status_code == 503
    assert refused.get_json()["error"] == ("the server is busy: 1 event streams are open (poll /api/jobs/<id> "
                                           "instead); try again soon")
    held.close()
    assert client.get(job["events"]).status_code == 200


def test_memory_held_between_requests_is_bounded():
    """Waiting jobs' images, kept uploads and finished jobs each within their budget."""
    gate = threading.Event()
    queue = JobQueue(lambda job, report: gate.wait(5) and b"png", limit=10, keep=10, max_bytes=1000)
    make = lambda i, image: Job(id=str(i), image_id="x", image=image, mask=np.zeros((2, 2), bool),  # noqa: E731
                                method="ours", iterations=1, seed=0)
    running = queue.submit(make(0, np.zeros(600, np.uint8)))
    deadline = time.monotonic() + 5
    while running.state != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    shared = np.zeros(600, np.uint8)
    queue.submit(make(1, shared))
    queue.submit(make(2, shared))  # the same image again costs nothing more
    with pytest.raises(QueueFull, match=r"^the server is busy: the waiting requests hold 0 MiB of images; "
                                        r"try again soon$"):
        queue.submit(make(3, np.zeros(600, np.uint8)))
    gate.set()
    while queue.completed < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert running.state == "done" and running.image is None and running.result == b"png"  # the image let go

    store = ImageStore(keep=16, max_bytes=1000)
    ids = [store.add(np.zeros(400, np.uint8)) for _ in range(3)]
    assert store.get(ids[0]) is None and store.get(ids[1]) is not None and store.get(ids[2]) is not None
    big = store.add(np.zeros(5000, np.uint8))  # the newest is kept even alone over the budget
    assert store.get(big) is not None and store.get(ids[2]) is None


def test_finished_jobs_results_are_kept_within_their_byte_budget():
    """Each finished job's PNGs (result, candidates, spread) count; the oldest go first, the newest stays."""

    def run(job, report):
        report(completions=[b"c" * 300, b"c" * 300], spread=b"s" * 100)
        return b"r" * 300

    queue = JobQueue(run, limit=10, keep=10, max_result_bytes=2500)
    jobs = []
    for index in range(4):
        jobs.append(queue.submit(Job(id=str(index), image_id="x", image=np.zeros(4, np.uint8),
                                     mask=np.zeros((2, 2), bool), method="ours", iterations=1, seed=0)))
        deadline = time.monotonic() + 5
        while queue.completed <= index and time.monotonic() < deadline:
            time.sleep(0.01)
    assert [queue.get(str(i)) is not None for i in range(4)] == [False, False, True, True]  # 1,000 bytes a job
    assert queue.result_bytes() == 2000
    alone = JobQueue(run, limit=10, keep=10, max_result_bytes=10)
    job = alone.submit(Job(id="a", image_id="x", image=np.zeros(4, np.uint8), mask=np.zeros((2, 2), bool),
                           method="ours", iterations=1, seed=0))
    deadline = time.monotonic() + 5
    while alone.completed < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert alone.get("a") is job and job.state == "done"  # the newest is kept even alone over the budget


def test_sixteen_bit_images_are_shown_as_the_float_route_would_round_them():
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    assert np.array_equal(as_8_bit(values), to_uint8(to_float(values)))


# --- JSON bodies: numbers parsed strictly, nesting refused, never a 500 ---------------------------

def post_raw(client, body: bytes):
    return client.post("/api/inpaint", data=body, content_type="application/json")


def body_with(fields: str) -> bytes:
    return ('{"image": "sample-0", "mask": "%s", ' % mask_url(HOLE) + fields + "}").encode()


@pytest.mark.parametrize("fields,message", [
    ('"iterations": 1e400', "iterations must be a whole number from 1 to 50, got 1E+400"),
    ('"iterations": 5, "seed": 1e400', "seed must be a whole number from 0 to 9,223,372,036,854,775,807, got 1E+400"),
    ('"iterations": -1e400', "iterations must be a whole number from 1 to 50, got -1E+400"),
    ('"iterations": 5.0', "iterations must be a whole number from 1 to 50, got 5.0"),
    ('"iterations": true', "iterations must be a whole number from 1 to 50, got true"),
    ('"iterations": "5"', 'iterations must be a whole number from 1 to 50, got "5"'),
    ('"iterations": null', "iterations must be a whole number from 1 to 50, got null"),
    ('"iterations": 5, "seed": -1', "seed must be a whole number from 0 to 9,223,372,036,854,775,807, got -1"),
    ('"iterations": 5, "seed": 9223372036854775808',
     "seed must be a whole number from 0 to 9,223,372,036,854,775,807, got 9223372036854775808"),
    ('"iterations": 1' + "0" * 5000, "the body is not valid JSON (an integer of 5,001 digits (at most 20 here))"),
    ('"iterations": NaN', "the body is not valid JSON (NaN is not JSON)"),
    ('"iterations": Infinity', "the body is not valid JSON (Infinity is not JSON)"),
    ('"iterations": 5, "extra": {"a": 1}', 'the JSON body is nested: "extra" holds an object; send plain values'),
    ('"iterations": 5, "extra": [1]', 'the JSON body is nested: "extra" holds an array; send plain values'),
    ('"iterations": 5, "extra": ' + "[" * 100_000 + "]" * 100_000,
     "the JSON body is nested too deeply: send one object of plain values"),
], ids=lambda value: value[:40])
def test_strict_numbers_and_no_nesting_in_the_inpaint_body(client, fields, message):
    response = post_raw(client, body_with(fields))
    assert response.status_code == 400
    assert response.get_json() == {"error": message}


@pytest.mark.parametrize("body,message", [
    (b"[" * 100_000 + b"]" * 100_000, "the JSON body is nested too deeply: send one object of plain values"),
    (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "the JSON body is nested too deeply: send one object of plain values"),
    (b'[{"image": "sample-0"}]', "send a JSON object: {image, mask, method, iterations, seed}"),
    (b"1e400", "send a JSON object: {image, mask, method, iterations, seed}"),
    (b'\xff\xfe{"image": 1}', "the body is not UTF-8 text: send a JSON object"),
    (b'{"image": "sample-0",', "the body is not valid JSON (Expecting property name enclosed in double quotes: "),
    (b"", "the body is not valid JSON (Expecting value: line 1 column 1 (char 0))"),
], ids=["deep arrays", "deep objects", "an array", "a number", "UTF-16", "cut short", "empty"])
def test_bodies_that_are_not_one_flat_object_get_400(client, body, message):
    response = post_raw(client, body)
    assert response.status_code == 400 and response.get_json()["error"].startswith(message), response.get_json()


def test_a_well_formed_body_is_still_taken(client):
    response = post_raw(client, body_with('"iterations": 3, "seed": 9223372036854775807, "method": "mean"'))
    assert response.status_code == 202, response.get_json()


# --- the server: deadlines, the connection cap, the Host check -------------------------------------

class Live:
    """A BoundedServer on 127.0.0.1 (any free port) in this process, serving make_app(**limits)."""

    def __init__(self, allow_hosts=(), **limits):
        self.app = make_app(**limits)
        self.server = make_server(self.app, self.app.extensions["seminpaint"]["config"], host="127.0.0.1", port=0,
                                  allow_hosts=allow_hosts)
        self.port = self.server.port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def connect(self, timeout=10.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def send(self, data: bytes, timeout=10.0) -> tuple[int, dict | None]:
        """Send raw bytes, read until the server closes; (status, JSON body or None)."""
        with self.connect(timeout) as connection:
            connection.sendall(data)
            return parse(read_all(connection))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def waiting_answer(connection: socket.socket) -> bytes | None:
    """What the server has sent on `connection` so far without waiting: None when nothing yet, b"" when
    it has closed the connection (or reset it)."""
    if not select.select([connection], [], [], 0)[0]:
        return None
    try:
        return connection.recv(65536)
    except OSError:
        return b""


def read_all(connection: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = connection.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def parse(answer: bytes) -> tuple[int, dict | None]:
    if not answer:
        return 0, None
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"chunked" in head.lower():
        body = body.split(b"\r\n", 1)[1].rsplit(b"\r\n0\r\n", 1)[0]
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


@pytest.fixture
def live():
    servers = []

    def start(**options):
        servers.append(Live(**options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def get(port: int, path: str = "/api/info", host: str | None = None) -> bytes:
    host = f"127.0.0.1:{port}" if host is None else host
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def test_a_half_sent_request_is_cut_off_at_its_header_deadline(live):
    server = live(header_timeout=0.5)
    threads = threading.active_count()
    with server.connect() as connection:
        connection.sendall(f"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n".encode())
        began = time.monotonic()
        closed = False
        while time.monotonic() - began < 5:  # a byte every 0.1 s: each would reset an idle timeout
            try:
                connection.sendall(b"X")
            except OSError:
                closed = True
                break
            if waiting_answer(connection) == b"":
                closed = True
                break
            time.sleep(0.1)
        waited = time.monotonic() - began
    assert closed and 0.3 < waited < 2.0, waited
    deadline = time.monotonic() + 2
    while threading.active_count() > threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= threads  # its thread has ended
    assert server.send(get(server.port))[0] == 200


def test_a_slow_body_gets_408_at_its_deadline(live):
    server = live(body_timeout=0.5)
    with server.connect() as connection:
        connection.sendall(f"POST /api/inpaint HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                           "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"image\": ".encode())
        began = time.monotonic()
        status, body = parse(read_all(connection))
    assert status == 408 and body == {"error": "the request body did not arrive within 0.5 s"}
    assert 0.3 < time.monotonic() - began < 3.0


def test_connections_beyond_the_cap_get_503_at_once(live):
    server = live(max_connections=2, header_timeout=5)
    holders = [server.connect() for _ in range(2)]
    for holder in holders:
        holder.sendall(b"GET /api/info HTTP/1.1\r\n")  # half sent: each holds its place
    time.sleep(0.2)
    began = time.monotonic()
    status, body = server.send(get(server.port))
    assert time.monotonic() - began < 1.0
    assert status == 503 and body == {"error": "the server is busy: 2 connections are open, the most it serves "
                                               "at once; try again soon"}
    assert server.server.refused == 1
    for holder in holders:
        holder.close()
    deadline = time.monotonic() + 5
    while server.send(get(server.port))[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_only_the_listening_addresses_and_allowed_names_are_answered(live):
    server = live(allow_hosts=["my.box", "proxy.example:443"])
    port = server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}", "localhost",
                 f"my.box:{port}", "my.box", "proxy.example:443"):
        assert server.send(get(port, host=host))[0] == 200, host
    listening = f"127.0.0.1, localhost, [::1] with port {port}, and my.box, proxy.example:443"
    for host in (f"evil.example:{port}", f"localhost:{port + 1}", f"127.0.0.1.evil.example:{port}", "proxy.example",
                 f"my.box.evil.example:{port}"):
        status, body = server.send(get(port, host=host))
        assert status == 400 and body == {"error": f"the Host header {host!r} is not an address of this server "
                                                   f"(it answers {listening}; start it with --allow-host NAME "
                                                   "to add a name)"}, host
    status, body = server.send(b"GET /api/info HTTP/1.0\r\n\r\n")
    assert status == 400 and body["error"].startswith("no Host header is not an address of this server")
    status, body = server.send(f"GET http://evil.example:{port}/api/info HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert status == 400 and body["error"].startswith(f"the Host header 'evil.example:{port}' is not")


def test_allow_host_names_are_checked():
    assert allowed_hosts("0.0.0.0", 8000, ["Box.Local", "::1", "10.0.0.7:9000"]) >= {
        "box.local", "box.local:8000", "[::1]", "10.0.0.7:9000", "0.0.0.0:8000", "localhost:8000"}
    for bad in ("evil host", "a/b", "", "x:y:z:", "name:port"):
        with pytest.raises(InpaintError, match="--allow-host takes a host name or address"):
            allowed_hosts("127.0.0.1", 8000, [bad])


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    model = tiny_model()
    save_checkpoint(path, TINY, model.generator, model.discriminator)
    return path


def test_serve_passes_allow_host_and_refuses_a_malformed_one_in_one_line(checkpoint_file, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(app_module, "serve", lambda model, config, **options: seen.append(options["allow_hosts"]))
    assert main(["serve", "--model", str(checkpoint_file), "--allow-host", "a.example",
                 "--allow-host", "b.example:8080"]) == 0
    assert seen == [["a.example", "b.example:8080"]]
    monkeypatch.undo()
    assert main(["serve", "--model", str(checkpoint_file), "--port", "0", "--allow-host", "evil host"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == "seminpaint: error: --allow-host takes a host name or address (optionally with :port), got 'evil host'"


# --- checkpoints: configurations checked before any network is built; load errors name the tensor ----

def tiny_tensors() -> dict[str, torch.Tensor]:
    model = tiny_model()
    tensors = {f"generator.{k}": v for k, v in model.generator.state_dict().items()}
    return tensors | {f"discriminator.{k}": v for k, v in model.discriminator.state_dict().items()}


TINY_TENSORS = tiny_tensors()  # made here, so that a test that counts networks built counts the loader's only


def crafted(path: Path, config: dict, *, tensors=None, extra: dict | None = None, format="seminpaint-dcgan") -> Path:
    """A checkpoint with the tiny model's tensors (or `tensors`) and any configuration, its content
    digest made to match, as someone who wrote it on purpose would."""
    tensors = TINY_TENSORS if tensors is None else tensors
    metadata = {"format": format, "config": config if isinstance(config, str) else json.dumps(config), **(extra or {})}
    metadata[DIGEST_KEY] = content_digest(tensors, metadata)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


@pytest.fixture
def no_network_built(monkeypatch):
    built = []
    for network in (Generator, Discriminator, LatentEncoder, ContextEncoder):
        original = network.__init__

        def record(self, *args, _original=original, **kwargs):
            built.append(type(self).__name__)
            _original(self, *args, **kwargs)

        monkeypatch.setattr(network, "__init__", record)
    yield built
    assert built == [], f"networks were built before the configuration was refused: {built}"


TINY_DICT = TINY.to_dict()


@pytest.mark.parametrize("changes,message", [
    ({"image_size": 2**20}, "image_size must be a power of two from 8 to 256, got 1048576"),
    ({"generator_features": 2**20}, "generator_features must be a whole number from 1 to 1024, got 1048576"),
    ({"discriminator_features": 0}, "discriminator_features must be a whole number from 1 to 1024, got 0"),
    ({"latent_dim": 10**12}, "latent_dim must be a whole number from 1 to 8192, got 1000000000000"),
    ({"image_size": 256, "generator_features": 1024, "latent_dim": 8192},
     "the generator would have 15,737,335,814 parameters, more than the 100,000,000 a network may have here"),
    ({"image_size": 64.0}, "image_size must be a power of two from 8 to 256, got 64.0"),
    ({"channels": "3"}, "channels must be 1 or 3, got '3'"),
    ({"latent_dim": True}, "latent_dim must be a whole number from 1 to 8192, got True"),
])
def test_a_crafted_dcgan_config_is_refused_before_any_network_is_built(tmp_path, no_network_built, changes, message):
    path = crafted(tmp_path / "crafted.safetensors", {**TINY_DICT, **changes})
    with pytest.raises(InpaintError) as error:
        load_model(path)
    assert str(error.value) == f"checkpoint {path} has a configuration this package will not build: {message}"


@pytest.mark.parametrize("encoder,message", [
    ({"image_size": 16, "latent_dim": 8, "features": 2**20}, "features must be a whole number from 1 to 1024"),
    ({"image_size": 256, "latent_dim": 8192, "features": 1024}, "the latent encoder would have "),
    ({"image_size": 16, "latent_dim": 8, "latent_range": [0, 1e400]}, "latent_range must be (low, high), two finite"),
    ({"image_size": 16, "latent_dim": 8, "latent_range": "ab"}, "latent_range must be (low, high), two finite"),
])
def test_a_crafted_encoder_config_is_refused_before_any_network_is_built(tmp_path, no_network_built, encoder, message):
    path = crafted(tmp_path / "crafted.safetensors", TINY_DICT, extra={"encoder": json.dumps(encoder)})
    with pytest.raises(InpaintError, match=re.escape(message)):
        load_model(path)


def test_a_crafted_context_encoder_config_is_refused_before_any_network_is_built(tmp_path, no_network_built):
    path = crafted(tmp_path / "ce.safetensors", {"image_size": 64, "channels": 3, "features": 1024, "bottleneck": 8192},
                   tensors={"context_encoder.x": torch.zeros(1)}, format="seminpaint-context-encoder")
    with pytest.raises(InpaintError, match=r"has a configuration this package will not build: the generator would "
                                           r"have [0-9,]+ parameters"):
        load_context_encoder(path)


@pytest.mark.parametrize("config", ["[" * 100_000, '"a string"', "[1, 2]", '{"image_size": [64]}'])
def test_a_malformed_config_is_one_line(tmp_path, no_network_built, config):
    path = crafted(tmp_path / "crafted.safetensors", config)
    with pytest.raises(InpaintError) as error:
        load_model(path)
    assert str(error.value).startswith(f"checkpoint {path} has a ") and "\n" not in str(error.value)


def test_serve_with_a_crafted_checkpoint_exits_2_with_one_line(tmp_path, capsys):
    path = crafted(tmp_path / "crafted.safetensors", {**TINY_DICT, "image_size": 256, "generator_features": 1024})
    assert main(["serve", "--model", str(path), "--port", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "the generator would have" in error and "Traceback" not in error


@pytest.mark.parametrize("change,message", [
    (lambda t: t.__setitem__("generator.net.0.weight", torch.zeros(8, 12, 4, 4)),
     "tensor generator.net.0.weight is 8×12×4×4 in the file, but the Generator built from its configuration "
     "needs 8×16×4×4"),
    (lambda t: t.__setitem__("discriminator.net.2.weight", torch.zeros(16, 8, 3, 3)),
     "tensor discriminator.net.2.weight is 16×8×3×3 in the file, but the Discriminator built from its "
     "configuration needs 16×8×4×4"),
    (lambda t: t.__setitem__("generator.net.1.bias", torch.zeros(())),
     "tensor generator.net.1.bias is a scalar in the file, but the Generator built from its configuration needs 16"),
    (lambda t: t.pop("generator.net.1.running_var"),
     "tensor generator.net.1.running_var (16, needed by the Generator) is not in the file"),
    (lambda t: t.__setitem__("generator.net.9.weight", torch.zeros(2, 2)),
     "tensor generator.net.9.weight (2×2) in the file is not part of the Generator"),
    (lambda t: t.__setitem__("generator.net.0.weight", torch.zeros(8, 16, 4, 4, dtype=torch.int32)),
     "tensor generator.net.0.weight is int32 in the file, but the Generator needs float32 (shape 8×16×4×4)"),
])
def test_weights_that_do_not_fit_name_the_tensor_and_both_shapes(tmp_path, change, message):
    tensors = tiny_tensors()
    change(tensors)
    path = crafted(tmp_path / "wrong.safetensors", TINY_DICT, tensors=tensors)
    with pytest.raises(InpaintError) as error:
        load_model(path)
    assert str(error.value) == f"checkpoint weights do not fit its configuration: {message}"


def test_every_mismatch_is_counted_in_the_message(tmp_path):
    tensors = tiny_tensors()
    tensors["generator.net.0.weight"] = torch.zeros(1)
    tensors["generator.net.3.weight"] = torch.zeros(1)
    del tensors["generator.net.1.bias"]
    path = crafted(tmp_path / "wrong.safetensors", TINY_DICT, tensors=tensors)
    with pytest.raises(InpaintError, match=r"^checkpoint weights do not fit its configuration: tensor "
                                           r"generator\.net\.0\.weight is 1 in the file, .* \(and 2 more\)$"):
        load_model(path)


@pytest.mark.parametrize("config", [TINY, DCGANConfig(), DCGANConfig(image_size=128, channels=1, generator_features=3,
                                                                      discriminator_features=5, latent_dim=7)])
def test_network_sizes_are_counted_exactly_without_building(config):
    count = lambda network: sum(t.numel() for t in [*network.parameters(), *network.buffers()])  # noqa: E731
    assert generator_size(config) == count(Generator(config))
    assert discriminator_size(config) == count(Discriminator(config))
    encoder = EncoderConfig(image_size=config.image_size, channels=config.channels, latent_dim=config.latent_dim,
                            features=config.discriminator_features)
    assert encoder_size(encoder) == count(LatentEncoder(encoder))
    context = ContextEncoderConfig(image_size=config.image_size, channels=config.channels,
                                   features=config.generator_features, bottleneck=config.latent_dim)
    assert context_encoder_size(context) == count(ContextEncoder(context))


def test_an_intact_context_encoder_still_loads(tmp_path):
    assert isinstance(load_context_encoder(tiny_context_encoder(tmp_path / "ce.safetensors")), ContextEncoder)


# --- the bounded load test (slow: a server process, about 30 s) -----------------------------------

LOAD_SLOW_CLIENTS = 40   # connections that send half a request, then a byte a second
LOAD_BURST = 50          # inpainting requests at once (the queue takes 32)
LOAD_MASKS = 8           # preset masks of the largest size at once (pattern, random pixels)
LOAD_OVERSIZED = 4       # mask requests over the pixel limit (8192 × 8192)
LOAD_READS = 10          # page, info, script reads at once
LOAD_TIME_LIMIT = 90.0   # seconds for the whole test


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak resident memory) in KiB and Threads of a process, from /proc (Linux)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            values[key] = int(rest.split()[0])
    return values


def why_503(data: bytes) -> str:
    message = json.loads(data).get("error", "")
    if "connections are open" in message:
        return "503 connection cap"
    if "requests are waiting" in message or "MiB of images" in message:
        return "503 queue full"
    return "503 busy (pixels)" if "decoding or drawing" in message else "503 other"


def run_load(server: ServerProcess, *, slow_clients: int, burst: int, masks: int, oversized: int, reads: int,
             deadline: float) -> dict:
    """One bounded round: slow clients first, then everything else released at once by a barrier.
    Every request is recorded as answered (its status, 503s by reason) or lost (no HTTP answer)."""
    sample_mask = np.zeros((160, 160), np.uint8)
    sample_mask[40:100, 50:110] = 255
    body = json.dumps({"image": "sample-1", "mask": "data:image/png;base64," + base64.b64encode(png(sample_mask)).decode(),
                       "method": "ours", "iterations": 20}).encode()
    results, lock = [], threading.Lock()
    gate = threading.Barrier(burst + masks + oversized + reads + 1)
    slow_connected = threading.Barrier(slow_clients + 1) if slow_clients else None

    def record(kind, **entry):
        with lock:
            results.append({"kind": kind, **entry})

    def slow_client():
        began = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
                connection.sendall(f"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-Slow: ".encode())
                slow_connected.wait(30)
                while time.monotonic() < deadline:
                    time.sleep(1.0)
                    try:
                        connection.sendall(b"x")
                        answer = waiting_answer(connection)
                    except OSError:
                        answer = b""
                    if answer is None:
                        continue
                    if answer.startswith(b"HTTP/1.1 503"):
                        record("slow", outcome="503 connection cap", seconds=time.monotonic() - began)
                        return
                    if not answer:
                        record("slow", outcome="cut off", seconds=time.monotonic() - began)
                        return
                record("slow", outcome="still open at the time limit", seconds=time.monotonic() - began)
        except (OSError, threading.BrokenBarrierError) as error:
            record("slow", outcome=f"lost: {type(error).__name__}", seconds=time.monotonic() - began)

    def answered(kind, method, path, data=None, headers=None, **extra):
        began = time.monotonic()
        try:
            status, reply = server.request(method, path, data, headers)
        except (OSError, http.client.HTTPException) as error:
            record(kind, outcome="lost", error=f"{type(error).__name__}: {error}", seconds=time.monotonic() - began)
            return None, None
        outcome = why_503(reply) if status == 503 else str(status)
        record(kind, outcome=outcome, seconds=time.monotonic() - began, **extra)
        return status, reply

    def inpaint_client():
        gate.wait(30)
        status, reply = answered("inpaint", "POST", "/api/inpaint", body, {"Content-Type": "application/json"})
        if status != 202:
            return
        job = json.loads(reply)["job"]
        state = "queued"
        while state not in ("done", "failed") and time.monotonic() < deadline:
            try:
                status, reply = server.request("GET", f"/api/jobs/{job}")
                if status == 200:
                    state = json.loads(reply)["state"]
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        record("job", outcome=state)

    def mask_client(index):
        gate.wait(30)
        kind = ("pattern", "random_pixels")[index % 2]
        status, reply = answered("mask", "GET", f"/api/mask?kind={kind}&width=4096&height=4096&seed={index}")
        if status == 200:
            assert Image.open(io.BytesIO(reply)).size == (4096, 4096)

    def oversized_client(index):
        gate.wait(30)
        answered("oversized mask", "GET", f"/api/mask?kind=pattern&width=8192&height=8192&seed={index}")

    def read_client(index):
        gate.wait(30)
        answered("read", "GET", ["/", "/api/info", "/static/app.js"][index % 3])

    threads = [threading.Thread(target=slow_client) for _ in range(slow_clients)]
    for thread in threads:
        thread.start()
    if slow_connected:
        slow_connected.wait(30)
    time.sleep(0.5)
    others = [threading.Thread(target=inpaint_client) for _ in range(burst)]
    others += [threading.Thread(target=mask_client, args=(i,)) for i in range(masks)]
    others += [threading.Thread(target=oversized_client, args=(i,)) for i in range(oversized)]
    others += [threading.Thread(target=read_client, args=(i,)) for i in range(reads)]
    for thread in others:
        thread.start()
    began = time.monotonic()
    gate.wait(30)
    for thread in threads + others:
        thread.join(max(0.0, deadline - time.monotonic()) + 10)
    outcomes = {}
    for entry in results:
        if entry["kind"] != "job":
            key = f"{entry['kind']}: {entry['outcome']}"
            outcomes[key] = outcomes.get(key, 0) + 1
    sent = [entry for entry in results if entry["kind"] not in ("job", "slow")]
    cut = sorted(entry["seconds"] for entry in results if entry["kind"] == "slow" and entry["outcome"] == "cut off")
    masks_done = sorted(entry["seconds"] for entry in results if entry["kind"] == "mask" and entry["outcome"] == "200")
    return {
        "requests": len(sent), "answered": sum(entry["outcome"] != "lost" for entry in sent),
        "lost": sum(entry["outcome"] == "lost" for entry in sent),
        "refused_503": sum(entry["outcome"].startswith("503") for entry in sent),
        "outcomes": dict(sorted(outcomes.items())),
        "jobs_done": sum(entry["kind"] == "job" and entry["outcome"] == "done" for entry in results),
        "slow_clients": slow_clients, "slow_cut_off": len(cut),
        "slow_cut_off_after_s": [round(cut[0], 1), round(cut[-1], 1)] if cut else None,
        "largest_masks_s_median_max": [round(masks_done[len(masks_done) // 2], 2), round(masks_done[-1], 2)]
        if masks_done else None,
        "seconds": round(time.monotonic() - began, 1),
        "errors": [entry["error"] for entry in results if entry.get("outcome") == "lost"][:5],
    }


@pytest.mark.slow
def test_bounded_load_burst_slow_clients_and_largest_masks(tmp_path):
    """A live server (defaults: 64 connections, headers within 10 s, queue 32, 2 pixel workers) on
    127.0.0.1: round 1, 40 slow clients hold connections while 50 inpaintings, 8 masks of 4096 × 4096,
    4 of 8192 × 8192 and 10 reads arrive at once; round 2, the burst of 50 alone. Every request is
    answered (none lost), the slow clients are cut off at their deadline, memory and threads stay
    bounded, and the server answers afterwards."""
    server = ServerProcess(tmp_path)
    peak, stop = {"Threads": 0, "VmRSS": 0}, threading.Event()

    def watch():
        while not stop.is_set():
            try:
                status = proc_status(server.process.pid)
            except OSError:
                return
            for key in peak:
                peak[key] = max(peak[key], status[key])
            time.sleep(0.05)

    try:
        time.sleep(0.5)
        start = proc_status(server.process.pid)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        deadline = time.monotonic() + LOAD_TIME_LIMIT
        first = run_load(server, slow_clients=LOAD_SLOW_CLIENTS, burst=LOAD_BURST, masks=LOAD_MASKS,
                         oversized=LOAD_OVERSIZED, reads=LOAD_READS, deadline=deadline)
        while server.request("GET", "/api/info")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        idle = proc_status(server.process.pid)
        second = run_load(server, slow_clients=0, burst=LOAD_BURST, masks=0, oversized=0, reads=0, deadline=deadline)
        stop.set()
        watcher.join(5)
        end = proc_status(server.process.pid)
        report = {
            "round 1: slow clients + burst + largest masks": first, "round 2: burst of 50 alone": second,
            "server_rss_mib": {"start": round(start["VmRSS"] / 1024), "peak": round(end["VmHWM"] / 1024),
                               "end": round(end["VmRSS"] / 1024)},
            "server_threads": {"start": start["Threads"], "peak": peak["Threads"], "after round 1": idle["Threads"],
                               "end": end["Threads"]},
            "server_alive": server.process.poll() is None,
        }
        print("\nload test:", json.dumps(report, indent=1))
        if os.environ.get("SEMINPAINT_LOAD_REPORT"):
            Path(os.environ["SEMINPAINT_LOAD_REPORT"]).write_text(json.dumps(report, indent=2))
        for round_ in (first, second):
            assert round_["lost"] == 0 and round_["answered"] == round_["requests"], round_["errors"]
        assert first["slow_cut_off"] == LOAD_SLOW_CLIENTS and first["slow_cut_off_after_s"][1] < 10 + 5
        outcomes = first["outcomes"]
        assert outcomes.get("oversized mask: 400", 0) + outcomes.get("oversized mask: 503 connection cap", 0) == LOAD_OVERSIZED
        assert outcomes.get("mask: 200", 0) >= 1 and outcomes.get("inpaint: 202", 0) >= 1
        assert second["outcomes"].get("inpaint: 503 queue full", 0) >= 1  # beyond the queue: refused, not lost
        assert peak["Threads"] <= 64 + 8  # the connection cap, the worker, the accept loop, torch's
        assert end["VmHWM"] - start["VmRSS"] < 1024 * 1024  # KiB: the peak stays within 1 GiB of the start
        assert report["server_alive"] and server.request("GET", "/api/info")[0] == 200
    finally:
        stop.set()
        server.stop()
