"""Jobs of the contracts module.

- `contracts.notify_sent` and `contracts.notify_voided`: the notices of sending and
  voiding a contract (module `notices`, where the handlers live so that the
  service that queues them always has them registered).
"""

from __future__ import annotations

from mindlinks.contracts.notices import (
    NOTIFY_SENT_JOB,
    NOTIFY_VOIDED_JOB,
    notify_sent,
    notify_voided,
)

__all__ = ["NOTIFY_SENT_JOB", "NOTIFY_VOIDED_JOB", "notify_sent", "notify_voided"]
