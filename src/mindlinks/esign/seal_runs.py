"""Running the sealing job durably: rounds, recorded failures, a safety net.

Sealing (`seal_job.seal_contract`) runs after the last signature committed, in
the job's transaction. A round that fails must leave a trace on the contract
(`seal_attempts`, `seal_error`: the admin page lists contracts unsealed for
long) and must be retried, without ever touching the signatures. A job that
raises has its whole transaction rolled back, trace included, and a second
transaction cannot write the trace on SQLite while the job's holds the write
lock. So a round runs the sealing inside a savepoint; on failure the savepoint
rolls back, the trace is written in the job's transaction, the next round is
queued with backoff (`seal_key(contract, seal_attempts)`, run later), and the job
ends normally. Only a failure of the database itself (or a worker crash) raises,
and then the worker's own retries (`SEAL_MAX_ATTEMPTS`) repeat the round.

Rounds never give up: the backoff grows to an hour and stays there until the
seal succeeds (or an operator fixes what blocks it).

`queue_unsealed` is the periodic safety net: an active contract without a seal
whose current round has no live job (its job ended without sealing: dead after
repeated crashes, or never queued) gets one, at most one per hour.

Signatures keep the pending id of their `contract.signed` entry; on PostgreSQL
the seq is known only after the commit (the sequencer numbers it). Each round
first writes every signature's seq (`record_ledger_seqs`): the certificate of
completion cites them, and a signature whose entry is not numbered yet makes the
round fail and retry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Final

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mindlinks.contracts.models import Contract
from mindlinks.esign.models import ContractSignature
from mindlinks.esign.notices import SEAL_JOB, seal_key
from mindlinks.jobs.service import enqueue
from mindlinks.jobs.worker import MAX_BACKOFF_SECONDS, backoff_seconds
from mindlinks.ledger.service import seq_of
from mindlinks.platform.clock import now
from mindlinks.platform.context import AppContext
from mindlinks.platform.ids import new_id

log = structlog.get_logger(__name__)

SEAL_MAX_ATTEMPTS: Final = 20
SEALABLE_STATUSES: Final = frozenset({"active", "completed", "terminated"})
# Time the job queued at activation has before the safety net looks at a contract.
SWEEP_GRACE_SECONDS: Final = 60
SWEEP_WINDOW_SECONDS: Final = 3600
SWEEP_LIMIT: Final = 200
LIVE_JOB_STATUSES: Final = frozenset({"queued", "running"})
SEAL_ERROR_MAX: Final = 1000


Sealer = Callable[[Session, AppContext, str], str]


def seal_with_pyhanko(session: Session, app: AppContext, contract_id: str) -> str:
    """The sealing itself (`seal_job`): every signer's PAdES signature, the platform
    seal and the certificate of completion; answers the sealed PDF's SHA-256."""
    # pyHanko and the PDF stack load only in the processes that seal.
    from mindlinks.esign.seal_job import seal_contract

    return seal_contract(session, app, contract_id)


class LedgerEntryNotSequenced(RuntimeError):
    """A signature's ledger entry has no seq yet; the round retries."""


def record_ledger_seq(session: Session, signature_id: str) -> int | None:
    """Write the seq of the signature's `contract.signed` entry (once known)."""
    signature = session.get(ContractSignature, signature_id)
    if signature is None:
        return None
    if signature.ledger_seq is None:
        seq = seq_of(session, signature.ledger_pending_id)
        if seq is None:
            raise LedgerEntryNotSequenced(
                f"ledger entry {signature.ledger_pending_id} of signature {signature_id} "
                "is not sequenced yet"
            )
        signature.ledger_seq = seq
        session.flush()
    return signature.ledger_seq


def record_ledger_seqs(session: Session, contract_id: str) -> None:
    for signature_id in session.scalars(
        select(ContractSignature.id).where(
            ContractSignature.contract_id == contract_id, ContractSignature.ledger_seq.is_(None)
        )
    ).all():
        record_ledger_seq(session, signature_id)


