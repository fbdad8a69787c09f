"""The HTTP server of `seminpaint serve`: werkzeug's WSGI server with every connection bounded.

Werkzeug (installed with Flask) serves the app; BoundedServer changes how it takes connections:

* **A cap on connections.** At most `max_connections` connections are open at once, each served by
  its own thread (so at most that many threads). One more is answered at once, by the accepting
  thread, with HTTP 503 and a JSON {"error": ...}, and closed; it never waits and never gets a thread.
* **Deadlines on reads.** A request's line and headers must arrive within `header_timeout` seconds
  of the connection, its body within `body_timeout` seconds of its headers. Every read on the socket
  waits at most for what is left of that time, so a client that sends a byte now and then (a
  "slowloris") is cut off at the deadline, not kept alive by each byte. A body that misses its
  deadline raises TimeoutError inside the app (the app answers 408); headers that miss theirs close
  the connection without an answer.
* **Timeouts on writes.** Each send waits at most `write_timeout` seconds, so a client that stops
  reading (an event stream left open in a frozen tab) frees its thread.
* One request per connection: werkzeug answers every request with `Connection: close`, so no idle
  keep-alive connection holds a thread.

HostCheck, a WSGI middleware, answers only requests whose Host header names an address the server
listens on (127.0.0.1, localhost, [::1] or the bound host, with the server's port or none) or a name
given with `--allow-host`; anything else gets HTTP 400 with a JSON {"error": ...}. That stops DNS
rebinding: a page from another site whose name is made to resolve to 127.0.0.1 sends its own name
as Host.
"""

from __future__ import annotations

import io
import json
import re
import socketserver
import threading
import time
from collections.abc import Callable, Iterable

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

from ..errors import InpaintError

LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
DRAIN_READS = 16  # reads of what a refused client already sent, 64 KiB each, before answering it
_NAME = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9-]{1,63})*\.?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$")


def json_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


class DeadlineReader(io.RawIOBase):
    """The reading side of a socket, where every read ends by `deadline` (time.monotonic() seconds).

    Each recv waits at most for what is left until the deadline, then raises TimeoutError; after it
    the socket's timeout is `write_timeout` again, for the writes that follow.
    """

    def __init__(self, connection, write_timeout: float):
        super().__init__()
        self.connection, self.write_timeout = connection, write_timeout
        self.deadline = float("inf")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self.connection.settimeout(left)
        try:
            return self.connection.recv_into(buffer)
        finally:
            self.connection.settimeout(self.write_timeout)


class BoundedHandler(WSGIRequestHandler):
    """werkzeug's request handler, reading through a DeadlineReader (see the module docstring)."""

    server: "BoundedServer"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.write_timeout)
        self.reader = DeadlineReader(self.connection, self.server.write_timeout)
        self.reader.deadline = time.monotonic() + self.server.header_timeout
        self.rfile = io.BufferedReader(self.reader, 65536)

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed:  # the headers are in: the body has its own time
            self.reader.deadline = time.monotonic() + self.server.body_timeout
        return parsed

    def log_error(self, format: str, *args) -> None:
        if args and isinstance(args[0], TimeoutError):  # a client cut off at its deadline: one short line
            self.log("info", "%s", f"connection closed: {args[0]}")
            return
        super().log_error(format, *args)


class BoundedServer(socketserver.ThreadingMixIn, BaseWSGIServer):
    """A werkzeug WSGI server with a cap on connections and deadlines on reads and writes.

    host, port, app, fd: as werkzeug's BaseWSGIServer (fd: an already bound, listening socket).
    max_connections: connections served at once (one thread each); more get 503 at once.
    header_timeout / body_timeout / write_timeout: seconds (see the module docstring).
    `refused` counts the connections answered 503 for the cap.
    """

    multithread = True
    daemon_threads = True
    block_on_close = False  # closing never waits for open event streams

    def __init__(self, host: str, port: int, app, *, fd: int | None = None, max_connections: int = 64,
                 header_timeout: float = 10.0, body_timeout: float = 60.0, write_timeout: float = 30.0):
        for name, value in (("max_connections", max_connections), ("header_timeout", header_timeout),
                            ("body_timeout", body_timeout), ("write_timeout", write_timeout)):
            if not value > 0:
                raise InpaintError(f"{name} must be positive, got {value!r}")
        self.max_connections = max_connections
        self.header_timeout, self.body_timeout, self.write_timeout = header_timeout, body_timeout, write_timeout
        self.slots = threading.BoundedSemaphore(max_connections)
        self.refused = 0
        super().__init__(host, port, app, handler=BoundedHandler, fd=fd)

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            self.refused += 1
            self.refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def refuse(self, request) -> None:
        """Answer 503 and close, without blocking: first read what the client has sent already
        (closing a socket with unread data resets it, and the client may never see the answer)."""
        body = json_body(f"the server is busy: {self.max_connections} connections are open, "
                         "the most it serves at once; try again soon")
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n").encode()
        try:
            request.setblocking(False)
            try:
                for _ in range(DRAIN_READS):
                    if not request.recv(65536):
                        break
            except (BlockingIOError, InterruptedError):
                pass
            request.send(head + body)
        except OSError:
            pass
        finally:
            self.shutdown_request(request)


def host_name(host: str) -> str:
    """An address as a Host header writes it: IPv6 in brackets, lower case."""
    host = host.strip().lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host header values a server bound to host:port answers: 127.0.0.1, localhost, [::1] and
    `host`, each bare or with `:port`, and each name of `extra` (names or addresses, from
    --allow-host) bare or with `:port`; an entry of `extra` that gives its own port is taken as it is.
    A malformed entry of `extra` raises InpaintError."""
    allowed = set()
    for name in (*LOCAL_NAMES, host_name(host)):
        allowed |= {name, f"{name}:{port}"}
    for entry in extra:
        text = str(entry).strip().lower()
        if text.count(":") > 1 and not text.startswith("["):  # a bare IPv6 address
            text = f"[{text}]"
        if not _NAME.match(text):
            raise InpaintError(f"--allow-host takes a host name or address (optionally with :port), got {entry!r}")
        if re.search(r":[0-9]+$", text):
            allowed.add(text)
        else:
            allowed |= {text, f"{text}:{port}"}
    return frozenset(allowed)


class HostCheck:
    """WSGI middleware: pass requests whose Host header is in `allowed` (compared in lower case) to
    `app`; answer the others HTTP 400 with a JSON {"error": ...} naming what was sent."""

    def __init__(self, app: Callable, allowed: Iterable[str], *, listening: str):
        self.app, self.allowed, self.listening = app, frozenset(name.lower() for name in allowed), listening

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST")
        if host is not None and host.strip().lower() in self.allowed:
            return self.app(environ, start_response)
        sent = "no Host header" if host is None else f"the Host header {host[:100]!r}"
        body = json_body(f"{sent} is not an address of this server (it answers {self.listening}; "
                         "start it with --allow-host NAME to add a name)")
        start_response("400 Bad Request", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
