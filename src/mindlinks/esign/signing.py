"""The signing ceremony: one party signs the exact document hash of a sent contract.

`sign_contract` checks, in this order (each answer says why):

1. the contract is readable by the actor (404, like a missing one);
2. consent is exactly `true` (422 `consent`), and a `disclosure_version`, when
   given, is the current disclosure (422: the client must show it again);
3. the actor acts for their own role: client staff for `client`, the contractor
   for `contractor`, an admin for `eor` (an `eor` template only, else 404 at 1);
   a `role` naming another is 403 `not-your-role`; then a verified email (403);
4. a contractor's identity is verified (403 `kyc-not-approved`, with the link);
5. the contract is signable (sent or partially signed), this role has not signed
   and it is this role's turn: every party placed before it has signed (409
   `contract-not-signable`, saying which);
6. the signature itself: a typed name or a drawn PNG (422 `signature.value`).

Then, in the request's transaction, with the contract row locked first
(`repository.lock_contract`) so that concurrent signatures of one contract queue
up instead of racing: step 5 again on the fresh rows, the consent, the signature
(unique per contract and role: a duplicate that slips past the lock is a 409,
not a 500), the party's `signed_at`, the `contract.signed` ledger entry, and
then either the next party's turn (status `partially_signed`, their "your turn"
notice) or, for the last signature, the activation (`activation.activate`).
Nothing is written before the lock: a row written earlier would hold a key lock
on the contract that the other signer's `FOR UPDATE` waits on (a deadlock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mindlinks.contracts import lifecycle, repository
from mindlinks.contracts.errors import ContractNotSignable
from mindlinks.contracts.models import Contract, ContractParty
from mindlinks.contracts.states import SIGNABLE_STATUSES
from mindlinks.esign.activation import activate
from mindlinks.esign.disclosure import current_disclosure
from mindlinks.esign.errors import ConsentRequired, DisclosureOutdated, NotYourRole
from mindlinks.esign.models import ContractSignature, EsignConsent, EsignDisclosure
from mindlinks.esign.notices import NOTIFY_TURN_JOB, notify_turn_key
from mindlinks.esign.signature_values import CheckedSignature, check_signature
from mindlinks.identity.auth import require_verified as require_email_verified
from mindlinks.jobs.service import enqueue
from mindlinks.kyc import service as kyc
from mindlinks.ledger.service import append_entry
from mindlinks.platform.clock import now
from mindlinks.platform.errors import RoleNotAllowed
from mindlinks.platform.ids import new_id

if TYPE_CHECKING:
    from datetime import datetime

    from mindlinks.identity.auth import Actor

log = structlog.get_logger(__name__)

SIGNED_KIND: Final = "contract.signed"
USER_AGENT_MAX: Final = 512
IP_MAX: Final = 64
ROLE_OF_ACCOUNT: Final[dict[str, str]] = {
    "client": "client",
    "contractor": "contractor",
    "admin": "eor",
}
ROLE_NAMES: Final[dict[str, str]] = {
    "client": "the client",
    "contractor": "the contractor",
    "eor": "the employer of record",
}


@dataclass(frozen=True)
class SigningClient:
    """Where the signature came from, as the request shows it."""

    ip: str | None
    user_agent: str | None

    def cleaned(self) -> SigningClient:
        return SigningClient(
            ip=self.ip[:IP_MAX] if self.ip else None,
            user_agent=self.user_agent[:USER_AGENT_MAX] if self.user_agent else None,
        )


@dataclass(frozen=True)
class SignRequest:
    consent: object
    signature_type: str
    signature_value: object
    disclosure_version: int | None = None
    role: str | None = None


@dataclass(frozen=True)
class Signed:
    contract: Contract
    signature: ContractSignature
    activated: bool


def own_role(actor: Actor, asked: str | None = None) -> str:
    """The role the actor acts for in a contract they can read; 403 for another."""
    role = ROLE_OF_ACCOUNT.get(actor.role)
    if role is None:
        raise RoleNotAllowed("Only a party to the contract may act on it.")
    if asked is not None and asked != role:
        raise NotYourRole(
            f"You act for {ROLE_NAMES[role]} in this contract; you cannot act as {asked}."
        )
    return role


def accepted_disclosure(session: Session, consent: object, version: int | None) -> EsignDisclosure:
    if consent is not True:
        raise ConsentRequired(
            "consent must be true: accept the electronic records and signature disclosure"
        )
    disclosure = current_disclosure(session)
    if version is not None and version != disclosure.version:
        raise DisclosureOutdated(disclosure.version, version)
    return disclosure


def fresh_parties(session: Session, contract_id: str) -> Sequence[ContractParty]:
    """The contract's parties as the database has them now (not as this session
    last saw them: under the lock, another signer may have just committed)."""
    return session.scalars(
        select(ContractParty)
        .where(ContractParty.contract_id == contract_id)
        .order_by(ContractParty.position, ContractParty.role)
        .execution_options(populate_existing=True)
    ).all()


def _not_signable_detail(status: str) -> str:
    if status == "draft":
        return "The contract is a draft: it is signed only after it has been sent."
    return f"The contract is {status.replace('_', ' ')}; it can no longer be signed."


def party_for_turn(
    contract: Contract, parties: Sequence[ContractParty], role: str
) -> ContractParty:
    """This role's party when it may sign now; else 409 saying why not."""
    if contract.status not in SIGNABLE_STATUSES:
        raise ContractNotSignable(_not_signable_detail(contract.status), current=contract.status)
    party = next((p for p in parties if p.role == role), None)
    if party is None:
        raise ContractNotSignable(
            f"This contract has no {role} party.", current=contract.status
        )  # pragma: no cover - readable_by admits no such actor
    if party.signed_at is not None:
        raise ContractNotSignable(
            f"You have already signed this contract (as {ROLE_NAMES[role]}).",
            current=contract.status,
        )
    waiting = [p.role for p in parties if p.position < party.position and p.signed_at is None]
    if waiting:
        names = " and ".join(ROLE_NAMES[r] for r in waiting)
        raise ContractNotSignable(
            f"It is not your turn to sign: waiting for {names} to sign first.",
            current=contract.status,
        )
    return party


