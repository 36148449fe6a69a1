"""Plumbing of the server-rendered pages: templates, cookies, CSRF, flash
messages, the signed-in viewer, and the route class that turns errors into pages.

Sign-in state lives in cookies holding the same tokens the API issues:
`ml_access` (the short-lived access token, every path) and `ml_refresh` (the
refresh token, sent only to `/auth/refresh`). A page that gets an access cookie
that no longer works sends the browser to `/auth/refresh` (303 for GET, 307 for
POST so the submitted form survives), which rotates the refresh token through
`identity.service.rotate_refresh_token`, sets both cookies again and sends the
browser back where it was.

Every form is a POST carrying `csrf_token`, checked against the `ml_csrf`
cookie (double submit). The cookie is issued on the first page that needs it;
it is readable by scripts on purpose so that API calls made from our own pages
can echo it in `X-CSRF-Token` (see `identity.auth`).

Services raise `Problem`s; pages show them as form errors or an error page,
never as JSON. `savepoint()` keeps a failed service call from leaving half its
work in the request's transaction while the rest of the request (for example a
token rotation) still commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import jinja2
import structlog
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from mindlinks.config import Settings
from mindlinks.identity.auth import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    REFRESH_COOKIE,
    Actor,
    CsrfFailed,
    csrf_ok,
    resolve_actor,
)
from mindlinks.identity.service import TokenPair
from mindlinks.platform.context import AppContext, ContextDep, SessionDep
from mindlinks.platform.errors import InvalidFields, NotAuthenticated, Problem
from mindlinks.platform.ids import new_token

log = structlog.get_logger(__name__)

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

REFRESH_PATH = "/auth/refresh"
FLASH_COOKIE = "ml_flash"
CSRF_FIELD = "csrf_token"
_CSRF_RE = re.compile(r"^[A-Za-z0-9_\-]{32,128}$")

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# No scripts at all; the dev mailbox loosens style-src for the emails it shows.
CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_URL_RE = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Escape plain text and make its http(s) addresses links."""
    out: list[str] = []
    last = 0
    for match in _URL_RE.finditer(text):
        url = match.group(0).rstrip(".,;:!?)")
        out.append(str(escape(text[last : match.start()])))
        out.append(f'<a href="{escape(url)}">{escape(url)}</a>')
        last = match.start() + len(url)
    out.append(str(escape(text[last:])))
    return Markup("".join(out))  # noqa: S704 - every piece is escaped above


def when(value: datetime | date | None) -> str:
    """A date or time as people read it (times in UTC)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")
    return value.strftime("%d %b %Y")


def day(value: datetime | date | None) -> str:
    """Just the (UTC) date, for narrow table cells."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return value.strftime("%d %b %Y")


_env.filters["linkify"] = linkify
_env.filters["when"] = when
_env.filters["day"] = day
templates = Jinja2Templates(env=_env)


# --- who is looking --------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """A plain copy of the signed-in user for templates (safe after rollbacks)."""

    id: str
    email: str
    full_name: str
    role: str
    email_verified: bool


class SessionExpired(Exception):
    """The access cookie no longer works: try the refresh cookie."""


class SignInRequired(Exception):
    """The page needs a signed-in user and there is none."""


def page_actor(request: Request, session: SessionDep, ctx: ContextDep) -> Actor | None:
    """The actor of the `ml_access` cookie, or None when there is no cookie."""
    token = request.cookies.get(ACCESS_COOKIE)
    if not token:
        return None
    try:
        actor = resolve_actor(request, session, ctx, token)
    except NotAuthenticated as exc:
        raise SessionExpired from exc
    user = actor.user
    request.state.viewer = Viewer(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        email_verified=user.email_verified,
    )
    return actor


async def signed_in_actor(actor: Annotated[Actor | None, Depends(page_actor)]) -> Actor:
    if actor is None:
        raise SignInRequired
    return actor


PageActor = Annotated[Actor | None, Depends(page_actor)]
SignedInActor = Annotated[Actor, Depends(signed_in_actor)]


def viewer_of(request: Request) -> Viewer | None:
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    return viewer


# --- per-request web state: CSRF token, cookies to set, flash messages ------


@dataclass
class Flash:
    level: str  # "success" | "info" | "error"
    text: str


@dataclass
class WebState:
    csrf_token: str
    issue_csrf: bool
    incoming_flashes: list[Flash]
    outgoing_flashes: list[Flash] = field(default_factory=list)
    set_cookies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    delete_cookies: list[tuple[str, str]] = field(default_factory=list)


