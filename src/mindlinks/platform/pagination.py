"""Cursor pagination: `{"items": [...], "next_cursor": str | null}`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from mindlinks.platform.errors import InvalidInput

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    cursor: str | None = None
    limit: int = 50


async def page_params(
    cursor: str | None = Query(default=None, description="Opaque cursor from next_cursor"),
    limit: int = Query(default=50, ge=1, le=100),
) -> PageParams:
    return PageParams(cursor=cursor, limit=limit)


_ID_CHARS = frozenset("0123456789abcdefghjkmnpqrstvwxyz")


def _decode_cursor(cursor: str) -> str:
    problem = InvalidInput("cursor", "not a cursor this API issued")
    try:
        value = base64.urlsafe_b64decode(cursor.encode("ascii") + b"==").decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise problem from exc
    if len(value) != 26 or not set(value) <= _ID_CHARS:
        raise problem
    return value


def _encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii").rstrip("=")


def paginate(
    session: Session,
    stmt: Select[Any],
    key: InstrumentedAttribute[str],
    params: PageParams,
    *,
    newest_first: bool = True,
) -> tuple[Sequence[Any], str | None]:
    """Keyset pagination over a unique, time-ordered string key (our ids)."""
    if params.cursor:
        last = _decode_cursor(params.cursor)
        stmt = stmt.where(key < last if newest_first else key > last)
    stmt = stmt.order_by(key.desc() if newest_first else key.asc()).limit(params.limit + 1)
    rows = list(session.scalars(stmt).all())
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        next_cursor = _encode_cursor(getattr(rows[-1], key.key))
    return rows, next_cursor
