"""The web app: one page to upload (or pick) an image, draw the hole, inpaint, and watch G(z) improve.

Flask, one page (templates/index.html, static/app.js, static/style.css; plain HTML and canvas, no
build step). Routes, all JSON unless said otherwise:

    GET  /                          the page
    GET  /api/info                  model, methods, mask kinds, samples, limits
    POST /api/upload                multipart `file` → {id, width, height, bits}; size-limited and
                                    checked for being an image before anything else
    GET  /api/images/<id>.png       an uploaded image as the page draws it (EXIF applied, 8-bit PNG)
    GET  /api/mask?kind=&width=&height=&seed=   a mask of one of the paper's kinds (PNG, white = missing)
    POST /api/inpaint               {image, mask (PNG data URL, white = missing), method, iterations,
                                    seed} → {job, position}; 503 when the queue is full
    GET  /api/jobs/<id>             the job's state (queued + position, running + step, done, failed)
    GET  /api/jobs/<id>/events      Server-Sent Events: queued, progress (step, loss, G(z) preview
                                    as a PNG data URL), done, failed
    GET  /api/jobs/<id>/result.png  the result at the input's size and bit depth (?download=1 to save)
    GET  /api/jobs/<id>/mask.png    the mask that was used
    POST /api/jobs/<id>/cancel      stop a job: a queued one leaves the queue, a running search stops
                                    at its next step; either is then reported "cancelled"
    POST /api/jobs/<id>/continue    the job's result as a new uploaded image → {id, width, height, ...}

Jobs run one at a time on a single worker thread (JobQueue): requests that arrive meanwhile wait,
and each knows its place in the queue. The model is loaded once, before the server starts. A job
that fails reports its message to the page; the server keeps running. Mask convention: white =
missing, to be filled.

Every request's work is bounded (WebConfig): bodies by max_upload_bytes, images and masks by
max_pixels; work on pixels outside the queue (decoding an upload or a mask, drawing a preset mask,
encoding a PNG) runs at most pixel_workers at a time, in memory proportional to the pixels (preset
masks too: preset_mask); event streams are capped (max_streams); JSON bodies and query numbers are
parsed strictly (parse_json_object, whole_number, query_number). Connections, read deadlines and the
Host check are the server's (server.py).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import decimal
import io
import itertools
import json
import math
import os
import re
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from flask import Flask, Response, jsonify, render_template, request
from PIL import Image, UnidentifiedImageError
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from ..api import describe, inpaint, prepare, resolve_settings
from ..baselines import METHODS, fill
from ..errors import InpaintError
from ..images import (
    from_tensor, png_bytes, read_image, split_alpha, to_float, to_tensor, to_uint8, to_uint16, with_alpha,
)
from ..settings import SearchSettings
from ..losses import importance_weights, objective
from ..masks import MASK_ALIASES, MASK_KINDS, make_mask, mask_to_uint8
from ..networks.model import GenerativeModel
from .server import LOCAL_NAMES, BoundedServer, HostCheck, allowed_hosts, host_name

# Baselines a user can pick on the page (nearest_neighbour needs a reference set, so it is left out).
WEB_BASELINES = tuple(name for name in METHODS if name != "nearest_neighbour")
METHOD_LABELS = {
    "ours": "ours — semantic inpainting (GAN latent search, then blended in)",
    "mean": "mean colour", "biharmonic": "biharmonic", "tv": "total variation",
    "low_rank": "low rank", "patchmatch": "PatchMatch", "telea": "Telea (OpenCV)",
    "navier_stokes": "Navier–Stokes (OpenCV)", "context_encoder": "Context Encoder",
}


@dataclass
class WebConfig:
    """Limits of a server. max_upload_bytes: largest request body (Flask MAX_CONTENT_LENGTH).
    max_pixels: largest image accepted, and largest preset mask drawn. queue_limit: jobs waiting at
    most (more get 503). max_iterations / default_iterations: Adam steps a page may ask for.
    previews: G(z) previews sent per job (at most). keep_jobs / keep_images: finished jobs and uploads
    kept in memory; keep_image_bytes: the uploads kept hold at most this many bytes of pixels (the
    newest is always kept); queue_image_bytes: the images of the waiting jobs hold at most this many
    bytes (a job beyond gets 503). settings: what every job of ours runs, blend included (a
    SearchSettings, a preset name, or None for inpaint's default for the model); default_iterations
    None: the settings'.
    pixel_workers: requests that decode, draw or encode pixels outside the queue at once (uploads,
    masks, image PNGs); others wait up to pixel_wait seconds, then get 503. max_streams: event
    streams open at once (more get 503; the page then polls).
    max_connections, header_timeout, body_timeout, write_timeout: the server's (server.BoundedServer):
    connections served at once, and seconds for a request's headers, for its body, for each write.
    """

    max_upload_bytes: int = 20 * 2**20
    max_pixels: int = 4096 * 4096
    queue_limit: int = 32
    max_iterations: int = 1500
    default_iterations: int | None = None
    settings: SearchSettings | str | None = None
    previews: int = 40
    keep_jobs: int = 64
    keep_images: int = 16
    keep_image_bytes: int = 2**30
    queue_image_bytes: int = 2**30
    pixel_workers: int = 2
    pixel_wait: float = 20.0
    max_streams: int = 32
    max_connections: int = 64
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    write_timeout: float = 30.0


MAX_SEED = 2**63 - 1
MAX_INTEGER_DIGITS = 20  # longer integers in a JSON body are refused before conversion (2**63 has 19 digits)
RANDOM_PIXELS_MISSING = 0.8  # the paper's "80 % missing", masks.random_pixels_mask's default
PRESET_EXACT_PIXELS = 512 * 512
"""Preset masks up to this many pixels are exactly those of `seminpaint masks` (masks.make_mask); see
preset_mask for larger ones."""


def short(value) -> str:
    """A request value as a message shows it: JSON-like, at most 40 characters."""
    if isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool):
        text = str(value)
    else:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def whole_number(value, name: str, low: int, high: int) -> int:
    """A JSON value that must be an integer in [low, high] (not a bool, not a number with a fraction
    or exponent: 5.0 and 1e400 are refused) → the int, or InpaintError (HTTP 400) naming it."""
    if type(value) is not int or not low <= value <= high:
        raise InpaintError(f"{name} must be a whole number from {low:,} to {high:,}, got {short(value)}")
    return value


QUERY_NUMBER = re.compile(r"[0-9]{1,19}")


def query_number(args, name: str, low: int, high: int, default: int | None = None) -> int:
    """A query-string parameter that must be ASCII digits only (no sign, space, exponent or other
    script's digits), at most 19 of them, with a value in [low, high] → the int, or InpaintError."""
    text = args.get(name)
    if text is None and default is not None:
        return default
    if text is None or not QUERY_NUMBER.fullmatch(text) or not low <= int(text) <= high:
        got = "nothing" if text is None else repr(text[:40])
        raise InpaintError(f"{name} must be a whole number from {low:,} to {high:,}, got {got}")
    return int(text)


def _short_integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of {len(text):,} digits (at most {MAX_INTEGER_DIGITS} here)")
    return int(text)


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json_object(data: bytes) -> dict:
    """A request body → the JSON object of plain values it holds, or InpaintError (HTTP 400).

    Strict: UTF-8 only; NaN and Infinity (which Python's json reads) refused; integers of more than
    MAX_INTEGER_DIGITS digits refused before conversion; numbers with a fraction or exponent kept as
    decimal.Decimal (exact, never inf), so that whole_number refuses them by their value; any
    nesting refused: the body is one object whose values are strings, numbers, booleans or null.
    Nesting deep enough to exhaust the parser's recursion is refused by the same message.
    """
    try:
        value = json.loads(data.decode("utf-8"), parse_int=_short_integer, parse_float=decimal.Decimal,
                           parse_constant=_not_json)
    except RecursionError:
        raise InpaintError("the JSON body is nested too deeply: send one object of plain values") from None
    except UnicodeDecodeError:
        raise InpaintError("the body is not UTF-8 text: send a JSON object") from None
    except ValueError as error:
        raise InpaintError(f"the body is not valid JSON ({str(error).splitlines()[0][:100]})") from None
    if not isinstance(value, dict):
        raise InpaintError("send a JSON object: {image, mask, method, iterations, seed}")
    for key, field_value in value.items():
        if isinstance(field_value, (dict, list)):
            raise InpaintError(f"the JSON body is nested: {short(key)} holds an "
                               f"{'object' if isinstance(field_value, dict) else 'array'}; send plain values")
    return value


class Gate:
    """At most `slots` holders at once (a semaphore); a holder beyond them waits up to `wait` seconds,
    then QueueFull (HTTP 503) says `busy`."""

    def __init__(self, slots: int, wait: float, busy: str):
        self.semaphore, self.wait, self.busy = threading.BoundedSemaphore(slots), wait, busy

    def acquire(self) -> None:
        if self.wait > 0:
            acquired = self.semaphore.acquire(timeout=self.wait)
        else:
            acquired = self.semaphore.acquire(blocking=False)
        if not acquired:
            raise QueueFull(f"the server is busy: {self.busy}; try again soon")

    def release(self) -> None:
        self.semaphore.release()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


def preset_mask(kind: str, height: int, width: int, seed: int) -> np.ndarray:
    """A mask of one of MASK_KINDS for the page: bool (height, width), True = missing, drawn in time
    and memory proportional to height × width (a few bytes a pixel).

    Up to PRESET_EXACT_PIXELS pixels it is masks.make_mask(kind, height, width, rng=default_rng(seed)),
    the mask `seminpaint masks` draws. Larger: center and half as make_mask (they are cheap); pattern
    drawn by make_mask at the largest size of the same aspect ratio within PRESET_EXACT_PIXELS, then
    enlarged (nearest neighbour): its blobs scale with the image anyway, so only their edges are
    coarser (make_mask itself needs about 100 bytes a pixel: 1.6 GB and 15 s at 4096 × 4096);
    random_pixels drawn as independent choices, each pixel missing with probability
    RANDOM_PIXELS_MISSING, a block of rows at a time, so its fraction is 0.8 within a fraction of a
    percent rather than exactly. An unknown kind raises InpaintError.
    """
    name = MASK_ALIASES.get(kind, kind)
    if name not in MASK_KINDS:
        raise InpaintError(f"unknown mask kind {short(kind)}; valid kinds: {', '.join(MASK_KINDS)}")
    rng = np.random.default_rng(seed)
    if height * width <= PRESET_EXACT_PIXELS or name in ("center", "half"):
        return make_mask(name, height, width, rng=rng)
    if name == "pattern":
        scale = math.sqrt(PRESET_EXACT_PIXELS / (height * width))
        small_height = max(1, min(height, int(height * scale)))
        small_width = max(1, min(width, PRESET_EXACT_PIXELS // small_height))
        small = make_mask("pattern", small_height, small_width, rng=rng)
        rows = np.arange(height) * small_height // height
        columns = np.arange(width) * small_width // width
        return small[rows[:, None], columns[None, :]]
    mask = np.empty((height, width), dtype=bool)
    step = max(1, 2**20 // width)
    for top in range(0, height, step):
        rows = min(step, height - top)
        mask[top:top + rows] = rng.random((rows, width), dtype=np.float32) < RANDOM_PIXELS_MISSING
    return mask


def as_8_bit(image: np.ndarray) -> np.ndarray:
    """uint16 → uint8, equal to to_uint8(to_float(image)) (round(v / 257)) in integers, a block of rows
    at a time: one byte a value more, not the 12 of the float route. Other dtypes are returned as they are."""
    if image.dtype != np.uint16:
        return image
    out = np.empty(image.shape, dtype=np.uint8)
    step = max(1, 2**20 // max(1, image[0].size))
    for top in range(0, image.shape[0], step):
        out[top:top + step] = (image[top:top + step].astype(np.uint32) + 128) // 257
    return out


@dataclass
class Job:
    """One inpainting request and what has become of it."""

    id: str
    image_id: str
    image: np.ndarray | None  # as read: uint8 or uint16, (H, W), (H, W, 3) or (H, W, 4); None once finished
    mask: np.ndarray       # bool (H, W), True = missing
    method: str
    iterations: int
    seed: int
    state: str = "queued"  # queued → running → done | failed | cancelled (queued → cancelled too)
    position: int = 0      # place in the queue while queued (1 = next)
    step: int = 0
    loss: float | None = None
    preview: str | None = None  # data URL of the latest G(z)
    message: str | None = None  # what went wrong, for the page
    result: bytes | None = None  # PNG
    created: float = field(default_factory=time.monotonic)
    finished: float | None = None
    version: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)  # set: stop at the next search step

    def snapshot(self) -> dict:
        info = {"job": self.id, "state": self.state, "method": self.method, "iterations": self.iterations,
                "step": self.step}
        if self.state == "queued":
            info["position"] = self.position
        if self.loss is not None:
            info["loss"] = self.loss
        if self.state == "done":
            info["result"] = f"/api/jobs/{self.id}/result.png"
            info["seconds"] = round((self.finished or 0) - self.created, 3)
        if self.state in ("failed", "cancelled"):
            info["message"] = self.message
        return info

    def stop_if_cancelled(self) -> None:
        """Raise JobCancelled when the job was asked to stop (called by the search at every step)."""
        if self.cancel.is_set():
            raise JobCancelled(f"cancelled at step {self.step} of {self.iterations}" if self.method == "ours"
                               else "cancelled")


class JobCancelled(Exception):
    """A running job was asked to stop (POST /api/jobs/<id>/cancel); the worker marks it cancelled."""


class QueueFull(InpaintError):
    """Too many jobs wait already (HTTP 503)."""


class JobQueue:
    """Runs jobs one at a time on a single worker thread, in arrival order.

    submit() refuses (QueueFull, HTTP 503) when `limit` jobs already wait, or when the images of the
    waiting jobs would hold more than `max_bytes` bytes. Every change to any job bumps its version and
    wakes the waiters (wait_for_change), which stream it to the pages. A finished job lets go of its
    image (its result and mask stay, for the last `keep` finished jobs).
    """

    def __init__(self, run: Callable[["Job", Callable[[], None]], bytes], *, limit: int, keep: int,
                 max_bytes: int | None = None):
        self._run, self.limit, self.keep, self.max_bytes = run, limit, keep, max_bytes
        self.jobs: dict[str, Job] = {}
        self.waiting: collections.deque[Job] = collections.deque()
        self.changed = threading.Condition()
        self.completed = 0
        self._worker = threading.Thread(target=self._work, name="seminpaint-worker", daemon=True)
        self._worker.start()

    def submit(self, job: Job) -> Job:
        with self.changed:
            if len(self.waiting) >= self.limit:
                raise QueueFull(f"the server is busy: {len(self.waiting)} requests are waiting; try again soon")
            if self.max_bytes is not None and job.image is not None:
                held = {id(j.image): j.image.nbytes for j in self.waiting if j.image is not None}
                if id(job.image) not in held and sum(held.values()) + job.image.nbytes > self.max_bytes:
                    waiting_mib = sum(held.values()) / 2**20
                    raise QueueFull(f"the server is busy: the waiting requests hold {waiting_mib:,.0f} MiB of images; "
                                    "try again soon")
            self.jobs[job.id] = job
            self.waiting.append(job)
            job.position = len(self.waiting)
            self._forget_old()
            self.changed.notify_all()
        return job

    def get(self, job_id: str) -> Job | None:
        with self.changed:
            return self.jobs.get(job_id)

    def touch(self, job: Job, **changes) -> None:
        """Change a job's fields and wake whoever streams it."""
        with self.changed:
            for name, value in changes.items():
                setattr(job, name, value)
            job.version += 1
            self.changed.notify_all()

    def wait_for_change(self, job: Job, seen: int, timeout: float) -> int:
        """Block until job.version > seen (or timeout); return the current version."""
        with self.changed:
            self.changed.wait_for(lambda: job.version > seen, timeout=timeout)
            return job.version

    def _work(self) -> None:
        while True:
            with self.changed:
                self.changed.wait_for(lambda: bool(self.waiting))
                job = self.waiting.popleft()
                job.state, job.position = "running", 0
                job.version += 1
                for place, waiting in enumerate(self.waiting, start=1):
                    waiting.position = place
                    waiting.version += 1
                self.changed.notify_all()
            try:
                job.stop_if_cancelled()
                result = self._run(job, lambda **changes: self.touch(job, **changes))
                job.stop_if_cancelled()  # a baseline cannot stop midway: its late result is dropped
                self.touch(job, state="done", result=result, finished=time.monotonic(), image=None)
            except JobCancelled as stopped:
                self.touch(job, state="cancelled", message=str(stopped), finished=time.monotonic(), image=None)
            except InpaintError as error:
                self.touch(job, state="failed", message=str(error), finished=time.monotonic(), image=None)
            except Exception as error:  # noqa: BLE001 - one bad job must not stop the worker
                message = f"inpainting failed unexpectedly ({type(error).__name__}: {error})"
                self.touch(job, state="failed", message=message, finished=time.monotonic(), image=None)
            with self.changed:
                self.completed += 1

    def cancel(self, job: Job) -> str:
        """Ask `job` to stop; returns its state afterwards. A queued job leaves the queue at once
        ("cancelled"); a running one is flagged and its search stops at the next step (the worker then
        marks it "cancelled"); a finished job is left as it is."""
        with self.changed:
            if job.state == "queued":
                self.waiting.remove(job)
                job.state, job.position, job.message = "cancelled", 0, "cancelled before it started"
                job.finished = time.monotonic()
                job.version += 1
                for place, waiting in enumerate(self.waiting, start=1):
                    waiting.position = place
                    waiting.version += 1
            elif job.state == "running":
                job.cancel.set()
            self.changed.notify_all()
            return job.state

    def _forget_old(self) -> None:
        finished = [j for j in self.jobs.values() if j.state in ("done", "failed", "cancelled")]
        for job in sorted(finished, key=lambda j: j.created)[:max(0, len(finished) - self.keep)]:
            del self.jobs[job.id]


class ImageStore:
    """Uploaded images by id, the oldest forgotten past `keep` images or `max_bytes` bytes of pixels
    (the newest is always kept); samples are kept for good."""

    def __init__(self, keep: int, max_bytes: int | None = None):
        self.keep, self.max_bytes = keep, max_bytes
        self.images: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
        self.pinned: dict[str, np.ndarray] = {}
        self.lock = threading.Lock()

    def add(self, image: np.ndarray, *, name: str | None = None) -> str:
        with self.lock:
            if name is not None:
                self.pinned[name] = image
                return name
            image_id = secrets.token_hex(8)
            self.images[image_id] = image
            while len(self.images) > self.keep or (
                    self.max_bytes is not None and len(self.images) > 1
                    and sum(kept.nbytes for kept in self.images.values()) > self.max_bytes):
                self.images.popitem(last=False)
            return image_id

    def get(self, image_id: str) -> np.ndarray | None:
        with self.lock:
            return self.pinned.get(image_id, self.images.get(image_id))


def sample_images() -> dict[str, np.ndarray]:
    """Pictures to try the page with, all shipped inside scikit-image (nothing is downloaded)."""
    from skimage import data

    astronaut = data.astronaut()
    lfw = data.lfw_subset()
    samples = {
        "astronaut (512×512)": astronaut,
        "astronaut face (160×160)": astronaut[30:190, 140:300],
    }
    for index in (0, 3):
        gray = Image.fromarray(np.rint(lfw[index] * 255).astype(np.uint8)).resize((64, 64), Image.Resampling.BICUBIC)
        samples[f"LFW face {index} (64×64, gray)"] = np.asarray(gray)
    return samples


def data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, compress_level=1)).decode("ascii")


def decode_upload(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Bytes of an uploaded file → the image as read_image(mode="auto") reads it, or InpaintError.

    First PIL's verify() on the header and structure (cheap, decodes no pixels), then the pixel
    limit, then the full read (EXIF orientation applied, 16-bit kept).
    """
    if not data:
        raise InpaintError("the upload is empty")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            size = probe.size
            probe.verify()
    except Image.DecompressionBombError:
        raise InpaintError(f"the image is far too large (more than {Image.MAX_IMAGE_PIXELS:,} pixels); "
                           f"this server takes at most {max_pixels:,}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, IndexError, KeyError, MemoryError, EOFError):
        raise InpaintError("the upload is not an image this server can read (PNG, JPEG, TIFF, BMP, GIF, WebP)") from None
    if size[0] * size[1] > max_pixels or min(size) < 1:
        raise InpaintError(f"the image is {size[0]}×{size[1]} pixels; this server takes at most {max_pixels:,}")
    handle, temporary = tempfile.mkstemp(prefix="seminpaint-upload-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        try:
            image = read_image(temporary, mode="auto")
        except InpaintError:
            raise InpaintError("the upload is not a readable image (it may be truncated or corrupt)") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    if image.ndim == 3 and image.shape[2] not in (3, 4):
        raise InpaintError(f"images with {image.shape[2]} channels are not supported")
    return image


def decode_mask(text: str, shape: tuple[int, int]) -> np.ndarray:
    """A PNG data URL (white = missing) → bool (H, W); it must have the image's size."""
    prefix = "data:image/png;base64,"
    if not isinstance(text, str) or not text.startswith(prefix):
        raise InpaintError("the mask must be a PNG data URL (white = missing)")
    try:
        data = base64.b64decode(text[len(prefix):], validate=True)
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            if image.size != (shape[1], shape[0]):
                raise InpaintError(f"the mask is {image.width}×{image.height} but the image is {shape[1]}×{shape[0]}")
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:  # transparent = known
                image = Image.alpha_composite(Image.new("RGBA", image.size, (0, 0, 0, 255)), image.convert("RGBA"))
            return np.asarray(image.convert("L")) > 127
    except InpaintError:
        raise
    except (ValueError, UnidentifiedImageError, OSError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise InpaintError("the mask is not a readable PNG image") from None


def method_requirements() -> dict[str, dict]:
    """What the page's baselines need beyond an image and a mask (for /api/info and /api/inpaint):
    {"size": [width, height]} for one that fills images of a single size only (context_encoder: its
    network's, 64×64 for the shipped one), {"unavailable": reason} for one whose optional package or
    model file is missing (the reason says what to install). A method not listed needs nothing more."""
    from ..baselines import context_encoder, opencv, patch_match

    needs: dict[str, dict] = {}
    for name, check in (("patchmatch", patch_match._patchmatch), ("telea", opencv._cv2),
                        ("navier_stokes", opencv._cv2)):
        try:
            check()
        except InpaintError as error:
            needs[name] = {"unavailable": str(error)}
    try:
        size = context_encoder.load()[0].config.image_size
        needs["context_encoder"] = {"size": [size, size]}
    except InpaintError as error:
        needs["context_encoder"] = {"unavailable": str(error)}
    return needs


def once(compute: Callable[[], object]) -> Callable[[], object]:
    """compute() run on the first call only, under a lock (a burst of first requests must not each
    run it), and its value returned to every call."""
    lock, value = threading.Lock(), []

    def cached():
        with lock:
            if not value:
                value.append(compute())
        return value[0]

    return cached


def method_refusal(method: str, shape: tuple[int, ...], needs: dict[str, dict]) -> str | None:
    """Why `method` cannot run on an image of `shape` (H, W[, C]), given method_requirements(); None if it can."""
    need = needs.get(method, {})
    if "unavailable" in need:
        return need["unavailable"]
    if "size" in need and [shape[1], shape[0]] != list(need["size"]):
        width, height = need["size"]
        return (f"{method} fills {width}×{height} images only; this one is {shape[1]}×{shape[0]} "
                f"(crop or resize it to {width}×{height}, or choose another method)")
    return None


class JobNotFound(Exception):
    """A job id the queue does not know (never was, or forgotten)."""


class Inpainter:
    """Runs one job: ours (with live G(z) previews) or a baseline, at the image's full size."""

    def __init__(self, model: GenerativeModel, config: WebConfig):
        self.model, self.config = model, config

    def __call__(self, job: Job, report: Callable[..., None]) -> bytes:
        image = job.image
        if job.method == "ours":
            filled = self.ours(job, report)
        else:
            colour, alpha = split_alpha(to_float(image))
            filled = with_alpha(fill(job.method, colour, job.mask), alpha)
        if image.dtype == np.uint16:
            out = to_uint16(filled)
        else:
            out = to_uint8(filled)
        out = np.where(job.mask[..., None] if out.ndim == 3 else job.mask, out, image)  # known pixels exactly
        return png_bytes(out, compress_level=1)

    def ours(self, job: Job, report: Callable[..., None]) -> np.ndarray:
        settings = self.config.settings.with_options(iterations=job.iterations)
        prepared = prepare(job.image, job.mask, self.model)  # what the search compares G(z) with
        device = self.model.device
        target = to_tensor(prepared.small_images).to(device)
        weights = importance_weights(torch.from_numpy(prepared.small_masks).to(device), settings.window)
        every = max(1, math.ceil(job.iterations / self.config.previews))
        last = [0.0]

        def callback(step: int, z: torch.Tensor) -> None:
            job.step = step
            job.stop_if_cancelled()
            if step % every and step != job.iterations:
                return
            now = time.monotonic()
            if now - last[0] < 0.1 and step != job.iterations:
                return
            last[0] = now
            with torch.no_grad():
                latent = z[:1].detach()
                generated = self.model.generator(latent)
                use_prior = settings.prior_weight > 0 and self.model.discriminator is not None
                context, prior = objective(generated, target, weights,
                                           self.model.discriminator(generated) if use_prior else None,
                                           prior_weight=settings.prior_weight, prior_form=settings.prior_form)
                loss = context + prior
            preview = from_tensor(generated)[0]
            report(step=step, loss=round(float(loss[0]), 4), preview=data_url(preview[..., 0] if preview.shape[2] == 1 else preview))

        result = inpaint(job.image, job.mask, model=self.model, settings=settings,
                         generator=torch.Generator().manual_seed(job.seed), callback=callback)
        return result.image


def create_app(model: GenerativeModel, config: WebConfig | None = None, *,
               samples: dict[str, np.ndarray] | None = None) -> Flask:
    """The Flask app around a loaded model. samples: name → image (default: sample_images())."""
    config = config or WebConfig()
    settings = resolve_settings(config.settings, model)
    config = replace(config, settings=settings, default_iterations=config.default_iterations or settings.iterations)
    here = Path(__file__).parent
    app = Flask(__name__, template_folder=str(here / "templates"), static_folder=str(here / "static"))
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
    store = ImageStore(config.keep_images, config.keep_image_bytes)
    queue = JobQueue(Inpainter(model, config), limit=config.queue_limit, keep=config.keep_jobs,
                     max_bytes=config.queue_image_bytes)
    pixels = Gate(config.pixel_workers, config.pixel_wait, "other requests are decoding or drawing images")
    streams = Gate(config.max_streams, 0, f"{config.max_streams} event streams are open (poll /api/jobs/<id> instead)")
    sample_ids = {}
    for name, image in (sample_images() if samples is None else samples).items():
        sample_ids[name] = store.add(image, name="sample-" + str(len(sample_ids)))
    counter = itertools.count(1)
    needs = once(method_requirements)  # looked up on first use: the Context Encoder is loaded once
    app.extensions["seminpaint"] = {"queue": queue, "store": store, "config": config, "model": model,
                                     "pixels": pixels, "streams": streams}
    channels, height, width = model.image_shape

    def fail(message: str, status: int = 400):
        return jsonify(error=message), status

    @app.errorhandler(InpaintError)
    def inpaint_error(error):
        return fail(str(error), 503 if isinstance(error, QueueFull) else 400)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        return fail(f"the upload is too large (at most {config.max_upload_bytes / 2**20:g} MiB)", 413)

    @app.errorhandler(TimeoutError)
    def too_slow(error):  # the server's read deadline (server.DeadlineReader) passed while the body came in
        return fail(f"the request body did not arrive within {config.body_timeout:g} s", 408)

    @app.errorhandler(ClientDisconnected)
    def disconnected(error):  # werkzeug turns a failed read, the deadline's TimeoutError too, into this
        if isinstance(error.__cause__ or error.__context__, TimeoutError):
            return too_slow(error.__cause__ or error.__context__)
        return http_error(error)

    @app.errorhandler(HTTPException)
    def http_error(error):
        return fail(f"{error.code} {error.name}: {error.description}", error.code)

    @app.errorhandler(Exception)
    def unexpected(error):  # the server keeps running; the page gets a message
        app.logger.exception("unexpected error")
        return fail(f"the server could not handle this request ({type(error).__name__})", 500)

    @app.get("/")
    def index():
        return render_template("index.html")

    @app.get("/api/info")
    def info():
        methods = [{"name": "ours", "label": METHOD_LABELS["ours"]}]
        methods += [{"name": m, "label": METHOD_LABELS.get(m, m), **needs().get(m, {})} for m in WEB_BASELINES]
        return jsonify(
            model={"name": model.name, "width": width, "height": height, "channels": channels},
            settings=describe(config.settings, model), methods=methods, mask_kinds=list(MASK_KINDS),
            samples=[{"name": name, "id": image_id, "width": store.get(image_id).shape[1],
                      "height": store.get(image_id).shape[0]} for name, image_id in sample_ids.items()],
            limits={"max_upload_bytes": config.max_upload_bytes, "max_pixels": config.max_pixels,
                    "max_iterations": config.max_iterations, "default_iterations": config.default_iterations,
                    "queue_limit": config.queue_limit, "max_connections": config.max_connections,
                    "max_streams": config.max_streams},
        )

    @app.post("/api/upload")
    def upload():
        file = request.files.get("file")
        if file is None:
            return fail("no file in the upload (send it as multipart field 'file')")
        with pixels.held():
            image = decode_upload(file.read(config.max_upload_bytes + 1), max_pixels=config.max_pixels)
        image_id = store.add(image)
        return jsonify(id=image_id, width=image.shape[1], height=image.shape[0],
                       bits=16 if image.dtype == np.uint16 else 8,
                       channels=1 if image.ndim == 2 else image.shape[2])

    @app.get("/api/images/<image_id>.png")
    def image_png(image_id):
        image = store.get(image_id)
        if image is None:
            return fail("no such image (uploads are kept for a while only; upload it again)", 404)
        with pixels.held():
            data = png_bytes(as_8_bit(image), compress_level=1)
        return Response(data, mimetype="image/png")

    @app.get("/api/mask")
    def mask_png():
        kind = request.args.get("kind", "center")
        mask_width = query_number(request.args, "width", 1, config.max_pixels)
        mask_height = query_number(request.args, "height", 1, config.max_pixels)
        seed = query_number(request.args, "seed", 0, MAX_SEED, default=0)
        if mask_width * mask_height > config.max_pixels:
            return fail(f"a {mask_width}×{mask_height} mask is {mask_width * mask_height:,} pixels; "
                        f"this server draws at most {config.max_pixels:,}")
        if MASK_ALIASES.get(kind, kind) not in MASK_KINDS:
            return fail(f"unknown mask kind {short(kind)}; valid kinds: {', '.join(MASK_KINDS)}")
        with pixels.held():
            mask = preset_mask(kind, mask_height, mask_width, seed)
            data = png_bytes(mask_to_uint8(mask), compress_level=1)
        return Response(data, mimetype="image/png")

    @app.post("/api/inpaint")
    def start():
        if not request.is_json:
            return fail("send a JSON object: {image, mask, method, iterations, seed} (Content-Type: application/json)")
        body = parse_json_object(request.get_data(cache=False))
        image = store.get(str(body.get("image", "")))
        if image is None:
            return fail("unknown image: upload it (again) or pick a sample", 404)
        method = body.get("method", "ours")
        if method != "ours" and method not in WEB_BASELINES:
            return fail(f"unknown method {short(method)}; choose ours or one of: {', '.join(WEB_BASELINES)}")
        iterations = whole_number(body.get("iterations", config.default_iterations), "iterations", 1,
                                  config.max_iterations)
        seed = whole_number(body.get("seed", 0), "seed", 0, MAX_SEED)
        refusal = method_refusal(method, image.shape, needs())
        if refusal:
            return fail(refusal)
        with pixels.held():
            mask = decode_mask(body.get("mask"), image.shape[:2])
        if not mask.any():
            return fail("draw the hole first: the mask has no missing (white) pixel")
        if mask.all():
            return fail("the mask covers the whole image: leave some pixels to inpaint from")
        job = Job(id=f"{next(counter)}-{secrets.token_hex(4)}", image_id=str(body["image"]), image=image,
                  mask=mask, method=method, iterations=iterations, seed=seed)
        queue.submit(job)
        return jsonify(job=job.id, position=job.position, events=f"/api/jobs/{job.id}/events"), 202

    def job_or_404(job_id):
        job = queue.get(job_id)
        if job is None:
            raise JobNotFound()
        return job

    @app.errorhandler(JobNotFound)
    def job_not_found(error):
        return fail("no such job (finished jobs are kept for a while only)", 404)

    @app.get("/api/jobs/<job_id>")
    def status(job_id):
        return jsonify(job_or_404(job_id).snapshot())

    @app.get("/api/jobs/<job_id>/events")
    def events(job_id):
        job = job_or_404(job_id)
        streams.acquire()  # released when the response is closed (the stream ended or the client left)

        def stream() -> Iterator[str]:
            seen, sent_preview = -1, None
            yield "retry: 1000\n\n"
            while True:
                version = queue.wait_for_change(job, seen, timeout=10.0)
                if version == seen:
                    yield ": still here\n\n"
                    continue
                seen = version
                info = job.snapshot()
                kind = {"queued": "queued", "running": "progress", "done": "done", "failed": "failed",
                        "cancelled": "cancelled"}[info["state"]]
                if kind in ("progress", "done") and job.preview is not None and job.preview is not sent_preview:
                    info["preview"] = sent_preview = job.preview
                yield f"event: {kind}\ndata: {json.dumps(info)}\n\n"
                if kind in ("done", "failed", "cancelled"):
                    return

        response = Response(stream(), mimetype="text/event-stream",
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        response.call_on_close(streams.release)
        return response

    @app.get("/api/jobs/<job_id>/result.png")
    def result(job_id):
        job = job_or_404(job_id)
        if job.state != "done":
            return fail(f"the job is {job.state}" + (f": {job.message}" if job.message else ""), 409)
        headers = {}
        if request.args.get("download"):
            headers["Content-Disposition"] = f'attachment; filename="inpainted-{job.method}.png"'
        return Response(job.result, mimetype="image/png", headers=headers)

    @app.get("/api/jobs/<job_id>/mask.png")
    def job_mask(job_id):
        job = job_or_404(job_id)
        with pixels.held():
            data = png_bytes(mask_to_uint8(job.mask), compress_level=1)
        return Response(data, mimetype="image/png")

    add_job_actions(app, queue, store, config, pixels, job_or_404)
    return app


def add_job_actions(app: Flask, queue: JobQueue, store: ImageStore, config: WebConfig, pixels: "Gate",
                    job_or_404: Callable[[str], Job]) -> None:
    """The page's actions on a job: cancel it, and continue from its result."""

    @app.post("/api/jobs/<job_id>/cancel")
    def cancel(job_id):
        job = job_or_404(job_id)
        state = queue.cancel(job)
        if state in ("done", "failed"):
            return jsonify(error=f"the job has already finished ({state})", state=state), 409
        return jsonify(job=job.id, state=state, stopping=state == "running"), 202 if state == "running" else 200

    @app.post("/api/jobs/<job_id>/continue")
    def continue_from(job_id):
        job = job_or_404(job_id)
        if job.state != "done":
            return jsonify(error=f"the job is {job.state}: only a finished result can be edited further"), 409
        with pixels.held():
            image = decode_upload(job.result, max_pixels=config.max_pixels)  # as if it were uploaded: 16-bit kept
        image_id = store.add(image)
        return jsonify(id=image_id, width=image.shape[1], height=image.shape[0],
                       bits=16 if image.dtype == np.uint16 else 8,
                       channels=1 if image.ndim == 2 else image.shape[2], source=job.id)


def make_server(app: Flask, config: WebConfig, *, host: str = "127.0.0.1", port: int = 8000,
                allow_hosts: Iterable[str] = ()) -> BoundedServer:
    """The server of `app` on host:port (port 0: any free port; the server's .port says which),
    not yet serving (call serve_forever). BoundedServer with config's connection cap and timeouts;
    requests reach the app only through HostCheck: the addresses it listens on and `allow_hosts`.
    A malformed name in allow_hosts, or a port that cannot be bound, raises InpaintError.
    """
    import socket

    allowed_hosts(host, 0, allow_hosts)  # a malformed name is refused before anything is bound
    try:  # bound here, so that a busy port is one clear error (werkzeug would print and exit)
        listener = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except (OSError, UnicodeError, OverflowError) as error:
        raise InpaintError(f"cannot listen on {host}:{port} ({getattr(error, 'strerror', None) or error})") from None
    with listener:
        bound = listener.getsockname()[1]
        allowed = allowed_hosts(host, bound, allow_hosts)
        listening = f"{', '.join(dict.fromkeys((*LOCAL_NAMES, host_name(host))))} with port {bound}"
        if allow_hosts:
            listening += f", and {', '.join(str(name) for name in allow_hosts)}"
        return BoundedServer(host, bound, HostCheck(app, allowed, listening=listening), fd=listener.fileno(),
                             max_connections=config.max_connections, header_timeout=config.header_timeout,
                             body_timeout=config.body_timeout, write_timeout=config.write_timeout)


def serve(model: GenerativeModel, config: WebConfig | None = None, *, host: str = "127.0.0.1", port: int = 8000,
          allow_hosts: Iterable[str] = (), announce: Callable[[str], None] = print) -> None:
    """Serve the page on host:port until interrupted (port 0: any free port, announced).

    make_server's BoundedServer: each connection has its own thread, at most config.max_connections
    of them, with deadlines on reads and writes; the Host header must name an address it listens on
    or one of allow_hosts (--allow-host). The inpainting itself runs on the app's single worker. A
    port that cannot be bound, or a malformed allow_hosts name, raises InpaintError.
    """
    config = config or WebConfig()
    allowed_hosts(host, 0, allow_hosts)
    server = make_server(create_app(model, config), config, host=host, port=port, allow_hosts=allow_hosts)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"seminpaint: warning: listening on {host}: other machines can reach this server (no login)",
              file=sys.stderr)
    shown = f"[{host}]" if ":" in host else host
    announce(f"seminpaint: serving on http://{shown}:{server.port}/ (model {model.name}; Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
