"""Email (rendered, sent exactly once per key) and in-app notifications.

`send_email` is called from job handlers inside the job's transaction. The
delivery is recorded under the caller's idempotency key *before* the mailer
runs, in that same transaction:

- with the development mailbox the stored message, the record and the job's
  `done` commit together, so every key yields exactly one message;
- with SMTP the message leaves before the transaction commits. A run that
  fails after the server accepted the message (lost commit, killed worker) is
  retried and sends again; the Message-ID is derived from the key, so the copy
  carries the same Message-ID and receiving systems can tell it is one message.
  A run after a committed delivery sends nothing.

Functions flush and never commit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import structlog
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from mindlinks.config import Settings
from mindlinks.notifications.errors import (
    InvalidRecipient,
    NotificationNotFound,
    UnknownEmailTemplate,
)
from mindlinks.notifications.models import DevMailboxMessage, EmailDelivery, Notification
from mindlinks.notifications.providers import Mailer, OutgoingEmail, make_mailer
from mindlinks.notifications.providers.base import sender_domain
from mindlinks.platform.clock import now
from mindlinks.platform.errors import InvalidInput
from mindlinks.platform.pagination import PageParams

log = structlog.get_logger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
# `session.info` (or the session factory's `info`) may carry the process's
# Settings under this key; see `settings_for`.
SETTINGS_INFO_KEY = "settings"

_Row = TypeVar("_Row", DevMailboxMessage, Notification)

_TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- rendering ---------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # StrictUndefined: a variable the caller forgot fails the job (and it is
    # retried after a fix) instead of mailing a link with a hole in it.
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm"), default_for_string=False, default=False
        ),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render_email(template: str, context: dict[str, Any]) -> RenderedEmail:
    """Render `email/{template}.subject.txt`, `.txt` and `.html` (HTML autoescaped).

    The subject is folded onto one line; the HTML template extends
    `email/layout.html` and sees `subject` too.
    """
    if not _TEMPLATE_NAME.match(template):
        raise UnknownEmailTemplate(f"not an email template name: {template!r}")
    env = _environment()
    try:
        subject_tpl = env.get_template(f"email/{template}.subject.txt")
        text_tpl = env.get_template(f"email/{template}.txt")
        html_tpl = env.get_template(f"email/{template}.html")
    except TemplateNotFound as exc:
        raise UnknownEmailTemplate(f"email template {template!r} is incomplete: {exc}") from exc
    subject = " ".join(subject_tpl.render(context).split())
    if not subject:
        raise UnknownEmailTemplate(f"email template {template!r} renders an empty subject")
    text = text_tpl.render(context)
    html = html_tpl.render({**context, "subject": subject})
    return RenderedEmail(subject=subject, text=text, html=html)


# --- sending -----------------------------------------------------------------


def settings_for(session: Session) -> Settings:
    """The settings of the process this session works for.

    A session (or its factory) may carry them in `info["settings"]`; otherwise
    they are the process's own, read from the `MINDLINKS_*` environment exactly
    as `mindlinks serve` and `mindlinks worker` read theirs.
    """
    found = session.info.get(SETTINGS_INFO_KEY)
    if isinstance(found, Settings):
        return found
    return _process_settings()


@lru_cache(maxsize=1)
def _process_settings() -> Settings:
    return Settings()


def message_id_for(key: str, from_header: str) -> str:
    """A Message-ID fixed by the idempotency key, so a resent copy is recognisable."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{sender_domain(from_header)}>"


def _check_recipient(to: str) -> str:
    address = to.strip()
    if not address or "@" not in address or _CONTROL.search(address):
        raise InvalidRecipient("the recipient must be one email address without control characters")
    return address


def already_sent(session: Session, key: str) -> bool:
    stmt = select(EmailDelivery.id).where(EmailDelivery.idempotency_key == key)
    return session.scalar(stmt) is not None


