"""ASGI middleware: request ids on every response and log line, body size limit."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mindlinks.platform.errors import PayloadTooLarge, Problem, problem_response

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class RequestIdMiddleware:
    """Takes a sane `X-Request-ID` or makes one, binds it to logs, echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.clear_contextvars()


class BodySizeLimitMiddleware:
    """Refuses bodies above the limit before the app parses them (413 by default).

    `path_limits` raises the limit for the few paths that take uploads (the KYC
    capture): `(pattern, max_bytes, problem class)` triples, the first whose pattern
    matches the whole path wins; every other path keeps `max_bytes` and 413. The
    problem class lets an upload path answer what its contract promises (API.md: a
    file over the limit is a 422 there).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        path_limits: Sequence[tuple[re.Pattern[str], int, type[Problem]]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = tuple(path_limits)

    def _limit_for(self, path: str) -> tuple[int, type[Problem]]:
        for pattern, limit, refusal in self.path_limits:
            if pattern.fullmatch(path):
                return limit, refusal
        return self.max_bytes, PayloadTooLarge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, refusal = self._limit_for(scope.get("path", ""))
        problem = refusal(f"The body must be at most {max_bytes} bytes.")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            await problem_response(problem)(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # Raised inside the app, its problem handler answers it.
                    raise problem
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except refusal:
            if not started:
                await problem_response(problem)(scope, receive, send)
