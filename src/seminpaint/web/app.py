"""The web app of `seminpaint serve`: one page to upload (or pick) an image, draw the hole, inpaint,
and watch G(z) improve.

Flask, one page (templates/index.html, static/app.js, static/style.css; plain HTML and canvas, no
build step). The pieces, one concept each:

    app.py      WebConfig (every limit), create_app (puts the pieces together), make_server, serve
    routes.py   the URLs: what each takes and answers
    jobs.py     the job queue (one worker thread), what runs a job, the methods offered
    uploads.py  pixels in and out: uploads and masks decoded, preset masks drawn, images kept
    parsing.py  strict reading of JSON bodies and numbers
    server.py   the HTTP server: a cap on connections, deadlines on reads and writes, the Host check

The model is loaded once, before the server starts; jobs run one at a time on the queue's worker.
Every request's work is bounded (WebConfig): bodies by max_upload_bytes, images and masks by
max_pixels, each job's search by max_iterations, max_candidates, max_job_steps (candidates ×
steps) and max_candidate_pixels; work on pixels outside the queue (decoding an upload or a mask,
drawing a preset mask, encoding a PNG) runs at most pixel_workers at a time; event streams are
capped (max_streams); what is kept between requests is capped in count and bytes; JSON bodies and
query numbers are parsed strictly.
Mask convention: white = missing, to be filled.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from flask import Flask

from ..api import resolve_settings
from ..errors import InpaintError
from ..networks.model import GenerativeModel
from ..settings import MAX_CANDIDATES, SearchSettings
from .jobs import Gate, Inpainter, JobQueue, method_requirements, once
from .routes import Served, add_routes
from .server import LOCAL_NAMES, BoundedServer, HostCheck, allowed_hosts, host_name
from .uploads import ImageStore, sample_images


@dataclass
class WebConfig:
    """Limits of a server. max_upload_bytes: largest request body (Flask MAX_CONTENT_LENGTH).
    max_pixels: largest image accepted, and largest preset mask drawn. queue_limit: jobs waiting at
    most (more get 503). max_iterations / default_iterations: Adam steps a page may ask for.
    previews: G(z) previews sent per job (at most). keep_jobs / keep_images: finished jobs and uploads
    kept in memory; keep_image_bytes: the uploads kept hold at most this many bytes of pixels (the
    newest is always kept); queue_image_bytes: the images of the waiting jobs hold at most this many
    bytes (a job beyond gets 503). settings: what every job of ours runs, blend included (a
    SearchSettings, a preset name, or None for inpaint's default for the model) unless a request
    names a preset (settings.PRESETS); default_iterations None: the settings'.
    max_candidates: completions a request may ask for (at most settings.MAX_CANDIDATES).
    max_job_steps: a job's cost, candidates × (Adam steps + the preset's tuning steps), at most
    (None: 4 × max_iterations). max_candidate_pixels: candidates × the image's pixels at most (the K
    completions are held at full size). keep_result_bytes: the PNGs of the finished jobs kept hold at
    most this many bytes (the newest job's are always kept).
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
    max_candidates: int = MAX_CANDIDATES
    max_job_steps: int | None = None
    max_candidate_pixels: int = 2**25
    previews: int = 40
    keep_jobs: int = 64
    keep_result_bytes: int = 2**30
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


def create_app(model: GenerativeModel, config: WebConfig | None = None, *,
               samples: dict[str, np.ndarray] | None = None) -> Flask:
    """The Flask app around a loaded model. samples: name → image (default: sample_images())."""
    config = config or WebConfig()
    settings = resolve_settings(config.settings, model)
    if not 1 <= config.max_candidates <= MAX_CANDIDATES:
        raise InpaintError(f"max_candidates must be from 1 to {MAX_CANDIDATES}, got {config.max_candidates}")
    config = replace(config, settings=settings, default_iterations=config.default_iterations or settings.iterations,
                     max_job_steps=config.max_job_steps or 4 * config.max_iterations)
    here = Path(__file__).parent
    app = Flask(__name__, template_folder=str(here / "templates"), static_folder=str(here / "static"))
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
    store = ImageStore(config.keep_images, config.keep_image_bytes)
    queue = JobQueue(Inpainter(model, config), limit=config.queue_limit, keep=config.keep_jobs,
                     max_bytes=config.queue_image_bytes, max_result_bytes=config.keep_result_bytes)
    pixels = Gate(config.pixel_workers, config.pixel_wait, "other requests are decoding or drawing images")
    streams = Gate(config.max_streams, 0, f"{config.max_streams} event streams are open (poll /api/jobs/<id> instead)")
    sample_ids = {}
    for name, image in (sample_images() if samples is None else samples).items():
        sample_ids[name] = store.add(image, name="sample-" + str(len(sample_ids)))
    app.extensions["seminpaint"] = {"queue": queue, "store": store, "config": config, "model": model,
                                     "pixels": pixels, "streams": streams}
    add_routes(app, Served(model=model, config=config, store=store, queue=queue, pixels=pixels, streams=streams,
                           sample_ids=sample_ids, needs=once(method_requirements)))  # the Context Encoder: loaded once
    return app


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