def send_email(
    session: Session,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    key: str,
    settings: Settings | None = None,
    mailer: Mailer | None = None,
) -> None:
    """Render `template` and deliver it to `to` once per `key`.

    Call it inside the job's transaction with the job's idempotency key (or a
    key derived from it when one job sends several emails). A key that was
    already delivered sends nothing. `settings` and `mailer` default to the
    process's settings and the mailer they choose.
    """
    if already_sent(session, key):
        log.info("email_already_sent", template=template)
        return
    recipient = _check_recipient(to)
    settings = settings or settings_for(session)
    rendered = render_email(template, {"base_url": settings.base_url, **context})
    message = OutgoingEmail(
        to=recipient,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        from_=settings.mail_from,
        message_id=message_id_for(key, settings.mail_from),
    )
    mailer = mailer or make_mailer(settings, session)
    delivery = EmailDelivery(
        idempotency_key=key,
        template=template,
        recipient=recipient,
        subject=rendered.subject[:500],
        message_id=message.message_id or "",
        mailer=mailer.name,
        sent_at=now(),
    )
    try:
        # On PostgreSQL a concurrent run of the same key waits here for the
        # other transaction, then finds its record: only one of them sends.
        with session.begin_nested():
            session.add(delivery)
    except IntegrityError:
        log.info("email_already_sent", template=template)
        return
    mailer.send(message)
    log.info("email_sent", template=template, mailer=mailer.name)


# --- development mailbox -----------------------------------------------------


def _encode_cursor(at: datetime, row_id: str) -> str:
    raw = f"{at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"==").decode("utf-8")
        at, row_id = raw.split("|", 1)
        parsed = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidInput("cursor", "not a cursor this API issued") from exc
    if parsed.tzinfo is None or not row_id:
        raise InvalidInput("cursor", "not a cursor this API issued")
    return parsed, row_id


def _newest_first(
    session: Session,
    stmt: Select[_Row],
    at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[str],
    params: PageParams,
) -> tuple[list[_Row], str | None]:
    """Keyset pagination on (time, id), newest first.

    Ids sort by creation time only to the millisecond; the timestamp (to the
    microsecond) keeps rows written in one millisecond in their real order.
    """
    if params.cursor:
        last_at, last_id = _decode_cursor(params.cursor)
        stmt = stmt.where(or_(at < last_at, and_(at == last_at, row_id < last_id)))
    stmt = stmt.order_by(at.desc(), row_id.desc()).limit(params.limit + 1)
    rows = list(session.scalars(stmt))
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    last = rows[-1]
    return rows, _encode_cursor(getattr(last, at.key), getattr(last, row_id.key))


def list_dev_mailbox(
    session: Session, params: PageParams, *, to: str | None = None
) -> tuple[Sequence[DevMailboxMessage], str | None]:
    """Kept emails, newest first (optionally only those to one address, any case)."""
    stmt = select(DevMailboxMessage)
    if to:
        stmt = stmt.where(func.lower(DevMailboxMessage.recipient) == to.strip().lower())
    return _newest_first(session, stmt, DevMailboxMessage.sent_at, DevMailboxMessage.id, params)


# --- in-app notifications ----------------------------------------------------


def _check_link(link: str | None) -> str | None:
    if link is None:
        return None
    if _CONTROL.search(link) or not (
        (link.startswith("/") and not link.startswith("//"))
        or link.startswith(("https://", "http://"))
    ):
        raise ValueError("a notification link is a path on this site or an http(s) URL")
    return link


def notify_in_app(
    session: Session,
    user_id: str,
    kind: str,
    title: str,
    body: str,
    link: str | None = None,
    *,
    key: str | None = None,
) -> Notification:
    """Add an in-app notification for `user_id`; with `key`, once per key."""
    if key is not None:
        existing = session.scalar(select(Notification).where(Notification.idempotency_key == key))
        if existing is not None:
            return existing
    notification = Notification(
        user_id=user_id,
        kind=kind[:64],
        title=title[:200],
        body=body,
        link=_check_link(link),
        idempotency_key=key,
        created_at=now(),
    )
    try:
        with session.begin_nested():
            session.add(notification)
    except IntegrityError:
        if key is None:
            raise
        found = session.scalar(select(Notification).where(Notification.idempotency_key == key))
        if found is None:
            raise
        return found
    return notification


def list_notifications(
    session: Session, user_id: str, params: PageParams, *, unread_only: bool = False
) -> tuple[Sequence[Notification], str | None]:
    """The user's notifications, newest first."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return _newest_first(session, stmt, Notification.created_at, Notification.id, params)


def unread_count(session: Session, user_id: str) -> int:
    stmt = select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    return int(session.scalar(stmt) or 0)


def mark_read(session: Session, user_id: str, notification_id: str) -> Notification:
    """Mark one of the user's notifications read (again is harmless); others' are 404."""
    notification = session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id
        )
    )
    if notification is None:
        raise NotificationNotFound("There is no such notification.")
    if notification.read_at is None:
        notification.read_at = now()
        session.flush()
    return notification
