"""The app under uvicorn in a thread of the test process, on a loopback socket: for
the tests that need real HTTP (the browser journeys, webhooks, `evidence trust`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from mindlinks.app import create_app
from mindlinks.config import Settings


def loopback_socket() -> tuple[socket.socket, str]:
    """A bound loopback socket and its base URL, known before the app is built (the
    app's public URL must name its own port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def serving(settings: Settings, sock: socket.socket) -> Iterator[None]:
    """The app served on `sock` by uvicorn in a background thread, lifespan on."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_config=None, access_log=False, lifespan="on")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start under uvicorn")
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
