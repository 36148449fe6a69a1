"""Import every module's `tasks` so their handlers and schedules are registered."""

from __future__ import annotations

import importlib

TASK_MODULES = (
    "mindlinks.jobs.tasks",
    "mindlinks.identity.tasks",
    "mindlinks.companies.tasks",
    "mindlinks.notifications.tasks",
    "mindlinks.ledger.tasks",
    "mindlinks.kyc.tasks",
    "mindlinks.contracts.tasks",
    "mindlinks.esign.tasks",
    "mindlinks.payments.tasks",
)


def load_task_modules(extra: tuple[str, ...] = ()) -> None:
    for name in (*TASK_MODULES, *extra):
        importlib.import_module(name)
