"""The dashboards' router: server-rendered pages under `/` (see `web.shell`).

The pages are split by subject; this module gathers them for `create_app`.
"""

from __future__ import annotations

from fastapi import APIRouter

from mindlinks.web import (
    auth_pages,
    company_pages,
    contract_admin_pages,
    contract_pages,
    dev_pages,
    kyc_pages,
    ledger_pages,
    signing_pages,
)
from mindlinks.web.shell import STATIC_DIR

__all__ = ["STATIC_DIR", "router"]

router = APIRouter(include_in_schema=False)
router.include_router(auth_pages.router)
router.include_router(company_pages.router)
router.include_router(dev_pages.router)
router.include_router(ledger_pages.router)
router.include_router(kyc_pages.router)
router.include_router(contract_pages.router)
router.include_router(signing_pages.router)
router.include_router(contract_admin_pages.router)
