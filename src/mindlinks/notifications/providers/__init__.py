"""Mailers: the `Mailer` protocol, the development mailbox and SMTP."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mindlinks.config import Settings
from mindlinks.notifications.providers.base import Mailer, OutgoingEmail
from mindlinks.notifications.providers.devmailbox import DevMailbox
from mindlinks.notifications.providers.smtp import SmtpMailer

__all__ = ["DevMailbox", "Mailer", "OutgoingEmail", "SmtpMailer", "make_mailer"]


def make_mailer(settings: Settings, session: Session) -> Mailer:
    """The mailer chosen by `settings.mailer`, bound to this unit of work."""
    if settings.mailer == "smtp":
        return SmtpMailer.from_settings(settings)
    return DevMailbox(session)
