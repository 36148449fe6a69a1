"""RFC 9457 problem details: one error class per broken rule, one handler.

Every error answer is `application/problem+json` with `type`, `title`,
`status`, `detail` and, for invalid input, `errors: [{field, message}]`. The
last path segment of `type` names the rule, e.g. `.../email-not-verified`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_BASE = "https://mindlinks.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = structlog.get_logger(__name__)


class Problem(Exception):
    """Base of every error a client can cause; subclasses name the rule."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    # True when the state change that detected the problem must still commit
    # (e.g. revoking a token family on refresh-token reuse).
    commit_before_raise: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.detail)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class InvalidInput(Problem):
    status = 422
    slug = "invalid-input"
    title = "The request has invalid fields"

    def __init__(self, field: str, message: str, detail: str | None = None) -> None:
        super().__init__(
            detail or f"{field}: {message}", errors=[{"field": field, "message": message}]
        )


class InvalidFields(Problem):
    status = 422
    slug = "invalid-input"
    title = "The request has invalid fields"


class NotAuthenticated(Problem):
    status = 401
    slug = "not-authenticated"
    title = "Authentication is required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(Problem):
    status = 403
    slug = "forbidden"
    title = "You may not do this"


class RoleNotAllowed(Forbidden):
    slug = "role-not-allowed"
    title = "Your role may not do this"


class NotFound(Problem):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(Problem):
    status = 409
    slug = "conflict"
    title = "Conflict with the current state"


class Gone(Problem):
    status = 410
    slug = "gone"
    title = "No longer available"


class PayloadTooLarge(Problem):
    status = 413
    slug = "payload-too-large"
    title = "The request body is too large"


class RateLimited(Problem):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        retry_after = max(1, retry_after)
        super().__init__(
            detail or f"Try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )


class ServiceUnavailable(Problem):
    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(
        problem.body(instance),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _generic(status: int, detail: str | None, slug: str | None = None) -> Problem:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    problem = Problem(detail or phrase)
    problem.status = status  # type: ignore[misc]
    problem.slug = slug or phrase.lower().replace(" ", "-").replace("'", "")  # type: ignore[misc]
    problem.title = phrase  # type: ignore[misc]
    return problem


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[0] if loc else "body")


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    for err in exc.errors():
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            errors.append({"field": "body", "message": "malformed JSON: " + message})
            continue
        if err.get("type") == "extra_forbidden":
            message = "unknown field"
        errors.append({"field": _field_name(tuple(err.get("loc", ()))), "message": message})
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(InvalidFields(detail, errors=errors), request)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No resource at {request.url.path}"
        problem = _generic(exc.status_code, detail)
        if exc.headers:
            problem.headers.update(exc.headers)
        return problem_response(problem, request)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(
            _generic(500, "An unexpected error occurred; it has been logged."), request
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
