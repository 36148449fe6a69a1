"""Access tokens: short-lived EdDSA-signed JWTs with a `kid`; the algorithm is
pinned, so `alg: none` and algorithm switches are refused before any check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from mindlinks.platform.clock import now
from mindlinks.platform.keys import SigningKey

ALGORITHM = "EdDSA"
ISSUER = "mindlinks"
AUDIENCE = "mindlinks-api"


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    role: str
    family_id: str
    expires_at: datetime


class AccessTokenInvalid(Exception):
    pass


def issue_access_token(
    key: SigningKey, *, user_id: str, role: str, family_id: str, ttl_seconds: int
) -> str:
    issued = now()
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "role": role,
        "fam": family_id,
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl_seconds)).timestamp()),
    }
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def decode_access_token(keys: dict[str, SigningKey], token: str) -> AccessClaims:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AccessTokenInvalid("malformed token") from exc
    if header.get("alg") != ALGORITHM:
        raise AccessTokenInvalid("unexpected algorithm")
    key = keys.get(str(header.get("kid")))
    if key is None:
        raise AccessTokenInvalid("unknown key id")
    try:
        claims = jwt.decode(
            token,
            key.public_key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise AccessTokenInvalid(str(exc)) from exc
    if not isinstance(claims.get("fam"), str) or claims.get("role") not in (
        "client",
        "contractor",
        "admin",
    ):
        raise AccessTokenInvalid("missing claims")
    return AccessClaims(
        user_id=claims["sub"],
        role=claims["role"],
        family_id=claims["fam"],
        expires_at=datetime.fromtimestamp(claims["exp"]).astimezone(),
    )
