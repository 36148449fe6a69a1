"""The electronic records and signature disclosure (ESIGN §7001(c)), versioned.

The text lives in `disclosures/electronic-records-and-signature-disclosure.md`,
shipped with the code. `sync_disclosures` publishes it: when its SHA-256 differs
from the newest published version, it inserts version + 1. A published version
never changes (the database refuses UPDATE of `esign_disclosures`), so every
consent keeps pointing at the exact words the signer accepted. `migrate`,
`serve` and `demo` call it; so does `current_disclosure` when nothing was
published yet, so a fresh database never refuses a signature for want of one.

Line endings are normalised to LF before hashing: a checkout with CRLF endings is
the same text, not a new version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mindlinks.esign.models import EsignDisclosure
from mindlinks.platform.clock import now

log = structlog.get_logger(__name__)

DISCLOSURE_FILE: Final = (
    Path(__file__).parent / "disclosures" / "electronic-records-and-signature-disclosure.md"
)


class DisclosureTextRetired(RuntimeError):
    """The shipped text is a replaced version's: publishing it needs a new text."""


@dataclass(frozen=True)
class DisclosureText:
    body: str
    sha256: str


def _normalised(raw: str) -> str:
    return raw.replace("\r\n", "\n").replace("\r", "\n")


def text_of(body: str) -> DisclosureText:
    body = _normalised(body)
    return DisclosureText(body, hashlib.sha256(body.encode("utf-8")).hexdigest())


@lru_cache(maxsize=1)
def shipped_text() -> DisclosureText:
    """The disclosure text this code ships (read once per process)."""
    return text_of(DISCLOSURE_FILE.read_text(encoding="utf-8"))


def latest_disclosure(session: Session) -> EsignDisclosure | None:
    return session.scalar(select(EsignDisclosure).order_by(EsignDisclosure.version.desc()).limit(1))


def publish(session: Session, text: DisclosureText) -> EsignDisclosure:
    """The published version holding exactly `text`: the newest one if it does,
    otherwise a new version (newest + 1).

    Hashes are unique, so an older version's text cannot be published again as
    the newest: that is refused (`DisclosureTextRetired`) rather than silently
    making a replaced text current. Change the text (its date line, say) instead."""
    latest = latest_disclosure(session)
    if latest is not None and latest.sha256 == text.sha256:
        return latest
    retired = session.scalar(
        select(EsignDisclosure.version).where(EsignDisclosure.sha256 == text.sha256)
    )
    if retired is not None:
        raise DisclosureTextRetired(
            f"the disclosure text is version {retired}'s, which a newer version replaced"
        )
    version = 1 if latest is None else latest.version + 1
    disclosure = EsignDisclosure(
        version=version, body=text.body, sha256=text.sha256, published_at=now()
    )
    try:
        with session.begin_nested():
            session.add(disclosure)
    except IntegrityError:
        # Another process published the same text at the same moment (two
        # starting up): take theirs.
        winner = latest_disclosure(session)
        if winner is not None and winner.sha256 == text.sha256:
            return winner
        raise
    log.info("esign_disclosure_published", version=version, sha256=text.sha256)
    return disclosure


def sync_disclosures(session: Session) -> EsignDisclosure:
    """Publish the shipped text if it is new; answers the current version."""
    return publish(session, shipped_text())


def current_disclosure(session: Session) -> EsignDisclosure:
    """The version a signer must accept now: the newest published one."""
    return latest_disclosure(session) or sync_disclosures(session)