def sign_contract(
    session: Session,
    actor: Actor,
    contract_id: str,
    request: SignRequest,
    *,
    client: SigningClient,
    max_png_bytes: int,
) -> Signed:
    """Record the actor's signature (see the module for the checks and their order)."""
    contract = repository.load_readable(session, actor, contract_id)
    disclosure = accepted_disclosure(session, request.consent, request.disclosure_version)
    role = own_role(actor, request.role)
    require_email_verified(actor)
    kyc_session_id: str | None = None
    if role == "contractor":
        kyc.require_verified(session, actor.id)
        kyc_session_id = kyc.approved_session_id(session, actor.id)
    # Fail fast without the lock; checked again under it below.
    party_for_turn(contract, fresh_parties(session, contract.id), role)
    checked = check_signature(
        request.signature_type, request.signature_value, max_png_bytes=max_png_bytes
    )

    contract = repository.lock_contract(session, contract.id)
    parties = fresh_parties(session, contract.id)
    party = party_for_turn(contract, parties, role)
    signed_at = now()
    signature = _record(
        session,
        actor,
        contract,
        party,
        disclosure,
        checked,
        client=client.cleaned(),
        kyc_session_id=kyc_session_id,
        signed_at=signed_at,
    )
    party.signed_at = signed_at
    if role != "contractor":
        # The eor party's user is whichever admin countersigns; the client's is
        # whichever of the company's staff signs (they may differ from its author).
        party.user_id = actor.id
    session.flush()

    remaining = [p for p in parties if p.signed_at is None]
    if not remaining:
        activate(session, contract, actor, signed_at=signed_at)
        activated = True
    else:
        if contract.status == "sent":
            lifecycle.transition(session, contract, "partially_signed")
        _open_next_turn(session, contract, remaining, signed_at)
        activated = False
    log.info(
        "contract_signed",
        contract_id=contract.id,
        role=role,
        signature_id=signature.id,
        activated=activated,
    )
    return Signed(contract, signature, activated)


def _record(
    session: Session,
    actor: Actor,
    contract: Contract,
    party: ContractParty,
    disclosure: EsignDisclosure,
    checked: CheckedSignature,
    *,
    client: SigningClient,
    kyc_session_id: str | None,
    signed_at: datetime,
) -> ContractSignature:
    assert contract.document_sha256 is not None  # a sent contract has its frozen hash
    consent = EsignConsent(
        id=new_id(),
        user_id=actor.id,
        contract_id=contract.id,
        disclosure_version=disclosure.version,
        disclosure_sha256=disclosure.sha256,
        accepted_at=signed_at,
        ip=client.ip,
        user_agent=client.user_agent,
    )
    session.add(consent)
    session.flush()
    signature_id = new_id()
    payload: dict[str, object] = {
        "contract_id": contract.id,
        "role": party.role,
        "signature_id": signature_id,
        "signature_type": checked.type,
        "document_sha256": contract.document_sha256,
        "consent_id": consent.id,
        "disclosure_version": disclosure.version,
        "disclosure_sha256": disclosure.sha256,
    }
    if party.role == "contractor":
        payload["kyc_session_id"] = kyc_session_id
    appended = append_entry(
        session, SIGNED_KIND, f"contract:{contract.id}", f"user:{actor.id}", payload
    )
    signature = ContractSignature(
        id=signature_id,
        contract_id=contract.id,
        party_id=party.id,
        role=party.role,
        user_id=actor.id,
        signer_name=actor.user.full_name,
        signer_email=actor.user.email,
        kyc_session_id=kyc_session_id,
        consent_id=consent.id,
        document_sha256=contract.document_sha256,
        signature_type=checked.type,
        typed_name=checked.typed_name,
        drawn_png=checked.png,
        drawn_png_sha256=checked.png_sha256,
        ip=client.ip,
        user_agent=client.user_agent,
        signed_at=signed_at,
        ledger_pending_id=appended.pending_id,
        ledger_seq=appended.seq,
    )
    try:
        with session.begin_nested():
            session.add(signature)
    except IntegrityError:
        raise ContractNotSignable(
            f"You have already signed this contract (as {ROLE_NAMES[party.role]}).",
            current=contract.status,
        ) from None
    # On PostgreSQL the entry is numbered right after the commit: `ledger_seq`
    # stays null until the sealing round writes it (`seal_runs.record_ledger_seqs`).
    return signature


def _open_next_turn(
    session: Session,
    contract: Contract,
    remaining: Sequence[ContractParty],
    at: datetime,
) -> None:
    """The parties whose turn it now is start waiting (reminders count from here)
    and are told so, once each."""
    next_position = min(p.position for p in remaining)
    for party in remaining:
        if party.position != next_position or party.awaiting_since is not None:
            continue
        party.awaiting_since = at
        party.reminders_sent = 0
        enqueue(
            session,
            NOTIFY_TURN_JOB,
            {"contract_id": contract.id, "role": party.role},
            key=notify_turn_key(contract.id, party.role),
        )
    session.flush()
