from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mindlinks.config import Settings
from mindlinks.jobs.service import JobContext, periodic, task
from mindlinks.ledger.checkpoints import issue_checkpoint, keyring_for
from mindlinks.ledger.sequencer import integrate_pending

SAFETY_NET_LIMIT = 20_000


@task("ledger.issue_checkpoint")
def issue_checkpoint_job(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    # No integration first: the sequencer integrates entries within milliseconds of
    # their commit, and doing it here would hold the ledger lock through the
    # signing and the time-stamping authority's round trip. What is still queued
    # goes into the next checkpoint.
    issue_checkpoint(session, ctx.app.settings, keyring_for(ctx.app))


@task("ledger.integrate_pending")
def integrate_pending_job(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    """The safety net: the appending process's sequencer integrates appends within
    milliseconds of their commit, unless the process died in between."""
    integrate_pending(session, SAFETY_NET_LIMIT)


def _half_interval(settings: Settings) -> int:
    # Windows of half the promised interval, plus the worker's poll, keep the
    # delay between growth and checkpoint under the setting.
    return max(1, settings.checkpoint_interval_seconds // 2)


periodic("ledger.issue_checkpoint", _half_interval)
# Only a safety net (every process that appends runs a sequencer), so a
# slow beat: each run is a job row kept for a week and a write transaction.
periodic("ledger.integrate_pending", 10)
