"""The page's routes: what each URL takes and answers (all JSON unless said otherwise).

    GET  /                          the page
    GET  /api/info                  model, presets (settings.PRESETS), methods, mask kinds, samples, limits
    POST /api/upload                multipart `file` → {id, width, height, bits}; size-limited and
                                    checked for being an image before anything else
    GET  /api/images/<id>.png       an uploaded image as the page draws it (EXIF applied, 8-bit PNG)
    GET  /api/mask?kind=&width=&height=&seed=   a mask of one of the paper's kinds (PNG, white = missing)
    POST /api/inpaint               {image, mask (PNG data URL, white = missing), method, iterations,
                                    seed; for ours also preset, candidates, face ("x,y,w,h"),
                                    face_check} → {job, position}; 503 when the queue is full
    GET  /api/jobs/<id>             the job's state (queued + position, running + step, done, failed,
                                    cancelled); when done, ours adds its candidates' URLs, the
                                    spread's, and the face box and square the model saw
    GET  /api/jobs/<id>/events      Server-Sent Events: queued, progress (step, loss, G(z) preview
                                    as a PNG data URL), done, failed, cancelled
    GET  /api/jobs/<id>/result.png  the result at the input's size and bit depth; ?candidate=k for
                                    candidate k of several (0: the result, their mean); ?download=1
    GET  /api/jobs/<id>/spread.png  the candidates' per-pixel spread (8-bit, white = spread_max)
    GET  /api/jobs/<id>/mask.png    the mask that was used
    POST /api/jobs/<id>/cancel      stop a job: a queued one leaves the queue, a running search stops
                                    at its next step; either is then reported "cancelled"
    POST /api/jobs/<id>/continue    the job's result (?candidate=k: that candidate) as a new uploaded
                                    image → {id, width, height, ...}

Every error is a JSON {"error": one line}: 400 for a bad request (InpaintError), 404 for an unknown
image or job, 409 for a job not in the state asked for, 413 for a body over max_upload_bytes, 408
for a body that came too slowly, 503 when the queue, the pixel workers or the event streams are full.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from ..api import describe
from ..errors import InpaintError
from ..images import png_bytes
from ..masks import MASK_ALIASES, MASK_KINDS, mask_to_uint8
from ..networks.model import GenerativeModel
from ..settings import PRESETS
from .jobs import (METHOD_LABELS, WEB_BASELINES, Gate, Job, JobNotFound, JobQueue, QueueFull, method_refusal)
from .parsing import MAX_SEED, face_box, flag, parse_json_object, query_number, short, whole_number
from .uploads import ImageStore, as_8_bit, decode_mask, decode_upload, preset_mask

if TYPE_CHECKING:
    from .app import WebConfig


@dataclass
class Served:
    """What the routes serve from: the model, the limits (config, resolved), the uploads, the job
    queue, the gates on pixel work and event streams, the samples' ids by name, and `needs`
    (jobs.method_requirements, looked up once on first use)."""

    model: GenerativeModel
    config: "WebConfig"
    store: ImageStore
    queue: JobQueue
    pixels: Gate
    streams: Gate
    sample_ids: dict[str, str]
    needs: Callable[[], dict[str, dict]]


def add_routes(app: Flask, served: Served) -> None:
    """Register the page, the API routes and the error handlers on `app`."""
    model, config, store, queue = served.model, served.config, served.store, served.queue
    pixels, streams, sample_ids, needs = served.pixels, served.streams, served.sample_ids, served.needs
    channels, height, width = model.image_shape
    counter = itertools.count(1)

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
            presets=[{"name": name, "description": describe(preset, model), "iterations": preset.iterations,
                      "candidates": preset.candidates} for name, preset in PRESETS.items()],
            preset=next((name for name, preset in PRESETS.items() if preset == config.settings), None),
            candidates=config.settings.candidates, faces=model.faces is not None,
            limits={"max_upload_bytes": config.max_upload_bytes, "max_pixels": config.max_pixels,
                    "max_iterations": config.max_iterations, "default_iterations": config.default_iterations,
                    "max_candidates": config.max_candidates, "max_job_steps": config.max_job_steps,
                    "max_candidate_pixels": config.max_candidate_pixels,
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
            return fail("send a JSON object: {image, mask, method, iterations, seed, ...} (Content-Type: application/json)")
        body = parse_json_object(request.get_data(cache=False))
        image = store.get(str(body.get("image", "")))
        if image is None:
            return fail("unknown image: upload it (again) or pick a sample", 404)
        method = body.get("method", "ours")
        if method != "ours" and method not in WEB_BASELINES:
            return fail(f"unknown method {short(method)}; choose ours or one of: {', '.join(WEB_BASELINES)}")
        options = search_options(body, image.shape, method, served)
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
                  mask=mask, method=method, seed=seed, **options)
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
        candidate = chosen(job)
        headers = {}
        if request.args.get("download"):
            name = f"inpainted-{job.method}" + (f"-candidate-{candidate}" if candidate and job.completions else "")
            headers["Content-Disposition"] = f'attachment; filename="{name}.png"'
        return Response(result_png(job, candidate), mimetype="image/png", headers=headers)

    @app.get("/api/jobs/<job_id>/spread.png")
    def spread(job_id):
        job = job_or_404(job_id)
        if job.state != "done":
            return fail(f"the job is {job.state}" + (f": {job.message}" if job.message else ""), 409)
        if job.spread is None:
            return fail("this job has no spread: it searched one candidate", 404)
        return Response(job.spread, mimetype="image/png")

    @app.get("/api/jobs/<job_id>/mask.png")
    def job_mask(job_id):
        job = job_or_404(job_id)
        with pixels.held():
            data = png_bytes(mask_to_uint8(job.mask), compress_level=1)
        return Response(data, mimetype="image/png")

    add_job_actions(app, served, job_or_404)


def add_job_actions(app: Flask, served: Served, job_or_404: Callable[[str], Job]) -> None:
    """The page's actions on a job: cancel it, and continue from its result."""
    queue, store, config, pixels = served.queue, served.store, served.config, served.pixels

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
        data = result_png(job, chosen(job))
        with pixels.held():
            image = decode_upload(data, max_pixels=config.max_pixels)  # as if it were uploaded: 16-bit kept
        image_id = store.add(image)
        return jsonify(id=image_id, width=image.shape[1], height=image.shape[0],
                       bits=16 if image.dtype == np.uint16 else 8,
                       channels=1 if image.ndim == 2 else image.shape[2], source=job.id)


