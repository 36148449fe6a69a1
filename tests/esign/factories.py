"""E-sign test data: sent contracts (frozen hash, first turn open), signature
values (typed names, drawn PNGs of any size), and a signing call with defaults."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import zlib
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from mindlinks.companies.models import Company
from mindlinks.contracts.models import Contract, ContractParty, ContractTemplate
from mindlinks.contracts.repository import parties_of
from mindlinks.esign import service
from mindlinks.esign.signing import SigningClient, SignRequest
from mindlinks.identity.auth import Actor
from mindlinks.identity.models import User
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext
from mindlinks.platform.ids import new_id
from tests.contracts.factories import (
    client_company,
    linked_contractor,
    make_contract,
    make_template,
)
from tests.factories import make_user

CLIENT = SigningClient(ip="203.0.113.7", user_agent="pytest-browser/1.0")
MAX_PNG = 1024 * 1024


def actor(user: User) -> Actor:
    return Actor(user=user, family_id="test-family")


@dataclass
class Deal:
    """A verified company, its owner (client), a linked contractor with approved
    KYC, and one contract between them."""

    company: Company
    client: User
    contractor: User
    contract: Contract


def send(session: Session, contract: Contract, *, pdf: bytes | None = None) -> Contract:
    """What `send` leaves behind for the ceremony: status sent, the frozen hash, and
    the first parties' turn open (no rendering: the ceremony only needs the hash)."""
    frozen = pdf or f"%PDF-1.7 test document of {contract.id}".encode()
    contract.status = "sent"
    contract.document_sha256 = hashlib.sha256(frozen).hexdigest()
    contract.sent_at = now()
    session.flush()
    parties = parties_of(session, contract.id)
    first = min(p.position for p in parties)
    for party in parties:
        if party.position == first:
            party.awaiting_since = contract.sent_at
    session.flush()
    return contract


def make_deal(
    session: Session,
    app_context: AppContext,
    *,
    kind: str = "direct",
    signing_order: str = "sequential",
    sent: bool = True,
    kyc: bool = True,
    template: ContractTemplate | None = None,
    **contract_fields: Any,
) -> Deal:
    company, client = client_company(session, full_name="Clara Client")
    contractor = linked_contractor(
        session,
        company,
        app_context=app_context if kyc else None,
        full_name="Zoë Łukasiewicz",
    )
    template = template or make_template(
        session, kind=kind, signing_order=signing_order, key=f"test-{kind}-{new_id()}"
    )
    contract = make_contract(
        session,
        company=company,
        client=client,
        contractor=contractor,
        template=template,
        **contract_fields,
    )
    if sent:
        send(session, contract)
    return Deal(company, client, contractor, contract)


def make_admin(session: Session, **fields: Any) -> User:
    return make_user(
        session, role="admin", full_name=fields.pop("full_name", "Ada Admin"), **fields
    )


def party(session: Session, contract: Contract, role: str) -> ContractParty:
    return next(p for p in parties_of(session, contract.id) if p.role == role)


def typed(value: str = "Clara Client") -> dict[str, str]:
    return {"type": "typed", "value": value}


def png_bytes(
    size: tuple[int, int] = (400, 150), *, seed: int = 1, mode: str = "RGBA", strokes: int = 12
) -> bytes:
    """A canvas-like signature: strokes on a transparent (or white) background."""
    rng = random.Random(seed)
    background = (0, 0, 0, 0) if mode == "RGBA" else "white"
    image = Image.new(mode, size, background)
    draw = ImageDraw.Draw(image)
    width, height = size
    points = [(rng.randrange(width), rng.randrange(height)) for _ in range(strokes + 1)]
    draw.line(points, fill="black" if mode != "RGBA" else (10, 10, 60, 255), width=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def noisy_png(target_bytes: int, *, width: int = 1200) -> bytes:
    """A valid PNG of at least `target_bytes` (random pixels do not compress)."""
    rng = random.Random(target_bytes)
    height = max(16, target_bytes // (width * 3) + 2)
    height = min(height, 2000)
    if width * height * 3 < target_bytes:
        width = min(4000, target_bytes // (height * 3) + 2)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=0)
    data = out.getvalue()
    assert len(data) >= target_bytes, (len(data), target_bytes)
    return data


def apng_bytes() -> bytes:
    frames = [Image.new("RGBA", (100, 40), (i * 80, 0, 0, 255)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def truncated_png() -> bytes:
    data = png_bytes((300, 120), mode="RGB")
    return data[: len(data) * 2 // 3]


def png_with_bad_crc() -> bytes:
    data = bytearray(png_bytes((300, 120), mode="RGB"))
    # The IHDR chunk's CRC sits at bytes 29..33.
    data[29] ^= 0xFF
    assert zlib.crc32(bytes(data[12:29])) != int.from_bytes(data[29:33], "big")
    return bytes(data)


def drawn(png: bytes, *, data_url: bool = False) -> dict[str, str]:
    encoded = base64.b64encode(png).decode("ascii")
    return {"type": "drawn", "value": ("data:image/png;base64," if data_url else "") + encoded}


def sign_body(signature: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"consent": True, "signature": signature or typed()}
    body.update(fields)
    return body


def sign(
    session: Session,
    user: User,
    contract: Contract,
    *,
    consent: object = True,
    signature: dict[str, str] | None = None,
    disclosure_version: int | None = None,
    role: str | None = None,
    client: SigningClient = CLIENT,
) -> service.Signed:
    chosen = signature or typed(user.full_name)
    return service.sign_contract(
        session,
        actor(user),
        contract.id,
        SignRequest(
            consent=consent,
            signature_type=chosen["type"],
            signature_value=chosen["value"],
            disclosure_version=disclosure_version,
            role=role,
        ),
        client=client,
        max_png_bytes=MAX_PNG,
    )


def ledger_entries(session: Session, contract: Contract) -> list[dict[str, Any]]:
    """The contract's ledger entries as decoded objects, in seq order (on PostgreSQL
    the session's queued entries are integrated first)."""
    import json

    from sqlalchemy import select

    from mindlinks.ledger import sequencer
    from mindlinks.ledger.models import LedgerEntry

    sequencer.settle(session)
    rows = session.scalars(
        select(LedgerEntry.entry_bytes)
        .where(LedgerEntry.subject == f"contract:{contract.id}")
        .order_by(LedgerEntry.seq)
    ).all()
    return [json.loads(row) for row in rows]


def queued_jobs(session: Session, name: str) -> list[Any]:
    from sqlalchemy import select

    from mindlinks.jobs.models import Job

    return list(session.scalars(select(Job).where(Job.name == name).order_by(Job.id)))


def mailbox(session: Session, to: str | None = None) -> list[Any]:
    """Emails the development mailer kept, oldest first (optionally to one address)."""
    from sqlalchemy import select

    from mindlinks.notifications.models import DevMailboxMessage

    stmt = select(DevMailboxMessage).order_by(DevMailboxMessage.sent_at, DevMailboxMessage.id)
    if to is not None:
        stmt = stmt.where(DevMailboxMessage.recipient == to)
    return list(session.scalars(stmt))


def notifications_of(session: Session, user: User) -> list[Any]:
    from sqlalchemy import select

    from mindlinks.notifications.models import Notification

    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at, Notification.id)
        )
    )