def _settings(request: Request) -> Settings:
    ctx: AppContext = request.app.state.ctx
    return ctx.settings


def _secure(request: Request) -> bool:
    return _settings(request).base_url.startswith("https://")


def _flash_mac(request: Request, payload: bytes) -> str:
    key = hashlib.sha256(b"mindlinks-web-flash:" + _settings(request).secret_key.encode()).digest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def _read_flashes(request: Request) -> list[Flash]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return []
    encoded, mac = raw.rsplit(".", 1)
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        return []
    if not hmac.compare_digest(_flash_mac(request, payload), mac):
        return []
    try:
        items = json.loads(payload)
        return [Flash(level=str(i["level"]), text=str(i["text"])) for i in items][:5]
    except (ValueError, TypeError, KeyError):
        return []


def _encode_flashes(request: Request, flashes: list[Flash]) -> str:
    payload = json.dumps([{"level": f.level, "text": f.text[:300]} for f in flashes[-5:]]).encode()
    encoded = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{encoded}.{_flash_mac(request, payload)}"


def web_state(request: Request) -> WebState:
    state: WebState | None = getattr(request.state, "web", None)
    if state is None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        valid = bool(_CSRF_RE.match(cookie))
        state = WebState(
            csrf_token=cookie if valid else new_token(),
            issue_csrf=not valid,
            incoming_flashes=_read_flashes(request),
        )
        request.state.web = state
    return state


def flash(request: Request, text: str, level: str = "success") -> None:
    web_state(request).outgoing_flashes.append(Flash(level=level, text=text))


def rotate_csrf(request: Request) -> None:
    """A new CSRF token at sign-in, so a token planted before it is useless."""
    state = web_state(request)
    state.csrf_token = new_token()
    state.issue_csrf = True


def set_session_cookies(request: Request, pair: TokenPair) -> None:
    state = web_state(request)
    settings = _settings(request)
    common: dict[str, Any] = {
        "httponly": True,
        "samesite": "lax",
        "secure": _secure(request),
        # The access cookie outlives its token so that an expired one still
        # tells the page to try the refresh cookie.
        "max_age": settings.refresh_token_ttl_seconds,
    }
    state.set_cookies.append((ACCESS_COOKIE, pair.access_token, {**common, "path": "/"}))
    state.set_cookies.append((REFRESH_COOKIE, pair.refresh_token, {**common, "path": REFRESH_PATH}))


def clear_session_cookies(request: Request) -> None:
    state = web_state(request)
    state.set_cookies = [
        c for c in state.set_cookies if c[0] not in (ACCESS_COOKIE, REFRESH_COOKIE)
    ]
    state.delete_cookies.append((ACCESS_COOKIE, "/"))
    state.delete_cookies.append((REFRESH_COOKIE, REFRESH_PATH))


def finish(request: Request, response: Response) -> Response:
    """Apply the request's cookies and the security headers to a response."""
    state = web_state(request)
    secure = _secure(request)
    if state.issue_csrf:
        response.set_cookie(
            CSRF_COOKIE,
            state.csrf_token,
            path="/",
            samesite="lax",
            secure=secure,
            httponly=False,
            max_age=365 * 24 * 3600,
        )
    for name, path in state.delete_cookies:
        response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="lax")
    for name, value, options in state.set_cookies:
        response.set_cookie(name, value, **options)
    # Messages not shown on this page wait in a signed cookie for the next one.
    pending = state.incoming_flashes + state.outgoing_flashes
    if pending:
        response.set_cookie(
            FLASH_COOKIE,
            _encode_flashes(request, pending),
            path="/",
            samesite="lax",
            secure=secure,
            httponly=True,
            max_age=120,
        )
    elif FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response


# --- rendering --------------------------------------------------------------


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    state = web_state(request)
    flashes = state.incoming_flashes + state.outgoing_flashes
    state.incoming_flashes = []
    state.outgoing_flashes = []
    full: dict[str, Any] = {
        "viewer": viewer_of(request),
        "csrf_token": state.csrf_token,
        "csrf_field": CSRF_FIELD,
        "flashes": flashes,
        "dev_mode": _settings(request).is_development,
        "errors": {},
        "form_error": None,
        "values": {},
    }
    full.update(context or {})
    response = templates.TemplateResponse(
        request, template, full, status_code=status_code, headers=dict(headers or {})
    )
    return response


def redirect(request: Request, url: str, status_code: int = 303) -> RedirectResponse:
    return RedirectResponse(url, status_code=status_code)


