from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mindlinks.config import Settings
from mindlinks.jobs.service import JobContext, periodic, task
from mindlinks.ledger.checkpoints import issue_checkpoint, keyring_for


@task("ledger.issue_checkpoint")
def issue_checkpoint_job(session: Session, payload: dict[str, Any], ctx: JobContext) -> None:
    issue_checkpoint(session, ctx.app.settings, keyring_for(ctx.app))


def _half_interval(settings: Settings) -> int:
    # Windows of half the promised interval, plus the worker's poll, keep the
    # delay between growth and checkpoint under the setting.
    return max(1, settings.checkpoint_interval_seconds // 2)


periodic("ledger.issue_checkpoint", _half_interval)
