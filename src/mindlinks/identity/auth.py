"""Who is calling: typed dependencies that turn a token into an `Actor`.

API clients send `Authorization: Bearer`; browsers send the same access token in
an HttpOnly cookie, and then every unsafe method must also carry the CSRF token
(double-submit: the `ml_csrf` cookie echoed in `X-CSRF-Token` or a form field).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mindlinks.identity.errors import EmailNotVerified
from mindlinks.identity.models import User
from mindlinks.identity.service import user_of_active_family
from mindlinks.identity.tokens import AccessTokenInvalid, decode_access_token
from mindlinks.platform.context import ContextDep, SessionDep
from mindlinks.platform.errors import Forbidden, NotAuthenticated, RoleNotAllowed

ACCESS_COOKIE = "ml_access"
REFRESH_COOKIE = "ml_refresh"
CSRF_COOKIE = "ml_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login")


class CsrfFailed(Forbidden):
    slug = "csrf-failed"
    title = "The CSRF token is missing or wrong"


@dataclass(frozen=True)
class Actor:
    user: User
    family_id: str

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


def csrf_ok(request: Request, submitted: str | None) -> bool:
    expected = request.cookies.get(CSRF_COOKIE)
    return bool(expected and submitted and hmac.compare_digest(expected, submitted))


def resolve_actor(request: Request, session: SessionDep, ctx: ContextDep, token: str) -> Actor:
    try:
        claims = decode_access_token(ctx.verification_keys, token)
    except AccessTokenInvalid as exc:
        raise NotAuthenticated("The access token is invalid or expired.") from exc
    user = user_of_active_family(session, claims.family_id, claims.user_id)
    if user is None:
        raise NotAuthenticated("This session has been signed out.")
    return Actor(user=user, family_id=claims.family_id)


def optional_actor(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor | None:
    if credentials is not None:
        return resolve_actor(request, session, ctx, credentials.credentials)
    cookie = request.cookies.get(ACCESS_COOKIE)
    if not cookie:
        return None
    if request.method not in SAFE_METHODS and not csrf_ok(
        request, request.headers.get(CSRF_HEADER)
    ):
        raise CsrfFailed("Send the ml_csrf cookie value in the X-CSRF-Token header.")
    return resolve_actor(request, session, ctx, cookie)


async def current_actor(actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    if actor is None:
        raise NotAuthenticated("Sign in and send the access token as a Bearer token.")
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
OptionalActor = Annotated[Actor | None, Depends(optional_actor)]


def require_verified(actor: Actor) -> Actor:
    """Refuse a business-state change until the account's email is verified."""
    if not actor.user.email_verified:
        raise EmailNotVerified("Verify your email address before you do this.")
    return actor


def require_role(actor: Actor, *roles: str) -> Actor:
    if actor.role not in roles:
        raise RoleNotAllowed(f"This action is for the {' or '.join(roles)} role.")
    return actor


async def _client(actor: CurrentActor) -> Actor:
    return require_role(actor, "client")


async def _contractor(actor: CurrentActor) -> Actor:
    return require_role(actor, "contractor")


async def _admin(actor: CurrentActor) -> Actor:
    return require_role(actor, "admin")


ClientActor = Annotated[Actor, Depends(_client)]
ContractorActor = Annotated[Actor, Depends(_contractor)]
AdminActor = Annotated[Actor, Depends(_admin)]
