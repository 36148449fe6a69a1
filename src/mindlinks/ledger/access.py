"""Who may read a ledger subject's entries.

A subject is `<type>:<id>` (`contract:…`, `kyc:…`, `company:…`). The module that
owns the type registers a reader check; admins read every subject. A subject
nobody registered, or one the caller may not see, answers 404 like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from mindlinks.identity.auth import Actor
from mindlinks.ledger.errors import SubjectNotFound

SubjectReader = Callable[[Session, Actor, str], bool]
SUBJECT_READERS: dict[str, SubjectReader] = {}


def register_subject_type(prefix: str, can_read: SubjectReader) -> None:
    SUBJECT_READERS[prefix] = can_read


def require_subject_readable(session: Session, actor: Actor, subject: str) -> None:
    if actor.is_admin:
        return
    prefix, sep, object_id = subject.partition(":")
    reader = SUBJECT_READERS.get(prefix)
    if not sep or not object_id or reader is None or not reader(session, actor, object_id):
        raise SubjectNotFound(f"No ledger subject {subject!r} that you may see.")
