"""Every module's tables, imported so Alembic and the test schema see them all."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "mindlinks.identity.models",
    "mindlinks.jobs.models",
    "mindlinks.companies.models",
    "mindlinks.notifications.models",
    "mindlinks.ledger.models",
    "mindlinks.kyc.models",
    "mindlinks.contracts.models",
    "mindlinks.esign.models",
    "mindlinks.payments.models",
)


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
