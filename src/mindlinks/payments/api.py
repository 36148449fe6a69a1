"""HTTP routes of the payments module (API.md, "Payments")."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends

from mindlinks.contracts.auth import ReadableContract
from mindlinks.payments import service
from mindlinks.payments.errors import ScheduleCursorInvalid
from mindlinks.payments.schemas import ScheduleItemOut
from mindlinks.platform.context import SessionDep
from mindlinks.platform.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api", tags=["payments"])

Paging = Annotated[PageParams, Depends(page_params)]

# Schedule items are ordered by position, not by id, so their cursor carries the
# last position (opaque to clients, like every cursor).
_CURSOR_PREFIX: Final = "pos:"
_CURSOR_VALUE = re.compile(r"pos:(0|[1-9][0-9]{0,8})")


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "Not signed in",
        404: "Unknown contract, or not visible to the caller",
        422: "Invalid input, with `errors` per field",
    }
    return {
        code: {"description": described[code], "content": {"application/problem+json": {}}}
        for code in codes
    }


def encode_position_cursor(position: int) -> str:
    raw = f"{_CURSOR_PREFIX}{position}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_position_cursor(cursor: str) -> int:
    try:
        value = base64.urlsafe_b64decode(cursor.encode("ascii") + b"==").decode("ascii")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise ScheduleCursorInvalid() from exc
    match = _CURSOR_VALUE.fullmatch(value)
    if match is None:
        raise ScheduleCursorInvalid()
    return int(match.group(1))


@router.get(
    "/contracts/{contract_id}/payment-schedule",
    response_model=Page[ScheduleItemOut],
    responses=_problems(401, 404, 422),
)
def payment_schedule(
    contract: ReadableContract, session: SessionDep, paging: Paging
) -> Page[ScheduleItemOut]:
    """The contract's payment schedule by position, for its parties; empty until
    the contract is activated."""
    after = decode_position_cursor(paging.cursor) if paging.cursor else None
    items, last = service.schedule_page(
        session, contract.id, after_position=after, limit=paging.limit
    )
    return Page(
        items=[ScheduleItemOut.of(item) for item in items],
        next_cursor=encode_position_cursor(last) if last is not None else None,
    )
