"""Errors of the notifications module.

`Problem` subclasses are answered as problem+json; the others are programming or
delivery errors raised inside jobs, where they fail the run so it is retried.
"""

from __future__ import annotations

from mindlinks.platform.errors import NotFound


class NotificationNotFound(NotFound):
    slug = "notification-not-found"
    title = "Unknown notification"


class DevMailboxUnavailable(NotFound):
    """The development mailbox does not exist in production: it answers like no route."""

    slug = "not-found"
    title = "Not Found"


class UnknownEmailTemplate(LookupError):
    """No `{template}.subject.txt`, `.txt` and `.html` set with this name."""


class InvalidRecipient(ValueError):
    """An address that must not be put in an email header (control characters, empty)."""
