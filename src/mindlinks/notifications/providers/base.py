"""The `Mailer` protocol: one email out, either kept (development) or sent (SMTP).

A mailer is built per unit of work (`make_mailer(settings, session)`), so one
that stores messages, like the development mailbox, writes them in the same
transaction as the job that sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Protocol

from mindlinks.platform.clock import now


@dataclass(frozen=True)
class OutgoingEmail:
    """A rendered email. `from_` is the From header (`from` is a Python keyword)."""

    to: str
    subject: str
    text: str
    html: str
    from_: str
    message_id: str | None = None


class Mailer(Protocol):
    name: str

    def send(self, message: OutgoingEmail) -> None:
        """Deliver (or keep) the message; raise if it was not accepted."""
        ...


def sender_domain(from_header: str) -> str:
    """The domain of a From header (`Name <user@domain>`), for Message-IDs."""
    _, address = parseaddr(from_header)
    return address.rpartition("@")[2] or "mindlinks.local"


def to_mime(message: OutgoingEmail) -> EmailMessage:
    """A MIME message: multipart/alternative with the text part first, then HTML.

    Header values with CR or LF are refused by the email package itself, so a
    recipient or subject cannot inject headers.
    """
    mime = EmailMessage()
    mime["From"] = message.from_
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(now())
    if message.message_id:
        mime["Message-ID"] = message.message_id
    # RFC 3834: an automatic message, so auto-responders do not answer it.
    mime["Auto-Submitted"] = "auto-generated"
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    return mime
