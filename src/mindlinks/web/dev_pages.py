"""Development-only pages: the mailbox of emails the dev mailer kept.

In production these pages answer 404 like any unknown address.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from mindlinks.notifications import service as notifications
from mindlinks.platform.context import SessionDep, SettingsDep
from mindlinks.platform.errors import NotFound
from mindlinks.platform.pagination import PageParams
from mindlinks.web.shell import CSP, PageActor, WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

MAILBOX_PAGE_SIZE = 20
# Emails carry inline styles; they are shown in a sandboxed frame (no scripts,
# no forms, opaque origin), and only this page lets inline styles through.
MAILBOX_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


@router.get("/dev/mailbox")
def mailbox(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: PageActor,
    to: Annotated[str | None, Query(max_length=320)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if not settings.is_development:
        raise NotFound("There is nothing at this address.")
    messages, next_cursor = notifications.list_dev_mailbox(
        session, PageParams(cursor=cursor, limit=MAILBOX_PAGE_SIZE), to=to or None
    )
    return render(
        request,
        "mailbox.html",
        {"messages": messages, "next_cursor": next_cursor, "to": to or ""},
        headers={"Content-Security-Policy": MAILBOX_CSP},
    )
