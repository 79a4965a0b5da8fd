"""uvicorn for the app, on a socket bound here (so port 0 works and the real port is known).

uvicorn's own proxy-header handling and access log are off: the app decides whether to trust
a proxy (--trust-proxy-header), and headers.AccessLog writes the log line without the query.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from grader.errors import GradeError


def listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as error:
        raise GradeError(f"cannot listen on {host}:{port}: {error}; pick another --port or --host") from error
    sock.listen(128)
    return sock


def _server(app: Starlette) -> uvicorn.Server:
    config = uvicorn.Config(app, proxy_headers=False, access_log=False, server_header=False, log_config=None,
                            lifespan="on", timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def serve(app: Starlette, sock: socket.socket) -> None:
    """Serve until Ctrl-C, logging requests to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("grader.web", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    _server(app).run(sockets=[sock])


@contextmanager
def running(app: Starlette, host: str = "127.0.0.1") -> Iterator[str]:
    """The app served by uvicorn in a thread on a free port; yields its base URL (tests, benchmarks)."""
    sock = listen(host, 0)
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
