"""In-app notifications for the signed-in user, and the development mailbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from mindlinks.identity.auth import CurrentActor
from mindlinks.notifications import service
from mindlinks.notifications.errors import DevMailboxUnavailable
from mindlinks.notifications.models import DevMailboxMessage, Notification
from mindlinks.notifications.schemas import DevMailboxItem, NotificationOut
from mindlinks.platform.context import SessionDep, SettingsDep
from mindlinks.platform.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api", tags=["notifications"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        kind=n.kind,
        title=n.title,
        body=n.body,
        link=n.link,
        created_at=n.created_at,
        read=n.read,
        read_at=n.read_at,
    )


def _mailbox_item(m: DevMailboxMessage) -> DevMailboxItem:
    return DevMailboxItem(
        id=m.id,
        to=m.recipient,
        subject=m.subject,
        text=m.text_body,
        html=m.html_body,
        sent_at=m.sent_at,
    )


@router.get("/notifications", response_model=Page[NotificationOut])
def list_notifications(
    actor: CurrentActor,
    session: SessionDep,
    params: PageDep,
    unread: Annotated[bool, Query(description="Only notifications not read yet")] = False,
) -> Page[NotificationOut]:
    """The caller's in-app notifications, newest first."""
    rows, cursor = service.list_notifications(session, actor.id, params, unread_only=unread)
    return Page[NotificationOut](items=[_notification_out(n) for n in rows], next_cursor=cursor)


@router.post(
    "/notifications/{notification_id}/read",
    status_code=204,
    response_class=Response,
    responses={404: {"description": "No such notification for the caller"}},
)
def mark_notification_read(
    notification_id: str, actor: CurrentActor, session: SessionDep
) -> Response:
    service.mark_read(session, actor.id, notification_id)
    return Response(status_code=204)


@router.get(
    "/dev/mailbox",
    response_model=Page[DevMailboxItem],
    tags=["development"],
    responses={404: {"description": "In production: there is no development mailbox"}},
)
def dev_mailbox(
    session: SessionDep,
    settings: SettingsDep,
    params: PageDep,
    to: Annotated[
        str | None, Query(max_length=320, description="Only emails to this address")
    ] = None,
) -> Page[DevMailboxItem]:
    """Emails kept by the development mailer, newest first (development only, no sign-in)."""
    if settings.env == "production":
        raise DevMailboxUnavailable("No resource at /api/dev/mailbox")
    rows, cursor = service.list_dev_mailbox(session, params, to=to)
    return Page[DevMailboxItem](items=[_mailbox_item(m) for m in rows], next_cursor=cursor)
