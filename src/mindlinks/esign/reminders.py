"""Signature reminders: by email after 3 and 7 days of waiting (settings).

A party waits from the moment it becomes their turn (`awaiting_since`). The
hourly job claims each due reminder with a conditional UPDATE of the party's
`reminders_sent` (`WHERE reminders_sent = :seen`), so two workers running the
scan at once cannot both claim it, and queues one `esign.send_reminder` job per
claim (keyed by party and reminder number: a repeated scan queues nothing new).
A party that has waited past several thresholds at once (the job did not run
for a while) gets one reminder, numbered by the last threshold passed, not a
burst of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mindlinks.contracts.models import Contract, ContractParty
from mindlinks.contracts.states import SIGNABLE_STATUSES
from mindlinks.esign.notices import SEND_REMINDER_JOB, reminder_key
from mindlinks.jobs.service import enqueue
from mindlinks.platform.clock import now

log = structlog.get_logger(__name__)

SCAN_LIMIT: Final = 500


@dataclass(frozen=True)
class ClaimedReminder:
    party_id: str
    contract_id: str
    role: str
    number: int  # 1-based: the how-many-th reminder this party gets


def reminders_due(waited: timedelta, thresholds_days: list[int]) -> int:
    """How many reminder thresholds a wait of `waited` has passed."""
    return sum(1 for days in sorted(thresholds_days) if waited >= timedelta(days=days))


def claim_due_reminders(
    session: Session, thresholds_days: list[int], *, at: datetime | None = None
) -> list[ClaimedReminder]:
    """Claim every reminder that is due now and queue its sending job."""
    thresholds = sorted(d for d in thresholds_days if d > 0)
    if not thresholds:
        return []
    current = at or now()
    rows = session.execute(
        select(
            ContractParty.id,
            ContractParty.contract_id,
            ContractParty.role,
            ContractParty.awaiting_since,
            ContractParty.reminders_sent,
        )
        .join(Contract, Contract.id == ContractParty.contract_id)
        .where(
            Contract.status.in_(SIGNABLE_STATUSES),
            ContractParty.signed_at.is_(None),
            ContractParty.awaiting_since.is_not(None),
            ContractParty.awaiting_since <= current - timedelta(days=thresholds[0]),
            ContractParty.reminders_sent < len(thresholds),
        )
        .order_by(ContractParty.awaiting_since, ContractParty.id)
        .limit(SCAN_LIMIT)
    ).all()
    claimed: list[ClaimedReminder] = []
    for party_id, contract_id, role, awaiting_since, sent in rows:
        assert awaiting_since is not None  # filtered above
        due = reminders_due(current - awaiting_since, thresholds)
        if due <= sent:
            continue
        won = session.execute(
            update(ContractParty)
            .where(
                ContractParty.id == party_id,
                ContractParty.reminders_sent == sent,
                ContractParty.signed_at.is_(None),
            )
            .values(reminders_sent=due)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another scan claimed it (or the party just signed)
        enqueue(
            session,
            SEND_REMINDER_JOB,
            {"party_id": party_id, "number": due},
            key=reminder_key(party_id, due),
        )
        claimed.append(ClaimedReminder(party_id, contract_id, role, due))
    if claimed:
        log.info("esign_reminders_claimed", count=len(claimed))
    return claimed
