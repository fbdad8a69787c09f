"""Inpainting jobs: one request's work and what became of it (Job), the queue that runs them one at a
time (JobQueue), what runs one (Inpainter), and which methods the page offers.

Heavy work runs only here, on the queue's single worker thread; requests that arrive meanwhile wait
in the queue (at most WebConfig.queue_limit of them, holding at most queue_image_bytes of images)
and each knows its place. A job that fails keeps its message for the page; the worker keeps running.
Gate bounds the lighter pixel work that runs in the requests' own threads.
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..api import inpaint, prepare
from ..baselines import METHODS, fill
from ..candidates import mirrored_candidates
from ..errors import InpaintError
from ..images import from_tensor, png_bytes, split_alpha, to_float, to_tensor, to_uint8, to_uint16, with_alpha
from ..losses import importance_weights, objective
from ..networks.model import GenerativeModel
from ..plausibility import structure_agreement
from ..settings import SearchSettings
from .uploads import data_url

if TYPE_CHECKING:
    from .app import WebConfig

WEB_BASELINES = tuple(name for name in METHODS if name != "nearest_neighbour")
METHOD_LABELS = {
    "ours": "ours — semantic inpainting (GAN latent search, then blended in)",
    "mean": "mean colour", "biharmonic": "biharmonic", "tv": "total variation",
    "low_rank": "low rank", "patchmatch": "PatchMatch", "telea": "Telea (OpenCV)",
    "navier_stokes": "Navier–Stokes (OpenCV)", "context_encoder": "Context Encoder",
}



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
    result: bytes | None = None  # PNG: the completion, or with several candidates their per-pixel mean
    settings: SearchSettings | None = None  # ours: what the search runs (None: the server's, at `iterations`)
    candidates: int = 1    # ours: completions searched (SearchSettings.candidates)
    face: tuple[int, int, int, int] | None = None  # ours: the face box (x, y, w, h) given, None: detected
    face_check: bool = True  # ours: False searches around the hole, face or not (inpaint's face_check)
    completions: list[bytes] = field(default_factory=list)  # PNGs of the K candidates when K > 1
    spread: bytes | None = None  # PNG of the candidates' per-pixel spread, white = spread_max
    spread_max: float | None = None
    mirrored: list[bool] = field(default_factory=list)  # ours: which candidates searched the mirror image
    crop: dict | None = None  # ours: {"face": [x, y, w, h] or None, "square": [x, y, w, h]}, the model's view
    warning: str | None = None  # ours: why the completion is unlikely to be a face (plausibility.py)
    created: float = field(default_factory=time.monotonic)
    finished: float | None = None
    version: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)  # set: stop at the next search step

    def snapshot(self) -> dict:
        """The job as the page sees it (GET /api/jobs/<id> and the events): state, step, loss; when done
        the URLs of its result, of its candidates and spread (K > 1), which candidates searched the
        mirror image (`mirrored`, when any did), and the face box and square the model saw (ours)."""
        info = {"job": self.id, "state": self.state, "method": self.method, "iterations": self.iterations,
                "step": self.step}
        if self.state == "queued":
            info["position"] = self.position
        if self.loss is not None:
            info["loss"] = self.loss
        if self.method == "ours":
            info["candidates"] = self.candidates
        if self.state == "done":
            info["result"] = f"/api/jobs/{self.id}/result.png"
            info["seconds"] = round((self.finished or 0) - self.created, 3)
            if self.completions:
                info["completions"] = [f"/api/jobs/{self.id}/result.png?candidate={k}"
                                       for k in range(1, len(self.completions) + 1)]
            if any(self.mirrored):
                info["mirrored"] = self.mirrored
            if self.spread is not None:
                info["spread"], info["spread_max"] = f"/api/jobs/{self.id}/spread.png", self.spread_max
            if self.crop is not None:
                info.update(self.crop)
            if self.warning:
                info["warning"] = self.warning
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
    image (its result and mask stay, for the last `keep` finished jobs, while their PNGs hold at most
    `max_result_bytes` bytes; the newest finished job is always kept).
    """

    def __init__(self, run: Callable[["Job", Callable[[], None]], bytes], *, limit: int, keep: int,
                 max_bytes: int | None = None, max_result_bytes: int | None = None):
        self._run, self.limit, self.keep, self.max_bytes = run, limit, keep, max_bytes
        self.max_result_bytes = max_result_bytes
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
                self._forget_old()

    def result_bytes(self) -> int:
        """Bytes of PNGs held by the finished jobs kept."""
        return sum(len(j.result or b"") + sum(map(len, j.completions)) + len(j.spread or b"")
                   for j in self.jobs.values() if j.state == "done")

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
        finished = sorted((j for j in self.jobs.values() if j.state in ("done", "failed", "cancelled")),
                          key=lambda j: j.created)
        for job in finished[:max(0, len(finished) - self.keep)]:
            del self.jobs[job.id]
        finished = finished[max(0, len(finished) - self.keep):]
        if self.max_result_bytes is not None:
            held = self.result_bytes()
            for job in finished[:-1]:
                if held <= self.max_result_bytes:
                    break
                held -= len(job.result or b"") + sum(map(len, job.completions)) + len(job.spread or b"")
                del self.jobs[job.id]



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


