"""The development mailer: emails are stored in `dev_mailbox`, shown at `/dev/mailbox`.

It writes through the caller's session, so the kept message commits or rolls
back with the job that sent it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mindlinks.notifications.models import DevMailboxMessage
from mindlinks.notifications.providers.base import OutgoingEmail
from mindlinks.platform.clock import now


class DevMailbox:
    name = "dev"

    def __init__(self, session: Session) -> None:
        self.session = session

    def send(self, message: OutgoingEmail) -> None:
        self.session.add(
            DevMailboxMessage(
                recipient=message.to,
                sender=message.from_,
                subject=message.subject,
                text_body=message.text,
                html_body=message.html,
                message_id=message.message_id or "",
                sent_at=now(),
            )
        )
        self.session.flush()