def retry_delay_seconds(round_: int) -> float:
    return min(float(MAX_BACKOFF_SECONDS), backoff_seconds(round_))


def run_seal_round(
    session: Session, app: AppContext, contract_id: str, *, seal: Sealer | None = None
) -> str | None:
    """One sealing round: the sealed PDF's SHA-256, or None (not sealable, or this
    round failed and the next one is queued). `seal` defaults to `seal_with_pyhanko`."""
    seal = seal or seal_with_pyhanko
    contract = session.get(Contract, contract_id, populate_existing=True)
    if contract is None or contract.status not in SEALABLE_STATUSES:
        log.info("esign_seal_skipped", contract_id=contract_id)
        return None
    if contract.sealed_at is not None:
        return contract.sealed_sha256
    try:
        with session.begin_nested():
            record_ledger_seqs(session, contract_id)
            sealed = seal(session, app, contract_id)
    except Exception as exc:  # any failure of a round is recorded, and retried
        _record_failure(session, contract_id, exc)
        return None
    session.execute(
        update(Contract)
        .where(Contract.id == contract_id)
        .values(seal_attempts=Contract.seal_attempts + 1, seal_error=None)
        .execution_options(synchronize_session=False)
    )
    log.info("esign_contract_sealed", contract_id=contract_id)
    return sealed


def _record_failure(session: Session, contract_id: str, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:SEAL_ERROR_MAX]
    attempts = session.execute(
        update(Contract)
        .where(Contract.id == contract_id)
        .values(seal_attempts=Contract.seal_attempts + 1, seal_error=error)
        .returning(Contract.seal_attempts)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    delay = retry_delay_seconds(attempts)
    enqueue(
        session,
        SEAL_JOB,
        {"contract_id": contract_id},
        key=seal_key(contract_id, attempts),
        run_at=now() + timedelta(seconds=delay),
    )
    log.warning(
        "esign_seal_failed",
        contract_id=contract_id,
        attempt=attempts,
        retry_in_seconds=round(delay),
        error=error,
    )


def queue_unsealed(session: Session, *, limit: int = SWEEP_LIMIT) -> int:
    """Queue a round for each active, unsealed contract whose round has no live
    job (see the module); answers how many were queued."""
    current = now()
    rows = session.execute(
        select(Contract.id, Contract.seal_attempts)
        .where(
            Contract.status.in_(SEALABLE_STATUSES),
            Contract.sealed_at.is_(None),
            Contract.activated_at.is_not(None),
            Contract.activated_at <= current - timedelta(seconds=SWEEP_GRACE_SECONDS),
        )
        .order_by(Contract.activated_at, Contract.id)
        .limit(limit)
    ).all()
    queued = 0
    window = int(current.timestamp()) // SWEEP_WINDOW_SECONDS
    for contract_id, attempts in rows:
        payload = {"contract_id": contract_id}
        key = seal_key(contract_id, attempts)
        job = enqueue(session, SEAL_JOB, payload, key=key)
        if job.status not in LIVE_JOB_STATUSES:
            job = enqueue(session, SEAL_JOB, payload, key=f"{key}:sweep-{window}")
        if job.created_at >= current:  # queued by this scan, not found there
            queued += 1
    if queued:
        log.warning("esign_unsealed_contracts_queued", count=queued)
    return queued


def retry_sealing_now(session: Session, contract: Contract) -> bool:
    """An operator's "try again now": queue a round under a fresh key, since earlier
    rounds' jobs (done, dead, or waiting out their backoff) must not swallow it.
    False when the contract is sealed already."""
    if contract.sealed_sha256 is not None:
        return False
    enqueue(
        session,
        SEAL_JOB,
        {"contract_id": contract.id},
        key=f"{seal_key(contract.id, contract.seal_attempts)}:admin-{new_id()}",
    )
    log.info("esign_seal_retry_requested", contract_id=contract.id)
    return True