PAGE_WORDS = (("--face X,Y,W,H; face=(x, y, w, h) in Python", "draw it with the face box tool"),
              ("--no-face-check; face_check=False", 'tick "no face check"'),
              ("(--no-face-check, no --face; face_check=False, no face=)",
               '(tick "no face check" and clear the face box)'))
"""The command line's words in the library's face messages, and the page's for the same."""


def in_page_words(message: str) -> str:
    """A library message with the command line's options named as the page's controls."""
    for cli, page in PAGE_WORDS:
        message = message.replace(cli, page)
    return message


class Inpainter:
    """Runs one job: ours (with live G(z) previews) or a baseline, at the image's full size.

    Returns the result as a PNG at the input's bit depth, known pixels exactly the input's; reports
    (through `report`) the K candidates' PNGs and their spread when ours searched several, and the
    face box and square the model saw.
    """

    def __init__(self, model: GenerativeModel, config: "WebConfig"):
        self.model, self.config = model, config

    def __call__(self, job: Job, report: Callable[..., None]) -> bytes:
        if job.method != "ours":
            return self.encode(job, self.baseline(job))
        found = self.ours(job, report)
        crop = found.crop
        top, left, height, width = crop.framed
        changes = {"crop": {"face": list(crop.face) if crop.face else None, "square": [left, top, width, height]}}
        if found.candidates is not None:
            spread_max = float(found.spread.max())
            changes.update(completions=[self.encode(job, c) for c in found.candidates],
                           spread=png_bytes(found.spread / max(spread_max, 1e-12), compress_level=1), spread_max=float(f"{spread_max:.3g}"))
        result = self.encode(job, found.image)
        report(**changes)
        return result

    @staticmethod
    def baseline(job: Job) -> np.ndarray:
        colour, alpha = split_alpha(to_float(job.image))
        return with_alpha(fill(job.method, colour, job.mask), alpha)

    @staticmethod
    def encode(job: Job, filled: np.ndarray) -> bytes:
        """A float completion in [0, 1] → PNG bytes at the input's bit depth, known pixels the input's."""
        image = job.image
        out = to_uint16(filled) if image.dtype == np.uint16 else to_uint8(filled)
        out = np.where(job.mask[..., None] if out.ndim == 3 else job.mask, out, image)  # known pixels exactly
        return png_bytes(out, compress_level=1)

    def ours(self, job: Job, report: Callable[..., None]):
        """inpaint's result (an InpaintResult) for the job, with G(z) previews of candidate 1."""
        settings = job.settings or self.config.settings.with_options(iterations=job.iterations)
        try:
            prepared = prepare(job.image, job.mask, self.model, face=job.face,
                               face_check=job.face_check)  # what the search compares G(z) with
        except InpaintError as error:
            raise InpaintError(in_page_words(str(error))) from None
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

        found = inpaint(job.image, job.mask, model=self.model, settings=settings,
                        generator=torch.Generator().manual_seed(job.seed), callback=callback,
                        face=job.face, face_check=job.face_check)
        doubt = self.doubt(found.z, prepared)
        if doubt:
            report(warning=doubt)
        if found.candidates is not None:
            report(mirrored=mirrored_candidates(settings))
        return found

    def doubt(self, z: np.ndarray, prepared) -> str | None:
        """Why candidate 1's completion is unlikely to be a face, or None: the plausibility check that
        inpaint warns with (plausibility.structure_agreement of G(ẑ) against the known pixels at the
        model's size, below the face model's threshold), redone here because a warning cannot be
        caught per thread. G is the trained one (a preset that tunes G checks the untuned G(ẑ))."""
        faces = self.model.faces
        if faces is None or faces.implausible_below is None:
            return None
        latent = torch.as_tensor(np.asarray(z), dtype=torch.float32).reshape(1, -1).to(self.model.device)
        with torch.no_grad():
            generated = self.model.generator(latent)
        score = float(structure_agreement(generated, prepared.small_images, prepared.small_masks)[0])
        if score >= faces.implausible_below:
            return None
        return (f"the completion is unlikely to be a face: the model's best fit follows the edges of the known "
                f"pixels with a correlation of {score:.3f}, below the {faces.implausible_below:.3f} that 99 in "
                "100 face crops reach (is the hole in a face?)")