def safe_next(target: str | None, default: str = "/dashboard") -> str:
    """A local path to go to after sign-in; anything else becomes `default`."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target


def login_url(next_path: str | None = None) -> str:
    if not next_path or next_path == "/dashboard":
        return "/login"
    return "/login?next=" + quote(next_path, safe="/")


def form_errors(problem: Problem, fields: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    """Split a problem into messages next to `fields` and one message for the form."""
    by_field: dict[str, str] = {}
    other: list[str] = []
    for error in problem.errors or []:
        name = error.get("field", "")
        message = error.get("message", "is not valid")
        if name in fields and name not in by_field:
            by_field[name] = message
        else:
            other.append(f"{name}: {message}" if name else message)
    if by_field and not other:
        return by_field, "Please correct the fields marked below."
    if other:
        return by_field, "; ".join(other)
    return by_field, problem.detail


# --- CSRF -------------------------------------------------------------------


async def csrf_protect(request: Request) -> None:
    """Refuse a form whose `csrf_token` does not match the `ml_csrf` cookie."""
    form = await request.form()
    submitted = form.get(CSRF_FIELD)
    if not isinstance(submitted, str) or not csrf_ok(request, submitted):
        raise CsrfFailed(
            "This form has expired or was sent from another site. "
            "Go back, reload the page and try again."
        )


CSRF_CHECKED = [Depends(csrf_protect)]


# --- transactions -----------------------------------------------------------


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """Run a service call so that a `Problem` it raises undoes only its own work.

    The request's transaction still commits what came before (a refreshed
    sign-in, say); a problem that must commit its state change
    (`commit_before_raise`) keeps it, as in `get_session`.
    """
    nested = session.begin_nested()
    try:
        yield
    except Problem as problem:
        if nested.is_active:
            if problem.commit_before_raise:
                nested.commit()
            else:
                nested.rollback()
        raise
    except BaseException:
        if nested.is_active:
            nested.rollback()
        raise
    if nested.is_active:
        nested.commit()


# --- the route class ----------------------------------------------------------


_ERROR_HEADINGS = {
    400: "Something in that request was not right",
    401: "Please sign in",
    403: "You can't do that",
    404: "Page not found",
    409: "That can't be done right now",
    410: "This link is no longer valid",
    413: "That was too large",
    422: "Some details were not valid",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "The service is unavailable",
}


def error_page(
    request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    heading = _ERROR_HEADINGS.get(status, "Something went wrong")
    return render(
        request,
        "error.html",
        {"status": status, "heading": heading, "detail": detail},
        status_code=status,
        headers=headers,
    )


def problem_page(request: Request, problem: Problem) -> HTMLResponse:
    headers = {k: v for k, v in problem.headers.items() if k.lower() == "retry-after"}
    return error_page(request, problem.status, problem.detail, headers)


def _refresh_redirect(request: Request) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = f"{REFRESH_PATH}?next={quote(here, safe='/')}"
    # 307 repeats a POST with its body, so a form sent with an expired access
    # cookie is submitted again once the sign-in is refreshed.
    status = 303 if request.method in ("GET", "HEAD") else 307
    return RedirectResponse(target, status_code=status)


def _sign_in_redirect(request: Request) -> Response:
    if request.method in ("GET", "HEAD"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(login_url(here), status_code=303)
    flash(request, "Please sign in to continue.", "info")
    return RedirectResponse("/login", status_code=303)


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class WebRoute(APIRoute):
    """Answers pages only with HTML: problems, missing sign-in and unexpected
    errors become pages or redirects, and every answer gets the request's
    cookies and the security headers."""

    def get_route_handler(self) -> Handler:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            response: Response
            try:
                response = await original(request)
            except SessionExpired:
                response = _refresh_redirect(request)
            except SignInRequired:
                response = _sign_in_redirect(request)
            except Problem as problem:
                # The request's transaction was rolled back: drop sign-in
                # cookies it may have prepared.
                state = web_state(request)
                state.set_cookies = []
                response = problem_page(request, problem)
            except RequestValidationError as exc:
                web_state(request).set_cookies = []
                messages = "; ".join(str(e.get("msg", "invalid")) for e in exc.errors()[:3])
                response = problem_page(request, InvalidFields(messages or "Invalid request."))
            except StarletteHTTPException as exc:
                web_state(request).set_cookies = []
                detail = exc.detail if isinstance(exc.detail, str) else "Error"
                response = error_page(request, exc.status_code, detail)
            except Exception:
                log.exception("unhandled_error", path=request.url.path)
                web_state(request).set_cookies = []
                response = error_page(
                    request, 500, "An unexpected error occurred; it has been logged."
                )
            return finish(request, response)

        return handler