def chosen(job: Job) -> int:
    """The request's ?candidate=k for a finished job: 0 (or absent) the result, 1 … K one candidate
    (K = 1: the result); anything else raises InpaintError."""
    return query_number(request.args, "candidate", 0, max(1, len(job.completions)), default=0)


def result_png(job: Job, candidate: int) -> bytes:
    """The PNG of a finished job's result (candidate 0) or of its candidate k."""
    return job.completions[candidate - 1] if candidate and job.completions else job.result


def search_options(body: dict, shape: tuple[int, ...], method: str, served: Served) -> dict:
    """A POST /api/inpaint body's search options → Job fields (iterations; for ours settings,
    candidates, face, face_check), each checked against the server's limits; InpaintError (400) names
    the first bad one.

    preset: a name of settings.PRESETS, or absent for the server's settings. iterations and
    candidates: whole numbers, by default the preset's (within max_iterations and max_candidates; a
    baseline's candidates: 1).
    A job costs candidates × (iterations + the preset's tuning steps) Adam steps, at most
    max_job_steps, and holds candidates × the image's pixels, at most max_candidate_pixels.
    face: "x,y,w,h" inside the image (a face model only); face_check: true or false. A baseline
    takes one candidate and no face box.
    """
    config, model = served.config, served.model
    preset = body.get("preset")
    if preset is not None and preset not in PRESETS:
        raise InpaintError(f"unknown preset {short(preset)}; choose one of: {', '.join(PRESETS)}")
    settings = PRESETS[preset] if preset is not None else config.settings
    default_iterations = min(settings.iterations, config.max_iterations) if preset else config.default_iterations
    iterations = whole_number(body.get("iterations", default_iterations), "iterations", 1, config.max_iterations)
    default_candidates = min(settings.candidates, config.max_candidates) if method == "ours" else 1
    candidates = whole_number(body.get("candidates", default_candidates), "candidates", 1, config.max_candidates)
    face = face_box(body.get("face"), shape[1], shape[0])
    face_check = flag(body.get("face_check"), "face_check", True)
    if method != "ours":
        if candidates > 1 or face is not None:
            raise InpaintError(f"{method} gives one completion and takes no face box: "
                               "candidates and face are for ours")
        return {"iterations": iterations}
    if face is not None and model.faces is None:
        raise InpaintError("this server's model is no face model (it searches around the hole): "
                           "it takes no face box")
    steps = candidates * (iterations + settings.tune_steps)
    if steps > config.max_job_steps:
        raise InpaintError(f"{candidates} candidate(s) × {iterations + settings.tune_steps:,} steps is {steps:,} "
                           f"search steps; this server runs at most {config.max_job_steps:,} per job: "
                           "ask for fewer candidates or iterations")
    pixels = candidates * shape[0] * shape[1]
    if pixels > config.max_candidate_pixels:
        raise InpaintError(f"{candidates} candidates of a {shape[1]}×{shape[0]} image are {pixels:,} pixels; "
                           f"this server holds at most {config.max_candidate_pixels:,}: ask for fewer candidates")
    settings = settings.with_options(iterations=iterations, candidates=candidates)
    return {"iterations": iterations, "settings": settings, "candidates": candidates, "face": face,
            "face_check": face_check}
